"""The `hourglass` group's class: usage errors exit 3, because 1 and 2 belong to a followed
job's outcome (failed, canceled) and scripts must be able to tell them apart."""

from __future__ import annotations

from typing import Any

import click

USAGE_EXIT = 3


class _UsageError(click.UsageError):
    exit_code = USAGE_EXIT


class Program(click.Group):
    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise _as_usage(exc) from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a subcommand's (its context is made in here)
            raise _as_usage(exc) from exc


def _as_usage(exc: click.UsageError) -> click.UsageError:
    """The same message and usage hint, with exit code 3."""
    return exc if isinstance(exc, _UsageError) else _UsageError(exc.format_message(), exc.ctx)
