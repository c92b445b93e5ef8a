"""A real `hourglass worker` process stopped with SIGTERM while it runs a job: it stops
claiming, lets the job finish within the grace period, and exits cleanly."""

from __future__ import annotations

import signal
from pathlib import Path

from hourglass.domain.jobs import JobStatus
from hourglass.services.container import Services
from tests.e2e.processes import Process, base_env, wait_output
from tests.integration.engine_helpers import built_workflow, eventually, job, principal


async def test_sigterm_drains_a_running_job_and_exits_cleanly(
    services: Services, database_url: str, redis_server: str, tmp_path: Path
) -> None:
    """After SIGTERM the running job completes, later ones wait, and the process exits 0."""
    go = tmp_path / "go"
    script = f"echo started; while [ ! -e {go} ]; do sleep 0.05; done; echo finished"
    who = await principal(services)
    slow = await built_workflow(services, who, payload={"cmd": ["sh", "-c", script]})
    other = await built_workflow(services, who, payload={"cmd": ["echo", "later"]})
    env = base_env(
        HOURGLASS_DATABASE_URL=database_url,
        HOURGLASS_REDIS_URL=redis_server,
        HOURGLASS_DATA_DIR=str(tmp_path / "data"),
        HOURGLASS_POLL_INTERVAL_SECONDS="0.2",
        HOURGLASS_SHUTDOWN_GRACE_SECONDS="30",
    )
    worker = Process(["worker", "--concurrency", "2"], env, tmp_path / "worker.log")
    try:
        running = (await services.jobs.schedule(who.user_id, slow, idempotency_key="a")).body["id"]

        async def started() -> bool:
            current = await job(services, running)
            return current.status == JobStatus.RUNNING and current.log_lines >= 2

        await eventually(started)
        worker.popen.send_signal(signal.SIGTERM)
        wait_output(worker, "stopping: no new claims")
        late = (await services.jobs.schedule(who.user_id, other, idempotency_key="b")).body["id"]
        go.touch()
        assert worker.stop(timeout=30) == 0, worker.output()
    finally:
        worker.kill()
        worker.stop()
    done = await job(services, running)
    assert (done.status, done.attempts, done.exit_code) == (JobStatus.COMPLETED, 1, 0)
    assert (await job(services, late)).status == JobStatus.QUEUED
