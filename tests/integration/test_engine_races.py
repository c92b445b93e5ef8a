"""Concurrency on PostgreSQL, over several connection pools: no deadlock between the engine's
transactions (one lock order: a workflow's row before its jobs), a deadlock victim is run again,
and one active job per workflow in FIFO order while schedules, claims, finishes, promotions and
cancels race."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import update

from hourglass.domain.jobs import Job, JobStatus, RunResult
from hourglass.services.container import Services
from hourglass.settings import Settings
from hourglass.store.db import Database, Tx
from hourglass.store.schema import workflows
from tests.conftest import build_services
from tests.integration.engine_helpers import built_workflow, jobs_of, principal, workflow_row

pytestmark = pytest.mark.parametrize("engine_name", ["postgres"], indirect=True)


@pytest.fixture
async def others(settings: Settings, database_url: str) -> AsyncIterator[list[Services]]:
    """Two more processes' worth of services: each with its own connection pool."""
    dbs = [Database.connect(database_url) for _ in range(2)]
    try:
        yield [build_services(settings, db) for db in dbs]
    finally:
        for db in dbs:
            await db.close()


def retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]


async def test_terminate_racing_a_finish_never_deadlocks(
    services: Services, others: list[Services], caplog: pytest.LogCaptureFixture
) -> None:
    """Terminate against the finish of its running job, 30 times: no deadlock, no retry needed."""
    caplog.set_level(logging.WARNING, logger="hourglass.store")
    who = await principal(services)
    for n in range(30):
        wid = await built_workflow(services, who, max_consecutive_job_failures_allowed=1)
        await services.jobs.schedule(who.user_id, wid, idempotency_key=f"run{n}")
        await services.jobs.schedule(who.user_id, wid, idempotency_key=f"next{n}")
        claim = await services.engine.claim_job("w")
        assert claim is not None
        await asyncio.gather(
            services.engine.finish(claim, RunResult.workload_failure("exited with code 1", 1)),
            others[0].workflows.terminate(who, wid),
        )
        first, second = await jobs_of(services, wid)
        assert (first.status, second.status) == (JobStatus.FAILED, JobStatus.CANCELED)
        assert (await workflow_row(services, wid)).terminated_at is not None
    assert retries(caplog) == []


async def test_a_deadlock_victim_is_run_again(
    services: Services, others: list[Services], caplog: pytest.LogCaptureFixture
) -> None:
    """Two transactions locking two rows in opposite orders both commit: the victim is re-run."""
    caplog.set_level(logging.WARNING, logger="hourglass.store")
    who = await principal(services)
    a, b = [await built_workflow(services, who) for _ in range(2)]
    locked = {a: asyncio.Event(), b: asyncio.Event()}
    runs = {a: 0, b: 0}

    def crossing(first: str, second: str) -> Callable[[Tx], Awaitable[None]]:
        async def work(tx: Tx) -> None:
            runs[first] += 1
            await tx.execute(update(workflows).where(workflows.c.id == first).values(name=first))
            locked[first].set()
            await locked[second].wait()
            await tx.execute(update(workflows).where(workflows.c.id == second).values(name=first))

        return work

    await asyncio.gather(
        services.db.write_retrying(crossing(a, b)),
        others[0].db.write_retrying(crossing(b, a)),
    )
    assert sorted(runs.values()) == [1, 2]
    assert len(retries(caplog)) == 1


@dataclass
class Ledger:
    """What the racing claimers saw: who runs a job of each workflow, and the claim order."""

    running: dict[str, str] = field(default_factory=dict)
    claimed: dict[str, list[str]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    finished: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


async def claimer(services: Services, ledger: Ledger, done: asyncio.Event) -> None:
    """Claim, run (one real lease renewal, during which the others go on), finish; repeat."""
    while not done.is_set():
        claim = await services.engine.claim_job("racer")
        if claim is None:
            await asyncio.sleep(0)  # let the other racers run; nothing is waited for
            continue
        wid = claim.job.workflow_id
        if wid in ledger.running:
            ledger.violations.append(f"{claim.job.id} claimed while {ledger.running[wid]} runs")
        ledger.running[wid] = claim.job.id
        ledger.claimed.setdefault(wid, []).append(claim.job.id)
        assert (await services.engine.renew(claim)).held
        del ledger.running[wid]  # from here on the job may end at any moment
        assert await services.engine.finish(claim, RunResult.success()) is not None
        ledger.finished += 1
        ledger.changed.set()


async def test_one_active_job_per_workflow_while_everything_races(
    services: Services, others: list[Services], caplog: pytest.LogCaptureFixture
) -> None:
    """Racing schedules, claims, finishes and cancels keep one active job per workflow, in order."""
    caplog.set_level(logging.WARNING, logger="hourglass.store")
    pools = [services, *others]
    who = await principal(services)
    wids = [await built_workflow(services, who) for _ in range(3)]
    ledger, done = Ledger(), asyncio.Event()
    canceled: list[str] = []

    async def scheduler(pool: Services, n: int) -> None:
        for i in range(8):
            for wid in wids:
                reply = await pool.jobs.schedule(who.user_id, wid, idempotency_key=f"{n}{i}{wid}")
                if i % 4 != 3:
                    continue
                # cancel some: at once while they wait, by request when already running
                job = await pool.jobs.cancel(who.user_id, wid, reply.body["id"])
                if job.status == JobStatus.CANCELED:
                    canceled.append(job.id)
            await pool.engine.promote_due()
            await pool.engine.schedule_due()

    racers = [asyncio.create_task(claimer(p, ledger, done)) for p in [*pools, services]]
    await asyncio.gather(*(scheduler(p, n) for n, p in enumerate(pools)))
    expected = len(pools) * 8 * len(wids) - len(canceled)
    async with asyncio.timeout(60):
        while ledger.finished < expected:
            ledger.changed.clear()
            await ledger.changed.wait()
    done.set()
    await asyncio.gather(*racers)
    assert ledger.violations == []
    for wid in wids:
        jobs = await jobs_of(services, wid)
        assert {j.status for j in jobs} <= {JobStatus.COMPLETED, JobStatus.CANCELED}
        ran = sorted((j for j in jobs if j.status == JobStatus.COMPLETED), key=_fifo)
        assert ledger.claimed.get(wid, []) == [j.id for j in ran]
    assert retries(caplog) == []


def _fifo(job: Job) -> tuple[object, str]:
    return (job.scheduled_at, job.id)
