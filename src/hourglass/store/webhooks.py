"""Queries for webhooks and their outbox of deliveries.

Deliveries are written in the transaction of their event (`enqueue`, unique per webhook and
cause) and claimed by any worker like jobs are: `claim` moves a due delivery's
`next_attempt_at` past a lease and stamps a token (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so
a sender that dies leaves it to come back by itself; `finish` is fenced by that token.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from hourglass.domain.events import WebhookEvent
from hourglass.domain.webhooks import (
    Attempt,
    Claimed,
    Delivery,
    DeliveryStatus,
    Webhook,
    WebhookFormat,
    WebhookSpec,
)
from hourglass.store.db import Database, Tx
from hourglass.store.schema import webhook_deliveries, webhooks

_PENDING = DeliveryStatus.PENDING.value


def _webhook(row: Any) -> Webhook:
    m = row._mapping
    return Webhook(
        id=m["id"],
        user_id=m["user_id"],
        url=m["url"],
        description=m["description"],
        events=tuple(WebhookEvent(e) for e in json.loads(m["events"])),
        format=WebhookFormat(m["format"]),
        secret=m["secret"],
        enabled=bool(m["enabled"]),
        failure_count=m["failure_count"],
        failing_since=m["failing_since"],
        disabled_at=m["disabled_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _spec_values(spec: WebhookSpec) -> dict[str, Any]:
    return {
        "url": spec.url,
        "events": json.dumps([e.value for e in spec.events]),
        "description": spec.description,
        "format": spec.format.value,
    }


async def insert(
    tx: Tx, *, id: str, user_id: str, spec: WebhookSpec, secret: str, now: datetime
) -> Webhook:
    values = {
        "id": id,
        "user_id": user_id,
        "secret": secret,
        "enabled": True,
        "failure_count": 0,
        "created_at": now,
        "updated_at": now,
        **_spec_values(spec),
    }
    row = (await tx.execute(webhooks.insert().values(values).returning(*webhooks.c))).one()
    return _webhook(row)


async def count_for_user(tx: Tx, user_id: str) -> int:
    stmt = select(func.count()).select_from(webhooks).where(webhooks.c.user_id == user_id)
    return int((await tx.execute(stmt)).scalar_one())


async def get_owned(tx: Tx, user_id: str, webhook_id: str) -> Webhook | None:
    stmt = select(webhooks).where(webhooks.c.id == webhook_id, webhooks.c.user_id == user_id)
    row = (await tx.execute(stmt)).first()
    return _webhook(row) if row else None


async def list_for_user(tx: Tx, user_id: str) -> list[Webhook]:
    stmt = select(webhooks).where(webhooks.c.user_id == user_id).order_by(webhooks.c.id.desc())
    return [_webhook(r) for r in await tx.execute(stmt)]


async def replace(
    tx: Tx, user_id: str, webhook_id: str, spec: WebhookSpec, enabled: bool | None, now: datetime
) -> Webhook | None:
    """Write a PATCH; turning a webhook on starts it with a clean failure record."""
    values: dict[str, Any] = {**_spec_values(spec), "updated_at": now}
    if enabled is True:
        values.update(enabled=True, failure_count=0, failing_since=None, disabled_at=None)
    elif enabled is False:
        values.update(enabled=False)
    stmt = (
        update(webhooks)
        .where(webhooks.c.id == webhook_id, webhooks.c.user_id == user_id)
        .values(**values)
        .returning(*webhooks.c)
    )
    row = (await tx.execute(stmt)).first()
    return _webhook(row) if row else None


async def delete_owned(tx: Tx, user_id: str, webhook_id: str) -> bool:
    stmt = delete(webhooks).where(webhooks.c.id == webhook_id, webhooks.c.user_id == user_id)
    return bool((await tx.execute(stmt)).rowcount)


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: str
    user_id: str
    events: frozenset[str]


async def subscribed(tx: Tx, user_ids: Collection[str]) -> list[Subscriber]:
    """The enabled webhooks of these users (the event hot path: one indexed read)."""
    stmt = select(webhooks.c.id, webhooks.c.user_id, webhooks.c.events).where(
        webhooks.c.user_id.in_(list(user_ids)), webhooks.c.enabled.is_(True)
    )
    return [
        Subscriber(r.id, r.user_id, frozenset(json.loads(r.events))) for r in await tx.execute(stmt)
    ]


@dataclass(frozen=True, slots=True)
class NewDelivery:
    id: str
    webhook_id: str
    cause: str
    event_type: str
    payload: str


async def enqueue(db: Database, tx: Tx, rows: Sequence[NewDelivery], now: datetime) -> None:
    """Put deliveries in the outbox, due now; one that exists for its cause is skipped."""
    values = [
        {
            "id": r.id,
            "webhook_id": r.webhook_id,
            "cause": r.cause,
            "event_type": r.event_type,
            "payload": r.payload,
            "status": _PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for r in rows
    ]
    stmt = db.insert(webhook_deliveries).values(values)
    await tx.execute(stmt.on_conflict_do_nothing(index_elements=["webhook_id", "cause"]))


def _delivery(row: Any) -> Delivery:
    m = row._mapping
    return Delivery(
        id=m["id"],
        webhook_id=m["webhook_id"],
        event_type=m["event_type"],
        status=DeliveryStatus(m["status"]),
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"],
        last_status_code=m["last_status_code"],
        last_error=m["last_error"],
        last_duration_ms=m["last_duration_ms"],
        last_attempt_at=m["last_attempt_at"],
        created_at=m["created_at"],
    )


async def deliveries_page(
    tx: Tx, webhook_id: str, *, before_id: str | None, limit: int
) -> list[Delivery]:
    stmt = select(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id)
    if before_id is not None:
        stmt = stmt.where(webhook_deliveries.c.id < before_id)
    stmt = stmt.order_by(webhook_deliveries.c.id.desc()).limit(limit)
    return [_delivery(r) for r in await tx.execute(stmt)]


async def get_delivery(tx: Tx, delivery_id: str) -> Delivery | None:
    stmt = select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
    row = (await tx.execute(stmt)).first()
    return _delivery(row) if row else None


async def claim(
    db: Database, tx: Tx, *, token: str, now: datetime, lease_until: datetime, limit: int
) -> list[Claimed]:
    """Take up to `limit` due deliveries: their lease runs until `lease_until`."""
    due = (
        select(webhook_deliveries.c.id)
        .where(webhook_deliveries.c.status == _PENDING, webhook_deliveries.c.next_attempt_at <= now)
        .order_by(webhook_deliveries.c.next_attempt_at)
        .limit(limit)
    )
    if db.is_postgres:
        due = due.with_for_update(skip_locked=True)
    d = webhook_deliveries.c
    stmt = (
        update(webhook_deliveries)
        .where(d.id.in_(due.scalar_subquery()), d.status == _PENDING)
        .values(next_attempt_at=lease_until, lease_token=token, attempts=d.attempts + 1)
        .returning(d.id, d.webhook_id, d.event_type, d.payload, d.attempts)
    )
    taken = (await tx.execute(stmt)).all()
    if not taken:
        return []
    hooks = {
        r.id: r
        for r in await tx.execute(
            select(webhooks).where(webhooks.c.id.in_({t.webhook_id for t in taken}))
        )
    }
    return [
        Claimed(
            id=t.id,
            webhook_id=t.webhook_id,
            user_id=hooks[t.webhook_id].user_id,
            url=hooks[t.webhook_id].url,
            format=WebhookFormat(hooks[t.webhook_id].format),
            secret=hooks[t.webhook_id].secret,
            event_type=t.event_type,
            payload=t.payload,
            attempts=t.attempts,
            token=token,
        )
        for t in taken
    ]


async def finish(tx: Tx, claimed: Claimed, attempt: Attempt, *, retry_at: datetime | None) -> bool:
    """Record an attempt (fenced by the lease token): delivered, retried at `retry_at`, or
    failed for good. False when the lease was lost (another sender took it over)."""
    if attempt.ok:
        status, next_at = DeliveryStatus.DELIVERED, None
    elif retry_at is not None:
        status, next_at = DeliveryStatus.PENDING, retry_at
    else:
        status, next_at = DeliveryStatus.FAILED, None
    d = webhook_deliveries.c
    stmt = (
        update(webhook_deliveries)
        .where(d.id == claimed.id, d.lease_token == claimed.token, d.status == _PENDING)
        .values(
            status=status.value,
            next_attempt_at=next_at,
            lease_token=None,
            last_status_code=attempt.status_code,
            last_error=attempt.error,
            last_duration_ms=attempt.duration_ms,
            last_attempt_at=attempt.at,
            updated_at=attempt.at,
        )
    )
    return bool((await tx.execute(stmt)).rowcount)


async def record_success(tx: Tx, webhook_id: str, now: datetime) -> None:
    """A delivery went through: the webhook's run of failures is over (no write if none)."""
    stmt = (
        update(webhooks)
        .where(webhooks.c.id == webhook_id, webhooks.c.failure_count > 0)
        .values(failure_count=0, failing_since=None, updated_at=now)
    )
    await tx.execute(stmt)


async def record_failure(tx: Tx, webhook_id: str, now: datetime) -> Webhook | None:
    """One more failed attempt in the webhook's current run; the webhook as it is now."""
    w = webhooks.c
    stmt = (
        update(webhooks)
        .where(w.id == webhook_id)
        .values(
            failure_count=w.failure_count + 1,
            failing_since=func.coalesce(w.failing_since, now),
            updated_at=now,
        )
        .returning(*webhooks.c)
    )
    row = (await tx.execute(stmt)).first()
    return _webhook(row) if row else None


async def disable(tx: Tx, webhook_id: str, now: datetime, reason: str) -> bool:
    """Turn a webhook off and fail its pending deliveries; False if it already was off."""
    stmt = (
        update(webhooks)
        .where(webhooks.c.id == webhook_id, webhooks.c.enabled.is_(True))
        .values(enabled=False, disabled_at=now, updated_at=now)
    )
    if not (await tx.execute(stmt)).rowcount:
        return False
    d = webhook_deliveries.c
    await tx.execute(
        update(webhook_deliveries)
        .where(d.webhook_id == webhook_id, d.status == _PENDING)
        .values(
            status=DeliveryStatus.FAILED.value,
            next_attempt_at=None,
            lease_token=None,
            last_error=reason,
            updated_at=now,
        )
    )
    return True


async def next_due(tx: Tx) -> datetime | None:
    """When the soonest pending delivery (leased ones included) is due."""
    stmt = select(func.min(webhook_deliveries.c.next_attempt_at)).where(
        webhook_deliveries.c.status == _PENDING
    )
    value: datetime | None = (await tx.execute(stmt)).scalar()
    return value


async def delete_older(tx: Tx, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` finished deliveries created before `cutoff`."""
    d = webhook_deliveries.c
    oldest = (
        select(d.id)
        .where(d.created_at < cutoff, d.status != _PENDING)
        .order_by(d.created_at)
        .limit(limit)
    )
    result = await tx.execute(delete(webhook_deliveries).where(d.id.in_(oldest)))
    return int(result.rowcount)
