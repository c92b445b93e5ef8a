"""The `system` lines a real worker writes into a job's stored log: why each attempt started and
how it ended, after every line of the workload."""

from __future__ import annotations

import asyncio

from hourglass.domain.jobs import JobStatus, RunResult
from hourglass.domain.logs.lines import LogLine, Stream
from hourglass.services.container import Services
from tests.integration.log_helpers import (
    built_workflow,
    claim,
    command,
    run_job,
    schedule,
    stored_lines,
    worker,
)
from tests.support import UserClient


def system_lines(lines: list[LogLine]) -> list[str]:
    return [line.message for line in lines if line.stream == Stream.SYSTEM]


async def test_a_manual_run_says_so_and_ends_with_its_exit_code(
    alice: UserClient, services: Services
) -> None:
    """Attempt 1 of a manual run starts with "(manual run)" and ends "exited with code 0"."""
    _, job_id = await run_job(alice, services, command("print('hi')"))
    lines = await stored_lines(services, job_id)
    assert lines[0].message.startswith("attempt 1 started on ")
    assert lines[0].message.endswith(" (manual run)")
    assert [line.message for line in lines[1:]] == ["hi", "exited with code 0"]


async def test_an_unfinished_last_line_comes_before_the_exit_line(
    alice: UserClient, services: Services
) -> None:
    """A final line without a newline is stored before the exit line, stamped when it was read."""
    script = "import sys; sys.stdout.write('one\\nlast words'); sys.exit(3)"
    _, job_id = await run_job(alice, services, command(script))
    lines = await stored_lines(services, job_id)
    assert [line.message for line in lines[1:]] == [
        "one",
        "last words",
        "failed: exited with code 3",
    ]
    assert lines[2].ts_us <= lines[3].ts_us


async def test_a_failed_command_names_its_exit_code_once(
    alice: UserClient, services: Services
) -> None:
    """A non-zero exit ends the log with one line naming the exit code, not two."""
    _, job_id = await run_job(alice, services, command("raise SystemExit(7)"))
    last = (await stored_lines(services, job_id))[-1]
    assert (last.stream, last.message) == (Stream.SYSTEM, "failed: exited with code 7")


async def test_a_timeout_is_said_when_it_happens_and_at_the_end(
    alice: UserClient, services: Services
) -> None:
    """A timed-out command logs the timeout as it stops the group, then the failure."""
    payload = command("import time; print('started', flush=True); time.sleep(60)", timeout="1s")
    _, job_id = await run_job(alice, services, payload)
    assert system_lines(await stored_lines(services, job_id))[1:] == [
        "timed out after 1s; stopping the process group",
        "failed: timed out after 1s",
    ]


async def test_a_canceled_run_ends_with_canceled_by_request(
    alice: UserClient, services: Services
) -> None:
    """Canceling a running command ends its log with "canceled by request"."""
    workflow_id = await built_workflow(
        alice, services, command("import time; print('up', flush=True); time.sleep(60)")
    )
    got = await claim(services, await schedule(alice, workflow_id))
    running = asyncio.create_task(worker(services).run_claim(got))
    async with services.bus.subscribe(got.job.id) as feed, asyncio.timeout(30):
        while not [
            line for line in await stored_lines(services, got.job.id) if line.sequence_num > 1
        ]:
            await feed.wait(1.0)
    await services.jobs.cancel(got.job.user_id, workflow_id, got.job.id)
    async with asyncio.timeout(30):
        await running
    assert system_lines(await stored_lines(services, got.job.id))[-1] == "canceled by request"


async def test_a_retry_says_why_it_runs_again(alice: UserClient, services: Services) -> None:
    """Attempt 2 starts with a line giving the system failure that ended attempt 1."""
    workflow_id = await built_workflow(alice, services, command("print('again')"))
    job_id = await schedule(alice, workflow_id)
    first = await claim(services, job_id)
    retried = await services.engine.finish(first, RunResult.system_failure("worker lost"))
    assert retried is not None
    assert retried.status == JobStatus.QUEUED
    await worker(services).run_claim(await claim(services, job_id))
    starts = [m for m in system_lines(await stored_lines(services, job_id)) if "started" in m]
    assert len(starts) == 1  # attempt 1 was claimed by hand here, so only attempt 2 wrote one
    assert starts[0].startswith("attempt 2 started on ")
    assert "(retry after: system failure: worker lost" in starts[0]
