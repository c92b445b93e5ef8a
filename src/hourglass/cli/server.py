"""The composition root of the server commands (`hourglass up | api | worker | scheduler |
migrate`): opens the store and the bus and wires the parts together.

Nothing else builds concrete parts; everything below receives them. Imported only when a server
command runs, so the client commands start without loading the server side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from fastapi import FastAPI

from hourglass.cli.http_protocol import Limits, protocol_class
from hourglass.cli.startup import listen, migrate_database, open_database
from hourglass.errors import ConfigError
from hourglass.live import make_bus
from hourglass.runtime.kinds import kinds_for
from hourglass.runtime.scheduler import Scheduler
from hourglass.runtime.webhooks import Dispatcher
from hourglass.runtime.worker import Worker
from hourglass.services.container import Services
from hourglass.services.metrics import watch_loop_lag
from hourglass.settings import Settings
from hourglass.store.db import Database
from hourglass.web.app import create_app
from hourglass.web.metrics import metrics_app

log = logging.getLogger("hourglass")


class _Server(uvicorn.Server):
    """uvicorn, minus its own signal handling: the process's lifetime is ours to manage."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


async def _run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await main(stop)


def server_config(
    services: Services, app: FastAPI | None = None, *, port: int | None = None
) -> uvicorn.Config:
    """How uvicorn serves the API (`create_app(services)` unless another `app` is given).

    Proxy headers are believed only from `HOURGLASS_TRUSTED_PROXIES`: uvicorn's own default
    trusts `X-Forwarded-For` from loopback, which would let anything on the machine pick the
    client address the login rate limit counts. Connections are served by `http_protocol`,
    which adds the header, read-time and connection limits (there are no WebSocket routes).
    """
    settings = services.settings
    limits = Limits(
        max_connections=settings.max_connections,
        read_timeout=settings.request_read_timeout_seconds,
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
    )
    return uvicorn.Config(
        app or create_app(services),
        host=settings.host,
        port=settings.port if port is None else port,
        http=protocol_class(limits),
        ws="none",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=3,
        lifespan="off",
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
    )


async def serve_api(
    services: Services,
    stop: asyncio.Event,
    sock: socket.socket,
    config: uvicorn.Config | None = None,
) -> None:
    """Serve HTTP on `sock` until `stop` is set, then close connections (SSE streams get 3 s)."""
    server = _Server(config or server_config(services))

    async def wait_stop() -> None:
        await stop.wait()
        server.should_exit = True

    async with asyncio.TaskGroup() as tg:
        waiter = tg.create_task(wait_stop())
        await server.serve(sockets=[sock])
        waiter.cancel()


async def _run_components(
    settings: Settings,
    stop: asyncio.Event,
    *,
    api: bool = False,
    scheduler: bool = False,
    worker: bool = False,
) -> None:
    """Open the store and the bus, run the chosen components until `stop`, then close all.

    A mistake in the settings or the surroundings (see `startup`) raises `ConfigError` before
    any component starts."""
    db = open_database(settings)
    sock = metrics_sock = None
    try:
        if api:
            sock = listen(settings.host, settings.port, "--port / HOURGLASS_PORT")
        elif settings.metrics_port:
            metrics_sock = listen(
                settings.host, settings.metrics_port, "--metrics-port / HOURGLASS_METRICS_PORT"
            )
    except ConfigError:
        await db.close()
        raise
    bus = make_bus(settings.redis_url)
    try:
        await migrate_database(db, settings)
        if not settings.redis_url and not (api and scheduler and worker) and not db.is_sqlite:
            log.warning(
                "HOURGLASS_REDIS_URL is not set: wake-ups stay inside this process, so the "
                "other processes see new jobs and log lines only when they poll (every %ss)",
                settings.poll_interval_seconds,
            )
        services = Services.build(settings, db, bus=bus)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(watch_loop_lag(services.metrics, stop))
            if metrics_sock is not None:
                # worker and scheduler processes: /metrics on a port of its own
                log.info("metrics on http://%s:%d/metrics", settings.host, settings.metrics_port)
                config = server_config(services, metrics_app(services), port=settings.metrics_port)
                tg.create_task(serve_api(services, stop, metrics_sock, config))
            if worker:
                runner = Worker(
                    services.engine,
                    kinds_for(settings),
                    services.logs.outputs,
                    concurrency=settings.worker_concurrency,
                )
                tg.create_task(runner.run(stop))
                tg.create_task(Dispatcher(services.webhooks, services.metrics).run(stop))
            if scheduler:
                tg.create_task(
                    Scheduler(services.engine, housekeeping=services.housekeeping()).run(stop)
                )
            if sock is not None:
                log.info("hourglass API on http://%s:%d", settings.host, settings.port)
                if auth_cache_reaches_all(settings, db, embedded=scheduler and worker):
                    tg.create_task(services.accounts.cache.listen(stop))
                tg.create_task(serve_api(services, stop, sock))
    finally:
        for listening in (sock, metrics_sock):
            if listening is not None:
                listening.close()
        await bus.close()
        await db.close()


def auth_cache_reaches_all(settings: Settings, db: Database, *, embedded: bool) -> bool:
    """Whether this API process may cache session and token lookups: only where the bus that
    drops them reaches every API process on the database (services/auth_cache.py). Redis does;
    the in-process bus only for `hourglass up` on its SQLite file (one process, one writer).
    `hourglass up` on PostgreSQL without Redis may have `hourglass api` siblings it cannot hear."""
    return bool(settings.redis_url) or (embedded and db.is_sqlite)


def start(settings: Settings, **components: bool) -> None:
    """Run the chosen components in this process until SIGTERM or SIGINT."""
    setup_logging(settings.log_level)

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


def migrate_only(settings: Settings) -> None:
    """Apply the database migrations and return."""
    setup_logging(settings.log_level)

    async def run() -> None:
        db = open_database(settings)
        try:
            await migrate_database(db, settings)
        finally:
            await db.close()

    asyncio.run(run())
