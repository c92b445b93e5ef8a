"""The composition root: `hourglass up | api | migrate` wire settings, store, services and web.

Nothing else builds concrete parts; everything below receives them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import click
import uvicorn

from hourglass import __version__
from hourglass.errors import ConfigError
from hourglass.services.container import Services
from hourglass.settings import Settings
from hourglass.store.db import Database
from hourglass.store.migrate import migrate
from hourglass.web.app import create_app

log = logging.getLogger("hourglass")


class _Server(uvicorn.Server):
    """uvicorn, minus its own signal handling: the process's lifetime is ours to manage."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise click.ClickException(exc.message) from exc


async def _open(settings: Settings) -> tuple[Database, Services]:
    db = Database.connect(settings.effective_database_url)
    await migrate(db)
    return db, Services.build(settings, db)


async def _run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await main(stop)


async def serve_api(services: Services, stop: asyncio.Event) -> None:
    """Serve HTTP until `stop` is set, then close connections (SSE streams get 3 s)."""
    settings = services.settings
    config = uvicorn.Config(
        create_app(services),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=3,
        lifespan="off",
    )
    server = _Server(config)

    async def wait_stop() -> None:
        await stop.wait()
        server.should_exit = True

    async with asyncio.TaskGroup() as tg:
        waiter = tg.create_task(wait_stop())
        await server.serve()
        waiter.cancel()


@click.group()
@click.version_option(__version__, prog_name="hourglass")
def main() -> None:
    """Hourglass: a self-hosted job scheduler whose job logs people enjoy using."""


@main.command()
@click.option("--host", default=None, help="Address to listen on (HOURGLASS_HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (HOURGLASS_PORT).")
def up(host: str | None, port: int | None) -> None:
    """Run everything in one process: API, scheduler and workers (SQLite by default)."""
    settings = _settings(host=host, port=port)
    _setup_logging(settings.log_level)

    async def run(stop: asyncio.Event) -> None:
        db, services = await _open(settings)
        try:
            log.info("hourglass up on http://%s:%d", settings.host, settings.port)
            await serve_api(services, stop)
        finally:
            await db.close()

    asyncio.run(_run_until_signal(run))


@main.command()
@click.option("--host", default=None, help="Address to listen on (HOURGLASS_HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (HOURGLASS_PORT).")
def api(host: str | None, port: int | None) -> None:
    """Run only the HTTP API (scale out: point several at one PostgreSQL)."""
    settings = _settings(host=host, port=port)
    _setup_logging(settings.log_level)

    async def run(stop: asyncio.Event) -> None:
        db, services = await _open(settings)
        try:
            await serve_api(services, stop)
        finally:
            await db.close()

    asyncio.run(_run_until_signal(run))


@main.command(name="migrate")
def migrate_command() -> None:
    """Apply database migrations and exit."""
    settings = _settings()
    _setup_logging(settings.log_level)

    async def run() -> None:
        db = Database.connect(settings.effective_database_url)
        try:
            await migrate(db)
        finally:
            await db.close()

    asyncio.run(run())
    click.echo("database is up to date")
