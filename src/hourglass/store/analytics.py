"""Queries for analytics: one upsert per finished job (in the transaction that finished it), and
the sums the analytics routes read. See `domain/analytics.py` for what a row counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, func, or_, select

from hourglass.domain.analytics import NO_DURATION, JobCount, StatsRow
from hourglass.domain.jobs import JobStatus
from hourglass.store.db import Database, Tx
from hourglass.store.schema import job_stats, jobs, workflows

_LIVE = [JobStatus.PENDING.value, JobStatus.QUEUED.value, JobStatus.RUNNING.value]


async def add_job(db: Database, tx: Tx, user_id: str, workflow_id: str, count: JobCount) -> None:
    """Count one finished job into its (workflow, day, status, bucket) row."""
    c = job_stats.c
    stmt = db.insert(job_stats).values(
        user_id=user_id,
        workflow_id=workflow_id,
        day=count.day,
        status=count.status.value,
        bucket=count.bucket,
        jobs=1,
        duration_ms=count.duration_ms,
        log_lines=count.log_lines,
        log_bytes=count.log_bytes,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["workflow_id", "day", "status", "bucket"],
        set_={
            "jobs": c.jobs + 1,
            "duration_ms": c.duration_ms + count.duration_ms,
            "log_lines": c.log_lines + count.log_lines,
            "log_bytes": c.log_bytes + count.log_bytes,
        },
    )
    await tx.execute(stmt)


def _rows(result: Any) -> list[StatsRow]:
    return [
        StatsRow(r.day, r.status, int(r.bucket), int(r.jobs), int(r.duration_ms), int(r.log_lines))
        for r in result
    ]


async def user_rows(tx: Tx, user_id: str) -> list[StatsRow]:
    """The user's counts summed per status (one row each, without day or bucket)."""
    c = job_stats.c
    stmt = (
        select(c.status, func.sum(c.jobs), func.sum(c.duration_ms), func.sum(c.log_lines))
        .where(c.user_id == user_id)
        .group_by(c.status)
    )
    return [
        StatsRow("", status, NO_DURATION, int(n), int(ms), int(lines))
        for status, n, ms, lines in await tx.execute(stmt)
    ]


async def workflow_rows(
    tx: Tx, user_id: str, workflow_id: str, since_day: str | None = None
) -> list[StatsRow]:
    """The workflow's rows (from `since_day` on, if given)."""
    c = job_stats.c
    stmt = select(c.day, c.status, c.bucket, c.jobs, c.duration_ms, c.log_lines).where(
        c.workflow_id == workflow_id, c.user_id == user_id
    )
    if since_day is not None:
        stmt = stmt.where(c.day >= since_day)
    return _rows(await tx.execute(stmt))


async def count_workflows(tx: Tx, user_id: str) -> int:
    stmt = select(func.count()).select_from(workflows).where(workflows.c.user_id == user_id)
    return int((await tx.execute(stmt)).scalar_one())


async def known_workflow(tx: Tx, user_id: str, workflow_id: str) -> bool:
    """Whether the workflow is the user's, or was (a deleted one that has counts)."""
    stmt = select(
        or_(
            exists().where(workflows.c.id == workflow_id, workflows.c.user_id == user_id),
            exists().where(job_stats.c.workflow_id == workflow_id, job_stats.c.user_id == user_id),
        )
    )
    return bool((await tx.execute(stmt)).scalar())


async def live_counts(tx: Tx, workflow_id: str) -> dict[str, int]:
    """How many of the workflow's jobs are PENDING, QUEUED and RUNNING now."""
    stmt = (
        select(jobs.c.status, func.count())
        .where(jobs.c.workflow_id == workflow_id, jobs.c.status.in_(_LIVE))
        .group_by(jobs.c.status)
    )
    return {r[0]: int(r[1]) for r in await tx.execute(stmt)}
