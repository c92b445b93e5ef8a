"""SQLite's calls run on the event loop's thread, except commits and bulk reads
(`store/sqlite_inline.py`), and the store behaves as it did on aiosqlite's threads.

Where a call ran is seen from inside SQLite: a SQL function registered on every connection
returns the thread that called it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest
from sqlalchemy import event, text

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


async def test_reads_and_writes_run_on_the_loop_thread(threads: Database) -> None:
    """No hop per statement: reads and the statements of a write run where the caller runs."""
    async with threads.read() as tx:
        read_on = (await tx.execute(text("SELECT thread_id()"))).scalar_one()
    async with threads.write() as tx:
        write_on = (await tx.execute(text("SELECT thread_id()"))).scalar_one()
    assert read_on == write_on == threading.get_ident()


async def test_bulk_reads_run_on_a_worker_thread_and_the_connection_forgets_it(
    threads: Database,
) -> None:
    """`read(bulk=True)` moves its statements off the loop; the pooled connection goes back
    to running inline for the next reader."""
    async with threads.read(bulk=True) as tx:
        bulk_on = (await tx.execute(text("SELECT thread_id()"))).scalar_one()
    async with threads.read() as tx:
        next_on = (await tx.execute(text("SELECT thread_id()"))).scalar_one()
    assert bulk_on != threading.get_ident()
    assert next_on == threading.get_ident()


async def test_bulk_writes_run_on_a_worker_thread(threads: Database) -> None:
    """`write(bulk=True)` (a log writer's big batch) moves its statements off the loop too."""
    async with threads.write(bulk=True) as tx:
        bulk_on = (await tx.execute(text("SELECT thread_id()"))).scalar_one()
    async with threads.write() as tx:
        next_on = (await tx.execute(text("SELECT thread_id()"))).scalar_one()
    assert bulk_on != threading.get_ident()
    assert next_on == threading.get_ident()


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


async def test_a_write_cancelled_while_waiting_for_the_lock_leaves_no_transaction_open(
    db: Database, database_url: str
) -> None:
    """A write cancelled while its `BEGIN IMMEDIATE` waits on the thread for another process's
    lock: the `BEGIN` still happens there once the lock is free, and the connection must not
    go back to the pool holding the write lock (the next writer would wait for it in vain)."""
    other = Database.connect(database_url)
    try:
        async with other.write() as holder:
            await holder.execute(text("INSERT INTO login_failures (key, at) VALUES ('a', '2026')"))
            waiting = asyncio.create_task(_insert(db, "b"))
            for _ in range(20):
                await asyncio.sleep(0.005)
            waiting.cancel()
            await asyncio.sleep(0.01)  # the cancellation lands while `BEGIN` waits on the thread
        with contextlib.suppress(asyncio.CancelledError):  # the other process let go: it ends
            await asyncio.wait_for(waiting, timeout=5)
        # the cancelled writer's connection is back in the pool; every connection writes again
        await asyncio.wait_for(asyncio.gather(*(_insert(db, f"c{i}") for i in range(3))), 5)
    finally:
        await other.close()
    async with db.read() as tx:
        keys = (await tx.execute(text("SELECT key FROM login_failures ORDER BY key"))).scalars()
        assert list(keys) == ["a", "c0", "c1", "c2"]
