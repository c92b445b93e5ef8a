"""Shared fixtures: every integration test runs once on SQLite and once on PostgreSQL."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from hourglass.domain.common import Clock
from hourglass.services.accounts import AccountService
from hourglass.services.container import Services
from hourglass.settings import Settings
from hourglass.store.db import Database
from tests.support import (
    TemplateDatabases,
    UserClient,
    postgres_admin_url,
    register,
    require,
    running_server,
)

ENGINES = ["sqlite", "postgres"]

# still argon2id, at the smallest cost: production's (~0.3 s a hash) would dominate the suite
TEST_PASSWORD_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def build_services(settings: Settings, db: Database, clock: Clock | None = None) -> Services:
    services = Services.build(settings, db, clock=clock)
    accounts = AccountService(
        db, settings, services.clock, services.accounts.new_id, password_hasher=TEST_PASSWORD_HASHER
    )
    return dataclasses.replace(services, accounts=accounts)


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemplateDatabases]:
    import asyncio

    holder = TemplateDatabases(tmp_path_factory.mktemp("templates"))
    yield holder
    asyncio.run(holder.drop_all())


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    """The store engine under test; integration tests are parametrized over both."""
    name: str = request.param
    if name == "postgres":
        require(
            "PostgreSQL",
            postgres_admin_url() is not None,
            "HOURGLASS_TEST_POSTGRES_URL is not set",
        )
    return name


@pytest.fixture
async def database_url(
    engine_name: str, templates: TemplateDatabases, tmp_path: Path
) -> AsyncIterator[str]:
    """A freshly migrated, empty database of the engine under test."""
    if engine_name == "sqlite":
        yield await templates.sqlite_url(tmp_path)
        return
    url = await templates.postgres_url()
    try:
        yield url
    finally:
        await TemplateDatabases.drop_postgres(url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database.connect(database_url)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        access_log=False,
        allow_command_kind=True,
    )


@pytest.fixture
def services(settings: Settings, db: Database) -> Services:
    return build_services(settings, db)


@pytest.fixture
async def base_url(services: Services) -> AsyncIterator[str]:
    """A real uvicorn server on a loopback port, serving the app over `services`."""
    async with running_server(services) as url:
        yield url


@pytest.fixture
async def serve(settings: Settings, db: Database) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Starts more real servers: `await serve(clock=…, db=…, **settings_overrides)` → base URL."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(*, clock: Clock | None = None, db: Database = db, **overrides: Any) -> str:
            services = build_services(dataclasses.replace(settings, **overrides), db, clock)
            return await stack.enter_async_context(running_server(services))

        yield start


@pytest.fixture
async def make_user(base_url: str) -> AsyncIterator[Callable[..., Awaitable[UserClient]]]:
    """Registers a new user over HTTP and returns a logged-in client for it."""
    made: list[UserClient] = []

    async def factory(
        email: str | None = None, password: str = "correct horse battery"
    ) -> UserClient:
        user = await register(base_url, email, password)
        made.append(user)
        return user

    yield factory
    for user in made:
        await user.client.aclose()


@pytest.fixture
async def alice(make_user: Callable[..., Awaitable[UserClient]]) -> UserClient:
    return await make_user("alice@example.com")


@pytest.fixture
async def bob(make_user: Callable[..., Awaitable[UserClient]]) -> UserClient:
    return await make_user("bob@example.com")
