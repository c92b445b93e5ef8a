"""The SQLite pragmas of `store/db.py` are really in effect on every pooled connection."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from hourglass.domain.accounts import Session
from hourglass.store import users
from hourglass.store.db import Database

pytestmark = pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def pragma(db: Database, name: str, *, write: bool = False) -> object:
    block = db.write() if write else db.read()
    async with block as tx:
        return (await tx.execute(text(f"PRAGMA {name}"))).scalar_one()


@pytest.mark.parametrize("write", [False, True])
async def test_wal_normal_sync_and_foreign_keys_are_on(db: Database, write: bool) -> None:
    """Reads and writes alike run with journal_mode=wal, synchronous=NORMAL, foreign_keys=1."""
    assert await pragma(db, "journal_mode", write=write) == "wal"
    assert await pragma(db, "synchronous", write=write) == 1  # NORMAL
    assert await pragma(db, "foreign_keys", write=write) == 1
    assert await pragma(db, "busy_timeout", write=write) == 10000


async def test_every_pooled_connection_gets_the_pragmas(db: Database) -> None:
    """Several connections open at once each have foreign keys and NORMAL sync."""
    async with db.engine.connect() as a, db.engine.connect() as b:
        for conn in (a, b):
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
            assert (await conn.execute(text("PRAGMA synchronous"))).scalar_one() == 1


async def test_foreign_keys_are_enforced(db: Database) -> None:
    """A session for a user that does not exist is refused (SQLite's default would allow it)."""
    with pytest.raises(IntegrityError):
        async with db.write() as tx:
            await users.insert_session(tx, Session("a" * 64, "no-such-user", NOW, NOW, NOW))
