"""Query parameters of the four log routes, parsed from raw strings after the 404/412 checks.

One place for the rules every log route shares, so `limit`, `stream`, flags and sequence numbers
mean the same thing (and fail with the same 400) on pages, search, downloads and SSE. Each route's
parameters arrive as sent, in one object (`PageParams`, `SearchParams`, `DownloadParams`: the web
layer fills them straight from the query string), and are parsed here once access is checked:
`PageRequest` and `SearchRequest` (their cursors bound to their filters), `parse_resume` (SSE);
the download's options are `formats.DownloadOptions.parse`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypeVar

from hourglass.domain.cursors import BIGINT_MAX, decode_cursor, next_cursor
from hourglass.domain.logs.lines import LogLine, Stream, Streams
from hourglass.domain.logs.search import LogQuery, compile_query
from hourglass.errors import ValidationError
from hourglass.services.logs.scan import Window

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
MAX_SEQ: Final = BIGINT_MAX
# Sequence numbers past this one are read as it: no log holds 2^62 lines, and the reads add a page
# size or 1 to a bound in SQL, which must not overflow BIGINT (PostgreSQL refuses, SQLite turns to
# REAL). So every number up to MAX_SEQ is valid and reads as "past the end".
SEQ_CEILING: Final = 2**62
_SEQ = "must be a sequence number (an integer >= 0)"

_E = TypeVar("_E", bound=StrEnum)


def _absent(raw: str | None) -> bool:
    return raw is None or raw == ""


def parse_limit(raw: str | None) -> int:
    if _absent(raw):
        return DEFAULT_LIMIT
    assert raw is not None
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 8 else 0
    if not 1 <= value <= MAX_LIMIT:
        raise ValidationError.field("limit", f"must be an integer between 1 and {MAX_LIMIT}")
    return value


def parse_order(raw: str | None) -> bool:
    """True for descending (the default)."""
    if _absent(raw) or (raw or "").lower() == "desc":
        return True
    if (raw or "").lower() == "asc":
        return False
    raise ValidationError.field("order", "must be asc or desc")


def parse_seq(name: str, raw: str | None) -> int | None:
    """A sequence number 0..MAX_SEQ (read as at most `SEQ_CEILING`); 400 naming `name`."""
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > MAX_SEQ:
        raise ValidationError.field(name, _SEQ)
    return min(int(raw), SEQ_CEILING)


def parse_choice(field: str, raw: str | None, kind: type[_E], default: _E | None) -> _E | None:
    """One of `kind`'s values (case-insensitive), `default` when absent."""
    if raw is None or raw == "":
        return default
    try:
        return kind(raw.lower())
    except ValueError as exc:
        names = ", ".join(m.value for m in kind)
        raise ValidationError.field(field, f"must be one of {names}") from exc


def parse_stream(raw: str | None) -> Streams | None:
    """`stream`: a comma-separated set of streams (`stdout,stderr`); duplicates are fine. None
    (no filter) when absent, empty or naming all three; an unknown or empty member is a 400."""
    if raw is None or raw == "":
        return None
    try:
        streams = frozenset(Stream(member.strip().lower()) for member in raw.split(","))
    except ValueError as exc:
        names = ", ".join(m.value for m in Stream)
        raise ValidationError.field("stream", f"must be a comma-separated set of {names}") from exc
    return None if len(streams) == len(Stream) else streams


def stream_key(streams: Streams | None) -> str | None:
    """A stream filter as cursors bind it: its members sorted (`stderr,stdout`), order-free."""
    return None if streams is None else ",".join(sorted(s.value for s in streams))


def parse_flag(name: str, raw: str | None) -> bool:
    if raw is None or raw == "":
        return False
    low = raw.lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise ValidationError.field(name, "must be true or false")


def parse_resume(last_event_id: str | None, after: str | None) -> int:
    """The SSE resume point: `Last-Event-ID`, else `?after=`, else 0 (`ValidationError` if bad).

    Both are checked when both are sent: a bad `after` is refused even beside the header.
    """
    given = [
        parse_seq(field, raw.strip()) or 0
        for field, raw in (("Last-Event-ID", last_event_id), ("after", after))
        if raw is not None and raw.strip()
    ]
    return given[0] if given else 0


def is_sequence_number(position: Any) -> bool:
    """Whether a cursor's position can be a sequence number (the log listings' sort key)."""
    return isinstance(position, int) and not isinstance(position, bool) and position >= 0


def _cursor_seq(cursor: str | None, filters: dict[str, Any]) -> int | None:
    position = decode_cursor(cursor, filters, is_sequence_number)
    return None if position is None else min(int(position), SEQ_CEILING)


@dataclass(frozen=True, slots=True)
class PageParams:
    """The query parameters of `GET …/logs`, as sent."""

    cursor: str | None = None
    limit: str | None = None
    order: str | None = None
    after: str | None = None
    before: str | None = None
    stream: str | None = None


@dataclass(frozen=True, slots=True)
class SearchParams:
    """The query parameters of `GET …/logs/search`, as sent."""

    q: str | None = None
    stream: str | None = None
    regex: str | None = None
    case_sensitive: str | None = None
    cursor: str | None = None
    limit: str | None = None
    order: str | None = None


@dataclass(frozen=True, slots=True)
class DownloadParams:
    """The query parameters of `GET …/logs/raw`, as sent."""

    format: str | None = None
    stream: str | None = None
    q: str | None = None
    regex: str | None = None
    case_sensitive: str | None = None
    timestamps: str | None = None
    ansi: str | None = None


@dataclass(frozen=True, slots=True)
class PageRequest:
    """The parameters of `GET …/logs`, parsed; `after`/`before` already narrowed by the cursor."""

    filters: dict[str, Any]
    limit: int
    descending: bool
    after: int
    before: int | None
    stream: Streams | None

    @classmethod
    def parse(cls, job_id: str, params: PageParams) -> PageRequest:
        """`ValidationError` naming the first bad parameter."""
        size = parse_limit(params.limit)
        descending = parse_order(params.order)
        low = parse_seq("after", params.after) or 0
        high = parse_seq("before", params.before)
        only = parse_stream(params.stream)
        filters = {
            "route": "logs",
            "job": job_id,
            "order": "desc" if descending else "asc",
            "after": low,
            "before": high,
            "stream": stream_key(only),
        }
        position = _cursor_seq(params.cursor, filters)
        if position is not None:
            if descending:
                high = position if high is None else min(high, position)
            else:
                low = max(low, position)
        return cls(filters, size, descending, low, high, only)

    def window(self, last_seq: int) -> Window:
        """The lines to page through, bounded by the log's last sequence number as read in the
        same transaction: lines committed meanwhile wait for the next page."""
        end = last_seq + 1 if self.before is None else min(self.before, last_seq + 1)
        return Window(self.after, end, self.descending)

    def next_cursor(self, lines: list[LogLine], *, more: bool) -> str | None:
        return next_cursor(lines[-1].sequence_num if lines else None, self.filters, more=more)


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """The parameters of `GET …/logs/search`, parsed; `position` is the cursor's, if any."""

    filters: dict[str, Any]
    limit: int
    descending: bool
    stream: Streams | None
    query: LogQuery | None
    position: int | None

    @classmethod
    def parse(cls, job_id: str, params: SearchParams) -> SearchRequest:
        """`ValidationError` naming the first bad parameter (a bad regex is one on `q`)."""
        size = parse_limit(params.limit)
        descending = parse_order(params.order)
        only = parse_stream(params.stream)
        is_regex = parse_flag("regex", params.regex)
        exact_case = parse_flag("case_sensitive", params.case_sensitive)
        q = params.q
        query = compile_query(q, regex=is_regex, case_sensitive=exact_case) if q else None
        filters = {
            "route": "search",
            "job": job_id,
            "q": q or None,
            "regex": is_regex,
            "case_sensitive": exact_case,
            "stream": stream_key(only),
            "order": "desc" if descending else "asc",
        }
        position = _cursor_seq(params.cursor, filters)
        return cls(filters, size, descending, only, query, position)

    def window(self, last_seq: int) -> Window:
        """The whole log as read in this transaction, narrowed by the cursor."""
        low, high = 0, last_seq + 1
        if self.position is not None:
            low, high = (low, self.position) if self.descending else (self.position, high)
        return Window(low, high, self.descending)

    def next_cursor(self, lines: list[LogLine], *, more: bool) -> str | None:
        return next_cursor(lines[-1].sequence_num if lines else None, self.filters, more=more)
