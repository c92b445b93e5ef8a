"""Query parameters of the four log routes, parsed from raw strings after the 404/412 checks.

One place for the rules every log route shares, so `limit`, `stream`, flags and sequence numbers
mean the same thing (and fail with the same 400) on pages, search, downloads and SSE.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, TypeVar

from hourglass.domain.logs.lines import Stream
from hourglass.errors import ValidationError

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
MAX_SEQ: Final = 2**63 - 1  # BIGINT
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
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > MAX_SEQ:
        raise ValidationError.field(name, _SEQ)
    return int(raw)


def parse_choice(field: str, raw: str | None, kind: type[_E], default: _E | None) -> _E | None:
    """One of `kind`'s values (case-insensitive), `default` when absent."""
    if raw is None or raw == "":
        return default
    try:
        return kind(raw.lower())
    except ValueError as exc:
        names = ", ".join(m.value for m in kind)
        raise ValidationError.field(field, f"must be one of {names}") from exc


def parse_stream(raw: str | None) -> Stream | None:
    return parse_choice("stream", raw, Stream, None)


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
    """The SSE resume point: `Last-Event-ID`, else `?after=`, else 0 (`ValidationError` if bad)."""
    for field, raw in (("Last-Event-ID", last_event_id), ("after", after)):
        if raw is None or (field == "Last-Event-ID" and not raw.strip()):
            continue
        return parse_seq(field, raw.strip()) or 0
    return 0
