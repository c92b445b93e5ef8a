"""Benchmark of the stored job log: ingest, pages and search over one 1,000,000-line log. JSON out.

Everything runs against a real `hourglass up` process (API, scheduler and one worker slot):
- ingest: a real COMMAND job (`python3 -c` writing N lines of ~100 bytes, one in ten on stderr,
  generated beforehand) from its `started_at` to its `completed_at` (COMPLETED): lines/s, MB/s;
- page: `GET …/logs` over real HTTP (session cookie), 100 lines at the start
  (`order=asc`), in the middle (`after=N/2`) and at the end (default `desc`): p50/p95 in ms,
  next to `GET /healthz` and `GET …/jobs/{id}` (the floor of any request, and of an
  authenticated one reading one row), and `LogService.page` called in-process (no HTTP);
- search: `GET …/logs/search` first page with the exact `total_matches`, for a rare and a
  common substring (case-insensitive), a case-sensitive one, two regexes, and a substring and a
  regex matching every line: ms (median); then `/healthz` p50/p95 while four every-line regex
  searches run at once;
- storage: bytes the store uses per byte of log text (SQLite: file pages; PostgreSQL:
  `pg_total_relation_size` of `log_chunks`, after compression).

Runs on SQLite, and on PostgreSQL when `HOURGLASS_BENCH_POSTGRES_URL` (or
`HOURGLASS_TEST_POSTGRES_URL`) is set (with Redis when `HOURGLASS_TEST_REDIS_URL` is set).
Usage: `.venv/bin/python bench/logs_ingest.py [--lines N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.e2e.processes import base_env, free_port, started
from tests.support import register

from benchkit import admin_postgres_url, postgres_database
from hourglass.services.container import Services
from hourglass.services.logs.params import PageParams
from hourglass.settings import Settings
from hourglass.store.db import Database
from hourglass.store.migrate import migrate

LINE = (
    "2026-01-01T12:00:00.{ms:03d}Z INFO worker-{w} handled item {i:07d} in {d}ms "
    "status=ok path=/v1/items/{i}\n"
)
# The job replays a log generated beforehand, so the figure is Hourglass's ingest and not the
# speed at which one Python process can format a million lines (~0.8 s here).
REPLAY = """
import sys
out, err = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
parts = 64
for k in range(parts):
    sys.stdout.buffer.write(out[len(out) * k // parts : len(out) * (k + 1) // parts])
    sys.stderr.buffer.write(err[len(err) * k // parts : len(err) * (k + 1) // parts])
"""


def write_log(directory: Path, lines: int) -> tuple[Path, Path]:
    """The job's output, ~100 bytes a line, one line in ten on stderr."""
    rows = [LINE.format(ms=i % 1000, w=i % 8, i=i, d=i % 97) for i in range(lines)]
    out, err = directory / "out.log", directory / "err.log"
    out.write_text("".join(r for k, r in enumerate(rows) if k % 10))
    err.write_text("".join(rows[::10]))
    return out, err


SEARCHES = {
    "substring_rare": {"q": "ITEM 0999999"},
    "substring_1000_hits": {"q": "item 0999"},
    "substring_case_sensitive": {"q": "item 0999", "case_sensitive": "true"},
    "regex_selective": {"q": r"item 09999\d\d in", "regex": "true"},
    "regex_alternation": {"q": r"item (0999999|0000001) ", "regex": "true"},
    "substring_every_line": {"q": "status=ok"},
    "regex_every_line": {"q": r"status=\w+ path", "regex": "true"},
}


def ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered) * 1000, 2),
        "p95": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
    }


async def timed_get(client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> float:
    t0 = time.perf_counter()
    response = await client.get(path, params=params)
    elapsed = time.perf_counter() - t0
    assert response.status_code == 200, response.text
    return elapsed


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def ingest(user: Any, tmp: Path, lines: int) -> tuple[str, str, dict[str, Any]]:
    out, err = write_log(tmp, lines)
    payload = {"cmd": [sys.executable, "-c", REPLAY, str(out), str(err)]}
    body = {"name": "bench", "kind": "COMMAND", "payload": json.dumps(payload), "interval": 10080}
    response = await user.post(
        "/workflows", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert response.status_code == 201, response.text
    workflow_id = response.json()["id"]
    while (await user.get(f"/workflows/{workflow_id}")).json()["build_status"] != "COMPLETED":
        await asyncio.sleep(0.02)
    response = await user.post(
        f"/workflows/{workflow_id}/jobs/schedule", headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    job_id = response.json()["id"]
    while True:
        job = (await user.get(f"/workflows/{workflow_id}/jobs/{job_id}")).json()
        if job["status"] in ("COMPLETED", "FAILED", "CANCELED"):
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "COMPLETED", job
    assert job["log_lines"] == lines + 2, job  # + "attempt started" + "exited with code 0"
    elapsed = _ts(job["completed_at"]) - _ts(job["started_at"])
    return (
        workflow_id,
        job_id,
        {
            "ingest_seconds": round(elapsed, 3),
            "ingest_lines_per_s": round(job["log_lines"] / elapsed),
            "ingest_mb_per_s": round(job["log_bytes"] / elapsed / 1e6, 1),
            "log_bytes": job["log_bytes"],
            "log_state": job["log_state"],
        },
    )


async def pages(user: Any, path: str, lines: int, samples: int) -> dict[str, Any]:
    job_path = path.removesuffix("/logs")
    figures: dict[str, Any] = {}
    for label, target, params in (
        ("baseline_healthz", "/healthz", {}),
        ("baseline_get_job", job_path, {}),
        ("page_start", path, {"order": "asc"}),
        ("page_middle", path, {"order": "asc", "after": lines // 2}),
        ("page_end", path, {}),
    ):
        await timed_get(user.client, target, params)
        times = [await timed_get(user.client, target, params) for _ in range(samples)]
        figures[f"{label}_ms"] = ms(times)
    return figures


async def service_pages(
    db: Database, tmp: Path, ids: tuple[str, str, str], lines: int, samples: int
) -> dict[str, Any]:
    """`LogService.page` in-process (its read transaction included, no HTTP, no auth)."""
    services = Services.build(
        Settings(data_dir=tmp, database_url=db.engine.url.render_as_string(hide_password=False)), db
    )
    figures: dict[str, Any] = {}
    for label, params in (
        ("start", PageParams(order="asc")),
        ("middle", PageParams(order="asc", after=str(lines // 2))),
        ("end", PageParams()),
    ):
        await services.logs.page(*ids, params)
        times = []
        for _ in range(samples):
            t0 = time.perf_counter()
            await services.logs.page(*ids, params)
            times.append(time.perf_counter() - t0)
        figures[f"service_page_{label}_ms"] = ms(times)
    return figures


async def searches(user: Any, path: str, samples: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for label, params in SEARCHES.items():
        response = await user.get(path, params=params)
        total = response.json()["total_matches"]
        times = [await timed_get(user.client, path, params) for _ in range(samples)]
        figures[f"search_{label}"] = {
            "ms": round(statistics.median(times) * 1000, 1),
            "total": total,
        }
    return figures


async def healthz_under_searches(user: Any, path: str, samples: int) -> dict[str, Any]:
    """`GET /healthz` while four of the costliest searches (a regex matching every line, with
    its exact count) run at once, again and again: the scans run in worker threads, so the
    event loop keeps answering."""
    stop = asyncio.Event()
    params = SEARCHES["regex_every_line"]
    done = 0

    async def searching() -> None:
        nonlocal done
        while not stop.is_set():
            await timed_get(user.client, path, params)
            done += 1

    tasks = [asyncio.create_task(searching()) for _ in range(4)]
    await asyncio.sleep(0.5)
    times = []
    for _ in range(samples):
        times.append(await timed_get(user.client, "/healthz", {}))
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.gather(*tasks)
    return {"healthz_under_4_searches_ms": ms(times), "searches_meanwhile": done}


async def stored_bytes(db: Database) -> int:
    async with db.read() as tx:
        if db.is_postgres:
            row = await tx.execute(text("SELECT pg_total_relation_size('log_chunks')"))
            return int(row.scalar_one())
        pages = (await tx.execute(text("PRAGMA page_count"))).scalar_one()
        free = (await tx.execute(text("PRAGMA freelist_count"))).scalar_one()
        size = (await tx.execute(text("PRAGMA page_size"))).scalar_one()
        return int((pages - free) * size)


async def run_engine(
    url: str, tmp: Path, lines: int, samples: int, redis: str | None = None
) -> dict[str, Any]:
    db = Database.connect(url)
    try:
        await migrate(db)
        empty = await stored_bytes(db)
        port = free_port()
        env = base_env(
            HOURGLASS_PORT=str(port),
            HOURGLASS_DATA_DIR=str(tmp / "data"),
            HOURGLASS_DATABASE_URL=url,
            HOURGLASS_ACCESS_LOG="false",
            HOURGLASS_LOG_LEVEL="warning",
            HOURGLASS_POLL_INTERVAL_SECONDS="0.1",
            **({"HOURGLASS_REDIS_URL": redis} if redis else {}),
        )
        base_url = f"http://127.0.0.1:{port}"
        with started(["up", "--concurrency", "1"], env, tmp / "up.log", base_url):
            user = await register(base_url)
            try:
                workflow_id, job_id, figures = await ingest(user, tmp, lines)
                path = f"/workflows/{workflow_id}/jobs/{job_id}/logs"
                figures.update(await pages(user, path, lines, samples))
                figures.update(await searches(user, path + "/search", max(5, samples // 20)))
                figures.update(await healthz_under_searches(user, path + "/search", samples))
            finally:
                await user.client.aclose()
        ids = (user.user_id, workflow_id, job_id)
        figures.update(await service_pages(db, tmp, ids, lines, samples))
        used = await stored_bytes(db)
        figures["stored_bytes_per_log_byte"] = round((used - empty) / figures["log_bytes"], 3)
        return figures
    finally:
        await db.close()


async def main(lines: int, samples: int) -> dict[str, Any]:
    result: dict[str, Any] = {"lines": lines, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'hourglass.db'}"
        result["sqlite"] = await run_engine(url, Path(tmp), lines, samples)
    admin = admin_postgres_url()
    if admin:
        async with postgres_database(admin) as url:
            with tempfile.TemporaryDirectory() as tmp:
                # with Redis when there is one, as a fleet on PostgreSQL runs (the auth cache
                # of an API process needs it there: docs/performance.md)
                redis = os.environ.get("HOURGLASS_TEST_REDIS_URL")
                result["postgres"] = await run_engine(url, Path(tmp), lines, samples, redis)
                result["postgres"]["redis"] = bool(redis)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.lines, args.samples)), indent=2))
