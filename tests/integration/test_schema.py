"""The migrations produce exactly the schema declared in `store/schema.py`, on both engines.

Alembic's autogenerate compares tables, columns, types, server defaults, indexes, unique
constraints and foreign keys; it does not look at CHECK constraints, partial-index predicates,
primary-key names or `ON DELETE` rules, so those are compared here against what each engine
reflects. Predicates are compared in the engine's own spelling: on PostgreSQL the declared one is
put on a scratch copy of the table and read back, as PostgreSQL rewrites every expression it
stores; SQLite keeps the text as written.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Connection, Index, Table, inspect, text

from hourglass.store.db import Database
from hourglass.store.migrate import current_revision, migrate
from hourglass.store.schema import metadata

TABLES = sorted(metadata.tables)


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


async def test_migrations_match_declared_schema(db: Database) -> None:
    """After every migration, autogenerate (types and server defaults included) finds nothing."""
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []


async def test_migrate_is_idempotent(db: Database) -> None:
    """Running the migrations again on an up-to-date database changes nothing."""
    before = await current_revision(db)
    await migrate(db)
    assert before is not None
    assert await current_revision(db) == before


# what autogenerate does not compare


def _spelled(conn: Connection, sql: str) -> str:
    """SQLite keeps an expression as written: only whitespace may differ."""
    del conn
    return " ".join(sql.split())


def _pg_checks(conn: Connection, table: str) -> dict[str, str]:
    rows = conn.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype = 'c'"
        ),
        {"t": table},
    )
    return {name: definition for name, definition in rows}


def _pg_predicates(conn: Connection, table: str) -> dict[str, str | None]:
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = CAST(:t AS regclass)"
        ),
        {"t": table},
    )
    return {name: predicate for name, predicate in rows}


def _declared_predicate(index: Index, dialect: str) -> str | None:
    where = index.dialect_options[dialect].get("where")
    return None if where is None else str(where)


def _declared_checks(conn: Connection, table: Table) -> dict[str, str]:
    """The declared CHECK constraints as the engine spells them."""
    checks = {
        str(c.name): str(c.sqltext) for c in table.constraints if isinstance(c, CheckConstraint)
    }
    if conn.dialect.name == "sqlite":
        return {name: _spelled(conn, sql) for name, sql in checks.items()}
    conn.exec_driver_sql(f'CREATE TEMP TABLE hg_probe (LIKE "{table.name}")')
    for name, sql in checks.items():
        conn.exec_driver_sql(f'ALTER TABLE hg_probe ADD CONSTRAINT "{name}" CHECK ({sql})')
    spelled = _pg_checks(conn, "hg_probe")
    conn.exec_driver_sql("DROP TABLE hg_probe")
    return spelled


def _reflected_checks(conn: Connection, table: str) -> dict[str, str]:
    if conn.dialect.name == "sqlite":
        found = inspect(conn).get_check_constraints(table)
        return {str(c["name"]): _spelled(conn, c["sqltext"]) for c in found}
    return _pg_checks(conn, table)


def _declared_predicates(conn: Connection, table: Table) -> dict[str, str | None]:
    """Each declared index's partial-index predicate (None: a full index), engine-spelled."""
    dialect = "sqlite" if conn.dialect.name == "sqlite" else "postgresql"
    if dialect == "sqlite":
        return {
            str(i.name): None
            if (p := _declared_predicate(i, dialect)) is None
            else _spelled(conn, p)
            for i in table.indexes
        }
    conn.exec_driver_sql(f'CREATE TEMP TABLE hg_probe (LIKE "{table.name}")')
    for index in table.indexes:
        columns = ", ".join(f'"{c.name}"' for c in index.columns)
        predicate = _declared_predicate(index, dialect)
        where = "" if predicate is None else f" WHERE {predicate}"
        conn.exec_driver_sql(f'CREATE INDEX "p_{index.name}" ON hg_probe ({columns}){where}')
    spelled = {name.removeprefix("p_"): p for name, p in _pg_predicates(conn, "hg_probe").items()}
    conn.exec_driver_sql("DROP TABLE hg_probe")
    return spelled


def _reflected_predicates(conn: Connection, table: str) -> dict[str, str | None]:
    indexes = [i for i in inspect(conn).get_indexes(table) if not i.get("duplicates_constraint")]
    if conn.dialect.name == "sqlite":
        found: dict[str, str | None] = {}
        for index in indexes:
            where = index.get("dialect_options", {}).get("sqlite_where")
            found[str(index["name"])] = None if where is None else _spelled(conn, str(where))
        return found
    predicates = _pg_predicates(conn, table)
    return {str(i["name"]): predicates[str(i["name"])] for i in indexes}


def _shape_of_keys(conn: Connection, table: str) -> dict[str, Any]:
    """Primary key, foreign keys (with ON DELETE) and indexes, as reflected."""
    inspector = inspect(conn)
    return {
        "pk": (
            inspector.get_pk_constraint(table)["name"],
            inspector.get_pk_constraint(table)["constrained_columns"],
        ),
        "fks": sorted(
            (
                fk["name"],
                fk["constrained_columns"],
                fk["referred_table"],
                fk["referred_columns"],
                (fk.get("options") or {}).get("ondelete"),
            )
            for fk in inspector.get_foreign_keys(table)
        ),
        "indexes": sorted(
            (i["name"], i["column_names"], bool(i["unique"]))
            for i in inspector.get_indexes(table)
            if not i.get("duplicates_constraint")
        ),
    }


def _declared_keys(table: Table) -> dict[str, Any]:
    assert table.primary_key.name is not None
    return {
        "pk": (table.primary_key.name, [c.name for c in table.primary_key.columns]),
        "fks": sorted(
            (
                fk.name,
                [c.name for c in fk.columns],
                fk.referred_table.name,
                [e.column.name for e in fk.elements],
                fk.ondelete,
            )
            for fk in table.foreign_key_constraints
        ),
        "indexes": sorted(
            (i.name, [c.name for c in i.columns], bool(i.unique)) for i in table.indexes
        ),
    }


def _compare_beyond_autogenerate(conn: Connection) -> dict[str, Any]:
    mismatches: dict[str, Any] = {}
    for name in TABLES:
        table = metadata.tables[name]
        pairs = {
            "checks": (_declared_checks(conn, table), _reflected_checks(conn, name)),
            "predicates": (_declared_predicates(conn, table), _reflected_predicates(conn, name)),
            "keys": (_declared_keys(table), _shape_of_keys(conn, name)),
        }
        for what, (declared, reflected) in pairs.items():
            if declared != reflected:
                mismatches[f"{name}.{what}"] = {"declared": declared, "reflected": reflected}
    return mismatches


async def test_checks_indexes_and_keys_match_the_declared_schema(db: Database) -> None:
    """CHECK constraints, partial-index predicates, primary and foreign keys are as declared."""
    async with db.engine.connect() as conn:
        mismatches = await conn.run_sync(_compare_beyond_autogenerate)
        await conn.rollback()
    assert mismatches == {}


async def test_the_comparison_sees_every_check_and_partial_index(db: Database) -> None:
    """The schema does declare a CHECK and a partial unique index, and both are found."""
    async with db.engine.connect() as conn:
        checks = await conn.run_sync(lambda c: _reflected_checks(c, "workflows"))
        predicates = await conn.run_sync(lambda c: _reflected_predicates(c, "jobs"))
        await conn.rollback()
    assert list(checks) == ["ck_workflows_one_schedule"]
    assert predicates["uq_jobs_one_active_per_workflow"] is not None
    assert "QUEUED" in str(predicates["uq_jobs_one_active_per_workflow"])
