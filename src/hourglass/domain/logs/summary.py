"""A log's outline for a reader who wants the failure: error-like lines, attempts, the gap.

What `GET …/logs/summary` answers, as pure rules over stored chunks (the service reads them):

- **Error-like lines** (`error_hits`): a line is *keyword* when it holds one of the words
  `error`, `exception`, `traceback`, `fatal`, `panic` (or `errors`, `exceptions`, `panicked`)
  as a whole word in any case, or a CamelCase name ending in `Error`/`Exception`
  (`TypeError`, `java.lang.NullPointerException`); *stderr* when it was written to stderr.
  System lines are not searched: the attempt's closing line says how it ended (`EXIT_LINE`).
  The scan runs on a chunk's UTF-8 bytes with one compiled pattern and splits no line it does
  not report.
- **The first error** (`first_error`): of the failing attempt (the last one), its first keyword
  line, else its first stderr line, else its closing line when that says it failed; so a
  program that logs everything to stderr still opens at the line that names the problem.
- **Attempts** (`AttemptOutline`): the lines each attempt wrote (from the chunks' meta alone),
  with the seqs of its opening `attempt N started …` line and of its last system line.
- **The gap** of a capped log (`Gap`): the omission line and the first line kept after it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from hourglass.domain.logs.chunks import decode_meta
from hourglass.domain.logs.lines import LogLine, Stream

ERROR_WORDS: Final = re.compile(
    rb"(?i:\b(?:errors?|exceptions?|traceback|fatal|panic|panicked)\b)|[a-z](?:Error|Exception)\b"
)
"""What makes a line a keyword hit (on the stored UTF-8 bytes)."""

EXIT_LINE: Final = re.compile(r"(?:failed: |system failure: |exited with code [1-9])")
"""An attempt's closing system line that says it did not succeed."""

MESSAGE_CHARS: Final = 500
"""Longest message the summary repeats (the viewer reads the line itself)."""


class ErrorKind(StrEnum):
    KEYWORD = "keyword"
    STDERR = "stderr"
    EXIT = "exit"


@dataclass(frozen=True, slots=True)
class ErrorHits:
    """Sequence numbers of error-like lines found so far, ascending, at most `limit` each."""

    limit: int
    keyword: list[int] = field(default_factory=list)
    stderr: list[int] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return len(self.keyword) >= self.limit and len(self.stderr) >= self.limit

    def kind_of(self, seq: int) -> ErrorKind:
        return ErrorKind.KEYWORD if seq in self.keyword else ErrorKind.STDERR

    def seqs(self) -> list[int]:
        return sorted(set(self.keyword) | set(self.stderr))


def error_hits(first_seq: int, text: bytes, meta: bytes, hits: ErrorHits, *, after: int) -> None:
    """Add the chunk's error-like lines with seq > `after` to `hits` (until each list is full)."""
    for run in decode_meta(meta, len(text)):
        if run.stream is Stream.SYSTEM:
            continue
        base = first_seq + run.first_index
        last = base + run.count - 1
        if last <= after:
            continue
        skip = max(0, after - base + 1)  # lines of the run at or before `after`
        start = run.byte_start
        if skip:
            for _ in range(skip):
                start = text.index(b"\n", start) + 1
        if run.stream is Stream.STDERR and len(hits.stderr) < hits.limit:
            room = hits.limit - len(hits.stderr)
            hits.stderr.extend(range(base + skip, min(last, base + skip + room - 1) + 1))
        _keyword_lines(text, start, run.byte_end, base + skip, hits)
        if hits.full:
            return


def _keyword_lines(text: bytes, start: int, end: int, seq: int, hits: ErrorHits) -> None:
    """Keyword lines of `text[start:end]` (whole lines, the first numbered `seq`)."""
    pos = start
    while len(hits.keyword) < hits.limit:
        match = ERROR_WORDS.search(text, pos, end)
        if match is None:
            return
        seq += text.count(b"\n", pos, match.start())
        hits.keyword.append(seq)
        pos = text.index(b"\n", match.start()) + 1
        seq += 1


@dataclass(slots=True)
class AttemptOutline:
    """The lines one attempt wrote: `first_seq..last_seq`, `lines` of them (a capped log's gap
    may lie inside), its opening system line and its last system line (seqs, if any)."""

    attempt: int
    first_seq: int
    last_seq: int
    lines: int = 0
    opening_seq: int | None = None
    closing_seq: int | None = None


@dataclass(frozen=True, slots=True)
class Gap:
    """A capped log's omitted middle: `omission_seq` is the line saying what was omitted, the
    next line kept is `next_seq` (sequence numbers in between do not exist)."""

    omission_seq: int
    next_seq: int


@dataclass(slots=True)
class MetaOutline:
    """What the chunks' meta alone tells: the attempts and the gap (fed chunk by chunk)."""

    attempts: list[AttemptOutline] = field(default_factory=list)
    gap: Gap | None = None
    last_seq: int = 0

    def add(self, first_seq: int, last_seq: int, meta: bytes) -> int:
        """Take in one chunk (ascending); returns its text size."""
        size = 0
        if self.last_seq and first_seq > self.last_seq + 1 and self.gap is None:
            self.gap = Gap(self.last_seq, first_seq)
        for run in decode_meta(meta):
            a = first_seq + run.first_index
            b = a + run.count - 1
            current = self.attempts[-1] if self.attempts else None
            if current is None or current.attempt != run.attempt:
                current = AttemptOutline(run.attempt, a, b)
                self.attempts.append(current)
                if run.stream is Stream.SYSTEM:
                    current.opening_seq = a
            current.last_seq = b
            current.lines += run.count
            if run.stream is Stream.SYSTEM:
                current.closing_seq = b
            size += run.byte_len
        self.last_seq = max(self.last_seq, last_seq)
        return size


def clip(message: str) -> str:
    """A message as the summary repeats it: at most `MESSAGE_CHARS` characters."""
    return message if len(message) <= MESSAGE_CHARS else message[: MESSAGE_CHARS - 1] + "…"


@dataclass(frozen=True, slots=True)
class ErrorLine:
    """One error-like line as the summary reports it."""

    kind: ErrorKind
    line: LogLine


def first_error(errors: Sequence[ErrorLine], closing: LogLine | None) -> ErrorLine | None:
    """The line a failed job should open at: the first keyword line, else the first stderr
    line, else the closing line when it says the attempt failed."""
    for kind in (ErrorKind.KEYWORD, ErrorKind.STDERR):
        found = next((e for e in errors if e.kind is kind), None)
        if found is not None:
            return found
    if closing is not None and closing_failed(closing.message):
        return ErrorLine(ErrorKind.EXIT, closing)
    return None


def closing_failed(message: str) -> bool:
    """Whether an attempt's closing system line says it did not succeed."""
    return EXIT_LINE.match(message) is not None
