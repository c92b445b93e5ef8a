"""The composition root: `hourglass up | api | worker | scheduler | migrate` wire the parts.

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
from fastapi import FastAPI

from hourglass import __version__
from hourglass.errors import ConfigError
from hourglass.live import make_bus
from hourglass.runtime.kinds import kinds_for
from hourglass.runtime.scheduler import Scheduler
from hourglass.runtime.worker import Worker
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


async def _run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await main(stop)


def server_config(services: Services, app: FastAPI | None = None) -> uvicorn.Config:
    """How uvicorn serves the API (`create_app(services)` unless another `app` is given).

    Proxy headers are believed only from `HOURGLASS_TRUSTED_PROXIES`: uvicorn's own default
    trusts `X-Forwarded-For` from loopback, which would let anything on the machine pick the
    client address the login rate limit counts.
    """
    settings = services.settings
    return uvicorn.Config(
        app or create_app(services),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=3,
        lifespan="off",
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
    )


async def serve_api(services: Services, stop: asyncio.Event) -> None:
    """Serve HTTP until `stop` is set, then close connections (SSE streams get 3 s)."""
    server = _Server(server_config(services))

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


async def _run_components(
    settings: Settings,
    stop: asyncio.Event,
    *,
    api: bool = False,
    scheduler: bool = False,
    worker: bool = False,
) -> None:
    """Open the store and the bus, run the chosen components until `stop`, then close all."""
    db = Database.connect(settings.effective_database_url)
    bus = make_bus(settings.redis_url)
    if not settings.redis_url and not (api and scheduler and worker) and not db.is_sqlite:
        log.warning(
            "HOURGLASS_REDIS_URL is not set: wake-ups stay inside this process, so the other "
            "processes see new jobs and log lines only when they poll (every %ss)",
            settings.poll_interval_seconds,
        )
    try:
        await migrate(db)
        services = Services.build(settings, db, bus=bus)
        async with asyncio.TaskGroup() as tg:
            if worker:
                runner = Worker(
                    services.engine,
                    kinds_for(settings),
                    services.logs.outputs,
                    concurrency=settings.worker_concurrency,
                )
                tg.create_task(runner.run(stop))
            if scheduler:
                tg.create_task(
                    Scheduler(services.engine, housekeeping=services.housekeeping()).run(stop)
                )
            if api:
                log.info("hourglass API on http://%s:%d", settings.host, settings.port)
                tg.create_task(serve_api(services, stop))
    finally:
        await bus.close()
        await db.close()


def _start(settings: Settings, **components: bool) -> None:
    _setup_logging(settings.log_level)

    async def run(stop: asyncio.Event) -> None:
        await _run_components(settings, stop, **components)

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_run_until_signal(run))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (a third less time per HTTP request here), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


_host = click.option("--host", default=None, help="Address to listen on (HOURGLASS_HOST).")
_port = click.option("--port", type=int, default=None, help="Port to listen on (HOURGLASS_PORT).")


@main.command()
@_host
@_port
@click.option("--concurrency", type=int, default=None, help="Worker slots (default 4).")
def up(host: str | None, port: int | None, concurrency: int | None) -> None:
    """Run everything in one process: API, scheduler and workers (SQLite by default)."""
    settings = _settings(host=host, port=port, worker_concurrency=concurrency)
    _start(settings, api=True, scheduler=True, worker=True)


@main.command()
@_host
@_port
def api(host: str | None, port: int | None) -> None:
    """Run only the HTTP API (scale out: several against one PostgreSQL)."""
    _start(_settings(host=host, port=port), api=True)


@main.command()
@click.option("--concurrency", type=int, default=None, help="Parallel job slots (default 4).")
def worker(concurrency: int | None) -> None:
    """Run only a worker: claims jobs and builds, runs them under leases."""
    _start(_settings(worker_concurrency=concurrency), worker=True)


@main.command()
def scheduler() -> None:
    """Run only a scheduler: turns schedules into jobs and recovers dead workers' jobs."""
    _start(_settings(), scheduler=True)


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
