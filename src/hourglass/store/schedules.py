"""Queries the engine makes on workflows: due schedules, builds (leased, renewed,
generation-guarded), run specs for workers, the consecutive-failure count, and the workflow lock
that comes first in every transaction writing several rows of one workflow (see `jobs.py`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, update

from hourglass.domain.jobs import BuildStatus, Kind, RunSpec
from hourglass.domain.schedule import Schedule
from hourglass.store.db import Database, Tx
from hourglass.store.schema import workflows


@dataclass(frozen=True, slots=True)
class DueWorkflow:
    id: str
    user_id: str
    schedule: Schedule
    next_run_at: datetime | None
    generation: int


@dataclass(frozen=True, slots=True)
class BuildTask:
    workflow_id: str
    kind: Kind
    payload: dict[str, Any]
    generation: int
    token: str
    user_id: str = ""
    name: str = ""  # the workflow's name when the build was claimed (for messages about it)


def _spec(row: Any) -> RunSpec:
    return RunSpec(
        workflow_id=row.id,
        user_id=row.user_id,
        kind=Kind(row.kind),
        payload=json.loads(row.payload),
        generation=row.generation,
        log_retention=bool(row.log_retention),
        log_retention_days=row.log_retention_days,
        terminated=row.terminated_at is not None,
        built=row.build_status == BuildStatus.COMPLETED.value,
        name=row.name,
    )


async def lock_workflow(db: Database, tx: Tx, workflow_id: str) -> None:
    """Hold the workflow's row until the end of `tx`: the first lock of any transaction that
    then writes its jobs, so all of them lock in one order (SQLite serialises writers anyway).

    FOR NO KEY UPDATE is what an UPDATE of the row takes: it does not block the foreign-key
    checks of job inserts.
    """
    if not db.is_postgres:
        return
    stmt = (
        select(workflows.c.id).where(workflows.c.id == workflow_id).with_for_update(key_share=True)
    )
    await tx.execute(stmt)


async def due_workflows(tx: Tx, now: datetime, limit: int = 500) -> list[DueWorkflow]:
    """Built, active workflows whose next slot has come (or was never computed)."""
    stmt = (
        select(
            workflows.c.id,
            workflows.c.user_id,
            workflows.c.interval_minutes,
            workflows.c.cron,
            workflows.c.next_run_at,
            workflows.c.generation,
        )
        .where(
            workflows.c.build_status == BuildStatus.COMPLETED.value,
            workflows.c.terminated_at.is_(None),
            or_(workflows.c.next_run_at.is_(None), workflows.c.next_run_at <= now),
        )
        .limit(limit)
    )
    return [
        DueWorkflow(
            r.id, r.user_id, Schedule(r.interval_minutes, r.cron), r.next_run_at, r.generation
        )
        for r in await tx.execute(stmt)
    ]


async def earliest_next_run(tx: Tx) -> datetime | None:
    """The soonest `next_run_at` of any built, active workflow (None when nothing is scheduled)."""
    stmt = select(func.min(workflows.c.next_run_at)).where(
        workflows.c.build_status == BuildStatus.COMPLETED.value,
        workflows.c.terminated_at.is_(None),
    )
    value: datetime | None = (await tx.execute(stmt)).scalar()
    return value


async def advance_next_run(
    tx: Tx, workflow_id: str, expected: datetime | None, new: datetime
) -> bool:
    """Compare-and-set `next_run_at`: False when another scheduler moved it first."""
    current = (
        workflows.c.next_run_at.is_(None)
        if expected is None
        else workflows.c.next_run_at == expected
    )
    stmt = update(workflows).where(workflows.c.id == workflow_id, current).values(next_run_at=new)
    return bool((await tx.execute(stmt)).rowcount)


async def run_spec(tx: Tx, workflow_id: str) -> RunSpec | None:
    row = (await tx.execute(select(workflows).where(workflows.c.id == workflow_id))).first()
    return _spec(row) if row else None


def _build_candidate(now: datetime) -> Select[tuple[str]]:
    """The next build to take: a QUEUED one, or one whose builder died."""
    return (
        select(workflows.c.id)
        .where(
            or_(
                workflows.c.build_status == BuildStatus.QUEUED.value,
                (workflows.c.build_status == BuildStatus.STARTED.value)
                & (workflows.c.build_lease_expires_at < now),
            )
        )
        .order_by(workflows.c.updated_at)
        .limit(1)
    )


async def build_due(tx: Tx, now: datetime) -> bool:
    """Whether `claim_build` would find a build to take now (a read: no lock taken)."""
    return (await tx.execute(_build_candidate(now))).first() is not None


async def claim_build(
    db: Database, tx: Tx, *, token: str, now: datetime, lease_until: datetime
) -> BuildTask | None:
    """Take a QUEUED build (or one whose builder died): STARTED, leased with `token`."""
    candidate = _build_candidate(now)
    if db.is_postgres:
        candidate = candidate.with_for_update(skip_locked=True)
    stmt = (
        update(workflows)
        .where(workflows.c.id == candidate.scalar_subquery())
        .values(
            build_status=BuildStatus.STARTED.value,
            build_lease_token=token,
            build_lease_expires_at=lease_until,
            build_reason=None,
        )
        .returning(
            workflows.c.id,
            workflows.c.kind,
            workflows.c.payload,
            workflows.c.generation,
            workflows.c.user_id,
            workflows.c.name,
        )
    )
    row = (await tx.execute(stmt)).first()
    if row is None:
        return None
    payload = json.loads(row.payload)
    return BuildTask(row.id, Kind(row.kind), payload, row.generation, token, row.user_id, row.name)


def _held(task: BuildTask) -> tuple[ColumnElement[bool], ...]:
    """The workflow still runs this build: same generation, same builder, still STARTED."""
    return (
        workflows.c.id == task.workflow_id,
        workflows.c.generation == task.generation,
        workflows.c.build_lease_token == task.token,
        workflows.c.build_status == BuildStatus.STARTED.value,
    )


async def renew_build(tx: Tx, task: BuildTask, lease_until: datetime) -> bool:
    """Extend a build's lease; False once it is no longer this builder's (superseded, taken)."""
    stmt = update(workflows).where(*_held(task)).values(build_lease_expires_at=lease_until)
    return bool((await tx.execute(stmt)).rowcount)


async def finish_build(
    tx: Tx,
    task: BuildTask,
    *,
    status: BuildStatus,
    reason: str | None,
    now: datetime,
) -> bool:
    """Record a build's end unless a newer generation (or another builder) superseded it."""
    stmt = (
        update(workflows)
        .where(*_held(task))
        .values(
            build_status=status.value,
            build_reason=reason,
            build_lease_token=None,
            build_lease_expires_at=None,
            next_run_at=None,
            updated_at=now,
        )
    )
    return bool((await tx.execute(stmt)).rowcount)


async def failure_count(tx: Tx, workflow_id: str) -> tuple[int, int]:
    """(consecutive failures, max allowed) of a workflow; the caller holds `lock_workflow`.

    No lock of its own: upgrading to FOR UPDATE would wait on the foreign-key locks of
    concurrent job inserts while holding job rows, which is how deadlocks start.
    """
    stmt = select(
        workflows.c.consecutive_job_failures_count,
        workflows.c.max_consecutive_job_failures_allowed,
    ).where(workflows.c.id == workflow_id)
    row = (await tx.execute(stmt)).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def set_failure_count(tx: Tx, workflow_id: str, count: int) -> None:
    stmt = (
        update(workflows)
        .where(workflows.c.id == workflow_id)
        .values(consecutive_job_failures_count=count)
    )
    await tx.execute(stmt)


async def terminate(tx: Tx, workflow_id: str, now: datetime) -> bool:
    stmt = (
        update(workflows)
        .where(workflows.c.id == workflow_id, workflows.c.terminated_at.is_(None))
        .values(terminated_at=now, updated_at=now, next_run_at=None)
    )
    return bool((await tx.execute(stmt)).rowcount)
