"""The `hourglass` program: server commands (`up`, `api`, `worker`, `scheduler`, `migrate`)
and client commands (`login`, `workflows`, `jobs`, `logs`, `search`, `download`…, declared in
`cli.client`, run by `hourglass.client` over the HTTP API).

This module only declares commands; each imports what it runs when it runs (the server side
lives in `cli.server`), so `hourglass --help` and the client commands start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from hourglass import __version__
from hourglass.cli.client.auth import login, logout, whoami
from hourglass.cli.client.completion import completion
from hourglass.cli.client.jobs import jobs
from hourglass.cli.client.logs import download, logs, search
from hourglass.cli.client.workflows import workflows
from hourglass.cli.program import Program

if TYPE_CHECKING:
    from hourglass.settings import Settings


def _settings(**overrides: Any) -> Settings:
    from hourglass.errors import ConfigError
    from hourglass.settings import Settings

    try:
        return Settings.from_env(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise click.ClickException(exc.message) from exc


def _start(settings: Settings, **components: bool) -> None:
    from hourglass.cli.server import start
    from hourglass.errors import ConfigError

    try:
        start(settings, **components)
    except ConfigError as exc:  # a start-up check (cli/startup.py): one line, exit 1
        raise click.ClickException(exc.message) from exc


@click.group(cls=Program)
@click.version_option(__version__, prog_name="hourglass")
def main() -> None:
    """Hourglass: a self-hosted job scheduler whose job logs people enjoy using."""


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


_metrics_port = click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Serve Prometheus /metrics on this port (HOURGLASS_METRICS_PORT; default: none).",
)


@main.command()
@click.option("--concurrency", type=int, default=None, help="Parallel job slots (default 4).")
@_metrics_port
def worker(concurrency: int | None, metrics_port: int | None) -> None:
    """Run only a worker: claims jobs and builds, runs them under leases, sends webhooks."""
    _start(_settings(worker_concurrency=concurrency, metrics_port=metrics_port), worker=True)


@main.command()
@_metrics_port
def scheduler(metrics_port: int | None) -> None:
    """Run only a scheduler: turns schedules into jobs and recovers dead workers' jobs."""
    _start(_settings(metrics_port=metrics_port), scheduler=True)


@main.command(name="migrate")
def migrate_command() -> None:
    """Apply database migrations and exit."""
    from hourglass.cli.server import migrate_only
    from hourglass.errors import ConfigError

    try:
        migrate_only(_settings())
    except ConfigError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo("database is up to date")


for client_command in (login, logout, whoami, workflows, jobs, logs, search, download, completion):
    main.add_command(client_command)
