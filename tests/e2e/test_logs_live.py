"""Live log lines across real processes on PostgreSQL + Redis: a `hourglass worker` process runs a
COMMAND job, and a client of another `hourglass api` process (not the one the job was made on)
follows it over SSE, live, to its `end`."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

import httpx

from hourglass.live import RedisBus
from hourglass.services.engine import WORK_CHANNEL
from tests.e2e.processes import base_env, free_port, started
from tests.integration.logstream_helpers import Frame, collect, log_seqs
from tests.support import (
    UserClient,
    redis_url,
    register,
)

LINES = 20
# prints LINES lines slowly, then holds on until the test lets it finish (bounded)
SCRIPT = f"""
import os, sys, time
for i in range(1, {LINES + 1}):
    print(f"line {{i}}", flush=True)
    time.sleep(0.02)
deadline = time.monotonic() + 30
while not os.path.exists(sys.argv[1]):
    if time.monotonic() > deadline:
        sys.exit(3)
    time.sleep(0.01)
print("last line", flush=True)
"""


async def built_workflow(user: UserClient, payload: dict[str, object]) -> str:
    """A COMMAND workflow made over the API, returned once the worker process built it (woken
    by the builder's own wake-up on the work channel, not by polling)."""
    bus = RedisBus(str(redis_url()))
    try:
        async with bus.subscribe(WORK_CHANNEL) as wakeups, asyncio.timeout(30):
            body = {"name": "live", "kind": "COMMAND", "payload": json.dumps(payload)}
            response = await user.post(
                "/workflows",
                json={**body, "interval": 10080},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            assert response.status_code == 201, response.text
            workflow_id: str = response.json()["id"]
            while (await user.get(f"/workflows/{workflow_id}")).json()["build_status"] not in (
                "COMPLETED",
                "FAILED",
            ):
                await wakeups.wait(30)
    finally:
        await bus.close()
    assert (await user.get(f"/workflows/{workflow_id}")).json()["build_status"] == "COMPLETED"
    return workflow_id


async def test_a_client_of_another_api_process_follows_a_worker_process_live(
    postgres_db: str, redis_server: str, tmp_path: Path
) -> None:
    """Lines a worker process writes reach an SSE client of a second API process while the job
    still runs; then the final status and `end`, every line exactly once, 1..N."""
    go = tmp_path / "go"
    common = {
        "HOURGLASS_DATABASE_URL": postgres_db,
        "HOURGLASS_REDIS_URL": redis_server,
        "HOURGLASS_ALLOW_COMMAND_KIND": "true",
        "HOURGLASS_POLL_INTERVAL_SECONDS": "0.5",
        "HOURGLASS_WORKER_CONCURRENCY": "1",
    }
    ports = free_port(), free_port()
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    envs = [
        base_env(**common, HOURGLASS_PORT=str(port), HOURGLASS_DATA_DIR=str(tmp_path / f"api{n}"))
        for n, port in enumerate(ports)
    ]
    worker_env = base_env(**common, HOURGLASS_DATA_DIR=str(tmp_path / "worker"))
    with (
        started(["api"], envs[0], tmp_path / "api0.log", urls[0]),
        started(["api"], envs[1], tmp_path / "api1.log", urls[1]),
        started(["worker"], worker_env, tmp_path / "worker.log"),
    ):
        user = await register(urls[0])
        follower = httpx.AsyncClient(
            base_url=urls[1], cookies={"session": user.client.cookies["session"]}, timeout=30
        )
        try:
            workflow_id = await built_workflow(
                user, {"cmd": [sys.executable, "-c", SCRIPT, str(go)]}
            )
            scheduled = await user.post(
                f"/workflows/{workflow_id}/jobs/schedule",
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            job_path = f"/workflows/{workflow_id}/jobs/{scheduled.json()['id']}"
            async with follower.stream("GET", f"{job_path}/events") as response:
                assert response.status_code == 200
                # well within the 15 s keep-alive poll: only wake-ups through Redis are this fast
                frames = await collect(
                    response, lambda f: _message(f) == f"line {LINES}", timeout=10
                )
                job = (await user.get(job_path)).json()
                go.touch()
                frames += await collect(response)
        finally:
            await follower.aclose()
            await user.client.aclose()
    assert job["status"] == "RUNNING"  # every line so far came while the job was running
    messages = [_message(f) for f in frames if f.event == "log"]
    assert [m for m in messages if m.startswith(("line", "last"))] == [
        *(f"line {i}" for i in range(1, LINES + 1)),
        "last line",
    ]
    assert messages[0].startswith("attempt 1 started")
    assert messages[-1] == "exited with code 0"
    seqs = log_seqs(frames)
    assert seqs == list(range(1, len(seqs) + 1))
    assert [f.event for f in frames[-2:]] == ["status", "end"]
    assert frames[-1].json() == {
        "status": "stream_ended",
        "job_status": "COMPLETED",
        "total_lines": len(seqs),
    }


def _message(frame: Frame) -> str:
    """The message of a `log` frame ("" for any other frame)."""
    message: str = frame.json()["message"] if frame.event == "log" else ""
    return message
