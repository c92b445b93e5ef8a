"""Small values every part of the domain shares: clocks, ids and the timestamp format."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ulid import ULID

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
