"""The migrations produce exactly the schema declared in `store/schema.py`, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from hourglass.store.db import Database
from hourglass.store.migrate import current_revision, migrate
from hourglass.store.schema import metadata


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrations_match_declared_schema(db: Database) -> None:
    """After every migration, autogenerate finds nothing to change."""
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []


async def test_migrate_is_idempotent(db: Database) -> None:
    """Running the migrations again on an up-to-date database changes nothing."""
    before = await current_revision(db)
    await migrate(db)
    assert before is not None
    assert await current_revision(db) == before
