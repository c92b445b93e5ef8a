"""Benchmark of notifications and webhooks, printing JSON.

- `finish_to_sse_ms`: a job's `completed_at` (the server's clock at its finish) → its
  notification's frame read by a client of `GET /notifications/events`, p50/p95;
- `finish_to_webhook_ms`: the same `completed_at` → the `job.completed` delivery received by a
  local HTTP receiver, p50/p95 (targets: < 100 ms and < 500 ms);
- `webhook_throughput_per_s`: 1,000 deliveries queued while no worker runs (`POST
  /webhooks/{id}/test` on an API process), then one worker process sends them to a local
  receiver: deliveries received per second, first to last (target ≥ 200/s).

Runs real processes on embedded SQLite and, when `HOURGLASS_BENCH_POSTGRES_URL` (or
`HOURGLASS_TEST_POSTGRES_URL`) is set, on PostgreSQL (+ Redis when `HOURGLASS_TEST_REDIS_URL` is
set). Usage: `.venv/bin/python bench/notify.py [--samples N] [--deliveries N]`.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.e2e.processes import base_env, free_port, started
from tests.integration.logstream_helpers import sse_frames
from tests.integration.webhook_helpers import receiving
from tests.support import UserClient, register

from benchkit import admin_postgres_url, postgres_database


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(values: list[float]) -> dict[str, Any]:
    return {
        "p50": round(statistics.median(values), 2),
        "p95": round(_pct(values, 0.95), 2),
        "samples": len(values),
    }


async def _workflow(user: UserClient) -> str:
    body = {"name": "bench", "kind": "COMMAND", "payload": '{"cmd": ["true"]}', "interval": 10080}
    response = await user.post(
        "/workflows", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    workflow_id: str = response.json()["id"]
    while (await user.get(f"/workflows/{workflow_id}")).json()["build_status"] != "COMPLETED":
        await asyncio.sleep(0.02)
    return workflow_id


async def latencies(url: str, samples: int) -> dict[str, Any]:
    """Job finish → notification over SSE, and → webhook received."""
    user = await register(url)
    arrivals: dict[str, float] = {}
    try:
        await user.put("/users", json={"notification_preference": "ALL"})
        async with receiving() as receiver:
            hook = {"url": receiver.url, "events": ["job.completed"]}
            assert (await user.post("/webhooks", json=hook)).status_code == 201
            workflow_id = await _workflow(user)
            sse, hooks = [], []
            async with user.client.stream("GET", "/notifications/events") as stream:
                frames = sse_frames(stream)
                async for frame in frames:
                    if frame.event == "connected":
                        break
                for _ in range(samples):
                    response = await user.post(
                        f"/workflows/{workflow_id}/jobs/schedule",
                        headers={"Idempotency-Key": uuid.uuid4().hex},
                    )
                    job_id = response.json()["id"]
                    async for frame in frames:
                        if frame.event == "notification" and job_id in frame.json()["payload"]:
                            arrivals[job_id] = time.time()
                            break
                    job = (await user.get(f"/workflows/{workflow_id}/jobs/{job_id}")).json()
                    sse.append((arrivals[job_id] - _ts(job["completed_at"])) * 1000)
                    got = (await receiver.wait_for(len(hooks) + 1))[-1]
                    assert got.json()["data"]["id"] == job_id
                    hooks.append((got.at - _ts(job["completed_at"])) * 1000)
        return {"finish_to_sse_ms": _summary(sse), "finish_to_webhook_ms": _summary(hooks)}
    finally:
        await user.client.aclose()


async def throughput(env: dict[str, str], tmp: Path, deliveries: int) -> dict[str, Any]:
    """Queue `deliveries` test deliveries with no worker running, then drain them."""
    port = free_port()
    api_env = {**env, "HOURGLASS_PORT": str(port)}
    url = f"http://127.0.0.1:{port}"
    async with receiving() as receiver:
        with started(["api"], api_env, tmp / "api.log", url):
            user = await register(url)
            try:
                made = await user.post(
                    "/webhooks", json={"url": receiver.url, "events": ["job.failed"]}
                )
                hook_id = made.json()["id"]
                sem = asyncio.Semaphore(16)

                async def one() -> None:
                    async with sem:
                        response = await user.post(f"/webhooks/{hook_id}/test")
                        assert response.status_code == 202, response.text

                await asyncio.gather(*(one() for _ in range(deliveries)))
            finally:
                await user.client.aclose()
        with started(["worker"], env, tmp / "worker.log"):
            got = await receiver.wait_for(deliveries, timeout=300)
    first, last = got[0].at, got[-1].at
    return {
        "webhook_throughput_per_s": round((deliveries - 1) / (last - first), 1),
        "deliveries": deliveries,
    }


async def run_engine(
    label: str, extra_env: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        port = free_port()
        env = base_env(
            HOURGLASS_DATA_DIR=str(tmp / "data"),
            HOURGLASS_ACCESS_LOG="false",
            HOURGLASS_LOG_LEVEL="warning",
            **extra_env,
        )
        url = f"http://127.0.0.1:{port}"
        with started(["up"], {**env, "HOURGLASS_PORT": str(port)}, tmp / "up.log", url):
            result = await latencies(url, args.samples)
        result |= await throughput(env, tmp, args.deliveries)
    return {"engine": label, **result}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--deliveries", type=int, default=1000)
    args = parser.parse_args()
    results = [await run_engine("sqlite", {}, args)]
    admin = admin_postgres_url()
    if admin:
        async with postgres_database(admin) as url:
            extra = {"HOURGLASS_DATABASE_URL": url}
            if os.environ.get("HOURGLASS_TEST_REDIS_URL"):
                extra["HOURGLASS_REDIS_URL"] = os.environ["HOURGLASS_TEST_REDIS_URL"]
            results.append(await run_engine("postgresql", extra, args))
    print(json.dumps({"benchmark": "notify", "results": results}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
