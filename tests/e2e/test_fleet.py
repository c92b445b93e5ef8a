"""A fleet on PostgreSQL + Redis: one API, two schedulers and three workers as separate OS
processes run 200 manual jobs across 20 workflows, plus one scheduled slot per workflow that both
schedulers race to create; one worker is killed with SIGKILL mid-run."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from hourglass.live import RedisBus, Wakeup
from hourglass.services.engine import WORK_CHANNEL
from hourglass.store.db import Database
from hourglass.store.schema import jobs, workflows
from tests.e2e.processes import base_env, free_port, started
from tests.support import (
    UserClient,
    redis_url,
    register,
)

WORKFLOWS = 20
JOBS_PER_WORKFLOW = 10
# a week's interval: the schedulers idle until the test makes one slot per workflow due
INTERVAL_MINUTES = 10080


async def test_fleet_runs_every_job_once_despite_a_killed_worker(
    postgres_db: str, redis_server: str, tmp_path: Path
) -> None:
    """Every job completes once, each raced slot gets one job, and a SIGKILL changes nothing."""
    port = free_port()
    marks = tmp_path / "marks"
    marks.mkdir()
    env = base_env(
        HOURGLASS_DATABASE_URL=postgres_db,
        HOURGLASS_REDIS_URL=redis_server,
        HOURGLASS_PORT=str(port),
        HOURGLASS_DATA_DIR=str(tmp_path / "data"),
        HOURGLASS_ALLOW_COMMAND_KIND="true",
        HOURGLASS_LEASE_SECONDS="3",
        HOURGLASS_LEASE_RENEW_SECONDS="1",
        HOURGLASS_POLL_INTERVAL_SECONDS="0.5",
        HOURGLASS_SHUTDOWN_GRACE_SECONDS="5",
    )
    url = f"http://127.0.0.1:{port}"
    with started(["api"], env, tmp_path / "api.log", url):
        user = await register(url)
        workflow_ids = await _create_workflows(user, marks)
        processes = [
            started(["scheduler"], env, tmp_path / f"scheduler{i}.log") for i in range(2)
        ] + [
            started(["worker", "--concurrency", "4"], env, tmp_path / f"worker{i}.log")
            for i in range(3)
        ]
        running = [p.__enter__() for p in processes]
        try:
            for workflow_id in workflow_ids:
                await _wait_built(user, workflow_id)
            await _schedule_manual_runs(user, workflow_ids)
            slot = await _make_a_slot_due(postgres_db, workflow_ids)
            victim = running[2]  # the first worker, killed while it holds a running job
            await _wait_running_on(postgres_db, victim.pid)
            victim.kill()
            statuses = await _wait_all_final(postgres_db, WORKFLOWS * (JOBS_PER_WORKFLOW + 1))
        finally:
            for p in processes:
                p.__exit__(None, None, None)
        await user.client.aclose()
    runs_per_workflow = JOBS_PER_WORKFLOW + 1
    assert statuses["by_status"] == {"COMPLETED": WORKFLOWS * runs_per_workflow}
    assert await _slots(postgres_db) == {(w, slot): 1 for w in workflow_ids}
    # the killed worker's jobs were recovered and ran again as attempt 2
    assert sum(statuses["attempts"].values()) > WORKFLOWS * runs_per_workflow
    # every job ran to completion once; an attempt the killed worker had claimed may or may
    # not have started its process before the kill, so executions lie between the two
    for n, workflow_id in enumerate(workflow_ids):
        runs = (marks / f"wf{n}").read_text().count("run")
        assert runs_per_workflow <= runs <= statuses["attempts"][workflow_id], workflow_id


async def _create_workflows(user: UserClient, marks: Path) -> list[str]:
    """COMMAND workflows that each append a line to their own file per run."""
    workflow_ids = []
    for n in range(WORKFLOWS):
        script = f"echo run >> {marks}/wf{n}; sleep 0.05"
        body = {
            "name": f"fleet {n}",
            "kind": "COMMAND",
            "payload": json.dumps({"cmd": ["sh", "-c", script]}),
            "interval": INTERVAL_MINUTES,
        }
        response = await user.post(
            "/workflows", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
        )
        assert response.status_code == 201, response.text
        workflow_ids.append(response.json()["id"])
    return workflow_ids


async def _schedule_manual_runs(user: UserClient, workflow_ids: list[str]) -> None:
    for workflow_id in workflow_ids:
        for _ in range(JOBS_PER_WORKFLOW):
            response = await user.post(
                f"/workflows/{workflow_id}/jobs/schedule",
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            assert response.status_code == 201, response.text


async def _wait_built(user: UserClient, workflow_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = (await user.get(f"/workflows/{workflow_id}")).json()
        if body["build_status"] == "COMPLETED":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"workflow {workflow_id} not built")


async def _make_a_slot_due(url: str, workflow_ids: list[str]) -> datetime:
    """Move every workflow's next slot a minute into the past (as if a week had gone by), then
    wake both schedulers at once so they race on the 20 due slots; returns the slot."""
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    db = Database.connect(url)
    try:
        async with db.write() as tx:
            await tx.execute(
                update(workflows).where(workflows.c.id.in_(workflow_ids)).values(next_run_at=slot)
            )
    finally:
        await db.close()
    bus = RedisBus(str(redis_url()))
    try:
        await bus.publish(Wakeup(WORK_CHANNEL))
    finally:
        await bus.close()
    return slot


async def _slots(url: str) -> dict[tuple[str, datetime], int]:
    """How many AUTOMATIC jobs each (workflow, slot) got."""
    db = Database.connect(url)
    try:
        async with db.read() as tx:
            rows = await tx.execute(
                select(jobs.c.workflow_id, jobs.c.slot_at, func.count())
                .where(jobs.c.trigger == "AUTOMATIC")
                .group_by(jobs.c.workflow_id, jobs.c.slot_at)
            )
            return {(r[0], r[1]): int(r[2]) for r in rows}
    finally:
        await db.close()


async def _job_rows(url: str) -> list[tuple[str, str, int]]:
    db = Database.connect(url)
    try:
        async with db.read() as tx:
            rows = await tx.execute(select(jobs.c.workflow_id, jobs.c.status, jobs.c.attempts))
            return [(r[0], r[1], r[2]) for r in rows]
    finally:
        await db.close()


async def _wait_running_on(url: str, pid: int) -> None:
    """Wait until the worker process `pid` holds a RUNNING job, after some jobs completed."""
    db = Database.connect(url)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            async with db.read() as tx:
                owners = [
                    r[0]
                    for r in await tx.execute(
                        select(jobs.c.lease_owner).where(jobs.c.status == "RUNNING")
                    )
                ]
                done = (
                    await tx.execute(select(func.count()).where(jobs.c.status == "COMPLETED"))
                ).scalar_one()
            if done >= 20 and any(o and o.endswith(f":{pid}") for o in owners):
                return
            await asyncio.sleep(0.02)
    finally:
        await db.close()
    raise AssertionError(f"worker {pid} never held a running job")


async def _wait_all_final(url: str, total: int) -> dict[str, dict[str, int]]:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        rows = await _job_rows(url)
        by_status = Counter(status for _, status, _ in rows)
        if (
            len(rows) == total
            and by_status.get("COMPLETED", 0) + by_status.get("FAILED", 0) == total
        ):
            attempts: Counter[str] = Counter()
            for workflow_id, _, n in rows:
                attempts[workflow_id] += n
            return {"by_status": dict(by_status), "attempts": dict(attempts)}
        await asyncio.sleep(0.25)
    raise AssertionError(
        f"jobs not final in time: {Counter(s for _, s, _ in await _job_rows(url))}"
    )
