"""The engine's use cases, one transaction each: schedule, promote, claim, renew, finish, recover,
and builds. Schedulers and workers (in `runtime/`) drive these; they never write SQL themselves.

Correctness across many processes rests on the store, not on luck: a unique key per workflow and
slot stops double scheduling, a partial unique index keeps one active job per workflow, and lease
tokens fence every write of a worker.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from hourglass.domain.common import Clock, IdFactory
from hourglass.domain.jobs import (
    DEFAULT_RETRY_POLICY,
    BuildStatus,
    Job,
    JobStatus,
    LogState,
    RetryDecision,
    RetryPolicy,
    RunResult,
    RunSpec,
    Trigger,
    check_transition,
    log_expiry,
    next_failure_count,
    should_terminate,
)
from hourglass.domain.schedule import due_slot, first_slot
from hourglass.live import LiveBus, Wakeup
from hourglass.settings import Settings
from hourglass.store import jobs as job_store
from hourglass.store import logs as log_store
from hourglass.store import schedules as schedule_store
from hourglass.store.db import Database, Tx
from hourglass.store.schedules import BuildTask

log = logging.getLogger("hourglass.engine")

WORK_CHANNEL = "__work__"
"""Bus channel that wakes idle workers when a job becomes QUEUED or a build is queued."""

CANCEL_SIGNAL = "CANCEL_REQUESTED"
"""Status wake-up published on a running job's channel: its worker should stop it now."""


@dataclass(frozen=True, slots=True)
class Claim:
    """A job a worker holds: the job as claimed, its workflow's run spec, and the lease token."""

    job: Job
    spec: RunSpec
    token: str


@dataclass(frozen=True, slots=True)
class LeaseState:
    held: bool
    cancel_requested: bool


class Engine:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        new_id: IdFactory,
        bus: LiveBus,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.new_id = new_id
        self.bus = bus
        self.policy = policy

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.lease_seconds)

    async def wake_workers(self) -> None:
        await self.bus.publish(Wakeup(WORK_CHANNEL))

    async def on_workflow_changed(self, workflow_id: str) -> None:
        """A workflow was created, changed or terminated: builders and running jobs must know."""
        async with self.db.read() as tx:
            running = await job_store.running_ids(tx, workflow_id, cancel_requested=True)
        for job_id in running:
            await self.publish_status(job_id, CANCEL_SIGNAL)
        await self.wake_workers()

    async def publish_status(self, job_id: str, status: str) -> None:
        await self.bus.publish(Wakeup(job_id, status=status))

    # scheduling

    async def schedule_due(self) -> int:
        """Create one AUTOMATIC job for every workflow whose slot has come; returns how many."""
        now = self.clock.now()
        created = 0
        async with self.db.read() as tx:
            due = await schedule_store.due_workflows(tx, now)
        for workflow in due:
            async with self.db.write() as tx:
                if workflow.next_run_at is None:
                    # newly built or rescheduled: the first slot comes strictly after now
                    first = first_slot(workflow.schedule, now)
                    await schedule_store.advance_next_run(tx, workflow.id, None, first)
                    continue
                slot, following = due_slot(workflow.schedule, workflow.next_run_at, now)
                if not await schedule_store.advance_next_run(
                    tx, workflow.id, workflow.next_run_at, following
                ):
                    continue  # another scheduler handled this workflow
                if slot is None or await job_store.has_pending_automatic(tx, workflow.id):
                    continue  # a run is already waiting: coalesce instead of piling up
                if await job_store.insert_pending(
                    self.db,
                    tx,
                    id=self.new_id(),
                    workflow_id=workflow.id,
                    user_id=workflow.user_id,
                    trigger=Trigger.AUTOMATIC,
                    slot_at=slot,
                    generation=workflow.generation,
                    scheduled_at=slot,
                    now=now,
                ):
                    created += 1
                    await job_store.promote_next(tx, workflow.id, now)
        if created:
            await self.wake_workers()
        return created

    async def seconds_until_next_slot(self) -> float | None:
        """How long until the soonest scheduled slot (0 if one is due; None if none is set)."""
        async with self.db.read() as tx:
            soonest = await schedule_store.earliest_next_run(tx)
        if soonest is None:
            return None
        return max(0.0, (soonest - self.clock.now()).total_seconds())

    async def promote_due(self) -> int:
        """QUEUE the next PENDING job of every workflow that has nothing active."""
        now = self.clock.now()
        async with self.db.read() as tx:
            workflow_ids = await job_store.workflows_with_due_pending(tx, now)
        promoted = 0
        for workflow_id in workflow_ids:
            async with self.db.write() as tx:
                if await job_store.promote_next(tx, workflow_id, now):
                    promoted += 1
        if promoted:
            await self.wake_workers()
        return promoted

    async def create_manual(self, tx: Tx, user_id: str, workflow_id: str, generation: int) -> str:
        """A MANUAL job due now, inside the caller's transaction; QUEUED at once when possible."""
        now = self.clock.now()
        job_id = self.new_id()
        await job_store.insert_pending(
            self.db,
            tx,
            id=job_id,
            workflow_id=workflow_id,
            user_id=user_id,
            trigger=Trigger.MANUAL,
            slot_at=None,
            generation=generation,
            scheduled_at=now,
            now=now,
        )
        await job_store.promote_next(tx, workflow_id, now)
        return job_id

    # claiming and running

    async def claim_job(self, owner: str) -> Claim | None:
        now = self.clock.now()
        token = secrets.token_hex(16)
        async with self.db.write() as tx:
            job = await job_store.claim(
                self.db, tx, owner=owner, token=token, now=now, lease_until=now + self.lease
            )
            if job is None:
                return None
            spec = await schedule_store.run_spec(tx, job.workflow_id)
        if spec is None:  # the workflow vanished between claim and read: nothing to run
            return None
        await self.publish_status(job.id, JobStatus.RUNNING.value)
        return Claim(job, spec, token)

    async def renew(self, claim: Claim) -> LeaseState:
        now = self.clock.now()
        async with self.db.write() as tx:
            held, cancel_at = await job_store.renew_lease(
                tx, claim.job.id, claim.token, now, now + self.lease
            )
        return LeaseState(held, cancel_at is not None)

    async def finish(
        self, claim: Claim, result: RunResult, log_state: LogState = LogState.COMPLETE
    ) -> Job | None:
        """End the attempt (fenced by the lease); None if the lease was lost meanwhile."""
        now = self.clock.now()
        decision = self.policy.decide(claim.job.attempts, result.outcome, result.reason)
        async with self.db.write() as tx:
            job = await self._apply(
                tx, claim.job, claim.token, claim.spec, decision, result, now, log_state
            )
        if job is not None:
            await self._after_finish(job)
        return job

    async def _apply(
        self,
        tx: Tx,
        job: Job,
        token: str | None,
        spec: RunSpec | None,
        decision: RetryDecision,
        result: RunResult,
        now: datetime,
        log_state: LogState,
    ) -> Job | None:
        check_transition(JobStatus.RUNNING, decision.status)
        retry = decision.status == JobStatus.QUEUED
        expires = None
        final_log = log_state
        if not retry and spec is not None:
            expires = log_expiry(now, spec.log_retention, spec.log_retention_days)
            if not spec.log_retention:
                final_log = LogState.DISABLED
        updated = await job_store.finish(
            tx,
            job.id,
            token,
            status=decision.status,
            now=now,
            exit_code=result.exit_code,
            failure_reason=decision.reason,
            available_at=now + timedelta(seconds=decision.delay_seconds or 0),
            log_state=LogState.STREAMING if retry else final_log,
            log_expires_at=expires,
        )
        if updated is None or retry:
            return updated
        if final_log == LogState.DISABLED:
            # lines are kept only while the job runs: gone with the job's end, atomically
            await log_store.delete_job_logs(tx, job.id)
        current, allowed = await schedule_store.failure_count(self.db, tx, job.workflow_id)
        count = next_failure_count(current, decision.status)
        if count != current:
            await schedule_store.set_failure_count(tx, job.workflow_id, count)
        failed_too_often = decision.status == JobStatus.FAILED and should_terminate(count, allowed)
        if failed_too_often and await schedule_store.terminate(tx, job.workflow_id, now):
            log.info("workflow %s terminated after %d failures in a row", job.workflow_id, count)
            await job_store.cancel_workflow_jobs(tx, job.workflow_id, now)
        await job_store.promote_next(tx, job.workflow_id, now)
        return updated

    async def _after_finish(self, job: Job) -> None:
        await self.publish_status(job.id, job.status.value)
        await self.wake_workers()

    async def recover_expired(self) -> int:
        """Give the jobs of dead workers another attempt (or fail them after the last one)."""
        now = self.clock.now()
        recovered = 0
        async with self.db.write() as tx:
            expired = await job_store.expired_leases(self.db, tx, now)
            finished: list[Job] = []
            for job in expired:
                if not await job_store.expire_lease(tx, job, now):
                    continue
                spec = await schedule_store.run_spec(tx, job.workflow_id)
                if job.cancel_requested_at is not None:
                    result = RunResult.canceled()
                else:
                    result = RunResult.system_failure("worker lost (lease expired)")
                decision = self.policy.decide(max(job.attempts, 1), result.outcome, result.reason)
                updated = await self._apply(
                    tx, job, None, spec, decision, result, now, LogState.COMPLETE
                )
                if updated is not None:
                    finished.append(updated)
                    recovered += 1
        for job in finished:
            await self._after_finish(job)
        return recovered

    # builds

    async def claim_build(self) -> BuildTask | None:
        now = self.clock.now()
        async with self.db.write() as tx:
            return await schedule_store.claim_build(
                self.db, tx, token=secrets.token_hex(16), now=now, lease_until=now + self.lease
            )

    async def finish_build(self, task: BuildTask, error: str | None) -> bool:
        status = BuildStatus.FAILED if error else BuildStatus.COMPLETED
        async with self.db.write() as tx:
            done = await schedule_store.finish_build(
                tx, task, status=status, reason=error, now=self.clock.now()
            )
        if done and status == BuildStatus.COMPLETED:
            await self.wake_workers()  # the scheduler computes the first slot on its next pass
        return done
