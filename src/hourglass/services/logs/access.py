"""Who may read which job log, and when: the checks every log route makes before its parameters.

The four log routes check, in this order and before any byte of the body: 401 (done by the web
layer) → 404 workflow or job not found / not the caller's → 412 retained-log route while the
workflow keeps no logs, or the job's logs expired → 400 bad parameters. So the routes hand their
query parameters over as raw strings (`params`) and parse them only after these checks pass.
"""

from __future__ import annotations

from hourglass.domain.common import is_valid_id
from hourglass.domain.jobs import Job, LogState
from hourglass.errors import NotFound, PreconditionFailed
from hourglass.store.db import Database, Tx
from hourglass.store.logs import reads as log_reads


def check_readable(job: Job, log_retention: bool, *, retained: bool) -> None:
    """412 if the job's logs expired, or if they are not kept: on the retained-log routes
    whenever the workflow keeps none, on the live stream once the job ended without them."""
    if job.log_state == LogState.EXPIRED:
        raise PreconditionFailed("the logs of this job have expired")
    disabled = job.log_state == LogState.DISABLED
    if retained and (not log_retention or disabled):
        raise PreconditionFailed("log retention is disabled for this workflow")
    if disabled and job.is_finished:
        raise PreconditionFailed("this job's logs were not kept (log retention is disabled)")


async def readable_log(
    tx: Tx, user_id: str, workflow_id: str, job_id: str, *, retained: bool = True
) -> tuple[Job, int]:
    """The caller's job for a log route and its log's last sequence number, inside the caller's
    read transaction (so the job row and the chunks read next agree): 404 if it is not theirs,
    412 if its logs are not kept."""
    found = None
    if is_valid_id(workflow_id) and is_valid_id(job_id):
        found = await log_reads.readable_job(tx, user_id, workflow_id, job_id)
    if found is None:
        raise NotFound("job not found")
    job, log_retention, last_seq = found
    check_readable(job, log_retention, retained=retained)
    return job, last_seq


async def readable_job(
    tx: Tx, user_id: str, workflow_id: str, job_id: str, *, retained: bool = True
) -> Job:
    """`readable_log` without the last sequence number."""
    job, _ = await readable_log(tx, user_id, workflow_id, job_id, retained=retained)
    return job


async def log_target(
    db: Database, user_id: str, workflow_id: str, job_id: str, *, retained: bool
) -> Job:
    """`readable_job` in a read of its own (for the streamed routes)."""
    async with db.read() as tx:
        return await readable_job(tx, user_id, workflow_id, job_id, retained=retained)
