"""Read-only run summaries for overviews: the latest run of each of a page of workflows, and
the analytics counts of each of them over a window of days.

A "run" is a job that started (`started_at` set): waiting jobs are not runs yet. One query for
a whole page: a correlated `ORDER BY id DESC LIMIT 1` per workflow walks the `(workflow_id, id)`
index from the newest job and stops at the first that started, so its cost does not grow with
a workflow's history. The counts are `job_stats` rows (see `domain/analytics.py`) summed per
workflow, status and bucket in one query, and the waiting/running jobs counted in another.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from hourglass.domain.analytics import StatsRow
from hourglass.domain.jobs import Job, JobStatus
from hourglass.store.db import Tx
from hourglass.store.jobs import to_job
from hourglass.store.schema import job_stats, jobs, workflows

_LIVE = [JobStatus.PENDING.value, JobStatus.QUEUED.value, JobStatus.RUNNING.value]


async def last_runs(tx: Tx, user_id: str, workflow_ids: Sequence[str]) -> dict[str, Job]:
    """The newest started job of each of the user's `workflow_ids` that has one, by workflow."""
    if not workflow_ids:
        return {}
    newest = (
        select(jobs.c.id)
        .where(jobs.c.workflow_id == workflows.c.id, jobs.c.started_at.is_not(None))
        .order_by(jobs.c.id.desc())
        .limit(1)
        .correlate(workflows)
        .scalar_subquery()
    )
    ids = select(newest).where(
        workflows.c.user_id == user_id, workflows.c.id.in_(list(workflow_ids))
    )
    rows = await tx.execute(select(jobs).where(jobs.c.id.in_(ids)))
    found = (to_job(row) for row in rows)
    return {job.workflow_id: job for job in found}


async def stats_since(
    tx: Tx, user_id: str, workflow_ids: Sequence[str], since_day: str
) -> dict[str, list[StatsRow]]:
    """The user's counts of each of `workflow_ids` from `since_day` on, summed over the days
    (one row per status and bucket, `day` left blank), by workflow."""
    if not workflow_ids:
        return {}
    c = job_stats.c
    stmt = (
        select(
            c.workflow_id,
            c.status,
            c.bucket,
            func.sum(c.jobs),
            func.sum(c.duration_ms),
            func.sum(c.log_lines),
        )
        .where(c.user_id == user_id, c.workflow_id.in_(list(workflow_ids)), c.day >= since_day)
        .group_by(c.workflow_id, c.status, c.bucket)
    )
    found: dict[str, list[StatsRow]] = {}
    for workflow_id, status, bucket, count, ms, lines in await tx.execute(stmt):
        row = StatsRow("", status, int(bucket), int(count), int(ms), int(lines))
        found.setdefault(workflow_id, []).append(row)
    return found


async def live_counts(
    tx: Tx, user_id: str, workflow_ids: Sequence[str]
) -> dict[str, dict[str, int]]:
    """How many jobs of each of the user's `workflow_ids` are PENDING, QUEUED and RUNNING now."""
    if not workflow_ids:
        return {}
    stmt = (
        select(jobs.c.workflow_id, jobs.c.status, func.count())
        .where(
            jobs.c.user_id == user_id,
            jobs.c.workflow_id.in_(list(workflow_ids)),
            jobs.c.status.in_(_LIVE),
        )
        .group_by(jobs.c.workflow_id, jobs.c.status)
    )
    found: dict[str, dict[str, int]] = {}
    for workflow_id, status, count in await tx.execute(stmt):
        found.setdefault(workflow_id, {})[status] = int(count)
    return found
