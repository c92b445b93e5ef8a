"""The engine's rules on a real store with a frozen clock: builds, slots, one active job per
workflow, leases and fencing, retries, failure threshold, cancel."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from hourglass.domain.common import FrozenClock
from hourglass.domain.jobs import BuildStatus, JobStatus, LogState, RunResult, Trigger
from hourglass.services.accounts import Principal
from hourglass.services.container import Services
from hourglass.settings import Settings
from hourglass.store.db import Database
from hourglass.store.logs.reads import chunks_after
from hourglass.store.schema import jobs, workflows
from tests.integration.engine_helpers import (
    build_all,
    built_workflow,
    create_workflow,
    jobs_of,
    principal,
    workflow_row,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def services(settings: Settings, db: Database, clock: FrozenClock) -> Services:
    return Services.build(settings, db, clock=clock)


async def test_build_completes_and_first_slot_follows(
    services: Services, clock: FrozenClock
) -> None:
    """A new workflow builds QUEUED → STARTED → COMPLETED, then gets its first slot after now."""
    who = await principal(services)
    wid = await create_workflow(services, who, interval=5)
    task = await services.engine.claim_build()
    assert task is not None
    assert (await workflow_row(services, wid)).build_status == BuildStatus.STARTED
    assert await services.engine.finish_build(task, None)
    assert (await workflow_row(services, wid)).build_status == BuildStatus.COMPLETED
    await services.engine.schedule_due()
    assert (await workflow_row(services, wid)).next_run_at == T0 + timedelta(minutes=5)


async def test_failed_build_records_reason(services: Services) -> None:
    """A build that fails leaves FAILED with its reason, and nothing is scheduled."""
    who = await principal(services)
    wid = await create_workflow(services, who)
    await build_all(services, error="program not found: nope")
    row = await workflow_row(services, wid)
    assert (row.build_status, row.build_reason) == (BuildStatus.FAILED, "program not found: nope")
    assert await services.engine.schedule_due() == 0


async def test_stale_build_never_overwrites_newer_generation(services: Services) -> None:
    """A build that finishes after the payload changed is discarded; the new one is QUEUED."""
    who = await principal(services)
    wid = await create_workflow(services, who)
    task = await services.engine.claim_build()
    assert task is not None
    body = {
        "name": "changed",
        "kind": "COMMAND",
        "payload": '{"cmd": ["echo", "changed"]}',
        "interval": 1,
    }
    await services.workflows.update(who, wid, body, idempotency_key="k-update")
    assert not await services.engine.finish_build(task, None)
    row = await workflow_row(services, wid)
    assert (row.build_status, row.generation) == (BuildStatus.QUEUED, 2)


async def test_due_slot_creates_one_queued_automatic_job(
    services: Services, clock: FrozenClock
) -> None:
    """When the slot comes, one AUTOMATIC job for exactly that slot is created and queued."""
    who = await principal(services)
    wid = await built_workflow(services, who, interval=5)
    await services.engine.schedule_due()
    clock.advance(minutes=5)
    assert await services.engine.schedule_due() == 1
    [job] = await jobs_of(services, wid)
    assert (job.status, job.trigger, job.slot_at) == (
        JobStatus.QUEUED,
        Trigger.AUTOMATIC,
        T0 + timedelta(minutes=5),
    )
    assert (await workflow_row(services, wid)).next_run_at == T0 + timedelta(minutes=10)


async def test_missed_slots_coalesce_into_one_catch_up(
    services: Services, clock: FrozenClock
) -> None:
    """After three days down, a 1-minute schedule runs once, for the latest missed slot."""
    who = await principal(services)
    wid = await built_workflow(services, who, interval=1)
    await services.engine.schedule_due()
    clock.advance(days=3, seconds=30)
    assert await services.engine.schedule_due() == 1
    assert await services.engine.schedule_due() == 0
    [job] = await jobs_of(services, wid)
    assert job.slot_at == T0 + timedelta(days=3)


async def test_cron_schedule_slots(services: Services, clock: FrozenClock) -> None:
    """A cron workflow's slots follow the expression in UTC."""
    who = await principal(services)
    wid = await built_workflow(services, who, interval=None, cron="30 * * * *")
    await services.engine.schedule_due()
    assert (await workflow_row(services, wid)).next_run_at == T0.replace(minute=30)
    clock.set(T0.replace(minute=31))
    await services.engine.schedule_due()
    [job] = await jobs_of(services, wid)
    assert job.slot_at == T0.replace(minute=30)


async def test_one_active_job_per_workflow_and_fifo(services: Services) -> None:
    """A second run waits PENDING behind the first and is queued when the first ends."""
    who = await principal(services)
    wid = await built_workflow(services, who)
    first = (await services.jobs.schedule(who.user_id, wid, idempotency_key="a")).body["id"]
    second = (await services.jobs.schedule(who.user_id, wid, idempotency_key="b")).body["id"]
    by_id = {j.id: j for j in await jobs_of(services, wid)}
    assert (by_id[first].status, by_id[second].status) == (JobStatus.QUEUED, JobStatus.PENDING)
    claim = await services.engine.claim_job("w1")
    assert claim is not None
    assert claim.job.id == first
    assert await services.engine.claim_job("w2") is None
    await services.engine.finish(claim, RunResult.success())
    by_id = {j.id: j for j in await jobs_of(services, wid)}
    assert (by_id[first].status, by_id[second].status) == (JobStatus.COMPLETED, JobStatus.QUEUED)


async def test_stale_worker_cannot_finish_after_lease_expired(
    services: Services, clock: FrozenClock
) -> None:
    """Once a lease expired and the job was recovered, the old worker's finish is rejected."""
    who = await principal(services)
    wid = await built_workflow(services, who)
    await services.jobs.schedule(who.user_id, wid, idempotency_key="a")
    stale = await services.engine.claim_job("w1")
    assert stale is not None
    clock.advance(seconds=services.settings.lease_seconds + 1)
    assert await services.engine.recover_expired() == 1
    [job] = await jobs_of(services, wid)
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 1)
    assert await services.engine.finish(stale, RunResult.success()) is None
    assert not (await services.engine.renew(stale)).held
    clock.advance(seconds=60)
    fresh = await services.engine.claim_job("w2")
    assert fresh is not None
    assert fresh.job.attempts == 2
    done = await services.engine.finish(fresh, RunResult.success())
    assert done is not None
    assert done.status == JobStatus.COMPLETED


async def test_system_failures_retry_three_attempts_then_fail(
    services: Services, clock: FrozenClock
) -> None:
    """System failures re-queue with backoff; the third one fails the job for good."""
    who = await principal(services)
    wid = await built_workflow(services, who)
    await services.jobs.schedule(who.user_id, wid, idempotency_key="a")
    for attempt in (1, 2, 3):
        claim = await services.engine.claim_job("w")
        assert claim is not None
        assert claim.job.attempts == attempt
        job = await services.engine.finish(claim, RunResult.system_failure("runtime unavailable"))
        assert job is not None
        if attempt < 3:
            assert job.status == JobStatus.QUEUED
            assert await services.engine.claim_job("w") is None  # backoff: not yet due
            clock.advance(seconds=61)
    assert job.status == JobStatus.FAILED
    assert job.failure_reason == "system failure: runtime unavailable (attempt 3 of 3)"


async def test_workload_failure_is_not_retried(services: Services) -> None:
    """A non-zero exit fails the job at once, with its exit code and reason."""
    who = await principal(services)
    wid = await built_workflow(services, who)
    await services.jobs.schedule(who.user_id, wid, idempotency_key="a")
    claim = await services.engine.claim_job("w")
    assert claim is not None
    job = await services.engine.finish(claim, RunResult.workload_failure("exited with code 3", 3))
    assert job is not None
    assert (job.status, job.attempts, job.exit_code) == (JobStatus.FAILED, 1, 3)
    assert job.failure_reason == "exited with code 3"


async def test_consecutive_failures_terminate_the_workflow(services: Services) -> None:
    """`max_consecutive_job_failures_allowed` failures in a row terminate the workflow."""
    who = await principal(services)
    wid = await built_workflow(services, who, max_consecutive_job_failures_allowed=2)
    for n in range(2):
        await services.jobs.schedule(who.user_id, wid, idempotency_key=f"k{n}")
        claim = await services.engine.claim_job("w")
        assert claim is not None
        await services.engine.finish(claim, RunResult.workload_failure("exited with code 1", 1))
    row = await workflow_row(services, wid)
    assert row.consecutive_job_failures_count == 2
    assert row.terminated_at is not None


async def test_success_resets_the_failure_count(services: Services) -> None:
    """A completed job resets the consecutive-failure count to zero."""
    who = await principal(services)
    wid = await built_workflow(services, who, max_consecutive_job_failures_allowed=3)
    for n, result in enumerate([RunResult.workload_failure("x", 1), RunResult.success()]):
        await services.jobs.schedule(who.user_id, wid, idempotency_key=f"k{n}")
        claim = await services.engine.claim_job("w")
        assert claim is not None
        await services.engine.finish(claim, result)
    assert (await workflow_row(services, wid)).consecutive_job_failures_count == 0


async def test_cancel_queued_job_is_immediate(services: Services) -> None:
    """Canceling a QUEUED job makes it CANCELED at once; a second cancel is a conflict."""
    from hourglass.errors import Conflict

    who = await principal(services)
    wid = await built_workflow(services, who)
    jid = (await services.jobs.schedule(who.user_id, wid, idempotency_key="a")).body["id"]
    job = await services.jobs.cancel(who.user_id, wid, jid)
    assert job.status == JobStatus.CANCELED
    with pytest.raises(Conflict):
        await services.jobs.cancel(who.user_id, wid, jid)


async def test_cancel_running_job_reaches_its_worker(services: Services) -> None:
    """Canceling a RUNNING job asks its worker to stop; the worker's lease renewal sees it."""
    who = await principal(services)
    wid = await built_workflow(services, who)
    jid = (await services.jobs.schedule(who.user_id, wid, idempotency_key="a")).body["id"]
    claim = await services.engine.claim_job("w")
    assert claim is not None
    await services.jobs.cancel(who.user_id, wid, jid)
    assert (await services.engine.renew(claim)).cancel_requested
    job = await services.engine.finish(claim, RunResult.canceled())
    assert job is not None
    assert job.status == JobStatus.CANCELED


async def test_expired_lease_of_canceled_job_ends_canceled(
    services: Services, clock: FrozenClock
) -> None:
    """A job asked to stop whose worker died ends CANCELED, not retried."""
    who = await principal(services)
    wid = await built_workflow(services, who)
    jid = (await services.jobs.schedule(who.user_id, wid, idempotency_key="a")).body["id"]
    assert await services.engine.claim_job("w") is not None
    await services.jobs.cancel(who.user_id, wid, jid)
    clock.advance(seconds=services.settings.lease_seconds + 1)
    await services.engine.recover_expired()
    [job] = await jobs_of(services, wid)
    assert job.status == JobStatus.CANCELED


async def test_terminate_cancels_waiting_jobs_and_stops_scheduling(
    services: Services, clock: FrozenClock
) -> None:
    """Terminating a workflow cancels its waiting jobs and no new slot is scheduled."""
    who = await principal(services)
    wid = await built_workflow(services, who)
    await services.jobs.schedule(who.user_id, wid, idempotency_key="a")
    await services.workflows.terminate(who, wid)
    [job] = await jobs_of(services, wid)
    assert job.status == JobStatus.CANCELED
    clock.advance(hours=1)
    assert await services.engine.schedule_due() == 0


async def test_manual_run_needs_a_completed_build(services: Services) -> None:
    """A manual run of an unbuilt or terminated workflow is a precondition failure."""
    from hourglass.errors import PreconditionFailed

    who = await principal(services)
    wid = await create_workflow(services, who)
    with pytest.raises(PreconditionFailed):
        await services.jobs.schedule(who.user_id, wid, idempotency_key="a")
    await build_all(services)
    await services.workflows.terminate(who, wid)
    with pytest.raises(PreconditionFailed):
        await services.jobs.schedule(who.user_id, wid, idempotency_key="b")


async def test_two_schedulers_never_create_a_slot_twice(
    services: Services, settings: Settings, database_url: str, clock: FrozenClock
) -> None:
    """Two schedulers (own connections) racing on the same due slots create each job once."""
    who = await principal(services)
    ids = [await built_workflow(services, who) for _ in range(5)]
    await services.engine.schedule_due()
    clock.advance(minutes=1)
    other_db = Database.connect(database_url)
    try:
        other = Services.build(settings, other_db, clock=clock)
        await asyncio.gather(*(s.engine.schedule_due() for s in (services, other, services, other)))
    finally:
        await other_db.close()
    for wid in ids:
        assert len(await jobs_of(services, wid)) == 1


async def _requeued_with_logs(services: Services, **workflow: object) -> tuple[str, str]:
    """A job whose first attempt wrote a line, then failed for the system: QUEUED again."""
    who = await principal(services)
    wid = await built_workflow(services, who, **workflow)
    await services.jobs.schedule(who.user_id, wid, idempotency_key="a")
    claim = await services.engine.claim_job("w")
    assert claim is not None
    output = await services.logs.outputs.open(claim.job, claim.spec, claim.token)
    await output.write("stdout", b"from attempt one\n")
    await output.close()
    await services.engine.finish(claim, RunResult.system_failure("runtime unavailable"))
    return who.user_id, wid


async def test_canceled_waiting_job_drops_logs_without_retention(services: Services) -> None:
    """A re-queued job canceled while waiting ends its earlier lines like any finished job."""
    user_id, wid = await _requeued_with_logs(services, log_retention=False)
    [job] = await jobs_of(services, wid)
    assert job.log_lines == 1
    canceled = await services.jobs.cancel(user_id, wid, job.id)
    assert canceled.log_state == "disabled"
    async with services.db.read() as tx:
        assert await chunks_after(tx, job.id, 0, 10) == []


async def test_canceled_waiting_job_gets_a_log_expiry(
    services: Services, clock: FrozenClock
) -> None:
    """With retention days, a canceled job's logs expire that many days after it ended."""
    user_id, wid = await _requeued_with_logs(services, log_retention_days=2)
    [job] = await jobs_of(services, wid)
    canceled = await services.jobs.cancel(user_id, wid, job.id)
    assert canceled.log_expires_at == clock.now() + timedelta(days=2)


async def test_scheduler_knows_when_the_next_slot_is_due(
    services: Services, clock: FrozenClock
) -> None:
    """The scheduler can sleep exactly until the soonest slot instead of polling for it."""
    assert await services.engine.seconds_until_next_slot() is None
    who = await principal(services)
    await built_workflow(services, who, interval=1)
    await services.engine.schedule_due()
    assert await services.engine.seconds_until_next_slot() == 60.0
    clock.advance(seconds=59.5)
    assert await services.engine.seconds_until_next_slot() == 0.5
    clock.advance(seconds=5)
    assert await services.engine.seconds_until_next_slot() == 0.0


async def _update_payload(services: Services, who: Principal, wid: str, cmd: list[str]) -> None:
    body = {
        "name": "changed",
        "kind": "COMMAND",
        "payload": json.dumps({"cmd": cmd}),
        "interval": 1,
    }
    await services.workflows.update(who, wid, body, idempotency_key=f"put-{cmd}")


async def test_a_payload_change_holds_waiting_jobs_until_it_is_built(services: Services) -> None:
    """After a payload-only PUT a QUEUED job is not claimed until the new payload is built."""
    who = await principal(services)
    wid = await built_workflow(services, who)
    await services.jobs.schedule(who.user_id, wid, idempotency_key="a")
    await _update_payload(services, who, wid, ["echo", "new"])
    assert await services.engine.claim_job("w") is None
    await build_all(services)
    claim = await services.engine.claim_job("w")
    assert claim is not None
    assert claim.spec.payload["cmd"] == ["echo", "new"]


async def test_a_failed_build_cancels_the_waiting_jobs(services: Services) -> None:
    """When the new payload's build FAILS, the QUEUED and PENDING jobs are CANCELED, saying why."""
    who = await principal(services)
    wid = await built_workflow(services, who)
    for key in ("a", "b"):
        await services.jobs.schedule(who.user_id, wid, idempotency_key=key)
    await _update_payload(services, who, wid, ["nope"])
    await build_all(services, error="program not found: nope")
    jobs = await jobs_of(services, wid)
    assert [j.status for j in jobs] == [JobStatus.CANCELED, JobStatus.CANCELED]
    reason = "canceled: the workflow's build failed: program not found: nope"
    assert [j.failure_reason for j in jobs] == [reason, reason]
    assert await services.engine.claim_job("w") is None


async def test_a_job_of_a_terminated_workflow_is_never_claimed(services: Services) -> None:
    """A QUEUED job whose workflow was terminated (its row written directly) is skipped."""
    who = await principal(services)
    wid = await built_workflow(services, who)
    await services.jobs.schedule(who.user_id, wid, idempotency_key="a")
    async with services.db.write() as tx:
        await tx.execute(update(workflows).where(workflows.c.id == wid).values(terminated_at=T0))
    assert await services.engine.claim_job("w") is None


async def test_retry_backoff_is_jittered_by_the_injected_random_source(
    settings: Settings, db: Database, clock: FrozenClock
) -> None:
    """The first retry waits base/2 + base/2 * rand: 0.75 s with rand fixed at 0.5."""
    services = Services.build(settings, db, clock=clock, rand=lambda: 0.5)
    who = await principal(services)
    wid = await built_workflow(services, who)
    await services.jobs.schedule(who.user_id, wid, idempotency_key="a")
    claim = await services.engine.claim_job("w")
    assert claim is not None
    job = await services.engine.finish(claim, RunResult.system_failure("runtime unavailable"))
    assert job is not None
    assert job.available_at == T0 + timedelta(seconds=0.75)


async def _queued_and_pending(services: Services) -> tuple[str, str, str, str]:
    """(user id, workflow id, a QUEUED job, a PENDING job behind it)."""
    who = await principal(services)
    wid = await built_workflow(services, who)
    first = (await services.jobs.schedule(who.user_id, wid, idempotency_key="a")).body["id"]
    second = (await services.jobs.schedule(who.user_id, wid, idempotency_key="b")).body["id"]
    return who.user_id, wid, first, second


async def test_a_job_promoted_when_the_one_before_finishes_publishes_queued(
    services: Services,
) -> None:
    """Finishing a job wakes the readers of the next one with its new status, QUEUED."""
    _, _, _, second = await _queued_and_pending(services)
    async with services.bus.subscribe(second) as feed:
        claim = await services.engine.claim_job("w")
        assert claim is not None
        await services.engine.finish(claim, RunResult.success())
        assert (feed.status, feed.status_version) == ("QUEUED", 1)


async def test_a_job_promoted_when_the_one_before_is_canceled_publishes_queued(
    services: Services,
) -> None:
    """Canceling a QUEUED job wakes the readers of the next one with its new status, QUEUED."""
    user_id, wid, first, second = await _queued_and_pending(services)
    async with services.bus.subscribe(second) as feed:
        await services.jobs.cancel(user_id, wid, first)
        assert (feed.status, feed.status_version) == ("QUEUED", 1)


async def test_a_truncated_log_stays_truncated_across_a_retry(
    services: Services, clock: FrozenClock
) -> None:
    """An attempt that hit the per-job cap leaves `truncated` for the retry and the final job."""
    who = await principal(services)
    wid = await built_workflow(services, who)
    await services.jobs.schedule(who.user_id, wid, idempotency_key="a")
    first = await services.engine.claim_job("w")
    assert first is not None
    failed = RunResult.system_failure("runtime unavailable")
    requeued = await services.engine.finish(first, failed, LogState.TRUNCATED)
    assert requeued is not None
    assert (requeued.status, requeued.log_state) == (JobStatus.QUEUED, LogState.TRUNCATED)
    clock.advance(seconds=61)
    second = await services.engine.claim_job("w")
    assert second is not None
    assert second.job.log_state == LogState.TRUNCATED
    done = await services.engine.finish(second, RunResult.success(), LogState.COMPLETE)
    assert done is not None
    assert done.log_state == LogState.TRUNCATED


async def test_finishing_keeps_a_truncation_the_writer_recorded_during_the_run(
    services: Services,
) -> None:
    """A finish saying `complete` does not undo a `truncated` the log writer stored meanwhile."""
    who = await principal(services)
    wid = await built_workflow(services, who)
    await services.jobs.schedule(who.user_id, wid, idempotency_key="a")
    claim = await services.engine.claim_job("w")
    assert claim is not None
    async with services.db.write() as tx:  # what the writer does when it first omits lines
        await tx.execute(
            update(jobs).where(jobs.c.id == claim.job.id).values(log_state="truncated")
        )
    done = await services.engine.finish(claim, RunResult.success(), LogState.COMPLETE)
    assert done is not None
    assert done.log_state == LogState.TRUNCATED
