"""Queries for jobs: creation, listing, promotion, claiming with leases, fenced finishing.

Every write a worker makes after claiming is fenced by its lease token: the `WHERE` clause names
the token, so a worker that lost its lease changes nothing. At most one job per workflow is QUEUED
or RUNNING — a partial unique index enforces it; promotion runs inside a savepoint so that losing
that race on PostgreSQL only skips one promotion.

Lock order, on PostgreSQL: a transaction that writes several rows of one workflow locks the
workflow's row first (`schedules.lock_workflow`, or an UPDATE of it), then its jobs. Claims, lease
renewals and log writes touch one job row and never wait on a workflow row, so they need not.
`Database.write_retrying` re-runs a transaction PostgreSQL aborted anyway (deadlock,
serialization).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from hourglass.domain.jobs import (
    ACTIVE,
    BuildStatus,
    Job,
    JobStatus,
    LogState,
    Trigger,
    log_expiry,
)
from hourglass.domain.logs.cap import CapState
from hourglass.store.db import Database, Tx
from hourglass.store.schema import jobs, log_chunks, workflows

log = logging.getLogger("hourglass.store")

_ACTIVE = [s.value for s in ACTIVE]
CANCELED_REASON = "canceled"


def to_job(row: Any) -> Job:
    m = row._mapping
    return Job(
        id=m["id"],
        workflow_id=m["workflow_id"],
        user_id=m["user_id"],
        status=JobStatus(m["status"]),
        trigger=Trigger(m["trigger"]),
        slot_at=m["slot_at"],
        generation=m["generation"],
        attempts=m["attempts"],
        exit_code=m["exit_code"],
        failure_reason=m["failure_reason"],
        scheduled_at=m["scheduled_at"],
        available_at=m["available_at"],
        started_at=m["started_at"],
        completed_at=m["completed_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        lease_token=m["lease_token"],
        lease_owner=m["lease_owner"],
        lease_expires_at=m["lease_expires_at"],
        cancel_requested_at=m["cancel_requested_at"],
        log_state=LogState(m["log_state"]),
        log_lines=m["log_lines"],
        log_bytes=m["log_bytes"],
        log_expires_at=m["log_expires_at"],
        log_offsets_sealed=m["log_cap"] is None or CapState.decode(bytes(m["log_cap"])).sealed,
    )


async def insert_pending(
    db: Database,
    tx: Tx,
    *,
    id: str,
    workflow_id: str,
    user_id: str,
    trigger: Trigger,
    slot_at: datetime | None,
    generation: int,
    scheduled_at: datetime,
    now: datetime,
    log_state: LogState = LogState.PENDING,
) -> bool:
    """Insert a PENDING job; False if its (workflow, slot) already exists (another scheduler)."""
    stmt = (
        db.insert(jobs)
        .values(
            id=id,
            workflow_id=workflow_id,
            user_id=user_id,
            status=JobStatus.PENDING.value,
            trigger=trigger.value,
            slot_at=slot_at,
            generation=generation,
            attempts=0,
            scheduled_at=scheduled_at,
            available_at=scheduled_at,
            created_at=now,
            updated_at=now,
            log_state=log_state.value,
        )
        .on_conflict_do_nothing()
        .returning(jobs.c.id)
    )
    return (await tx.execute(stmt)).first() is not None


async def promote_next(tx: Tx, workflow_id: str, now: datetime) -> str | None:
    """Move the workflow's earliest due PENDING job to QUEUED if nothing of it is active."""
    first_pending = (
        select(jobs.c.id)
        .where(
            jobs.c.workflow_id == workflow_id,
            jobs.c.status == JobStatus.PENDING.value,
            jobs.c.scheduled_at <= now,
        )
        .order_by(jobs.c.scheduled_at, jobs.c.id)
        .limit(1)
        .scalar_subquery()
    )
    active = exists().where(jobs.c.workflow_id == workflow_id, jobs.c.status.in_(_ACTIVE))
    stmt = (
        update(jobs)
        .where(jobs.c.id == first_pending, ~active)
        .values(status=JobStatus.QUEUED.value, available_at=now, updated_at=now)
        .returning(jobs.c.id)
    )
    if tx.dialect.name == "sqlite":
        # writers take turns there: nobody can promote in between (and a savepoint costs two
        # more statements in the transactions that hold the one write lock)
        row = (await tx.execute(stmt)).first()
        return row[0] if row else None
    try:
        async with tx.begin_nested():
            row = (await tx.execute(stmt)).first()
    except IntegrityError:
        return None  # another process promoted a job of this workflow first
    return row[0] if row else None


async def workflows_with_due_pending(tx: Tx, now: datetime, limit: int = 500) -> list[str]:
    """Workflows that have a due PENDING job and nothing QUEUED or RUNNING."""
    p = jobs.alias("pending")
    a = jobs.alias("active")
    stmt = (
        select(p.c.workflow_id)
        .where(
            p.c.status == JobStatus.PENDING.value,
            p.c.scheduled_at <= now,
            ~exists().where(a.c.workflow_id == p.c.workflow_id, a.c.status.in_(_ACTIVE)),
        )
        .distinct()
        .limit(limit)
    )
    return [r[0] for r in await tx.execute(stmt)]


async def get(tx: Tx, job_id: str) -> Job | None:
    row = (await tx.execute(select(jobs).where(jobs.c.id == job_id))).first()
    return to_job(row) if row else None


async def get_owned(tx: Tx, user_id: str, workflow_id: str, job_id: str) -> Job | None:
    row = (
        await tx.execute(
            select(jobs).where(
                jobs.c.id == job_id, jobs.c.workflow_id == workflow_id, jobs.c.user_id == user_id
            )
        )
    ).first()
    return to_job(row) if row else None


async def list_for_workflow(
    tx: Tx,
    workflow_id: str,
    *,
    before_id: str | None,
    limit: int,
    status: str | None,
    trigger: str | None,
) -> list[Job]:
    conditions = [jobs.c.workflow_id == workflow_id]
    if before_id is not None:
        conditions.append(jobs.c.id < before_id)
    if status is not None:
        conditions.append(jobs.c.status == status)
    if trigger is not None:
        conditions.append(jobs.c.trigger == trigger)
    stmt = select(jobs).where(and_(*conditions)).order_by(jobs.c.id.desc()).limit(limit)
    return [to_job(r) for r in await tx.execute(stmt)]


async def claim(
    db: Database, tx: Tx, *, owner: str, token: str, now: datetime, lease_until: datetime
) -> Job | None:
    """Take the oldest due QUEUED job of a built, active workflow: RUNNING, attempts + 1, leased
    to `owner` with `token`. Jobs wait while their workflow's current payload is not built.

    `log_state` becomes `streaming`, except that `truncated` stays: an earlier attempt already
    hit the per-job cap, and the next attempt's log writer must know it.
    """
    candidate = _claim_candidate(now)
    if db.is_postgres:
        # lock the job only: a claim must never wait on (or hold) its workflow's row
        candidate = candidate.with_for_update(skip_locked=True, of=jobs)
    stmt = (
        update(jobs)
        .where(jobs.c.id == candidate.scalar_subquery(), jobs.c.status == JobStatus.QUEUED.value)
        .values(
            status=JobStatus.RUNNING.value,
            attempts=jobs.c.attempts + 1,
            lease_token=token,
            lease_owner=owner,
            lease_expires_at=lease_until,
            started_at=func.coalesce(jobs.c.started_at, now),
            updated_at=now,
            log_state=_streaming_unless_truncated(),
        )
        .returning(*jobs.c)
    )
    row = (await tx.execute(stmt)).first()
    return to_job(row) if row else None


def _claim_candidate(now: datetime) -> Select[tuple[str]]:
    """The next job to claim: the oldest due QUEUED job of a built, active workflow."""
    return (
        select(jobs.c.id)
        .join(workflows, workflows.c.id == jobs.c.workflow_id)
        .where(
            jobs.c.status == JobStatus.QUEUED.value,
            jobs.c.available_at <= now,
            workflows.c.build_status == BuildStatus.COMPLETED.value,
            workflows.c.terminated_at.is_(None),
        )
        .order_by(jobs.c.available_at, jobs.c.id)
        .limit(1)
    )


async def claimable(tx: Tx, now: datetime) -> bool:
    """Whether `claim` would find a job to take now (a read: no lock taken)."""
    return (await tx.execute(_claim_candidate(now))).first() is not None


def _streaming_unless_truncated() -> Any:
    truncated = LogState.TRUNCATED.value
    return case((jobs.c.log_state == truncated, truncated), else_=LogState.STREAMING.value)


async def renew_lease(
    tx: Tx, job_id: str, token: str, now: datetime, lease_until: datetime
) -> tuple[bool, datetime | None]:
    """Extend a held lease. Returns (still held, cancel requested at)."""
    stmt = (
        update(jobs)
        .where(
            jobs.c.id == job_id,
            jobs.c.lease_token == token,
            jobs.c.status == JobStatus.RUNNING.value,
        )
        .values(lease_expires_at=lease_until)
        .returning(jobs.c.cancel_requested_at)
    )
    row = (await tx.execute(stmt)).first()
    if row is None:
        return False, None
    return True, row[0]


async def finish(
    tx: Tx,
    job_id: str,
    token: str | None,
    *,
    status: JobStatus,
    now: datetime,
    exit_code: int | None,
    failure_reason: str | None,
    available_at: datetime | None = None,
    log_state: LogState | None = None,
    log_expires_at: datetime | None = None,
) -> Job | None:
    """Fenced end of an attempt: only the lease holder (or, with token None, nobody's) may write.

    `status` QUEUED re-queues for another attempt at `available_at`; terminal statuses set
    `completed_at`. Returns the updated job, or None when the lease was lost.
    """
    values: dict[str, Any] = {
        "status": status.value,
        "exit_code": exit_code,
        "failure_reason": failure_reason,
        "lease_token": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": now,
    }
    if status == JobStatus.QUEUED:
        values["available_at"] = available_at or now
    else:
        values["completed_at"] = now
        values["log_expires_at"] = log_expires_at
    if log_state in (LogState.COMPLETE, LogState.STREAMING):
        # a cap hit is final: no later attempt (nor a writer that failed to say so) undoes it
        truncated = LogState.TRUNCATED.value
        values["log_state"] = case(
            (jobs.c.log_state == truncated, truncated), else_=log_state.value
        )
    elif log_state is not None:
        values["log_state"] = log_state.value
    fence = jobs.c.lease_token == token if token is not None else jobs.c.lease_token.is_(None)
    stmt = (
        update(jobs)
        .where(jobs.c.id == job_id, fence, jobs.c.status == JobStatus.RUNNING.value)
        .values(**values)
        .returning(*jobs.c)
    )
    row = (await tx.execute(stmt)).first()
    return to_job(row) if row else None


async def cancel_waiting(tx: Tx, workflow_id: str, job_id: str, now: datetime) -> Job | None:
    """PENDING or QUEUED → CANCELED at once (nothing runs yet)."""
    canceled = await _cancel_waiting(tx, workflow_id, now, job_id=job_id)
    return canceled[0] if canceled else None


async def request_cancel(tx: Tx, job_id: str, now: datetime) -> bool:
    """Ask the worker running the job to stop it; it finishes the job as CANCELED."""
    stmt = (
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING.value)
        .values(cancel_requested_at=func.coalesce(jobs.c.cancel_requested_at, now), updated_at=now)
    )
    return bool((await tx.execute(stmt)).rowcount)


async def expired_leases(tx: Tx, now: datetime, limit: int = 100) -> list[Job]:
    """RUNNING jobs whose lease has run out, unlocked: `expire_lease` re-checks each one."""
    stmt = (
        select(jobs)
        .where(jobs.c.status == JobStatus.RUNNING.value, jobs.c.lease_expires_at < now)
        .order_by(jobs.c.lease_expires_at)
        .limit(limit)
    )
    return [to_job(r) for r in await tx.execute(stmt)]


async def expire_lease(tx: Tx, job: Job, now: datetime) -> Job | None:
    """Take the lease away from a dead worker: fenced on the token it had, and only if it is still
    expired (it may have been renewed since it was listed). Returns the job as it is now."""
    stmt = (
        update(jobs)
        .where(
            jobs.c.id == job.id,
            jobs.c.lease_token == job.lease_token,
            jobs.c.status == JobStatus.RUNNING.value,
            jobs.c.lease_expires_at < now,
        )
        .values(lease_token=None, lease_owner=None, lease_expires_at=None, updated_at=now)
        .returning(*jobs.c)
    )
    row = (await tx.execute(stmt)).first()
    return to_job(row) if row else None


async def cancel_workflow_jobs(
    tx: Tx,
    workflow_id: str,
    now: datetime,
    *,
    automatic_only: bool = False,
    reason: str = CANCELED_REASON,
) -> list[Job]:
    """Cancel the workflow's PENDING/QUEUED jobs (`failure_reason` = `reason`); as they are now."""
    return await _cancel_waiting(tx, workflow_id, now, automatic_only=automatic_only, reason=reason)


async def _cancel_waiting(
    tx: Tx,
    workflow_id: str,
    now: datetime,
    *,
    job_id: str | None = None,
    automatic_only: bool = False,
    reason: str = CANCELED_REASON,
) -> list[Job]:
    """Cancel waiting jobs and end their logs as any finished job's: retention applies to lines
    of earlier attempts too (a job re-queued after a system failure already has some)."""
    retention_row = (
        await tx.execute(
            select(workflows.c.log_retention, workflows.c.log_retention_days).where(
                workflows.c.id == workflow_id
            )
        )
    ).first()
    keep, days = (bool(retention_row[0]), retention_row[1]) if retention_row else (True, None)
    conditions = [
        jobs.c.workflow_id == workflow_id,
        jobs.c.status.in_([JobStatus.PENDING.value, JobStatus.QUEUED.value]),
    ]
    if job_id is not None:
        conditions.append(jobs.c.id == job_id)
    if automatic_only:
        conditions.append(jobs.c.trigger == Trigger.AUTOMATIC.value)
    stmt = (
        update(jobs)
        .where(*conditions)
        .values(
            status=JobStatus.CANCELED.value,
            completed_at=now,
            updated_at=now,
            failure_reason=reason,
            log_state=(LogState.COMPLETE if keep else LogState.DISABLED).value,
            log_expires_at=log_expiry(now, keep, days),
        )
        .returning(*jobs.c)
    )
    canceled = [to_job(r) for r in await tx.execute(stmt)]
    if not keep and canceled:
        await tx.execute(
            delete(log_chunks).where(log_chunks.c.job_id.in_([job.id for job in canceled]))
        )
    return canceled


async def request_cancel_workflow(tx: Tx, workflow_id: str, now: datetime) -> list[str]:
    stmt = (
        update(jobs)
        .where(jobs.c.workflow_id == workflow_id, jobs.c.status == JobStatus.RUNNING.value)
        .values(cancel_requested_at=func.coalesce(jobs.c.cancel_requested_at, now), updated_at=now)
        .returning(jobs.c.id)
    )
    return [r[0] for r in await tx.execute(stmt)]


async def has_pending_automatic(tx: Tx, workflow_id: str) -> bool:
    stmt = select(
        exists().where(
            jobs.c.workflow_id == workflow_id,
            jobs.c.status == JobStatus.PENDING.value,
            jobs.c.trigger == Trigger.AUTOMATIC.value,
        )
    )
    return bool((await tx.execute(stmt)).scalar())


async def count_by_status(tx: Tx) -> dict[str, int]:
    rows = await tx.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
    return {r[0]: int(r[1]) for r in rows}


async def running_ids(tx: Tx, workflow_id: str, *, cancel_requested: bool) -> list[str]:
    """The workflow's RUNNING jobs (only those asked to stop, with `cancel_requested`)."""
    stmt = select(jobs.c.id).where(
        jobs.c.workflow_id == workflow_id, jobs.c.status == JobStatus.RUNNING.value
    )
    if cancel_requested:
        stmt = stmt.where(jobs.c.cancel_requested_at.is_not(None))
    return [r[0] for r in await tx.execute(stmt)]
