"""`hourglass login`, `logout`, `whoami`: which server, as whom."""

from __future__ import annotations

import os
import sys

import click

from hourglass.cli.client.common import handled, json_option


@click.command(short_help="Log in and keep an API token.")
@click.argument("url", required=False)
@click.option("--email", help="Account email (asked for when absent).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)
@handled
def login(url: str | None, email: str | None, password_stdin: bool) -> None:
    """Log in to a server and keep an API token for the other commands.

    Creates a token named after this machine, saves the URL and the token in
    $XDG_CONFIG_HOME/hourglass/config.toml (mode 0600) and ends the login session.
    HOURGLASS_URL and HOURGLASS_TOKEN in the environment override the file.

    \b
    Example:
      hourglass login http://127.0.0.1:8080
      hourglass login https://hg.example.com --email me@example.com --password-stdin <pw.txt
    """
    from hourglass.client import session
    from hourglass.client.config import DEFAULT_URL, read_file
    from hourglass.client.output import note

    target = url or os.environ.get("HOURGLASS_URL") or read_file().get("url") or DEFAULT_URL
    warning = session.cleartext_warning(target)
    if warning:
        note(warning)
    if email is None:
        email = click.prompt("Email", err=True)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, err=True)
    connection, path = session.login(target, email, password)
    note(f"logged in to {connection.url} as {connection.email} (token saved in {path})")


@click.command()
@handled
def logout() -> None:
    """Revoke the saved API token on the server and forget it here.

    \b
    Example:
      hourglass logout
    """
    from hourglass.client import session
    from hourglass.client.config import resolve
    from hourglass.client.output import note

    note(session.logout(resolve()))


@click.command()
@json_option
@handled
def whoami(as_json: bool) -> None:
    """Show the server and the account the commands act as.

    \b
    Example:
      hourglass whoami
      hourglass whoami --json | jq -r .email
    """
    from hourglass.client import output, session
    from hourglass.client.config import resolve

    me = session.whoami(resolve())
    if as_json:
        output.emit_json(me)
    elif output.stdout_is_terminal():
        click.echo(f"{me['email']} on {me['url']}")
    else:
        output.details(list(me.items()))
