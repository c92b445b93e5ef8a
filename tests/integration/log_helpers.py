"""Helpers for the job-log tests: real workflows and jobs made over HTTP and through the engine,
real workers, and direct reads of the stored chunks."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from hourglass.domain.jobs import LogState, RunResult
from hourglass.domain.logs.chunks import decode_chunk
from hourglass.domain.logs.lines import LogLine
from hourglass.runtime.kinds import kinds_for
from hourglass.runtime.worker import Worker
from hourglass.services.container import Services
from hourglass.services.engine import Claim
from hourglass.services.logs.writer import JobLog, LogOutputs
from hourglass.settings import Settings
from hourglass.store.schema import jobs, log_chunks
from tests.integration.workflow_helpers import create, key, set_workflow
from tests.support import UserClient

PYTHON = sys.executable


def command(script: str, **payload: Any) -> dict[str, Any]:
    """A COMMAND payload running `script` with this interpreter."""
    return {"cmd": [PYTHON, "-c", script], **payload}


async def built_workflow(
    user: UserClient, services: Services, payload: dict[str, Any] | None = None, **fields: Any
) -> str:
    """A COMMAND workflow created over HTTP, its build marked COMPLETED (no builder runs here)."""
    workflow_id = await create(user, "COMMAND", payload=payload or command("print('hi')"), **fields)
    await set_workflow(services.db, workflow_id, build_status="COMPLETED")
    return workflow_id


async def schedule(user: UserClient, workflow_id: str) -> str:
    response = await user.post(f"/workflows/{workflow_id}/jobs/schedule", headers=key())
    assert response.status_code == 201, response.text
    job_id: str = response.json()["id"]
    return job_id


async def claim(services: Services, job_id: str) -> Claim:
    """Claim `job_id` (made due now, so a retry's backoff does not hold the test up)."""
    async with services.db.write() as tx:
        await tx.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == "QUEUED")
            .values(available_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    got = await services.engine.claim_job("test-worker")
    assert got is not None
    assert got.job.id == job_id
    return got


async def running_job(
    user: UserClient, services: Services, payload: dict[str, Any] | None = None, **fields: Any
) -> Claim:
    """A job of a new COMMAND workflow, claimed (RUNNING under a lease) but not yet run."""
    workflow_id = await built_workflow(user, services, payload, **fields)
    return await claim(services, await schedule(user, workflow_id))


async def finish(services: Services, got: Claim, state: LogState, ok: bool = True) -> None:
    result = RunResult.success(0) if ok else RunResult.system_failure("worker lost")
    assert await services.engine.finish(got, result, state) is not None


def worker(services: Services, settings: Settings | None = None, **overrides: Any) -> Worker:
    """A real worker; with `overrides`, its log writer uses those settings."""
    outputs = services.logs.outputs
    if overrides or settings is not None:
        settings = dataclasses.replace(settings or services.settings, **overrides)
        outputs = LogOutputs(services.db, settings, services.clock, services.bus)
    return Worker(services.engine, kinds_for(services.settings), outputs, concurrency=1)


async def run_job(
    user: UserClient, services: Services, payload: dict[str, Any], **overrides: Any
) -> tuple[str, str]:
    """Run one COMMAND job to its end with a real worker; returns (workflow_id, job_id)."""
    workflow_id = await built_workflow(user, services, payload)
    got = await claim(services, await schedule(user, workflow_id))
    await worker(services, **overrides).run_claim(got)
    return workflow_id, got.job.id


async def stored_lines(services: Services, job_id: str) -> list[LogLine]:
    """Every stored line of the job, ascending, straight from its chunks."""
    async with services.db.read() as tx:
        rows = await tx.execute(
            select(log_chunks).where(log_chunks.c.job_id == job_id).order_by(log_chunks.c.first_seq)
        )
        return [
            line for r in rows for line in decode_chunk(r.first_seq, bytes(r.text), bytes(r.meta))
        ]


async def chunk_sizes(services: Services, job_id: str) -> list[tuple[int, int, int]]:
    """(first_seq, last_seq, text bytes) of each stored chunk, ascending."""
    async with services.db.read() as tx:
        rows = await tx.execute(
            select(log_chunks.c.first_seq, log_chunks.c.last_seq, log_chunks.c.text)
            .where(log_chunks.c.job_id == job_id)
            .order_by(log_chunks.c.first_seq)
        )
        return [(r.first_seq, r.last_seq, len(r.text)) for r in rows]


async def chunk_rows(services: Services, job_id: str) -> list[tuple[int, int, int, int]]:
    """(first_seq, last_seq, byte_offset, text bytes) of each stored chunk, ascending."""
    async with services.db.read() as tx:
        rows = await tx.execute(
            select(log_chunks).where(log_chunks.c.job_id == job_id).order_by(log_chunks.c.first_seq)
        )
        return [(r.first_seq, r.last_seq, r.byte_offset, len(r.text)) for r in rows]


@asynccontextmanager
async def wakeups(
    services: Services, job_id: str
) -> AsyncIterator[Callable[[int], Awaitable[None]]]:
    """`await until(seq)` returns once the bus says lines up to `seq` of the job are stored."""
    async with services.bus.subscribe(job_id) as sub:

        async def until(seq: int) -> None:
            async with asyncio.timeout(30):
                while sub.last_seq < seq:
                    await sub.wait(30)

        yield until


class ManualTimer:
    """A flush timer the test releases by hand: the writer's `sleep` waits for `release()`."""

    def __init__(self) -> None:
        self.waiting = 0
        self._go = asyncio.Event()

    async def sleep(self, _seconds: float) -> None:
        self.waiting += 1
        await self._go.wait()
        self._go.clear()

    def release(self) -> None:
        self._go.set()


def manual_outputs(services: Services, timer: ManualTimer, **overrides: Any) -> LogOutputs:
    settings = dataclasses.replace(services.settings, **overrides)
    return LogOutputs(services.db, settings, services.clock, services.bus, sleep=timer.sleep)


async def open_log(outputs: LogOutputs, got: Claim, token: str | None = None) -> JobLog:
    return await outputs.open(got.job, got.spec, token or got.token)


def lines_json(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    logs: list[dict[str, Any]] = response.json()["logs"]
    return logs


async def written_log(
    user: UserClient,
    services: Services,
    messages: list[tuple[str, str]],
    *,
    chunk_lines: int = 37,
    finished: bool = True,
    **fields: Any,
) -> Claim:
    """A job whose log is `messages` ((stream, message) each), stored in chunks of
    `chunk_lines` lines; finished (COMPLETED) unless told otherwise."""
    got = await running_job(user, services, **fields)
    out = await services.logs.outputs.open(got.job, got.spec, got.token)
    for i, (stream, message) in enumerate(messages, 1):
        await out.write(stream, message.encode() + b"\n")
        if i % chunk_lines == 0:
            await out.flush()
    if finished:
        await finish(services, got, await out.close())
    else:
        await out.flush()
    return got


def numbered(n: int, every_stderr: int = 3) -> list[tuple[str, str]]:
    """`n` lines "line 1".."line n"; every `every_stderr`-th one on stderr."""
    return [("stderr" if i % every_stderr == 0 else "stdout", f"line {i}") for i in range(1, n + 1)]
