"""A worker process killed with SIGKILL mid-job loses no line it had already reported."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hourglass.domain.logs import Stream
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


async def test_a_killed_worker_loses_no_reported_line(
    alice: UserClient, services: Services, database_url: str, tmp_path: Path
) -> None:
    """Every line announced on the bus before the worker died is in the store, numbered 1..N."""
    url = redis_url()
    require("Redis", url is not None, "HOURGLASS_TEST_REDIS_URL is not set")
    assert url is not None
    workflow_id = await built_workflow(alice, services, command(FOREVER))
    env = base_env(
        HOURGLASS_DATABASE_URL=database_url,
        HOURGLASS_REDIS_URL=url,
        HOURGLASS_DATA_DIR=str(tmp_path / "worker"),
        HOURGLASS_POLL_INTERVAL_SECONDS="0.2",
        HOURGLASS_WORKER_CONCURRENCY="1",
    )
    bus = RedisBus(url)
    worker = Process(["worker"], env, tmp_path / "worker.log")
    try:
        job_id = await schedule(alice, workflow_id)
        async with bus.subscribe(job_id) as sub, asyncio.timeout(60):
            while sub.last_seq < 300:
                await sub.wait(60)
            reported = sub.last_seq
            worker.kill()
    finally:
        worker.kill()
        worker.stop()
        await bus.close()
    lines = await stored_lines(services, job_id)
    assert len(lines) >= reported
    assert [ln.sequence_num for ln in lines] == list(range(1, len(lines) + 1))
    assert lines[0].stream is Stream.SYSTEM
    assert lines[0].message.startswith("attempt 1 started")
    assert [ln.message for ln in lines[1:]] == [f"line {i}" for i in range(1, len(lines))]
