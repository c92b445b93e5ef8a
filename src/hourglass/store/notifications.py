"""Queries for notifications: writing them in the caller's transaction, listing, streaming,
marking read and deleting old ones.

A user's notifications are numbered by `seq` from their row in `notification_counters`. The
increment takes that row's lock until the transaction ends, so numbers are handed out in commit
order: a reader that has seen `seq` N has seen every committed notification up to N, and the live
stream can resume after N without skipping one that committed late. Writers take it after
the workflow's and the jobs' rows (see `jobs.py`), among the last writes of their transaction, so
it adds no deadlock; it only orders the notifications of one user.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select, update

from hourglass.domain.accounts import NotificationPreference
from hourglass.domain.notifications import Draft, Notification, NotificationKind
from hourglass.store.db import Database, Tx
from hourglass.store.schema import notification_counters, notifications, users, webhooks


def _notification(row: Any) -> Notification:
    m = row._mapping
    return Notification(
        id=m["id"],
        user_id=m["user_id"],
        seq=m["seq"],
        kind=NotificationKind(m["kind"]),
        payload=m["payload"],
        read_at=m["read_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


async def reserve_seqs(db: Database, tx: Tx, user_id: str, count: int) -> tuple[int, bool]:
    """Add `count` to the user's counter (held locked until commit). Returns the new last seq,
    and whether the user has an enabled webhook (asked in the same round trip: most have none,
    and their events then need no webhook query at all)."""
    hooked = exists().where(webhooks.c.user_id == user_id, webhooks.c.enabled.is_(True))
    stmt = (
        db.insert(notification_counters)
        .values(user_id=user_id, last_seq=count)
        .on_conflict_do_update(
            index_elements=["user_id"],
            set_={"last_seq": notification_counters.c.last_seq + count},
        )
        .returning(notification_counters.c.last_seq, hooked)
    )
    last, has_webhooks = (await tx.execute(stmt)).one()
    return int(last), bool(has_webhooks)


async def insert(
    db: Database, tx: Tx, drafts: Sequence[tuple[str, int, Draft]], now: datetime
) -> None:
    """Write `(id, seq, draft)` rows; a cause already written for its user is skipped."""
    rows = [
        {
            "id": id,
            "user_id": draft.user_id,
            "seq": seq,
            "cause": draft.cause,
            "kind": draft.kind.value,
            "payload": draft.payload_json(),
            "read_at": None,
            "created_at": now,
            "updated_at": now,
        }
        for id, seq, draft in drafts
    ]
    stmt = db.insert(notifications).values(rows)
    await tx.execute(stmt.on_conflict_do_nothing(index_elements=["user_id", "cause"]))


async def preference(tx: Tx, user_id: str) -> NotificationPreference | None:
    stmt = select(users.c.notification_preference).where(users.c.id == user_id)
    value = (await tx.execute(stmt)).scalar()
    return NotificationPreference(value) if value is not None else None


async def page(
    tx: Tx,
    user_id: str,
    kinds: Collection[NotificationKind],
    *,
    unread_only: bool,
    before_seq: int | None,
    limit: int,
) -> list[Notification]:
    """Up to `limit` of the user's notifications of `kinds`, newest first, below `before_seq`."""
    if not kinds:
        return []
    stmt = select(notifications).where(
        notifications.c.user_id == user_id, notifications.c.kind.in_([k.value for k in kinds])
    )
    if unread_only:
        stmt = stmt.where(notifications.c.read_at.is_(None))
    if before_seq is not None:
        stmt = stmt.where(notifications.c.seq < before_seq)
    stmt = stmt.order_by(notifications.c.seq.desc()).limit(limit)
    return [_notification(r) for r in await tx.execute(stmt)]


async def after(
    tx: Tx, user_id: str, kinds: Collection[NotificationKind], after_seq: int, limit: int
) -> list[Notification]:
    """The user's notifications of `kinds` after `after_seq`, oldest first (the live stream)."""
    if not kinds:
        return []
    stmt = (
        select(notifications)
        .where(
            notifications.c.user_id == user_id,
            notifications.c.seq > after_seq,
            notifications.c.kind.in_([k.value for k in kinds]),
        )
        .order_by(notifications.c.seq)
        .limit(limit)
    )
    return [_notification(r) for r in await tx.execute(stmt)]


async def last_seq(tx: Tx, user_id: str) -> int:
    stmt = select(notification_counters.c.last_seq).where(
        notification_counters.c.user_id == user_id
    )
    return int((await tx.execute(stmt)).scalar() or 0)


async def mark_read(tx: Tx, user_id: str, ids: Sequence[str], now: datetime) -> int:
    """Mark the user's notifications among `ids` read (read ones keep their `read_at`);
    returns how many of `ids` are the user's."""
    mine = (notifications.c.user_id == user_id) & notifications.c.id.in_(ids)
    found = (await tx.execute(select(func.count()).where(mine))).scalar_one()
    if found:
        await tx.execute(
            update(notifications)
            .where(mine, notifications.c.read_at.is_(None))
            .values(read_at=now, updated_at=now)
        )
    return int(found)


async def delete_older(tx: Tx, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` notifications created before `cutoff`; how many went."""
    oldest = (
        select(notifications.c.id)
        .where(notifications.c.created_at < cutoff)
        .order_by(notifications.c.created_at)
        .limit(limit)
    )
    result = await tx.execute(delete(notifications).where(notifications.c.id.in_(oldest)))
    return int(result.rowcount)
