"""How the client commands print: rich tables on a terminal, tab-separated lines when piped,
JSON for scripts; colour only on a terminal and never under `NO_COLOR`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def colour_allowed() -> bool:
    """Colour on standard output: a terminal, `NO_COLOR` unset or empty, and not TERM=dumb."""
    return (
        stdout_is_terminal()
        and not os.environ.get("NO_COLOR")
        and os.environ.get("TERM", "") != "dumb"
    )


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    # rich also reads NO_COLOR itself; highlight=False: never colour numbers and words on a whim
    return Console(stderr=stderr, highlight=False, no_color=not colour_allowed() or None)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def cell(value: Any) -> str:
    """A value as one table cell: empty for null, one line, tabs made spaces."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "".join(" " if c in "\t\r\n" or not c.isprintable() else c for c in text)


def short_time(text: str) -> str:
    """An API time stamp for people: `2026-11-29 10:00:00` (UTC, no fraction); others as is."""
    if len(text) >= 20 and text[10:11] == "T" and text.endswith("Z") and text[4:5] == "-":
        return f"{text[:10]} {text[11:19]}"
    return text


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "") -> None:
    """Rows as a table on a terminal, else one tab-separated line each (no header)."""
    rows = [[cell(v) for v in row] for row in rows]
    if not stdout_is_terminal():
        sys.stdout.write("".join("\t".join(row) + "\n" for row in rows))
        return
    if not rows:
        if empty:
            console(stderr=True).print(empty)
        return
    from rich.box import SIMPLE_HEAD
    from rich.table import Table
    from rich.text import Text

    view = Table(box=SIMPLE_HEAD, pad_edge=False, padding=(0, 1), header_style="bold")
    for column in columns:
        # ids and times stay whole (one can copy them); names fold when the terminal is narrow
        view.add_column(column, no_wrap=column != "NAME", min_width=8 if column == "NAME" else None)
    for row in rows:
        view.add_row(*(Text(short_time(v)) for v in row))
    console().print(view)


def details(pairs: Sequence[tuple[str, Any]]) -> None:
    """One record as `key  value` lines (tab-separated when piped)."""
    if not stdout_is_terminal():
        sys.stdout.write("".join(f"{k}\t{cell(v)}\n" for k, v in pairs))
        return
    from rich.table import Table
    from rich.text import Text

    view = Table.grid(padding=(0, 2))
    view.add_column(style="bold")
    view.add_column(overflow="fold")
    for key, value in pairs:
        view.add_row(Text(key), Text(cell(value)))
    console().print(view)


def note(message: str) -> None:
    """A remark for the person at the terminal (standard error: never mixed into the output)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
