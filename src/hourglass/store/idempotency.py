"""Queries for idempotency keys: reserve a key inside the caller's transaction, record the
response, find what a key was used for, prune expired keys.

The reservation is an `INSERT … ON CONFLICT DO NOTHING` made in the same transaction as the
effect it guards. On PostgreSQL a second transaction inserting the same key waits until the first
one ends: after a commit it finds the finished record (and replays it), after a rollback its own
insert goes through. On SQLite, `Database.write()` serialises writers, so the second one only
starts once the first committed. Either way a key has at most one effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import delete, select, update

from hourglass.store.db import Database, Tx
from hourglass.store.schema import idempotency_keys

IN_PROGRESS: Final = 0  # response_status of a reservation not committed yet
_K = idempotency_keys.c


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """What a key was first used for, and the response that request got."""

    scope: str
    request_hash: str
    response_status: int
    response_body: str
    created_at: datetime


async def reserve(
    db: Database,
    tx: Tx,
    *,
    user_id: str,
    key: str,
    scope: str,
    request_hash: str,
    now: datetime,
    expired_before: datetime,
) -> StoredRequest | None:
    """Reserve `key` for this request: None when reserved, else the live record holding it.

    A record created at or before `expired_before` is taken over as if it were not there.
    """
    fresh = {
        "scope": scope,
        "request_hash": request_hash,
        "response_status": IN_PROGRESS,
        "response_body": "",
        "created_at": now,
    }
    for _ in range(3):  # a record pruned between two statements only costs another round
        inserted = await tx.execute(
            db.insert(idempotency_keys)
            .values(user_id=user_id, key=key, **fresh)
            .on_conflict_do_nothing(index_elements=["user_id", "key"])
            .returning(_K.key)
        )
        if inserted.first() is not None:
            return None
        taken_over = await tx.execute(
            update(idempotency_keys)
            .where(_K.user_id == user_id, _K.key == key, _K.created_at <= expired_before)
            .values(**fresh)
        )
        if taken_over.rowcount:
            return None
        row = (
            await tx.execute(select(idempotency_keys).where(_K.user_id == user_id, _K.key == key))
        ).first()
        if row is not None:
            return StoredRequest(
                row.scope, row.request_hash, row.response_status, row.response_body, row.created_at
            )
    raise RuntimeError("idempotency key kept disappearing")  # pragma: no cover


async def record_response(tx: Tx, *, user_id: str, key: str, status: int, body: str) -> None:
    """Store the response of the request that reserved `key` (same transaction as its effect)."""
    await tx.execute(
        update(idempotency_keys)
        .where(_K.user_id == user_id, _K.key == key)
        .values(response_status=status, response_body=body)
    )


async def prune(tx: Tx, expired_before: datetime) -> int:
    """Delete every key created at or before `expired_before`; how many were deleted."""
    result = await tx.execute(delete(idempotency_keys).where(_K.created_at <= expired_before))
    return int(result.rowcount or 0)
