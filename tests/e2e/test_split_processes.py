"""Split processes (`hourglass api | worker | scheduler`) on PostgreSQL say when they run
without Redis, since they then learn of each other's work only by polling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.processes import base_env, free_port, started
from tests.support import TemplateDatabases, postgres_admin_url, redis_url, require

WARNING = "HOURGLASS_REDIS_URL is not set"


@pytest.fixture
async def pg_url(templates: TemplateDatabases) -> AsyncIterator[str]:
    require("PostgreSQL", postgres_admin_url() is not None, "HOURGLASS_TEST_POSTGRES_URL not set")
    url = await templates.postgres_url()
    try:
        yield url
    finally:
        await TemplateDatabases.drop_postgres(url)


def api_output(tmp_path: Path, **env: str) -> str:
    port = free_port()
    values = base_env(HOURGLASS_PORT=str(port), HOURGLASS_DATA_DIR=str(tmp_path), **env)
    with started(["api"], values, tmp_path / "api.log", f"http://127.0.0.1:{port}") as api:
        pass
    return api.output()


def test_an_api_process_on_postgres_without_redis_warns(tmp_path: Path, pg_url: str) -> None:
    """`hourglass api` on PostgreSQL with no Redis logs that wake-ups stay in-process."""
    assert WARNING in api_output(tmp_path, HOURGLASS_DATABASE_URL=pg_url)


def test_an_api_process_with_redis_does_not_warn(tmp_path: Path, pg_url: str) -> None:
    """With HOURGLASS_REDIS_URL set, the same process starts without that warning."""
    redis = redis_url()
    require("Redis", redis is not None, "HOURGLASS_TEST_REDIS_URL not set")
    assert redis is not None
    output = api_output(tmp_path, HOURGLASS_DATABASE_URL=pg_url, HOURGLASS_REDIS_URL=redis)
    assert "hourglass API on" in output
    assert WARNING not in output
