"""Notifications as their users see them: the list, marking read, the live stream, retention.

What is listed and streamed is filtered by the user's `notification_preference` when read (the
rows are written whatever it is, so changing it shows the history it now allows). The live
stream (`events`) works like a job's log stream: subscribe to the user's bus channel first, then
read the store after the last `seq` sent, send, wait for a wake-up or the keep-alive, read again.
A notification's `seq` is given in commit order (see `store/notifications.py`), so resuming
after `Last-Event-ID` can neither skip nor repeat one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from hourglass.domain.accounts import NotificationPreference
from hourglass.domain.common import Clock
from hourglass.domain.cursors import BIGINT_MAX, decode_cursor, encode_cursor
from hourglass.domain.notifications import (
    Notification,
    NotificationKind,
    parse_ids,
    parse_limit,
    parse_unread,
    visible_kinds,
)
from hourglass.errors import HourglassError, NotFound, ValidationError
from hourglass.live import LiveBus
from hourglass.services.events import user_channel
from hourglass.settings import Settings
from hourglass.store import notifications as store
from hourglass.store.db import Database, Tx

SSE_RETRY_MS: Final = 3000
STREAM_BATCH: Final = 100
SWEEP_BATCH: Final = 1000


@dataclass(frozen=True, slots=True)
class NotificationPage:
    notifications: list[Notification]
    cursor: str | None


def _frame(event: str, data: object, id: int | None = None) -> bytes:
    head = f"id: {id}\n" if id is not None else ""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}event: {event}\ndata: {body}\n\n".encode()


def parse_resume(last_event_id: str | None, after: str | None) -> int | None:
    """Where the stream resumes: after `Last-Event-ID`, else `?after=`; None: from now on.

    Both are checked when both are sent: a bad `after` is refused even beside the header.
    """
    given: list[int] = []
    for field, raw in (("Last-Event-ID", last_event_id), ("after", after)):
        if raw is None or not raw.strip():
            continue
        value = raw.strip()
        if not value.isascii() or not value.isdigit() or len(value) > 19 or int(value) > BIGINT_MAX:
            raise ValidationError.field(field, "must be a notification sequence number")
        given.append(int(value))
    return given[0] if given else None


class NotificationService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        bus: LiveBus,
        *,
        keepalive_seconds: float = 15.0,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.bus = bus
        self.keepalive_seconds = keepalive_seconds

    async def _kinds(self, tx: Tx, user_id: str) -> frozenset[NotificationKind]:
        preference = await store.preference(tx, user_id) or NotificationPreference.NONE
        return visible_kinds(preference)

    async def list(
        self, user_id: str, *, cursor: str | None, limit: str | None, unread: str | None
    ) -> NotificationPage:
        """A page of the caller's notifications, newest first (unread only unless told)."""
        size = parse_limit(limit)
        unread_only = parse_unread(unread)
        bound_to = {"user": user_id, "unread": unread_only}
        before = decode_cursor(cursor, bound_to)
        if before is not None and (not isinstance(before, int) or isinstance(before, bool)):
            raise ValidationError.field("cursor", "malformed cursor")
        async with self.db.read() as tx:
            kinds = await self._kinds(tx, user_id)
            rows = await store.page(
                tx, user_id, kinds, unread_only=unread_only, before_seq=before, limit=size + 1
            )
        page = rows[:size]
        more = len(rows) > size
        return NotificationPage(page, encode_cursor(page[-1].seq, bound_to) if more else None)

    async def mark_read(self, user_id: str, raw_ids: object) -> None:
        """Mark the caller's notifications among `ids` read; 404 when none of them is theirs."""
        ids = parse_ids(raw_ids)
        async with self.db.write() as tx:
            found = await store.mark_read(tx, user_id, ids, self.clock.now())
        if not found:
            raise NotFound("notifications not found")

    async def events(self, user_id: str, after: int | None) -> AsyncGenerator[bytes, None]:
        """The live stream's frames: `connected`, then each notification after the resume
        point (`id:` = its seq), keep-alive comments while idle; it never ends by itself."""
        yield f"retry: {SSE_RETRY_MS}\n\n".encode()
        async with self.bus.subscribe(user_channel(user_id)) as sub:
            if after is None:
                async with self.db.read() as tx:
                    after = await store.last_seq(tx, user_id)
            yield _frame("connected", {"status": "connected", "last_event_id": after})
            last = after
            while True:
                async with self.db.read() as tx:
                    kinds = await self._kinds(tx, user_id)
                    batch = await store.after(tx, user_id, kinds, last, STREAM_BATCH)
                if batch:
                    yield b"".join(_frame("notification", n.as_json(), n.seq) for n in batch)
                    last = batch[-1].seq
                if len(batch) == STREAM_BATCH:
                    continue
                if not await sub.wait(self.keepalive_seconds):
                    yield b": keep-alive\n\n"

    @staticmethod
    def error_frame(exc: BaseException) -> bytes:
        message = exc.message if isinstance(exc, HourglassError) else "internal error"
        return _frame("error", {"error": message})

    async def sweep(self) -> int:
        """Delete notifications older than the retention setting (housekeeping), in batches."""
        cutoff = self.clock.now() - timedelta(days=self.settings.notification_retention_days)
        return await sweep_batches(self.db, lambda tx: store.delete_older(tx, cutoff, SWEEP_BATCH))


async def sweep_batches(db: Database, delete: Callable[[Tx], Awaitable[int]]) -> int:
    """Run `delete` (up to `SWEEP_BATCH` rows, one transaction each) until it deletes fewer;
    how many went. Short transactions: a sweep never holds the writers up for long."""
    deleted = 0
    while True:
        async with db.write() as tx:
            gone = await delete(tx)
        deleted += gone
        if gone < SWEEP_BATCH:
            return deleted
