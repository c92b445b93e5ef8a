"""Benchmark of the execution engine, printing JSON.

- latency: `POST …/jobs/schedule` sent → job RUNNING (its `started_at`), p50/p95, one job at a time
  on an idle server;
- throughput: trivial COMMAND jobs (`true`) completed per second, many workflows at once.

`--job-cgroups off|auto|required` sets HOURGLASS_JOB_CGROUPS (COMMAND jobs in cgroups).

Runs a real `hourglass up` process (embedded SQLite) and, when `HOURGLASS_BENCH_POSTGRES_URL`
(or `HOURGLASS_TEST_POSTGRES_URL`) is set, the same on PostgreSQL (+ Redis when
`HOURGLASS_TEST_REDIS_URL` is set). Usage: `.venv/bin/python bench/jobs.py [--samples N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.e2e.processes import base_env, free_port, started
from tests.support import register

from benchkit import admin_postgres_url, postgres_database

FINAL = {"COMPLETED", "FAILED", "CANCELED"}


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def _workflow(user: Any, name: str) -> str:
    body = {
        "name": name,
        "kind": "COMMAND",
        "payload": json.dumps({"cmd": ["true"]}),
        "interval": 10080,
    }
    response = await user.post(
        "/workflows", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    workflow_id: str = response.json()["id"]
    while (await user.get(f"/workflows/{workflow_id}")).json()["build_status"] != "COMPLETED":
        await asyncio.sleep(0.02)
    return workflow_id


async def _schedule(user: Any, workflow_id: str) -> tuple[str, float]:
    sent = time.time()
    response = await user.post(
        f"/workflows/{workflow_id}/jobs/schedule", headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"], sent


async def _final(user: Any, workflow_id: str, job_id: str) -> dict[str, Any]:
    while True:
        job: dict[str, Any] = (await user.get(f"/workflows/{workflow_id}/jobs/{job_id}")).json()
        if job["status"] in FINAL:
            return job
        await asyncio.sleep(0.01)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of every thread of process `pid` so far (Linux /proc)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def measure(url: str, samples: int, throughput_jobs: int, pid: int) -> dict[str, Any]:
    user = await register(url)
    try:
        workflow_id = await _workflow(user, "latency")
        latencies = []
        for _ in range(samples):
            job_id, sent = await _schedule(user, workflow_id)
            job = await _final(user, workflow_id, job_id)
            latencies.append((_ts(job["started_at"]) - sent) * 1000)
        workflows = [await _workflow(user, f"tp{i}") for i in range(20)]
        per = max(1, throughput_jobs // len(workflows))
        cpu_start = cpu_seconds(pid)
        start = time.time()
        scheduled = await asyncio.gather(
            *(_schedule(user, w) for w in workflows for _ in range(per))
        )
        owners = [w for w in workflows for _ in range(per)]
        jobs = [
            await _final(user, w, job_id) for (job_id, _), w in zip(scheduled, owners, strict=True)
        ]
        end = max(_ts(j["completed_at"]) for j in jobs)
        cpu = cpu_seconds(pid) - cpu_start
        return {
            "schedule_to_running_ms": {
                "p50": round(statistics.median(latencies), 2),
                "p95": round(_pct(latencies, 0.95), 2),
                "samples": samples,
            },
            "jobs_per_second": round(len(jobs) / (end - start), 1),
            # the server's CPU over the burst (its polling by this script included), per job:
            # steadier than wall time on a shared machine
            "server_cpu_ms_per_job": round(cpu * 1000 / len(jobs), 2),
            "throughput_jobs": len(jobs),
            "all_completed": all(j["status"] == "COMPLETED" for j in jobs),
        }
    finally:
        await user.client.aclose()


async def run_engine(
    label: str, extra_env: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = base_env(
            HOURGLASS_PORT=str(port),
            HOURGLASS_DATA_DIR=str(Path(tmp) / "data"),
            HOURGLASS_ACCESS_LOG="false",
            HOURGLASS_LOG_LEVEL="warning",
            **({"HOURGLASS_JOB_CGROUPS": args.job_cgroups} if args.job_cgroups else {}),
            **extra_env,
        )
        url = f"http://127.0.0.1:{port}"
        with started(
            ["up", "--concurrency", str(args.concurrency)], env, Path(tmp) / "up.log", url
        ) as server:
            result = await measure(url, args.samples, args.jobs, server.pid)
    return {"engine": label, **result}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--job-cgroups", choices=["auto", "off", "required"], default=None)
    args = parser.parse_args()
    results = [await run_engine("sqlite", {}, args)]
    admin = admin_postgres_url()
    if admin:
        async with postgres_database(admin) as url:
            extra = {"HOURGLASS_DATABASE_URL": url}
            if os.environ.get("HOURGLASS_TEST_REDIS_URL"):
                extra["HOURGLASS_REDIS_URL"] = os.environ["HOURGLASS_TEST_REDIS_URL"]
            results.append(await run_engine("postgresql", extra, args))
    print(json.dumps({"benchmark": "jobs", "results": results}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
