"""SQLite's calls run on the event loop's thread, except commits and bulk reads
(`store/sqlite_inline.py`), and the store behaves as it did on aiosqlite's threads.

Where a call ran is seen from inside SQLite: a SQL function registered on every connection
returns the thread that called it.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import AbstractAsyncContextManager

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection

from hourglass.store import sqlite_inline, users
from hourglass.store.db import Database

pytestmark = pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)

# a statement that keeps SQLite busy for a while (a few hundred ms here)
COUNT_3M = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) "
    "SELECT count(*) FROM n"
)


@pytest.fixture
def threads(db: Database) -> Database:
    """`db` with `thread_id()` in SQL: the ident of the thread running the statement."""

    @event.listens_for(db.engine.sync_engine, "connect")
    def _register(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.create_function("thread_id", 0, threading.get_ident)  # type: ignore[attr-defined]

    return db


async def ran_on(transaction: AbstractAsyncContextManager[AsyncConnection]) -> int:
    """The thread a statement of `transaction` (a `db.read(...)` or `db.write(...)`) ran on."""
    async with transaction as tx:
        thread: int = (await tx.execute(text("SELECT thread_id()"))).scalar_one()
    return thread


async def test_reads_and_writes_run_on_the_loop_thread(threads: Database) -> None:
    """No hop per statement: reads and the statements of a write run where the caller runs."""
    here = threading.get_ident()
    assert await ran_on(threads.read()) == await ran_on(threads.write()) == here


@pytest.mark.parametrize("kind", ["read", "write"])
async def test_bulk_transactions_run_on_a_worker_thread_and_the_connection_forgets_it(
    threads: Database, kind: str
) -> None:
    """`read(bulk=True)` / `write(bulk=True)` (whole logs) move their statements off the loop;
    the pooled connection goes back to running inline for the next transaction."""
    begin = threads.read if kind == "read" else threads.write
    assert await ran_on(begin(bulk=True)) != threading.get_ident()
    assert await ran_on(begin()) == threading.get_ident()


async def test_a_bulk_read_does_not_hold_up_the_loop(threads: Database) -> None:
    """While a slow bulk statement runs, other tasks on the loop keep running."""
    ticks = 0
    done = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    async with threads.read(bulk=True) as tx:
        assert (await tx.execute(text(COUNT_3M))).scalar_one() == 3_000_000
    done.set()
    await ticker
    assert ticks > 1


async def test_a_failed_write_rolls_back_and_the_connection_serves_again(db: Database) -> None:
    """An error inside a write rolls its transaction back inline; nothing of it stays."""

    async def insert_then_fail() -> None:
        async with db.write() as tx:
            await tx.execute(
                text("INSERT INTO login_failures (key, at) VALUES ('x', '2026-01-01')")
            )
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await insert_then_fail()
    async with db.read() as tx:
        count = (await tx.execute(text("SELECT count(*) FROM login_failures"))).scalar_one()
        assert count == 0
        assert await users.get_user_by_email(tx, "nobody@example.com") is None


async def test_a_write_waiting_for_another_process_lock_does_not_hold_up_the_loop(
    db: Database, database_url: str
) -> None:
    """Another process on the file (here: a second engine) holds the write lock: our
    `BEGIN IMMEDIATE` waits on a worker thread while the loop runs on, and goes through once
    the lock is released."""
    other = Database.connect(database_url)
    try:
        async with other.write() as holder:
            await holder.execute(text("INSERT INTO login_failures (key, at) VALUES ('a', '2026')"))
            waiting = asyncio.create_task(_insert(db, "b"))
            for _ in range(20):  # the loop keeps turning while `waiting` waits for the lock
                await asyncio.sleep(0.005)
            assert not waiting.done()
        await asyncio.wait_for(waiting, timeout=10)
    finally:
        await other.close()
    async with db.read() as tx:
        keys = (await tx.execute(text("SELECT key FROM login_failures ORDER BY key"))).scalars()
        assert list(keys) == ["a", "b"]


async def _insert(db: Database, key: str) -> None:
    async with db.write() as tx:
        await tx.execute(
            text("INSERT INTO login_failures (key, at) VALUES (:key, '2026')"), {"key": key}
        )


async def test_a_call_cancelled_on_the_thread_is_waited_for_not_overlapped(
    database_url: str,
) -> None:
    """A task cancelled while its bulk statement runs on the thread (a client gone mid-download)
    leaves the statement running there; the connection's next inline call waits for it on the
    loop (other tasks run meanwhile) instead of running beside it."""
    path = database_url.split("///", 1)[1]
    connection = await sqlite_inline.creator(path)()
    try:
        connection.offloaded = True
        slow = asyncio.create_task(connection.cursor().execute(COUNT_3M))
        while connection._last is None or not connection._last.running():
            await asyncio.sleep(0.001)
        slow.cancel()
        connection.offloaded = False
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        cursor = await connection.cursor().execute("SELECT 1")
        assert await cursor.fetchall() == [(1,)]
        assert connection._last.done()
        assert ticks > 1
        ticker.cancel()
    finally:
        await connection.close()


async def test_a_connection_back_in_the_pool_holds_no_transaction(db: Database) -> None:
    """A `BEGIN` that completed on a connection's thread after its task was cancelled leaves a
    transaction open that nobody will end; returned to the pool, the connection is rolled back,
    so the next writer neither finds it mid-transaction nor waits for its lock."""
    async with db.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert isinstance(driver, sqlite_inline.InlineConnection)
        driver.raw.execute(sqlite_inline.BEGIN_IMMEDIATE)  # behind SQLAlchemy's back
    await asyncio.wait_for(_insert(db, "after"), timeout=5)
    async with db.read() as tx:
        keys = (await tx.execute(text("SELECT key FROM login_failures"))).scalars()
        assert list(keys) == ["after"]
