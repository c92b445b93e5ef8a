"""The scheduler's passes: each step and each housekeeping task runs whatever the others did
(their failures made real: a missing table, a trigger refusing an update), and the loop goes on
without a reachable bus."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

import pytest

from hourglass.domain.common import FrozenClock
from hourglass.domain.jobs import JobStatus, LogState, RunResult
from hourglass.live import RedisBus
from hourglass.runtime.scheduler import Scheduler
from hourglass.services.container import Services
from hourglass.settings import Settings
from hourglass.store.db import Database
from tests.integration.engine_helpers import (
    built_workflow,
    eventually,
    fail_job_updates,
    job,
    jobs_of,
    principal,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def services(settings: Settings, db: Database, clock: FrozenClock) -> Services:
    return Services.build(settings, db, clock=clock)


async def test_a_failing_idempotency_prune_does_not_skip_the_log_sweep(
    services: Services, clock: FrozenClock
) -> None:
    """With the idempotency table gone the prune fails, and expired logs are still swept."""
    who = await principal(services)
    wid = await built_workflow(services, who, log_retention_days=1)
    await services.jobs.schedule(who.user_id, wid, idempotency_key="a")
    claim = await services.engine.claim_job("w")
    assert claim is not None
    await services.engine.finish(claim, RunResult.success())
    async with services.db.write() as tx:
        await tx.exec_driver_sql("ALTER TABLE idempotency_keys RENAME TO idempotency_keys_gone")
    clock.advance(days=2)
    with pytest.raises(Exception, match="idempotency_keys"):  # each engine words it its way
        await services.idempotency.prune()
    await Scheduler(services.engine, housekeeping=services.housekeeping()).housekeep()
    assert (await job(services, claim.job.id)).log_state == LogState.EXPIRED


async def test_a_failing_recovery_does_not_skip_scheduling(
    services: Services, clock: FrozenClock
) -> None:
    """A store refusing to recover an expired lease still lets the same pass create due jobs."""
    who = await principal(services)
    stuck = await built_workflow(services, who, interval=10080)
    await services.jobs.schedule(who.user_id, stuck, idempotency_key="a")
    assert await services.engine.claim_job("dead-worker") is not None
    due = await built_workflow(services, who, interval=1)
    await services.engine.schedule_due()  # computes its first slot
    await fail_job_updates(services, "OLD.status = 'RUNNING' AND NEW.lease_token IS NULL")
    clock.advance(minutes=1)
    await Scheduler(services.engine).tick()
    [running] = await jobs_of(services, stuck)
    assert running.status == JobStatus.RUNNING  # recovery failed
    [created] = await jobs_of(services, due)
    assert created.status == JobStatus.QUEUED  # scheduling went on


async def test_a_scheduler_whose_bus_is_unreachable_still_schedules(
    settings: Settings, db: Database, clock: FrozenClock
) -> None:
    """With Redis unreachable the scheduler polls instead of waiting: due slots become jobs."""
    bus = RedisBus("redis://127.0.0.1:9/0")  # the discard port: nothing listens there
    services = Services.build(
        dataclasses.replace(settings, poll_interval_seconds=0.1), db, clock=clock, bus=bus
    )
    who = await principal(services)
    wid = await built_workflow(services, who, interval=1)
    await services.engine.schedule_due()  # its first slot
    clock.advance(minutes=1)
    stop = asyncio.Event()
    running = asyncio.create_task(Scheduler(services.engine).run(stop))
    try:

        async def scheduled() -> bool:
            return len(await jobs_of(services, wid)) == 1

        await eventually(scheduled)
    finally:
        stop.set()
        await running
        await bus.close()
