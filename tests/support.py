"""Test support: real databases (SQLite files, PostgreSQL databases) and a real HTTP server.

Nothing here mocks our own parts: every test talks to a real store over real connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from hourglass.cli.server import _Server, server_config
from hourglass.services.container import Services
from hourglass.store.db import Database
from hourglass.store.migrate import migrate

IN_CI = os.environ.get("CI", "").lower() == "true"


def postgres_admin_url() -> str | None:
    return os.environ.get("HOURGLASS_TEST_POSTGRES_URL") or None


def redis_url() -> str | None:
    return os.environ.get("HOURGLASS_TEST_REDIS_URL") or None


def require(what: str, available: bool, reason: str) -> None:
    """Skip with a one-line reason; under CI=true a missing service fails instead."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI: {reason}")
    pytest.skip(reason)


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _sqlalchemy_url(url: str, database: str) -> str:
    return (
        make_url(url)
        .set(drivername="postgresql+asyncpg", database=database)
        .render_as_string(hide_password=False)
    )


class TemplateDatabases:
    """Migrates once per test session, then hands each test a fresh copy.

    SQLite: a migrated file copied per test. PostgreSQL: `CREATE DATABASE … TEMPLATE`, unique
    names per pytest process so parallel runs never collide.
    """

    def __init__(self, tmp_root: Path) -> None:
        self.tmp_root = tmp_root
        self.sqlite_template: Path | None = None
        self.pg_template: str | None = None
        self.prefix = f"hgt_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def sqlite_url(self, directory: Path) -> str:
        if self.sqlite_template is None:
            template = self.tmp_root / "template.db"
            db = Database.connect(f"sqlite+aiosqlite:///{template}")
            await migrate(db)
            async with db.engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            await db.close()
            self.sqlite_template = template
        target = directory / "hourglass.db"
        shutil.copyfile(self.sqlite_template, target)
        return f"sqlite+aiosqlite:///{target}"

    async def postgres_url(self) -> str:
        admin = postgres_admin_url()
        assert admin is not None
        conn = await asyncpg.connect(_asyncpg_dsn(admin))
        try:
            if self.pg_template is None:
                name = f"{self.prefix}_tpl"
                await conn.execute(f'CREATE DATABASE "{name}"')
                db = Database.connect(_sqlalchemy_url(admin, name))
                await migrate(db)
                await db.close()
                self.pg_template = name
            name = f"{self.prefix}_{uuid.uuid4().hex[:10]}"
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.pg_template}"')
        finally:
            await conn.close()
        return _sqlalchemy_url(admin, name)

    @staticmethod
    async def drop_postgres(url: str) -> None:
        admin = postgres_admin_url()
        assert admin is not None
        name = make_url(url).database
        conn = await asyncpg.connect(_asyncpg_dsn(admin))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    async def drop_all(self) -> None:
        admin = postgres_admin_url()
        if admin is None or self.pg_template is None:
            return
        conn = await asyncpg.connect(_asyncpg_dsn(admin))
        try:
            rows = await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1", self.prefix + "%"
            )
            for row in rows:
                await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        finally:
            await conn.close()


def free_socket() -> socket.socket:
    """A listening-ready socket bound to a free loopback port (connections queue at once)."""
    # proto must be explicit: asyncio only sets TCP_NODELAY on accepted sockets whose proto is
    # IPPROTO_TCP, and without it every keep-alive response waits ~40 ms for a delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def running_server(services: Services, app: FastAPI | None = None) -> AsyncIterator[str]:
    """Serve `create_app(services)` (or `app`) as `hourglass api` does (`cli.server_config`),
    on a real loopback port; yields the base URL."""
    config = server_config(services, app)
    config.timeout_graceful_shutdown = 1
    server = _Server(config)
    sock = free_socket()
    sock.listen(128)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class UserClient:
    """An httpx client logged in as one user, sending the CSRF header on every request."""

    client: httpx.AsyncClient
    user_id: str
    email: str
    password: str
    csrf: str

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, url, **kwargs)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.post(url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.put(url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.patch(url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.delete(url, **kwargs)


async def register(
    base_url: str, email: str | None = None, password: str = "correct horse battery"
) -> UserClient:
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    client = httpx.AsyncClient(base_url=base_url, timeout=30)
    response = await client.post("/auth/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body = response.json()
    client.headers["X-CSRF-Token"] = body["csrf_token"]
    return UserClient(client, body["id"], email, password, body["csrf_token"])
