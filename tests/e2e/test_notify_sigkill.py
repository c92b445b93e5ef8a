"""A job whose worker process is killed (SIGKILL) mid-run is retried by another worker process:
its end is notified once and counted once, whatever the first worker had done."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from hourglass.domain.jobs import JobStatus
from hourglass.services.container import Services
from hourglass.store.schema import job_stats, notifications
from tests.e2e.processes import Process, base_env
from tests.integration.engine_helpers import built_workflow, eventually, job, principal, wait_job


async def test_a_job_retried_after_its_worker_was_killed_notifies_once(
    services: Services, database_url: str, redis_server: str, tmp_path: Path
) -> None:
    """Attempt 1 dies with worker A; worker B recovers and completes it: one notification."""
    marker = tmp_path / "attempted"
    script = f"if [ -e {marker} ]; then echo second; else touch {marker}; sleep 300; fi"
    env = base_env(
        HOURGLASS_DATABASE_URL=database_url,
        HOURGLASS_REDIS_URL=redis_server,
        HOURGLASS_DATA_DIR=str(tmp_path / "data"),
        HOURGLASS_POLL_INTERVAL_SECONDS="0.2",
        HOURGLASS_LEASE_SECONDS="2",
        HOURGLASS_LEASE_RENEW_SECONDS="0.5",
    )
    who = await principal(services)
    wid = await built_workflow(services, who, payload={"cmd": ["sh", "-c", script]})
    first = Process(["worker"], env, tmp_path / "a.log")
    try:
        job_id = (await services.jobs.schedule(who.user_id, wid, idempotency_key="k")).body["id"]

        async def running() -> bool:
            return marker.exists() and (await job(services, job_id)).status == JobStatus.RUNNING

        await eventually(running)
    finally:
        first.kill()
        first.stop()
    second = Process(["worker"], env, tmp_path / "b.log")
    try:
        done = await wait_job(services, job_id, {JobStatus.COMPLETED, JobStatus.FAILED}, 60)
    finally:
        second.stop()
    assert (done.status, done.attempts) == (JobStatus.COMPLETED, 2)
    async with services.db.read() as tx:
        causes = [r[0] for r in await tx.execute(select(notifications.c.cause))]
        counted = [r[0] for r in await tx.execute(select(job_stats.c.jobs))]
    assert [c for c in causes if c.startswith("job:")] == [f"job:{job_id}:COMPLETED"]
    assert counted == [1]
