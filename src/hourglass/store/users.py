"""Queries for users, sessions, personal API tokens and login-failure records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from hourglass.domain.accounts import ApiToken, NotificationPreference, Session, User
from hourglass.errors import Conflict
from hourglass.store.db import Database, Tx
from hourglass.store.schema import api_tokens, login_failures, sessions, users


def _user(row: Any) -> User:
    return User(
        id=row.id,
        email=row.email,
        password_hash=row.password_hash,
        notification_preference=NotificationPreference(row.notification_preference),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def insert_user(
    db: Database, tx: Tx, *, id: str, email: str, password_hash: str, now: datetime
) -> User:
    """Create a user; `Conflict` if the email is taken (also under concurrent sign-ups)."""
    stmt = (
        db.insert(users)
        .values(
            id=id,
            email=email,
            password_hash=password_hash,
            notification_preference=NotificationPreference.ALERTS.value,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["email"])
        .returning(users.c.id)
    )
    if (await tx.execute(stmt)).first() is None:
        raise Conflict("an account with this email already exists")
    return User(id, email, password_hash, NotificationPreference.ALERTS, now, now)


async def get_user(tx: Tx, user_id: str) -> User | None:
    row = (await tx.execute(select(users).where(users.c.id == user_id))).first()
    return _user(row) if row else None


async def get_user_by_email(tx: Tx, email: str) -> User | None:
    row = (await tx.execute(select(users).where(users.c.email == email))).first()
    return _user(row) if row else None


async def update_user(tx: Tx, user_id: str, now: datetime, **values: Any) -> None:
    await tx.execute(update(users).where(users.c.id == user_id).values(updated_at=now, **values))


# sessions


def _session(row: Any) -> Session:
    return Session(row.token_hash, row.user_id, row.created_at, row.last_seen_at, row.expires_at)


async def insert_session(tx: Tx, session: Session) -> None:
    await tx.execute(
        sessions.insert().values(
            token_hash=session.token_hash,
            user_id=session.user_id,
            created_at=session.created_at,
            last_seen_at=session.last_seen_at,
            expires_at=session.expires_at,
        )
    )


async def get_session(tx: Tx, token_hash: str) -> Session | None:
    row = (await tx.execute(select(sessions).where(sessions.c.token_hash == token_hash))).first()
    return _session(row) if row else None


async def touch_session(tx: Tx, token_hash: str, now: datetime) -> bool:
    """Stamp the session's last use; False if it no longer exists."""
    result = await tx.execute(
        update(sessions).where(sessions.c.token_hash == token_hash).values(last_seen_at=now)
    )
    return bool(result.rowcount)


async def delete_session(tx: Tx, token_hash: str) -> None:
    await tx.execute(delete(sessions).where(sessions.c.token_hash == token_hash))


async def delete_user_sessions(tx: Tx, user_id: str, *, keep: str | None = None) -> None:
    stmt = delete(sessions).where(sessions.c.user_id == user_id)
    if keep is not None:
        stmt = stmt.where(sessions.c.token_hash != keep)
    await tx.execute(stmt)


async def delete_expired_sessions(tx: Tx, now: datetime, idle_cutoff: datetime) -> int:
    result = await tx.execute(
        delete(sessions).where(
            (sessions.c.expires_at <= now) | (sessions.c.last_seen_at <= idle_cutoff)
        )
    )
    return int(result.rowcount or 0)


# personal API tokens


def _token(row: Any) -> ApiToken:
    return ApiToken(row.id, row.user_id, row.name, row.created_at, row.expires_at, row.last_used_at)


async def insert_token(tx: Tx, token: ApiToken, token_hash: str) -> None:
    await tx.execute(
        api_tokens.insert().values(
            id=token.id,
            user_id=token.user_id,
            name=token.name,
            token_hash=token_hash,
            created_at=token.created_at,
            expires_at=token.expires_at,
            last_used_at=None,
        )
    )


async def list_tokens(tx: Tx, user_id: str) -> list[ApiToken]:
    rows = await tx.execute(
        select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id.desc())
    )
    return [_token(r) for r in rows]


async def get_token_by_hash(tx: Tx, token_hash: str) -> ApiToken | None:
    row = (
        await tx.execute(select(api_tokens).where(api_tokens.c.token_hash == token_hash))
    ).first()
    return _token(row) if row else None


async def touch_token(tx: Tx, token_id: str, now: datetime) -> bool:
    """Stamp the token's last use; False if it no longer exists."""
    result = await tx.execute(
        update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now)
    )
    return bool(result.rowcount)


async def delete_token(tx: Tx, user_id: str, token_id: str) -> bool:
    result = await tx.execute(
        delete(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.user_id == user_id)
    )
    return bool(result.rowcount)


# login failures (rate limiting shared by every API process on one database)


async def lock_login_keys(db: Database, tx: Tx, keys: list[str]) -> None:
    """Serialise attempts on the same keys until `tx` ends, across every process.

    SQLite needs nothing more: write transactions start with `BEGIN IMMEDIATE`, one at a time.
    On PostgreSQL, transaction-scoped advisory locks, taken in sorted order so two attempts
    sharing keys cannot deadlock.
    """
    if not db.is_postgres:
        return
    for key in sorted(set(keys)):
        await tx.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


async def nth_newest_failure(tx: Tx, key: str, since: datetime, n: int) -> datetime | None:
    """The time of the `n`-th most recent failure of `key` after `since`, if it had that many."""
    return (
        await tx.execute(
            select(login_failures.c.at)
            .where(login_failures.c.key == key, login_failures.c.at > since)
            .order_by(login_failures.c.at.desc(), login_failures.c.id.desc())
            .offset(n - 1)
            .limit(1)
        )
    ).scalar_one_or_none()


async def record_login_failure(tx: Tx, keys: list[str], now: datetime) -> list[int]:
    """One failure row per key; returns their ids (so a success can take them back)."""
    rows = await tx.execute(
        login_failures.insert()
        .values([{"key": k, "at": now} for k in keys])
        .returning(login_failures.c.id)
    )
    return [int(r[0]) for r in rows]


async def forget_login_failures(tx: Tx, ids: list[int]) -> None:
    await tx.execute(delete(login_failures).where(login_failures.c.id.in_(ids)))


async def clear_login_failures(tx: Tx, key: str) -> None:
    await tx.execute(delete(login_failures).where(login_failures.c.key == key))


async def prune_login_failures(tx: Tx, before: datetime, keys: list[str] | None = None) -> None:
    """Forget failures at or before `before` (only those of `keys` when given)."""
    stmt = delete(login_failures).where(login_failures.c.at <= before)
    if keys is not None:
        stmt = stmt.where(login_failures.c.key.in_(keys))
    await tx.execute(stmt)
