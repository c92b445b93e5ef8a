"""The engine's use cases, one transaction each: schedule, promote, claim, renew, finish, recover,
and builds. Schedulers and workers (in `runtime/`) drive these; they never write SQL themselves.

Correctness across many processes rests on the store, not on luck: a unique key per workflow and
slot stops double scheduling, a partial unique index keeps one active job per workflow, and lease
tokens fence every write of a worker. Transactions that write several rows of one workflow lock
the workflow's row first (see `store/jobs.py`), and are re-run if PostgreSQL still aborts one.

Status wake-ups (a job QUEUED, RUNNING, finished, CANCELED) are published after the commit that
made them true, so a live reader woken up always finds the new status in the store.

Every job that ends, build that starts or ends and workflow the failure threshold terminates is
an event the `EventRecorder` writes into the same transaction (notification, analytics count,
webhook deliveries): the last writes of that transaction, announced after its commit.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hourglass.domain.common import Clock, IdFactory
from hourglass.domain.events import BuildChanged, Event, JobEnded, WorkflowTerminated
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
from hourglass.services.events import Effects, EventRecorder
from hourglass.services.metrics import Metrics
from hourglass.settings import Settings
from hourglass.store import jobs as job_store
from hourglass.store import schedules as schedule_store
from hourglass.store.db import Database, Tx
from hourglass.store.logs import retention as log_retention
from hourglass.store.schedules import BuildTask, DueWorkflow

log = logging.getLogger("hourglass.engine")

WORK_CHANNEL = "__work__"
"""Bus channel that wakes idle worker slots when a job becomes QUEUED."""

BUILD_CHANNEL = "__build__"
"""Bus channel that wakes builders when a workflow changed (a build may be queued): builds come
due far more rarely than jobs, so builders do not wake per job."""

SCHEDULE_CHANNEL = "__schedule__"
"""Bus channel that wakes schedulers when a workflow's schedule may have changed (created,
updated, terminated, built); a job's own progress never needs them."""

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
    expires_at: datetime | None = None  # when the lease now runs out (held leases only)


Random = Callable[[], float]
"""A source of uniform floats in [0, 1): retry jitter (injected, so tests can fix it)."""

StatusWakeups = list[tuple[str, str]]
"""(job id, status) pairs to publish once the transaction that made them true committed."""


@dataclass(slots=True)
class _Ended:
    """What ending one attempt wrote: the job as it is now, the events it caused and the
    wake-ups and effects it owes once committed."""

    job: Job
    wakeups: StatusWakeups = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    effects: Effects = field(default_factory=Effects)


class _NotRunnable(Exception):
    """The claimed job's workflow is not runnable after all: roll the claim back."""


class Engine:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        new_id: IdFactory,
        bus: LiveBus,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        rand: Random = random.random,
        events: EventRecorder | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.new_id = new_id
        self.bus = bus
        self.policy = policy
        self.rand = rand
        self.metrics = metrics or Metrics()
        self.events = events or EventRecorder(db, settings, new_id, bus, self.metrics)
        # while claims find jobs there is no point asking first (`_worth_writing`)
        self._claims_came_up_empty = True

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.lease_seconds)

    async def wake_workers(self) -> None:
        await self.bus.publish(Wakeup(WORK_CHANNEL))

    async def wake_builders(self) -> None:
        await self.bus.publish(Wakeup(BUILD_CHANNEL))

    async def wake_schedulers(self) -> None:
        await self.bus.publish(Wakeup(SCHEDULE_CHANNEL))

    async def on_workflow_changed(self, workflow_id: str) -> None:
        """A workflow was created, changed or terminated: builders and running jobs must know."""
        async with self.db.read() as tx:
            running = await job_store.running_ids(tx, workflow_id, cancel_requested=True)
        for job_id in running:
            await self.publish_status(job_id, CANCEL_SIGNAL)
        await self.wake_builders()
        await self.wake_workers()
        await self.wake_schedulers()

    async def publish_status(self, job_id: str, status: str) -> None:
        await self.bus.publish(Wakeup(job_id, status=status))

    async def publish_all(self, wakeups: Iterable[tuple[str, str]]) -> None:
        for job_id, status in wakeups:
            await self.publish_status(job_id, status)

    # scheduling

    async def schedule_due(self) -> int:
        """Create one AUTOMATIC job for every workflow whose slot has come; returns how many."""
        now = self.clock.now()
        async with self.db.read() as tx:
            due = await schedule_store.due_workflows(tx, now)
        created = 0
        for workflow in due:

            async def work(tx: Tx, workflow: DueWorkflow = workflow) -> tuple[bool, str | None]:
                return await self._schedule_one(tx, workflow, now)

            made, promoted = await self.db.write_retrying(work)
            created += made
            if promoted is not None:
                await self.publish_status(promoted, JobStatus.QUEUED.value)
        if created:
            await self.wake_workers()
        return created

    async def _schedule_one(
        self, tx: Tx, workflow: DueWorkflow, now: datetime
    ) -> tuple[bool, str | None]:
        """(job created, job promoted) for one due workflow; its row is locked first."""
        if workflow.next_run_at is None:
            # newly built or rescheduled: the first slot comes strictly after now
            first = first_slot(workflow.schedule, now)
            await schedule_store.advance_next_run(tx, workflow.id, None, first)
            return False, None
        slot, following = due_slot(workflow.schedule, workflow.next_run_at, now)
        if not await schedule_store.advance_next_run(
            tx, workflow.id, workflow.next_run_at, following
        ):
            return False, None  # another scheduler handled this workflow
        if slot is None or await job_store.has_pending_automatic(tx, workflow.id):
            return False, None  # a run is already waiting: coalesce instead of piling up
        made = await job_store.insert_pending(
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
        )
        if not made:
            return False, None
        return True, await job_store.promote_next(tx, workflow.id, now)

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

            async def work(tx: Tx, workflow_id: str = workflow_id) -> str | None:
                await schedule_store.lock_workflow(self.db, tx, workflow_id)
                return await job_store.promote_next(tx, workflow_id, now)

            if (job_id := await self.db.write_retrying(work)) is not None:
                promoted += 1
                await self.publish_status(job_id, JobStatus.QUEUED.value)
        if promoted:
            await self.wake_workers()
        return promoted

    async def create_manual(
        self, tx: Tx, user_id: str, workflow_id: str, generation: int
    ) -> tuple[str, str | None]:
        """A MANUAL job due now, inside the caller's transaction (which holds the workflow's
        lock); QUEUED at once when possible. Returns (its id, the id of the job promoted)."""
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
        return job_id, await job_store.promote_next(tx, workflow_id, now)

    # claiming and running

    async def claim_job(self, owner: str) -> Claim | None:
        """The oldest due QUEUED job of a built, active workflow, leased to `owner`; or None."""
        now = self.clock.now()
        token = secrets.token_hex(16)
        if self._claims_came_up_empty and not await self._worth_writing(job_store.claimable, now):
            return None

        async def work(tx: Tx) -> Claim | None:
            job = await job_store.claim(
                self.db, tx, owner=owner, token=token, now=now, lease_until=now + self.lease
            )
            if job is None:
                return None
            spec = await schedule_store.run_spec(tx, job.workflow_id)
            if spec is None or not spec.runnable:
                # changed since the claim read it (a payload PUT committed in between)
                raise _NotRunnable
            return Claim(job, spec, token)

        try:
            claim = await self.db.write_retrying(work)
        except _NotRunnable:
            return None
        self._claims_came_up_empty = claim is None
        if claim is not None:
            self.metrics.start_delay.observe(
                max(0.0, (now - claim.job.available_at).total_seconds())
            )
            await self.publish_status(claim.job.id, JobStatus.RUNNING.value)
        return claim

    async def _worth_writing(
        self, found: Callable[[Tx, datetime], Awaitable[bool]], now: datetime
    ) -> bool:
        """On SQLite, whether a read finds something to claim: every write transaction there
        queues for the one write lock, and wake-ups send idle slots and the builder claiming,
        mostly for nothing (a quarter of the write transactions of a burst of jobs). A job
        queued after this read wakes the worker again after its commit, so none is missed.
        Job claims ask only after one came up empty: in a burst the read would be pure cost.
        On PostgreSQL the claim itself is as cheap and locks only what it takes."""
        if not self.db.is_sqlite:
            return True
        async with self.db.read() as tx:
            return await found(tx, now)

    async def renew(self, claim: Claim) -> LeaseState:
        now = self.clock.now()
        until = now + self.lease
        async with self.db.write() as tx:
            held, cancel_at = await job_store.renew_lease(tx, claim.job.id, claim.token, now, until)
        return LeaseState(held, cancel_at is not None, until if held else None)

    async def finish(
        self, claim: Claim, result: RunResult, log_state: LogState = LogState.COMPLETE
    ) -> Job | None:
        """End the attempt (fenced by the lease); None if the lease was lost meanwhile."""
        now = self.clock.now()
        decision = self.policy.decide(
            claim.job.attempts, result.outcome, result.reason, self.rand()
        )

        async def work(tx: Tx) -> _Ended | None:
            await schedule_store.lock_workflow(self.db, tx, claim.job.workflow_id)
            return await self._apply(
                tx, claim.job, claim.token, claim.spec, decision, result, now, log_state
            )

        ended = await self.db.write_retrying(work)
        if ended is None:
            return None
        await self._after_finish(ended)
        return ended.job

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
    ) -> _Ended | None:
        """Write the attempt's end; the caller holds the workflow's lock."""
        check_transition(JobStatus.RUNNING, decision.status)
        if LogState.TRUNCATED in (job.log_state, log_state):
            log_state = LogState.TRUNCATED  # an attempt of this job hit the per-job cap
        retry = decision.status == JobStatus.QUEUED
        expires = None
        if not retry and spec is not None:
            expires = log_expiry(now, spec.log_retention, spec.log_retention_days)
            if not spec.log_retention:
                log_state = LogState.DISABLED
        elif retry and log_state != LogState.TRUNCATED:
            log_state = LogState.STREAMING
        updated = await job_store.finish(
            tx,
            job.id,
            token,
            status=decision.status,
            now=now,
            exit_code=result.exit_code,
            failure_reason=decision.reason,
            available_at=now + timedelta(seconds=decision.delay_seconds or 0),
            log_state=log_state,
            log_expires_at=expires,
        )
        if updated is None:
            return None
        ended = _Ended(updated, [(updated.id, updated.status.value)])
        if retry:
            return ended
        if log_state == LogState.DISABLED:
            # lines are kept only while the job runs: gone with the job's end, atomically
            await log_retention.delete_job_logs(tx, job.id)
        name, kind = (spec.name, spec.kind.value) if spec is not None else ("", "")
        ended.events.append(JobEnded(updated, name, kind))
        await self._count_failure(tx, updated, (name, kind), now, ended)
        if (promoted := await job_store.promote_next(tx, job.workflow_id, now)) is not None:
            ended.wakeups.append((promoted, JobStatus.QUEUED.value))
        ended.effects = await self.events.record(tx, ended.events, now)
        return ended

    async def _count_failure(
        self, tx: Tx, job: Job, named: tuple[str, str], now: datetime, ended: _Ended
    ) -> None:
        """Update the consecutive-failure count; terminate the workflow at its threshold."""
        workflow_id, status = job.workflow_id, job.status
        name, kind = named
        current, allowed = await schedule_store.failure_count(tx, workflow_id)
        count = next_failure_count(current, status)
        if count != current:
            await schedule_store.set_failure_count(tx, workflow_id, count)
        if status != JobStatus.FAILED or not should_terminate(count, allowed):
            return
        if await schedule_store.terminate(tx, workflow_id, now):
            log.info("workflow %s terminated after %d failures in a row", workflow_id, count)
            ended.events.append(WorkflowTerminated(workflow_id, job.user_id, name, now, count))
            canceled = await job_store.cancel_workflow_jobs(tx, workflow_id, now)
            ended.wakeups += [(c.id, JobStatus.CANCELED.value) for c in canceled]
            ended.events += [JobEnded(c, name, kind) for c in canceled]

    async def _after_finish(self, ended: _Ended) -> None:
        await self.publish_all(ended.wakeups)
        await self.events.publish(ended.effects)
        await self.wake_workers()

    async def recover_expired(self) -> int:
        """Give the jobs of dead workers another attempt (or fail them after the last one)."""
        now = self.clock.now()
        async with self.db.read() as tx:
            expired = await job_store.expired_leases(tx, now)
        recovered = 0
        for job in expired:

            async def work(tx: Tx, job: Job = job) -> _Ended | None:
                return await self._recover(tx, job, now)

            ended = await self.db.write_retrying(work)
            if ended is not None:
                recovered += 1
                self.metrics.lease_recoveries.inc()
                await self._after_finish(ended)
        return recovered

    async def _recover(self, tx: Tx, listed: Job, now: datetime) -> _Ended | None:
        """End the attempt of a dead worker, unless its lease was renewed or taken meanwhile."""
        await schedule_store.lock_workflow(self.db, tx, listed.workflow_id)
        job = await job_store.expire_lease(tx, listed, now)
        if job is None:
            return None
        spec = await schedule_store.run_spec(tx, job.workflow_id)
        if job.cancel_requested_at is not None:
            result = RunResult.canceled()
        else:
            result = RunResult.system_failure("worker lost (lease expired)")
        decision = self.policy.decide(
            max(job.attempts, 1), result.outcome, result.reason, self.rand()
        )
        return await self._apply(tx, job, None, spec, decision, result, now, LogState.COMPLETE)

    # builds

    async def claim_build(self) -> BuildTask | None:
        now = self.clock.now()
        if not await self._worth_writing(schedule_store.build_due, now):
            return None

        async def work(tx: Tx) -> tuple[BuildTask | None, Effects]:
            task = await schedule_store.claim_build(
                self.db, tx, token=secrets.token_hex(16), now=now, lease_until=now + self.lease
            )
            if task is None:
                return None, Effects()
            started = _build_event(task, BuildStatus.STARTED)
            return task, await self.events.record(tx, [started], now)

        task, effects = await self.db.write_retrying(work)
        await self.events.publish(effects)
        return task

    async def renew_build(self, task: BuildTask) -> bool:
        """Extend the build's lease; False once it is no longer this builder's."""
        async with self.db.write() as tx:
            return await schedule_store.renew_build(tx, task, self.clock.now() + self.lease)

    async def finish_build(self, task: BuildTask, error: str | None) -> bool:
        """Record the build's end (fenced by its lease and generation). A FAILED build cancels
        the workflow's waiting jobs: they were held back for a payload that cannot run."""
        status = BuildStatus.FAILED if error else BuildStatus.COMPLETED
        now = self.clock.now()

        async def work(tx: Tx) -> tuple[list[Job], Effects] | None:
            if not await schedule_store.finish_build(
                tx, task, status=status, reason=error, now=now
            ):
                return None
            events: list[Event] = [_build_event(task, status, error)]
            canceled: list[Job] = []
            if status == BuildStatus.FAILED:
                reason = f"canceled: the workflow's build failed: {error}"
                canceled = await job_store.cancel_workflow_jobs(
                    tx, task.workflow_id, now, reason=reason
                )
                events += [JobEnded(job, task.name, task.kind.value) for job in canceled]
            return canceled, await self.events.record(tx, events, now)

        done = await self.db.write_retrying(work)
        if done is None:
            return False
        canceled, effects = done
        await self.publish_all((job.id, JobStatus.CANCELED.value) for job in canceled)
        await self.events.publish(effects)
        # held-back QUEUED jobs may run now; the scheduler computes the first slot
        await self.wake_workers()
        await self.wake_schedulers()
        return True


def _build_event(task: BuildTask, status: BuildStatus, reason: str | None = None) -> BuildChanged:
    return BuildChanged(task.workflow_id, task.user_id, task.name, task.generation, status, reason)
