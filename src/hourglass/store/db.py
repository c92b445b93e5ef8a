"""The database handle: engines, transactions, SQLite pragmas and driver-error translation.

`Database.write()` gives one connection inside one transaction; `Database.read()` one whose
statements each see the latest committed state (READ COMMITTED on PostgreSQL, autocommit on
SQLite), which is all our reads need. On SQLite, writes start with `BEGIN IMMEDIATE` and are
serialised in-process so that writers queue instead of failing with "database is locked"; readers
run concurrently thanks to WAL. SQLite's calls run on the event loop's thread, except commits
and `bulk` transactions (`store/sqlite_inline.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Table, event, text
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hourglass.errors import BadRequest, HourglassError, StoreUnavailable
from hourglass.store import sqlite_inline

log = logging.getLogger("hourglass.store")

Insert = PgInsert | SqliteInsert
T = TypeVar("T")

# deadlock_detected, serialization_failure: PostgreSQL rolled the transaction back, try again
_RETRYABLE_STATES = ("40P01", "40001")
WRITE_ATTEMPTS = 4

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={sqlite_inline.BUSY_TIMEOUT_MS}",
    "PRAGMA cache_size=-65536",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA mmap_size=268435456",
)


def normalize_url(url: str) -> str:
    """Accept plain `postgresql://` and `sqlite://` URLs and pick our async drivers for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


class Database:
    """One engine and the transaction helpers every store module uses."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @classmethod
    def connect(cls, url: str, *, pool_size: int = 10) -> Database:
        url = normalize_url(url)
        parsed = make_url(url)
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
            # a returned connection is rolled back (SQLAlchemy's default; free when no
            # transaction is open): a `BEGIN` cancelled while it waited on the connection's
            # thread still begins there, and must not go back to the pool holding the lock
            kwargs["async_creator"] = sqlite_inline.creator(database or ":memory:")
        else:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
            # no pre-ping: it costs a round trip per transaction (~0.5 ms here). A connection
            # that died with its server is detected on use: that request is 503 and the pool
            # drops every connection older than the failure, so the next one reconnects.
            kwargs["pool_recycle"] = 3600
        engine = create_async_engine(url, **kwargs)
        if engine.dialect.name == "sqlite":
            _install_sqlite_hooks(engine)
        return cls(engine)

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def read(self, *, bulk: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection for reading: no snapshot spans statements (see the module docstring).

        `bulk` for reads that may move megabytes (whole logs): on SQLite, whose calls otherwise
        run on the event loop's thread (`sqlite_inline`), they then run on a worker thread."""
        async with (
            translate_errors(),
            self.engine.connect() as conn,
            self._bulk(conn, bulk),
            conn.begin(),
        ):
            yield conn

    @asynccontextmanager
    async def write(self, *, bulk: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction; commits on success, rolls back on error.
        `bulk` as for `read` (a transaction writing megabytes of log)."""
        if self._write_lock is None:
            async with translate_errors(), self.engine.connect() as conn, conn.begin():
                yield conn
            return
        async with self._write_lock, translate_errors(), self.engine.connect() as conn:
            await conn.execution_options(hourglass_write=True)
            async with self._bulk(conn, bulk), conn.begin():
                yield conn

    @asynccontextmanager
    async def _bulk(self, conn: AsyncConnection, bulk: bool) -> AsyncIterator[None]:
        """While inside: `conn`'s SQLite calls run on a worker thread if `bulk`."""
        if not (bulk and self.is_sqlite):
            yield
            return
        driver = (await conn.get_raw_connection()).driver_connection
        assert isinstance(driver, sqlite_inline.InlineConnection)
        driver.offloaded = True
        try:
            yield
        finally:
            driver.offloaded = False

    async def write_retrying(
        self, work: Callable[[Tx], Awaitable[T]], *, attempts: int = WRITE_ATTEMPTS
    ) -> T:
        """Run `work` in one write transaction, again (up to `attempts` in all) when PostgreSQL
        aborted it as a deadlock victim or a serialization failure; `work` must only touch the
        store.

        Our lock order (`store/jobs.py`) makes deadlocks impossible among our own transactions;
        this is the safety net for an order someone gets wrong later, so each retry is logged.
        """
        for attempt in range(1, attempts + 1):
            try:
                async with self.write() as tx:
                    return await work(tx)
            except DBAPIError as exc:
                if attempt == attempts or not _state_in(exc, _RETRYABLE_STATES):
                    raise
                log.warning(
                    "transaction aborted (%s); retrying (%d of %d)", _short(exc), attempt, attempts
                )
                await asyncio.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")

    def insert(self, table: Table) -> Insert:
        """A dialect insert, so callers can say `.on_conflict_do_nothing(...)` on both engines."""
        if self.is_postgres:
            return pg_insert(table)
        return sqlite_insert(table)

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # let us issue BEGIN ourselves (pysqlite's implicit transactions get in the way)
        if dbapi_connection.isolation_level is not None:
            dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # reads run in autocommit (each statement sees the latest commit, as under READ
        # COMMITTED on PostgreSQL): an explicit BEGIN would only cost a thread hop
        if conn.get_execution_options().get("hourglass_write"):
            conn.exec_driver_sql(sqlite_inline.BEGIN_IMMEDIATE)


_REFUSED_VALUE = "the store cannot hold a value of this request (e.g. NUL or invalid Unicode)"


@asynccontextmanager
async def translate_errors() -> AsyncIterator[None]:
    """Turn driver failures into our error tree; constraint violations stay for callers.

    A value the driver or the database refuses (SQLSTATE class 22, a string that cannot be
    encoded) is `BadRequest`: input validation should have caught it, so it is logged, but the
    client still gets a 400 rather than a 500.
    """
    try:
        yield
    except HourglassError:
        raise
    except IntegrityError:
        raise
    except (OperationalError, InterfaceError) as exc:
        # SQLite's extended code (e.g. SQLITE_IOERR_SHORT_READ) says far more than its message
        log.warning("store unavailable: %s (%s)", _short(exc), _error_name(exc))
        raise StoreUnavailable(f"store unavailable: {_short(exc)}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated or _state_in(exc, _UNAVAILABLE_STATES):
            raise StoreUnavailable(f"store unavailable: {_short(exc)}") from exc
        if isinstance(exc, DataError) or _state_in(exc, _DATA_STATES):
            log.warning("store refused a value: %s", _short(exc))
            raise BadRequest(_REFUSED_VALUE) from exc
        raise
    except UnicodeEncodeError as exc:  # the driver could not encode a string (lone surrogate)
        log.warning("store refused a value: %s", exc)
        raise BadRequest(_REFUSED_VALUE) from exc
    except (OSError, ConnectionError) as exc:
        raise StoreUnavailable(f"store unavailable: {exc}") from exc


def _error_name(exc: DBAPIError) -> str:
    orig = exc.orig
    return str(
        getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None) or type(orig)
    )


# SQLSTATE classes that mean "the database cannot serve us now", not "this query is wrong":
# connection exceptions, no such database, auth failure, out of resources, admin shutdown
_UNAVAILABLE_STATES = ("08", "3D", "28", "53", "57P")
# "data exception": a value the database will not take (bad encoding, out of range, …)
_DATA_STATES = ("22",)


def _state_in(exc: DBAPIError, states: tuple[str, ...]) -> bool:
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(state, str) and state.startswith(states)


def _short(exc: DBAPIError) -> str:
    return str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__


Tx = AsyncConnection
"""What store functions take: a connection inside a transaction opened by `Database`."""
