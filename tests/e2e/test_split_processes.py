"""Split processes (`hourglass api | worker | scheduler`) on PostgreSQL say when they run
without Redis, since they then learn of each other's work only by polling."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.processes import base_env, free_port, started

WARNING = "HOURGLASS_REDIS_URL is not set"


def api_output(tmp_path: Path, **env: str) -> str:
    port = free_port()
    values = base_env(HOURGLASS_PORT=str(port), HOURGLASS_DATA_DIR=str(tmp_path), **env)
    with started(["api"], values, tmp_path / "api.log", f"http://127.0.0.1:{port}") as api:
        pass
    return api.output()


def test_an_api_process_on_postgres_without_redis_warns(tmp_path: Path, postgres_db: str) -> None:
    """`hourglass api` on PostgreSQL with no Redis logs that wake-ups stay in-process."""
    assert WARNING in api_output(tmp_path, HOURGLASS_DATABASE_URL=postgres_db)


def test_an_api_process_with_redis_does_not_warn(
    tmp_path: Path, postgres_db: str, redis_server: str
) -> None:
    """With HOURGLASS_REDIS_URL set, the same process starts without that warning."""
    output = api_output(
        tmp_path, HOURGLASS_DATABASE_URL=postgres_db, HOURGLASS_REDIS_URL=redis_server
    )
    assert "hourglass API on" in output
    assert WARNING not in output
