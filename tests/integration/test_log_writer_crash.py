"""A worker process killed with SIGKILL mid-job loses no line it had already reported, also
past the job's cap."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hourglass.domain.logs.lines import Stream
from hourglass.live import RedisBus
from hourglass.services.container import Services
from tests.e2e.processes import Process, base_env
from tests.integration.log_helpers import built_workflow, command, schedule, stored_lines
from tests.support import UserClient, redis_url, require

FOREVER = (
    "import time\n"
    "i = 0\n"
    "while True:\n"
    "    i += 1\n"
    "    print(f'line {i}', flush=True)\n"
    "    time.sleep(0.002)\n"
)


async def run_until_killed(
    user: UserClient,
    services: Services,
    database_url: str,
    tmp_path: Path,
    lines: int,
    **env: str,
) -> tuple[str, int]:
    """A `hourglass worker` process runs FOREVER until the bus announced `lines` stored lines,
    then is killed with SIGKILL; (job id, the last sequence number announced)."""
    url = redis_url()
    require("Redis", url is not None, "HOURGLASS_TEST_REDIS_URL is not set")
    assert url is not None
    workflow_id = await built_workflow(user, services, command(FOREVER))
    variables = base_env(
        HOURGLASS_DATABASE_URL=database_url,
        HOURGLASS_REDIS_URL=url,
        HOURGLASS_DATA_DIR=str(tmp_path / "worker"),
        HOURGLASS_POLL_INTERVAL_SECONDS="0.2",
        HOURGLASS_WORKER_CONCURRENCY="1",
        **env,
    )
    bus = RedisBus(url)
    worker = Process(["worker"], variables, tmp_path / "worker.log")
    try:
        job_id = await schedule(user, workflow_id)
        async with bus.subscribe(job_id) as sub, asyncio.timeout(60):
            while sub.last_seq < lines:
                await sub.wait(60)
            reported = sub.last_seq
            worker.kill()
    finally:
        worker.kill()
        worker.stop()
        await bus.close()
    return job_id, reported


async def test_a_killed_worker_loses_no_reported_line(
    alice: UserClient, services: Services, database_url: str, tmp_path: Path
) -> None:
    """Every line announced on the bus before the worker died is in the store, numbered 1..N."""
    job_id, reported = await run_until_killed(alice, services, database_url, tmp_path, 300)
    lines = await stored_lines(services, job_id)
    assert len(lines) >= reported
    assert [ln.sequence_num for ln in lines] == list(range(1, len(lines) + 1))
    assert lines[0].stream is Stream.SYSTEM
    assert lines[0].message.startswith("attempt 1 started")
    assert [ln.message for ln in lines[1:]] == [f"line {i}" for i in range(1, len(lines))]


async def test_a_worker_killed_past_the_cap_loses_no_reported_line(
    alice: UserClient, services: Services, database_url: str, tmp_path: Path
) -> None:
    """Killed well past a 4000-byte cap: head 1..H, one omission line at H + 1, then every line
    from the first one kept up to the last one announced, under its own number."""
    job_id, reported = await run_until_killed(
        alice, services, database_url, tmp_path, 1200, HOURGLASS_LOG_JOB_CAP_BYTES="4000"
    )
    lines = await stored_lines(services, job_id)
    omission = [ln for ln in lines if ln.stream is Stream.SYSTEM and "omitted" in ln.message]
    assert len(omission) == 1
    at = lines.index(omission[0])
    assert [ln.sequence_num for ln in lines[:at]] == list(range(1, at + 1))
    assert omission[0].sequence_num == at + 1
    tail = lines[at + 1 :]
    assert [ln.sequence_num for ln in tail] == list(
        range(tail[0].sequence_num, len(tail) + tail[0].sequence_num)
    )
    assert tail[-1].sequence_num >= reported
    assert all(ln.message == f"line {ln.sequence_num - 1}" for ln in lines[1:at] + tail)
