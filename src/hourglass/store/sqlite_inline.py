"""SQLite under SQLAlchemy's async engine without a thread hop per call.

aiosqlite runs every call (cursor, execute, fetch, close, commit) on a thread of its own per
connection and wakes the event loop for each answer: 3 to 5 hops per statement, ~200 µs of CPU
where SQLite itself needs 2 to 20 µs for the short statements Hourglass runs (docs/performance.md).
This module gives SQLAlchemy's `sqlite+aiosqlite` dialect (through `async_creator`) connections
with aiosqlite's interface whose calls run the `sqlite3` call on the spot, on the event loop's
thread, and are awaitable only because the dialect awaits them.

What may take long runs on the connection's own worker thread instead (made on first use, like
aiosqlite's, so it never queues behind argon2 or a log scan on asyncio's default executor), one
hop for the whole call:

- a transaction's `COMMIT`, which may checkpoint the write-ahead log (copying pages and an
  fsync of the database file);
- every call while the connection is `offloaded` (`Database.read(bulk=True)` and
  `write(bulk=True)`): reads and writes of whole logs, whose statements move megabytes;
- a `BEGIN IMMEDIATE` that finds the write lock taken. Hourglass's own writers queue on
  `Database`'s lock before `BEGIN`, so only another process on the same file can hold it:
  `BEGIN IMMEDIATE` is tried on the spot without waiting, and only when the lock is taken is it
  retried on the thread, waiting up to the connection's `busy_timeout`.

A connection is used by one task at a time (SQLAlchemy's pool), and `sqlite3` lets a connection
move between threads (`check_same_thread=False`) as long as calls do not overlap. They could:
a task cancelled while its call runs on the thread (a client gone mid-download) leaves the call
running there, and the connection may go back to the pool meanwhile. So every call waits for
the thread's last call to end first (`_settle`), and closing happens on the thread when there
is one.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"
BUSY_TIMEOUT_MS = 10_000  # how long a connection waits for another's lock (`store/db.py`)


class InlineConnection:
    """An `aiosqlite.Connection` look-alike over one `sqlite3` connection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection: sqlite3.Connection | None = connection
        self.offloaded = False  # run every call on a worker thread (see the module docstring)
        self._thread: ThreadPoolExecutor | None = None
        self._last: Future[Any] | None = None  # the thread's last call

    @property
    def raw(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        if self.offloaded:
            return await self.on_thread(function, *args)
        await self._settle()
        return function(*args)

    async def on_thread(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on this connection's worker thread."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="hourglass-sqlite")
        self._last = self._thread.submit(function, *args)
        return await asyncio.wrap_future(self._last)

    async def _settle(self) -> None:
        """Wait until no call of this connection runs on its thread (see the module docstring)."""
        last = self._last
        if last is not None and not last.done():
            await asyncio.wait([asyncio.wrap_future(last)])

    async def begin_immediate(self) -> None:
        """`BEGIN IMMEDIATE` on the spot if the write lock is free, else on the worker thread,
        waiting up to `busy_timeout` (see the module docstring)."""
        await self._settle()
        raw = self.raw
        raw.execute("PRAGMA busy_timeout=0")
        try:
            raw.execute(BEGIN_IMMEDIATE)
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
        finally:
            raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await self.on_thread(raw.execute, BEGIN_IMMEDIATE)

    @property
    def isolation_level(self) -> str | None:
        return self.raw.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self, self.raw.cursor())

    async def commit(self) -> None:
        await self._settle()
        if self.raw.in_transaction:  # reads run in autocommit: nothing to end, no hop
            await self.on_thread(self.raw.commit)

    async def rollback(self) -> None:
        await self._settle()
        if self.raw.in_transaction:
            self.raw.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        await self.call(functools.partial(self.raw.create_function, *args, **kwargs))

    async def close(self) -> None:
        await self._settle()  # then nothing runs on the thread: `stop` closes at once
        self.stop()

    def stop(self) -> None:
        """Close now, or after the thread's call in flight when there is one."""
        connection, self._connection = self._connection, None
        thread, self._thread = self._thread, None
        if connection is not None:
            if thread is None or self._last is None or self._last.done():
                connection.close()
            else:
                thread.submit(connection.close)
        if thread is not None:
            thread.shutdown(wait=False)


class InlineCursor:
    """An `aiosqlite.Cursor` look-alike; `async with connection.cursor()` yields itself."""

    def __init__(self, owner: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._owner = owner
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineCursor:
        if sql == BEGIN_IMMEDIATE and not self._owner.offloaded:
            await self._owner.begin_immediate()
        else:
            await self._owner.call(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        await self._owner.call(self._cursor.executemany, sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return await self._owner.call(self._cursor.fetchone)

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = self._cursor.arraysize if size is None else size
        return await self._owner.call(self._cursor.fetchmany, size)

    async def fetchall(self) -> list[Any]:
        return await self._owner.call(self._cursor.fetchall)

    async def close(self) -> None:
        await self._owner.call(self._cursor.close)

    def __aiter__(self) -> InlineCursor:
        return self

    async def __anext__(self) -> Any:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


def creator(database: str) -> Callable[[], Awaitable[InlineConnection]]:
    """The `async_creator` of an engine on the SQLite file `database`. Its connections are in
    autocommit mode: Hourglass issues `BEGIN` itself (`store/db.py`)."""

    async def connect() -> InlineConnection:
        return InlineConnection(
            sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        )

    return connect
