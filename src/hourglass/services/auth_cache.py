"""A short-lived, per-process cache of session and API-token lookups, dropped through the bus.

Every authenticated request used to read its session (or token) row before doing its work: on a
small page that read cost more than the page. An API process now remembers, for at most
`HOURGLASS_AUTH_CACHE_SECONDS`, what it read of a live session or token, keyed by the token's
hash. Ending a session or a token must still be refused everywhere at once, so:

- every change that ends some (logout, logout everywhere, a password change, a token deleted)
  drops the user's entries here and announces the user on the bus's `__auth__` channel after its
  commit; every API process listens there (`listen`) and drops that user's entries;
- an entry is only used while the bus vouches for delivery: within one `LiveBus.epoch()` (Redis
  connected and subscribed; in-process always). A bus that lost its connection, or re-made it,
  empties the cache, and nothing is cached until it is back;
- the composition root only starts `listen` where the bus reaches every API process: `hourglass
  up` on its SQLite file (in-process bus), or any process with Redis. Elsewhere the cache stays
  empty and every request reads the store, as before;
- a read of the store only fills the cache if no drop arrived while it ran (`ticket`), so a
  read that raced a logout cannot put the ended session back.

Expiry needs no message: an entry keeps the expiry times it was read with, and is checked
against them (an idle session's `last_seen` is at most as recent here as in the store, so the
cache can only find it expired sooner, and then the store is asked).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from hourglass.live import LiveBus, Subscription, Wakeup

log = logging.getLogger("hourglass.auth")

AUTH_CHANNEL = "__auth__"
"""Bus channel announcing users whose sessions or tokens ended (the status is the user id)."""

MAX_ENTRIES = 10_000
_RETRY_LISTEN = 5.0  # seconds between attempts to subscribe while the bus is down


@dataclass(slots=True)
class Entry:
    """What a request needs of one live session or API token, as last read or written."""

    user_id: str
    cached_at: datetime
    last_seen: datetime | None  # a session's `last_seen_at`, a token's `last_used_at`
    expires_at: datetime | None  # None: a token that never expires
    token_id: str | None = None  # API tokens only


Ticket = tuple[int, int]
"""The cache's state when a store read began: `put` refuses the entry if it changed since."""


class AuthCache:
    def __init__(self, bus: LiveBus, ttl_seconds: float) -> None:
        self.bus = bus
        self.ttl = timedelta(seconds=ttl_seconds)
        self._entries: dict[str, Entry] = {}
        self._feed: Subscription | None = None
        self._epoch: int | None = None
        self._seen = 0

    @property
    def active(self) -> bool:
        return self._sync()

    async def listen(self, stop: asyncio.Event) -> None:
        """Hold the subscription to `__auth__` until `stop`; the cache works only meanwhile.
        While the bus is unreachable the cache stays off and this tries again."""
        if self.ttl <= timedelta(0):
            return
        while not stop.is_set():
            try:
                async with self.bus.subscribe(AUTH_CHANNEL) as feed:
                    self._feed, self._seen = feed, feed.status_version
                    await stop.wait()
            except Exception:
                log.warning("auth cache off: cannot subscribe to the bus", exc_info=True)
            finally:
                self._feed = None
                self._entries.clear()
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), _RETRY_LISTEN)

    def _sync(self) -> bool:
        """Apply what the bus said since the last look; False while the cache must not be used."""
        feed = self._feed
        epoch = self.bus.epoch() if feed is not None else None
        if feed is None or epoch is None:
            self._entries.clear()
            self._epoch = None
            return False
        if epoch != self._epoch:
            self._entries.clear()
            self._epoch = epoch
        version = feed.status_version
        if version != self._seen:
            if version == self._seen + 1 and feed.status is not None:
                self.drop_user(feed.status)  # exactly one announcement since the last look
            else:
                self._entries.clear()
            self._seen = version
        return True

    def ticket(self) -> Ticket | None:
        """Taken before a store read whose result may be `put`; None: do not cache it."""
        if not self._sync() or self._epoch is None:
            return None
        return (self._epoch, self._seen)

    def get(self, key: str, now: datetime) -> Entry | None:
        if not self._sync():
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if not entry.cached_at <= now < entry.cached_at + self.ttl:
            del self._entries[key]
            return None
        return entry

    def put(self, ticket: Ticket | None, key: str, entry: Entry) -> None:
        if ticket is None or not self._sync() or (self._epoch, self._seen) != ticket:
            return
        if len(self._entries) >= MAX_ENTRIES and key not in self._entries:
            self._entries.pop(next(iter(self._entries)))  # the oldest insertion
        self._entries[key] = entry

    def drop(self, key: str) -> None:
        self._entries.pop(key, None)

    def drop_user(self, user_id: str) -> None:
        for key in [k for k, e in self._entries.items() if e.user_id == user_id]:
            del self._entries[key]

    async def ended(self, user_id: str) -> None:
        """After the commit that ended sessions or tokens of `user_id`: drop them here and in
        every other process."""
        self.drop_user(user_id)
        await self.bus.publish(Wakeup(AUTH_CHANNEL, status=user_id))
