"""Small values every part of the domain shares: clocks, ids, the timestamp format, and what text
every engine can store (no NUL: PostgreSQL refuses it; no lone surrogate: it is not UTF-8)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ulid import ULID

from hourglass.errors import FieldError

IdFactory = Callable[[], str]


class Clock(Protocol):
    """Where the current time comes from; injected so tests can freeze it."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0.0, **kwargs: float) -> datetime:
        self._now += timedelta(seconds=seconds, **kwargs)
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment


def new_id() -> str:
    """A new ULID: 26 characters of Crockford base32, ordered by creation time."""
    return str(ULID())


def id_at(moment: datetime) -> str:
    """A ULID whose time part is `moment` (used where ids must follow an injected clock)."""
    return str(ULID.from_timestamp(moment.timestamp()))


_CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def is_valid_id(value: str) -> bool:
    """Whether `value` looks like a ULID (so malformed path ids can be answered 404 cheaply)."""
    return len(value) == 26 and value[0] in "01234567" and set(value.upper()) <= _CROCKFORD


def format_ts(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with microseconds and `Z`, or None."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def monotonic() -> float:
    """Monotonic seconds, for measuring durations (never for deciding what is due)."""
    return time.monotonic()


CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""Never part of an email, a name or a URL: C0 and C1 control characters, DEL, the line and
paragraph separators, and the bidirectional embeddings, overrides and isolates (they make a
listing or a terminal show text other than what is stored: `gpj.exe` shown as `exe.jpg`)."""


def loads_strict(raw: str | bytes) -> object:
    """JSON as the API reads it: `NaN` and `±Infinity` are not JSON, so they fail (ValueError)
    like bad syntax does; too deep a document raises RecursionError."""
    return json.loads(raw, parse_constant=_no_constant)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def text_problem(value: str, *, controls: bool = False) -> str | None:
    """Why `value` cannot be stored as text on every engine (or, with `controls`, holds a
    control character), or None when it is fine."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # JSON may spell a lone surrogate ("\\ud800"); it has no UTF-8 form
        return "must be valid Unicode (it holds an unpaired surrogate)"
    if controls:
        found = CONTROL_CHARS.search(value)
        if found:
            return f"must not contain control characters (U+{ord(found[0]):04X})"
    return None


def printable_path(part: str) -> str:
    """A JSON key as it may appear in a field path and a log line (bad characters escaped)."""
    escaped = part.encode("utf-8", "backslashreplace").decode()
    return CONTROL_CHARS.sub(_escape, escaped)


def _escape(found: re.Match[str]) -> str:
    code = ord(found[0])
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def find_bad_text(value: object, path: str = "") -> FieldError | None:
    """The first string (object key or value, at any depth) of a decoded JSON value that
    `text_problem` refuses, named by its path (`email`, `payload.env.HOME`, `cmd[2]`)."""
    # a loop, not recursion: the value may be nested as deep as JSON allows; paths are kept as
    # parts and spelt out only for the string that is refused
    stack: list[tuple[object, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, parts = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return FieldError(_spell(path, parts) or "body", problem)
        elif isinstance(item, dict):
            for key in item:
                problem = text_problem(key)
                if problem is not None:
                    return FieldError(_spell(path, (*parts, key)), f"this name {problem}")
            stack.extend((item[k], (*parts, k)) for k in reversed(list(item)))  # document order
        elif isinstance(item, list):
            stack.extend((item[i], (*parts, i)) for i in reversed(range(len(item))))
    return None


def _spell(path: str, parts: tuple[str | int, ...]) -> str:
    """`payload` + ("env", "HOME") → `payload.env.HOME`; list indexes as `[2]`."""
    spelt = path
    for part in parts:
        if isinstance(part, int):
            spelt += f"[{part}]"
        else:
            name = printable_path(part)
            spelt = f"{spelt}.{name}" if spelt else name
    return spelt
