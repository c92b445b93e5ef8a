"""Jobs as users see them: list, get, schedule a manual run, cancel.

Scheduling and canceling lock the workflow's row before its jobs (the engine's lock order), and
publish the status changes they made once they are committed.
"""

from __future__ import annotations

from dataclasses import dataclass

from hourglass.domain.common import Clock, is_valid_id
from hourglass.domain.cursors import decode_cursor, next_cursor
from hourglass.domain.jobs import BuildStatus, Job, JobStatus, Trigger
from hourglass.domain.notifications import parse_limit
from hourglass.domain.workflows import Workflow
from hourglass.errors import Conflict, NotFound, PreconditionFailed, ValidationError
from hourglass.services.engine import CANCEL_SIGNAL, Engine
from hourglass.services.events import Effects
from hourglass.services.idempotency import IdempotencyService, Reply
from hourglass.store import jobs as job_store
from hourglass.store import schedules as schedule_store
from hourglass.store import workflows as workflow_store
from hourglass.store.db import Database, Tx

MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[Job]
    cursor: str | None


def _enum(field: str, value: str | None, allowed: type[JobStatus] | type[Trigger]) -> str | None:
    if value is None:
        return None
    try:
        return allowed(value.upper()).value
    except ValueError as exc:
        names = ", ".join(m.value for m in allowed)
        raise ValidationError.field(field, f"must be one of {names}") from exc


def _page_size(limit: int | str | None) -> int:
    if isinstance(limit, int):
        if not 1 <= limit <= MAX_LIMIT:
            raise ValidationError.field("limit", f"must be between 1 and {MAX_LIMIT}")
        return limit
    return parse_limit(limit)


def _is_job_id(position: object) -> bool:
    return isinstance(position, str) and is_valid_id(position)


class JobService:
    def __init__(
        self, db: Database, clock: Clock, engine: Engine, idempotency: IdempotencyService
    ) -> None:
        self.db = db
        self.clock = clock
        self.engine = engine
        self.idempotency = idempotency

    async def _workflow(
        self, tx: Tx, user_id: str, workflow_id: str, *, lock: bool = False
    ) -> Workflow:
        state = None
        if is_valid_id(workflow_id):
            state = await workflow_store.get_owned(self.db, tx, user_id, workflow_id, lock=lock)
        if state is None:
            raise NotFound("workflow not found")
        return state

    async def list(
        self,
        user_id: str,
        workflow_id: str,
        *,
        cursor: str | None,
        limit: int | str | None,
        status: str | None,
        trigger: str | None,
    ) -> JobPage:
        """A page of the workflow's jobs, newest first: 404 (not the caller's workflow) before
        any parameter is looked at; `limit` as sent (a string, default 20) or a number."""
        async with self.db.read() as tx:
            await self._workflow(tx, user_id, workflow_id)
            size = _page_size(limit)
            status = _enum("status", status, JobStatus)
            trigger = _enum("trigger", trigger, Trigger)
            filters = {"workflow": workflow_id, "status": status, "trigger": trigger}
            before = decode_cursor(cursor, filters, _is_job_id)
            rows = await job_store.list_for_workflow(
                tx, workflow_id, before_id=before, limit=size + 1, status=status, trigger=trigger
            )
        more = len(rows) > size
        rows = rows[:size]
        return JobPage(rows, next_cursor(rows[-1].id if rows else None, filters, more=more))

    async def get(self, user_id: str, workflow_id: str, job_id: str) -> Job:
        job = None
        if is_valid_id(workflow_id) and is_valid_id(job_id):
            async with self.db.read() as tx:
                job = await job_store.get_owned(tx, user_id, workflow_id, job_id)
        if job is None:
            raise NotFound("job not found")
        return job

    async def schedule(
        self, user_id: str, workflow_id: str, *, idempotency_key: str | None
    ) -> Reply:
        """A MANUAL job due now: `Reply(201, {"id"})`, or the replay of an earlier request."""
        promoted: list[str] = []

        async def effect(tx: Tx) -> Reply:
            state = await self._workflow(tx, user_id, workflow_id, lock=True)
            if state.terminated:
                raise PreconditionFailed("workflow is terminated")
            if state.build_status != BuildStatus.COMPLETED:
                raise PreconditionFailed(
                    f"workflow build is {state.build_status.value}, not COMPLETED"
                )
            job_id, queued = await self.engine.create_manual(
                tx, user_id, workflow_id, state.generation
            )
            promoted[:] = [queued] if queued is not None else []
            return Reply(201, {"id": job_id})

        reply = await self.idempotency.run(
            user_id=user_id,
            key=idempotency_key,
            method="POST",
            path=f"/workflows/{workflow_id}/jobs/schedule",
            body=None,
            effect=effect,
        )
        if not reply.replayed:
            await self.engine.publish_all((j, JobStatus.QUEUED.value) for j in promoted)
            await self.engine.wake_workers()
        return reply

    async def cancel(self, user_id: str, workflow_id: str, job_id: str) -> Job:
        """PENDING/QUEUED jobs are canceled at once; a RUNNING one is stopped by its worker."""
        now = self.clock.now()
        job = await self.get(user_id, workflow_id, job_id)

        async def work(tx: Tx) -> tuple[Job | None, str | None, Effects]:
            await schedule_store.lock_workflow(self.db, tx, workflow_id)
            canceled = await job_store.cancel_waiting(tx, workflow_id, job.id, now)
            if canceled is not None:
                promoted = await job_store.promote_next(tx, workflow_id, now)
                events = await self.engine.events.job_ends(tx, [canceled])
                return canceled, promoted, await self.engine.events.record(tx, events, now)
            if not await job_store.request_cancel(tx, job.id, now):
                current = await job_store.get(tx, job.id) or job
                raise Conflict(f"job is already {current.status.value}")
            return None, None, Effects()

        canceled, promoted, effects = await self.db.write_retrying(work)
        if canceled is None:
            await self.engine.publish_status(job.id, CANCEL_SIGNAL)
            return job
        await self.engine.publish_status(job.id, JobStatus.CANCELED.value)
        await self.engine.events.publish(effects)
        if promoted is not None:
            await self.engine.publish_status(promoted, JobStatus.QUEUED.value)
        await self.engine.wake_workers()
        return canceled

    async def counts_by_status(self) -> dict[str, int]:
        """How many jobs are in each status (all users: for operators' metrics). A scan of the
        whole table: a bulk read (off the event loop on SQLite)."""
        async with self.db.read(bulk=True) as tx:
            return await job_store.count_by_status(tx)
