"""Start-up checks: the usual mistakes of a first run become one line naming the setting.

An unwritable data dir, a database URL that is malformed, names a database we do not support or
points at a server that does not answer, and a port already taken each raise `ConfigError` with
a message that names `HOURGLASS_…` (or `--port`); `cli` prints it as one line and exits 1,
without a traceback and before anything else has started.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from pathlib import Path

from alembic.util.exc import CommandError
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from hourglass.errors import ConfigError
from hourglass.settings import Settings
from hourglass.store.db import Database, normalize_url
from hourglass.store.migrate import migrate

_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_EXPECTED = "postgresql://user@host/database or sqlite:///path/to/file.db"
_BACKLOG = 2048


def open_database(settings: Settings) -> Database:
    """The store's handle, once its URL makes sense and, for SQLite, its directory is writable."""
    url = _database_url(settings)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        where = "HOURGLASS_DATABASE_URL" if settings.database_url else "HOURGLASS_DATA_DIR"
        _check_writable(Path(url.database).parent, where)
    return Database.connect(url.render_as_string(hide_password=False))


def _database_url(settings: Settings) -> URL:
    try:
        url = make_url(normalize_url(settings.effective_database_url))
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"HOURGLASS_DATABASE_URL is not a database URL (expected {_EXPECTED})"
        ) from None
    backend = url.get_backend_name()
    if backend not in _DRIVERS:
        raise ConfigError(
            f"HOURGLASS_DATABASE_URL: {backend!r} is not supported (expected {_EXPECTED})"
        )
    if url.drivername != _DRIVERS[backend]:
        raise ConfigError(
            f"HOURGLASS_DATABASE_URL: the driver {url.drivername!r} is not supported "
            f"(leave it out: {backend}://…)"
        )
    return url


def _check_writable(directory: Path, setting: str) -> None:
    """Create `directory` if need be and prove a file can be written there (even root cannot
    write to a read-only mount, and a path under a regular file is no directory at all)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise ConfigError(
            f"{setting}: cannot write to {directory} ({exc.strerror or exc})"
        ) from None


async def migrate_database(db: Database, settings: Settings) -> None:
    """`migrate(db)`, with an unreachable or refusing database said in one line."""
    try:
        await migrate(db)
    except (OSError, TimeoutError, SQLAlchemyError, CommandError) as exc:
        shown = make_url(settings.effective_database_url).render_as_string(hide_password=True)
        raise ConfigError(f"HOURGLASS_DATABASE_URL: cannot use {shown}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timed out connecting"
    if isinstance(exc, socket.gaierror):
        return str(exc.strerror)
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)  # asyncio's own text is "Connect call failed (…)"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def listen(host: str, port: int, named: str) -> socket.socket:
    """A listening socket for `host`:`port`, bound now so a taken port is a one-line error
    naming the option and setting (`named`), not a crash in the middle of start-up."""
    where = f"{host}:{port}"
    # as uvicorn picks it: IPv6 for an IPv6 literal, else IPv4 (so `localhost` is 127.0.0.1)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"),
            port,
            family=family,
            type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE,
        )[0]
    except socket.gaierror as exc:
        raise ConfigError(
            f"--host / HOURGLASS_HOST: cannot listen on {where} ({exc.strerror})"
        ) from None
    # proto explicit: asyncio only sets TCP_NODELAY on accepted sockets of IPPROTO_TCP
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"{named}: cannot listen on {where} ({exc.strerror or exc})") from None
    return sock
