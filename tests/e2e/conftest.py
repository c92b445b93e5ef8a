"""End-to-end fixtures: a real `hourglass up` process on its embedded SQLite default, and the
PostgreSQL database and Redis that split processes share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import base_env, free_port, started
from tests.support import (
    TemplateDatabases,
    UserClient,
    postgres_admin_url,
    redis_url,
    register,
    require,
)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[str]:
    """`hourglass up` with zero configuration but a private data dir and port; yields its URL."""
    port = free_port()
    env = base_env(
        HOURGLASS_PORT=str(port),
        HOURGLASS_DATA_DIR=str(tmp_path / "data"),
        HOURGLASS_POLL_INTERVAL_SECONDS="0.5",
    )
    url = f"http://127.0.0.1:{port}"
    with started(["up"], env, tmp_path / "up.log", url):
        yield url


@pytest.fixture
async def user(embedded: str) -> AsyncIterator[UserClient]:
    """A new user registered on the embedded server."""
    client = await register(embedded)
    yield client
    await client.client.aclose()


@pytest.fixture
async def postgres_db(templates: TemplateDatabases) -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database for processes to share; dropped afterwards."""
    require("PostgreSQL", postgres_admin_url() is not None, "HOURGLASS_TEST_POSTGRES_URL not set")
    url = await templates.postgres_url()
    try:
        yield url
    finally:
        await TemplateDatabases.drop_postgres(url)


@pytest.fixture
def redis_server() -> str:
    """The test Redis's URL (required: skipped without one, failed under CI)."""
    url = redis_url()
    require("Redis", url is not None, "HOURGLASS_TEST_REDIS_URL not set")
    assert url is not None
    return url
