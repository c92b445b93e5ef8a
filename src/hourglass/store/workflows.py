"""Queries for workflows as their owners see them: create, read, replace, terminate, delete, list.

Every query names the owner (`user_id`), so another user's workflow is simply not found. The
engine's own queries on workflows (builds, due schedules, failure counts) live in `schedules.py`.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, select, update

from hourglass.domain.jobs import BuildStatus, JobStatus, Kind
from hourglass.domain.workflows import Change, Workflow, WorkflowFilter
from hourglass.store.db import Database, Tx
from hourglass.store.schema import jobs, workflows


def to_workflow(row: Any) -> Workflow:
    m = row._mapping
    return Workflow(
        id=m["id"],
        user_id=m["user_id"],
        name=m["name"],
        kind=Kind(m["kind"]),
        payload=json.loads(m["payload"]),
        interval_minutes=m["interval_minutes"],
        cron=m["cron"],
        build_status=BuildStatus(m["build_status"]),
        build_reason=m["build_reason"],
        generation=m["generation"],
        consecutive_job_failures_count=m["consecutive_job_failures_count"],
        max_consecutive_job_failures_allowed=m["max_consecutive_job_failures_allowed"],
        log_retention=bool(m["log_retention"]),
        log_retention_days=m["log_retention_days"],
        next_run_at=m["next_run_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        terminated_at=m["terminated_at"],
    )


def _definition(wf: Workflow) -> dict[str, Any]:
    """The columns a user's create or replace writes."""
    return {
        "name": wf.name,
        "kind": wf.kind.value,
        "payload": wf.payload_json,
        "interval_minutes": wf.interval_minutes,
        "cron": wf.cron,
        "max_consecutive_job_failures_allowed": wf.max_consecutive_job_failures_allowed,
        "log_retention": wf.log_retention,
        "log_retention_days": wf.log_retention_days,
        "consecutive_job_failures_count": wf.consecutive_job_failures_count,
        "terminated_at": wf.terminated_at,
        "updated_at": wf.updated_at,
    }


async def insert(tx: Tx, wf: Workflow) -> None:
    await tx.execute(
        workflows.insert().values(
            id=wf.id,
            user_id=wf.user_id,
            build_status=wf.build_status.value,
            build_reason=wf.build_reason,
            generation=wf.generation,
            next_run_at=wf.next_run_at,
            created_at=wf.created_at,
            **_definition(wf),
        )
    )


async def get_owned(
    db: Database, tx: Tx, user_id: str, workflow_id: str, *, lock: bool = False
) -> Workflow | None:
    """The user's workflow, or None; `lock` holds its row until the transaction ends."""
    stmt = select(workflows).where(workflows.c.id == workflow_id, workflows.c.user_id == user_id)
    if lock and db.is_postgres:
        stmt = stmt.with_for_update()
    row = (await tx.execute(stmt)).first()
    return to_workflow(row) if row else None


async def names(tx: Tx, workflow_ids: Collection[str]) -> dict[str, tuple[str, str]]:
    """(name, kind) of these workflows, by id (for messages and metrics about their jobs)."""
    stmt = select(workflows.c.id, workflows.c.name, workflows.c.kind).where(
        workflows.c.id.in_(list(workflow_ids))
    )
    return {r.id: (r.name, r.kind) for r in await tx.execute(stmt)}


async def replace(tx: Tx, wf: Workflow, change: Change) -> None:
    """Write an updated workflow (see `domain.workflows.apply_update`) read under a lock."""
    values = _definition(wf)
    if change.payload_changed:
        # the lease of a build of the old generation is void: its result must not land
        values.update(
            generation=wf.generation,
            build_status=wf.build_status.value,
            build_reason=None,
            build_lease_token=None,
            build_lease_expires_at=None,
        )
    if change.schedule_changed or change.reactivated:
        values["next_run_at"] = None
    await tx.execute(update(workflows).where(workflows.c.id == wf.id).values(**values))


async def terminate(tx: Tx, user_id: str, workflow_id: str, now: datetime) -> bool:
    """Mark the workflow terminated unless it already is; True if this call terminated it."""
    stmt = (
        update(workflows)
        .where(
            workflows.c.id == workflow_id,
            workflows.c.user_id == user_id,
            workflows.c.terminated_at.is_(None),
        )
        .values(terminated_at=now, updated_at=now, next_run_at=None)
    )
    return bool((await tx.execute(stmt)).rowcount)


async def exists_owned(tx: Tx, user_id: str, workflow_id: str) -> bool:
    stmt = select(exists().where(workflows.c.id == workflow_id, workflows.c.user_id == user_id))
    return bool((await tx.execute(stmt)).scalar())


async def has_running_job(tx: Tx, workflow_id: str) -> bool:
    stmt = select(
        exists().where(jobs.c.workflow_id == workflow_id, jobs.c.status == JobStatus.RUNNING.value)
    )
    return bool((await tx.execute(stmt)).scalar())


async def delete_workflow(tx: Tx, workflow_id: str) -> None:
    """Delete the workflow; its jobs and their log chunks go with it (ON DELETE CASCADE)."""
    await tx.execute(delete(workflows).where(workflows.c.id == workflow_id))


async def list_page(
    tx: Tx, user_id: str, where: WorkflowFilter, *, before_id: str | None, limit: int
) -> list[Workflow]:
    """Up to `limit` of the user's workflows matching `where`, newest first, older than
    `before_id` (the keyset cursor: stable under inserts, as fast on page 1000 as on page 1)."""
    stmt = _filtered(select(workflows).where(workflows.c.user_id == user_id), where)
    if before_id is not None:
        stmt = stmt.where(workflows.c.id < before_id)
    stmt = stmt.order_by(workflows.c.id.desc()).limit(limit)
    return [to_workflow(row) for row in await tx.execute(stmt)]


def _filtered(stmt: Select[Any], where: WorkflowFilter) -> Select[Any]:
    c = workflows.c
    if where.query is not None:
        # autoescape: `%` and `_` in the query are literal characters, not wildcards
        stmt = stmt.where(c.name.icontains(where.query, autoescape=True))
    if where.kind is not None:
        stmt = stmt.where(c.kind == where.kind.value)
    if where.build_status is not None:
        stmt = stmt.where(c.build_status == where.build_status.value)
    if where.terminated is not None:
        stmt = stmt.where(
            c.terminated_at.is_not(None) if where.terminated else c.terminated_at.is_(None)
        )
    if where.interval_min is not None:
        stmt = stmt.where(c.interval_minutes >= where.interval_min)
    if where.interval_max is not None:
        stmt = stmt.where(c.interval_minutes <= where.interval_max)
    return stmt
