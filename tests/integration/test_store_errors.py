"""Driver errors are translated at the store boundary: a value the database refuses is a 400-class
`BadRequest`, a constraint violation stays an `IntegrityError` for the caller to handle."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from hourglass.domain.accounts import Session
from hourglass.errors import BadRequest
from hourglass.store import users
from hourglass.store.db import Database

NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def test_a_lone_surrogate_sent_to_the_store_is_bad_request(db: Database) -> None:
    """A string the driver cannot encode (lone surrogate) is `BadRequest`, not a raw error."""
    with pytest.raises(BadRequest):
        async with db.read() as tx:
            await users.get_user_by_email(tx, "a\ud800@example.com")


@pytest.mark.parametrize("engine_name", ["postgres"], indirect=True)
async def test_a_nul_character_refused_by_postgres_is_bad_request(db: Database) -> None:
    """PostgreSQL's "invalid byte sequence" (a data exception, SQLSTATE 22) is `BadRequest`."""
    with pytest.raises(BadRequest):
        async with db.read() as tx:
            await users.get_user_by_email(tx, "a\x00b@example.com")


async def test_the_store_still_answers_after_refusing_a_value(db: Database) -> None:
    """A refused value rolls back only its own transaction; the next one works."""
    with pytest.raises(BadRequest):
        async with db.write() as tx:
            await users.get_user_by_email(tx, "\udfff")
    async with db.read() as tx:
        assert await users.get_user_by_email(tx, "nobody@example.com") is None


async def test_constraint_violations_stay_integrity_errors(db: Database) -> None:
    """A duplicate key is left to the caller as `IntegrityError` (it may mean 409)."""
    async with db.write() as tx:
        user = await users.insert_user(
            db,
            tx,
            id="01JGXYZ5V8T3K9Q2M4N6P7R8S0",
            email="a@example.com",
            password_hash="h",
            now=NOW,
        )
    session = Session("f" * 64, user.id, NOW, NOW, NOW)
    async with db.write() as tx:
        await users.insert_session(tx, session)
    with pytest.raises(IntegrityError):
        async with db.write() as tx:
            await users.insert_session(tx, session)
