"""A real worker when the store or the bus misbehave: store failures at finish and at renewal
(made by real database triggers), a lease kept alive through a slow finish, renewals that do not
follow every log wake-up, and a Redis that cannot be reached."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from hourglass.domain.common import FrozenClock
from hourglass.domain.jobs import JobStatus
from hourglass.live import RedisBus
from hourglass.services.container import Services
from hourglass.settings import Settings
from hourglass.store.db import Database
from hourglass.store.schema import jobs, workflows
from tests.integration.engine_helpers import (
    RENEWAL,
    built_workflow,
    count_renewals,
    eventually,
    fail_job_updates,
    job,
    principal,
    renewals_of,
    serving,
    wait_job,
)
from tests.integration.log_helpers import stored_lines

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
FINAL = {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED}


def quick(settings: Settings, lease: float = 1.0, renew: float = 0.2) -> Settings:
    """Short leases, polls and grace periods."""
    return dataclasses.replace(
        settings,
        lease_seconds=lease,
        lease_renew_seconds=renew,
        poll_interval_seconds=0.1,
        shutdown_grace_seconds=0.5,
        kill_grace_seconds=0.5,
    )


async def test_a_store_failure_at_finish_neither_kills_the_worker_nor_sticks_the_job(
    settings: Settings, db: Database
) -> None:
    """A refused finish is retried or, failing that, recovered; the worker serves on."""
    # PostgreSQL answers "connection failure" twice: the retry completes attempt 1. SQLite aborts
    # every time: the job is recovered once its lease runs out, and attempt 2 completes.
    services = Services.build(quick(settings), db)
    who = await principal(services)
    wid = await built_workflow(services, who, payload={"cmd": ["echo", "one"]})
    later = await built_workflow(services, who, payload={"cmd": ["echo", "two"]})
    await fail_job_updates(
        services,
        "OLD.status = 'RUNNING' AND NEW.status = 'COMPLETED' AND OLD.attempts = 1",
        times=2,
    )
    async with serving(services) as worker:
        first = (await services.jobs.schedule(who.user_id, wid, idempotency_key="a")).body["id"]
        done = await wait_job(services, first, FINAL)
        second = (await services.jobs.schedule(who.user_id, later, idempotency_key="b")).body["id"]
        assert (await wait_job(services, second, FINAL)).status == JobStatus.COMPLETED
        assert not worker.done()
    assert done.status == JobStatus.COMPLETED
    assert done.attempts == (1 if services.db.is_postgres else 2)


async def test_a_lease_that_ran_out_unrenewed_stops_the_run_and_writes_nothing_more(
    settings: Settings, db: Database
) -> None:
    """Renewals failing past the lease's expiry stop the run, and nothing more is written."""
    # stopped: the only slot runs the next job; nothing more: no last line, no finish
    clock = FrozenClock(T0)
    services = Services.build(quick(settings, lease=30.0), db, clock=clock)
    who = await principal(services)
    sleeper = await built_workflow(services, who, payload={"cmd": ["sleep", "300"]})
    echo = await built_workflow(services, who, payload={"cmd": ["echo", "next"]})
    async with serving(services, concurrency=1):
        stuck = (await services.jobs.schedule(who.user_id, sleeper, idempotency_key="a")).body
        await wait_job(services, stuck["id"], {JobStatus.RUNNING})

        async def started() -> bool:
            return (await job(services, stuck["id"])).log_lines == 1

        await eventually(started)
        renewals = f"OLD.id = '{stuck['id']}' AND {RENEWAL}"
        await fail_job_updates(services, renewals, columns="lease_expires_at")
        clock.advance(seconds=services.settings.lease_seconds + 1)
        nxt = (await services.jobs.schedule(who.user_id, echo, idempotency_key="b")).body["id"]
        assert (await wait_job(services, nxt, FINAL)).status == JobStatus.COMPLETED
    lost = await job(services, stuck["id"])
    assert lost.attempts == 1
    assert lost.status in {JobStatus.RUNNING, JobStatus.QUEUED}  # QUEUED: recovered since
    lines = [line.message for line in await stored_lines(services, lost.id)]
    assert lines == ["attempt 1 started on test-worker (manual run)"]


@pytest.mark.parametrize("engine_name", ["postgres"], indirect=True)
async def test_the_lease_is_renewed_until_finish_returns(
    settings: Settings, db: Database, database_url: str
) -> None:
    """A finish held up past the lease it began with keeps the lease renewed, and completes."""
    # held up by a lock on the workflow's row, which finish takes first
    clock = FrozenClock(T0)
    fast_renewal = quick(settings, lease=30.0, renew=0.05)
    services = Services.build(fast_renewal, db, clock=clock)
    who = await principal(services)
    wid = await built_workflow(services, who, payload={"cmd": ["echo", "hi"]})
    job_id = (await services.jobs.schedule(who.user_id, wid, idempotency_key="a")).body["id"]
    blocker = Database.connect(database_url)
    # the lock is taken before the worker starts (`echo hi` could otherwise finish first) and
    # let go before the worker stops (which waits for the finish the lock holds up)
    holding = blocker.write()
    tx = await holding.__aenter__()
    try:
        await tx.execute(select(workflows.c.id).where(workflows.c.id == wid).with_for_update())
        async with serving(services):
            await eventually(lambda: _someone_waits_on_a_lock(services))
            clock.advance(seconds=services.settings.lease_seconds + 1)
            renewed = clock.now() + timedelta(seconds=services.settings.lease_seconds)

            async def lease_renewed() -> bool:
                return (await job(services, job_id)).lease_expires_at == renewed

            await eventually(lease_renewed)
            assert await services.engine.recover_expired() == 0
            held, holding = holding, None
            await held.__aexit__(None, None, None)
            done = await wait_job(services, job_id, FINAL)
    finally:
        if holding is not None:
            await holding.__aexit__(None, None, None)
        await blocker.close()
    assert (done.status, done.attempts) == (JobStatus.COMPLETED, 1)


async def _someone_waits_on_a_lock(services: Services) -> bool:
    async with services.db.read() as tx:
        waiting = await tx.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return bool(waiting.scalar_one())


async def test_log_wakeups_after_a_cancel_do_not_renew_the_lease(
    settings: Settings, db: Database
) -> None:
    """A cancel renews the lease once, not again at every log wake-up that follows it."""
    services = Services.build(quick(settings, lease=30.0, renew=10.0), db)
    await count_renewals(services)
    who = await principal(services)
    script = 'trap "" TERM; while :; do echo tick; sleep 0.05; done'
    wid = await built_workflow(services, who, payload={"cmd": ["sh", "-c", script]})
    async with serving(services):
        job_id = (await services.jobs.schedule(who.user_id, wid, idempotency_key="a")).body["id"]
        await wait_job(services, job_id, {JobStatus.RUNNING})

        async def ticking() -> bool:
            return (await job(services, job_id)).log_lines >= 3

        await eventually(ticking)
        await services.jobs.cancel(who.user_id, wid, job_id)
        done = await wait_job(services, job_id, FINAL)
    assert done.status == JobStatus.CANCELED
    assert done.log_lines > 5  # it kept writing through the kill grace period
    assert await renewals_of(services, job_id) == 1


async def test_a_worker_whose_bus_is_unreachable_still_runs_jobs(
    settings: Settings, db: Database
) -> None:
    """With Redis unreachable the worker polls instead of waiting on wake-ups: a job completes."""
    bus = RedisBus("redis://127.0.0.1:9/0")  # the discard port: nothing listens there
    services = Services.build(quick(settings), db, bus=bus)
    try:
        who = await principal(services)
        wid = await built_workflow(services, who, payload={"cmd": ["echo", "hi"]})
        async with serving(services):
            job_id = (await services.jobs.schedule(who.user_id, wid, idempotency_key="a")).body
            job_id = job_id["id"]

            async def finished() -> bool:  # no wake-ups on a dead bus: re-read the store
                return (await job(services, job_id)).status in FINAL

            await eventually(finished)
    finally:
        await bus.close()
    assert (await job(services, job_id)).status == JobStatus.COMPLETED


@pytest.mark.parametrize("engine_name", ["postgres"], indirect=True)
async def test_a_renewal_hung_past_the_lease_counts_as_failed(
    settings: Settings, db: Database, database_url: str
) -> None:
    """A renewal stuck (on a locked job row) until the lease ran out stops the run all the same."""
    services = Services.build(quick(settings), db)
    who = await principal(services)
    sleeper = await built_workflow(services, who, payload={"cmd": ["sleep", "300"]})
    echo = await built_workflow(services, who, payload={"cmd": ["echo", "next"]})
    blocker = Database.connect(database_url)
    try:
        async with serving(services, concurrency=1):
            stuck = (await services.jobs.schedule(who.user_id, sleeper, idempotency_key="a")).body

            async def started() -> bool:
                return (await job(services, stuck["id"])).log_lines == 1

            await eventually(started)
            async with blocker.write() as tx:
                await tx.execute(
                    select(jobs.c.id).where(jobs.c.id == stuck["id"]).with_for_update()
                )
                nxt = (await services.jobs.schedule(who.user_id, echo, idempotency_key="b")).body
                assert (await wait_job(services, nxt["id"], FINAL)).status == JobStatus.COMPLETED
    finally:
        await blocker.close()
    lines = [line.message for line in await stored_lines(services, stuck["id"])]
    assert lines == ["attempt 1 started on test-worker (manual run)"]
