"""Job logs as readers see them: who may read which job's log, and in what state it is.

The four log routes check, in this order and before any byte of the body: 401 (done by the web
layer) → 404 workflow or job not found / not the caller's → 412 retained-log route while the
workflow keeps no logs, or the job's logs expired → 400 bad parameters (checked by each route).
"""

from __future__ import annotations

from dataclasses import dataclass

from hourglass.domain.common import is_valid_id
from hourglass.domain.jobs import Job, LogState
from hourglass.domain.workflows import Workflow
from hourglass.errors import NotFound, PreconditionFailed
from hourglass.store import jobs as job_store
from hourglass.store import workflows as workflow_store
from hourglass.store.db import Database


@dataclass(frozen=True, slots=True)
class LogTarget:
    """A job whose log the caller may read, with the workflow it belongs to."""

    job: Job
    workflow: Workflow


async def log_target(
    db: Database, user_id: str, workflow_id: str, job_id: str, *, retained: bool
) -> LogTarget:
    """The caller's job for a log route: 404 if not theirs, 412 if its logs are not kept."""
    if not (is_valid_id(workflow_id) and is_valid_id(job_id)):
        raise NotFound("job not found")
    async with db.read() as tx:
        workflow = await workflow_store.get_owned(db, tx, user_id, workflow_id)
        job = await job_store.get_owned(tx, user_id, workflow_id, job_id) if workflow else None
    if workflow is None or job is None:
        raise NotFound("job not found")
    if job.log_state == LogState.EXPIRED:
        raise PreconditionFailed("the logs of this job have expired")
    if retained and (not workflow.log_retention or job.log_state == LogState.DISABLED):
        raise PreconditionFailed("log retention is disabled for this workflow")
    return LogTarget(job, workflow)
