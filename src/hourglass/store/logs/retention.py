"""Log retention: which jobs' logs are past their expiry, and deleting logs in small batches.

The sweep (`services.logs.retention`) marks a job `expired` first, so readers get 412 at once,
then deletes its chunks a batch per transaction and clears its expiry. `delete_job_logs` drops a
job's whole log in one go (the engine, when a job that keeps no logs ends).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update

from hourglass.domain.jobs import LogState
from hourglass.store.db import Tx
from hourglass.store.schema import jobs, log_chunks


async def delete_job_logs(tx: Tx, job_id: str) -> None:
    await tx.execute(delete(log_chunks).where(log_chunks.c.job_id == job_id))
    await tx.execute(update(jobs).where(jobs.c.id == job_id).values(log_cap=None))


async def due_for_expiry(tx: Tx, now: datetime, limit: int) -> list[str]:
    """Jobs whose logs are past their expiry and not yet cleaned up (`log_expires_at` set)."""
    stmt = (
        select(jobs.c.id)
        .where(jobs.c.log_expires_at <= now)
        .order_by(jobs.c.log_expires_at, jobs.c.id)
        .limit(limit)
    )
    return [r[0] for r in await tx.execute(stmt)]


async def mark_expired(tx: Tx, job_ids: Sequence[str]) -> None:
    """Readers get 412 from now on; a job that kept no logs (`disabled`) stays `disabled`."""
    keep = [LogState.EXPIRED.value, LogState.DISABLED.value]
    await tx.execute(
        update(jobs)
        .where(jobs.c.id.in_(list(job_ids)), jobs.c.log_state.not_in(keep))
        .values(log_state=LogState.EXPIRED.value, log_cap=None)
    )


async def delete_chunk_batch(tx: Tx, job_id: str, limit: int) -> int:
    """Delete the job's first `limit` chunks; how many were deleted."""
    first = (
        select(log_chunks.c.first_seq)
        .where(log_chunks.c.job_id == job_id)
        .order_by(log_chunks.c.first_seq)
        .limit(limit)
    )
    rows = [r[0] for r in await tx.execute(first)]
    if not rows:
        return 0
    await tx.execute(
        delete(log_chunks).where(log_chunks.c.job_id == job_id, log_chunks.c.first_seq <= rows[-1])
    )
    return len(rows)


async def clear_expiry(tx: Tx, job_id: str) -> None:
    """The job's logs are gone: nothing more for the sweep to do."""
    await tx.execute(update(jobs).where(jobs.c.id == job_id).values(log_expires_at=None))
