"""What every client command shares: the error handling that turns any failure into one line
and its exit code, the `--json` option, and the API connection."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import click

if TYPE_CHECKING:
    from hourglass.client.api import Api

P = ParamSpec("P")
R = TypeVar("R")


def handled(command: Callable[P, R]) -> Callable[P, R]:
    """Run a command so that no traceback reaches the user: client errors become one line and
    their exit code, Ctrl-C exits 130, a closed output pipe ends the command quietly, and
    anything unexpected is one line too (exit 7)."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        from hourglass.client.errors import ClientError, Exit

        try:
            return command(*args, **kwargs)
        except ClientError as exc:
            click.echo(f"error: {exc.message}", err=True)
            raise click.exceptions.Exit(int(exc.code)) from None
        except (KeyboardInterrupt, click.Abort):  # click turns Ctrl-C at a prompt into Abort
            click.echo("", err=True)
            raise click.exceptions.Exit(int(Exit.INTERRUPTED)) from None
        except BrokenPipeError:
            # the reader left (`| head`): stop writing, and let nothing flush into the pipe
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(int(Exit.BROKEN_PIPE)) from None
        except (click.ClickException, click.exceptions.Exit):  # click's own: it shows them
            raise
        except Exception as exc:
            # a server that answers something unexpected (or a bug here): still one line;
            # HOURGLASS_DEBUG=1 shows the traceback
            if os.environ.get("HOURGLASS_DEBUG"):
                raise
            click.echo(f"error: unexpected failure: {type(exc).__name__}: {exc}", err=True)
            raise click.exceptions.Exit(int(Exit.SERVER)) from None

    return run


def api(*, auth: bool = True) -> Api:
    from hourglass.client.api import Api
    from hourglass.client.config import resolve

    return Api(resolve(), auth=auth)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
