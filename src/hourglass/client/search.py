"""`hourglass search`: matching lines with their numbers, the server's highlight offsets made
visible, optional context lines around each match (grep's `N:` match, `N-` context, `--`
between groups), and the server's exact total."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import IO, Any

from hourglass.client.api import Api
from hourglass.client.logs import PAGE, pages, strip_ansi

MATCH = "\x1b[01;31m"  # grep's colours
NUMBER = "\x1b[32m"
SEPARATOR = "\x1b[36m"
RESET = "\x1b[0m"


def search_pages(api: Api, path: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Pages of `GET …/logs/search` in reading order, following the cursor."""
    query = {"order": "asc", "limit": PAGE, **{k: v for k, v in params.items() if v is not None}}
    while True:
        page: dict[str, Any] = api.get(f"{path}/logs/search", **query)
        yield page
        if not page.get("cursor"):
            return
        query["cursor"] = page["cursor"]


def count_text(total: int) -> str:
    return f"{total} match" if total == 1 else f"{total} matches"


class MatchPrinter:
    """Prints matches and their context; remembers the last line printed to avoid repeats."""

    def __init__(
        self, api: Api, path: str, context: int, colour: bool, out: IO[str] | None = None
    ) -> None:
        self.api, self.path, self.context, self.colour = api, path, context, colour
        self.out = out if out is not None else sys.stdout
        self.last = 0  # sequence number of the last line printed
        self.pending: list[dict[str, Any]] = []  # after-context of the previous match

    def match(self, line: dict[str, Any]) -> None:
        seq = int(line["sequence_num"])
        self._flush_pending(before=seq)
        if self.context:
            for earlier in self._around(seq, "desc", before=seq)[::-1]:
                if int(earlier["sequence_num"]) > self.last:
                    self._write(earlier, "-", [])
        self._write(line, ":", line.get("highlights") or [])
        if self.context:
            self.pending = self._around(seq, "asc", after=seq)

    def finish(self) -> None:
        self._flush_pending(before=None)
        self.out.flush()

    def _flush_pending(self, before: int | None) -> None:
        for line in self.pending:
            if before is None or int(line["sequence_num"]) < before:
                self._write(line, "-", [])
        self.pending = []

    def _around(self, seq: int, order: str, **bound: int) -> list[dict[str, Any]]:
        if order == "desc" and self.last >= seq - 1:
            return []  # everything before it is already on screen
        return next(pages(self.api, self.path, order=order, limit=self.context, **bound))

    def _write(self, line: dict[str, Any], mark: str, highlights: list[list[int]]) -> None:
        seq = int(line["sequence_num"])
        if seq <= self.last:
            return
        if self.context and self.last and seq > self.last + 1:
            self.out.write(f"{SEPARATOR}--{RESET}\n" if self.colour else "--\n")
        self.last = seq
        text = render(line["message"], highlights, self.colour)
        if self.colour:
            self.out.write(f"{NUMBER}{seq}{RESET}{SEPARATOR}{mark}{RESET}{text}\n")
        else:
            self.out.write(f"{seq}{mark}{text}\n")


def render(message: str, highlights: list[list[int]], colour: bool) -> str:
    """The message with its hits marked (on a terminal), without the escape sequences of the
    job's own output: removed piece by piece, so the offsets (into the raw message) still hold."""
    if not colour:
        return strip_ansi(message)
    out, at = [], 0
    for start, end in sorted(highlights):
        if start < at:
            continue
        out += [strip_ansi(message[at:start]), MATCH, strip_ansi(message[start:end]), RESET]
        at = end
    out.append(strip_ansi(message[at:]))
    return "".join(out)
