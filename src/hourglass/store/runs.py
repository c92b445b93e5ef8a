"""Read-only run summaries for overviews: the latest run of each of a page of workflows.

A "run" is a job that started (`started_at` set): waiting jobs are not runs yet. One query for
a whole page: a correlated `ORDER BY id DESC LIMIT 1` per workflow walks the `(workflow_id, id)`
index from the newest job and stops at the first that started, so its cost does not grow with
a workflow's history.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from hourglass.domain.jobs import Job
from hourglass.store.db import Tx
from hourglass.store.jobs import to_job
from hourglass.store.schema import jobs, workflows


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
