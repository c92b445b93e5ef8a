"""What the benchmarks share: where PostgreSQL is, a throw-away database on it, and the
engines a run covers."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg


def admin_postgres_url() -> str | None:
    """The PostgreSQL to benchmark on: `HOURGLASS_BENCH_POSTGRES_URL`, else the tests' one."""
    return os.environ.get("HOURGLASS_BENCH_POSTGRES_URL") or os.environ.get(
        "HOURGLASS_TEST_POSTGRES_URL"
    )


@asynccontextmanager
async def postgres_database(admin_url: str) -> AsyncIterator[str]:
    """A new, empty database for one benchmark run (dropped afterwards); yields its URL."""
    name = f"hourglass_bench_{uuid.uuid4().hex[:10]}"
    dsn = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield f"{dsn.rpartition('/')[0]}/{name}"
    finally:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def engine_urls(engines: list[str]) -> AsyncIterator[tuple[str, str]]:
    """`(engine, database URL)` for each of `engines` ("sqlite", "postgresql") that can run: a
    fresh SQLite file, and a throw-away PostgreSQL database when one is configured."""
    if "sqlite" in engines:
        with tempfile.TemporaryDirectory() as tmp:
            yield "sqlite", f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
    admin = admin_postgres_url()
    if admin and "postgresql" in engines:
        async with postgres_database(admin) as url:
            yield "postgresql", url
