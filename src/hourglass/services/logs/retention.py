"""How long job logs are kept: the sweep that deletes the logs of jobs past `log_expires_at`.

The scheduler runs it every minute (`Services.housekeeping`). Expired logs are deleted in small
batches, one transaction each, after marking the job `expired` so readers see 412 at once; a
sweep cut short is finished by the next one. The queries are `store.logs.retention`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from hourglass.store.db import Database
from hourglass.store.logs import retention as log_retention

SWEEP_BATCH: Final = 100


async def sweep_expired(db: Database, now: datetime, *, batch: int = SWEEP_BATCH) -> int:
    """Delete the logs of jobs past `log_expires_at`, at most `batch` chunks a transaction.

    Each job is marked `expired` first (readers get 412 at once), then its chunks go in
    batches, then its expiry is cleared. Returns how many jobs were cleaned up.
    """
    done = 0
    while True:
        async with db.write() as tx:
            job_ids = await log_retention.due_for_expiry(tx, now, batch)
            if job_ids:
                await log_retention.mark_expired(tx, job_ids)
        if not job_ids:
            return done
        for job_id in job_ids:
            await _delete_log(db, job_id, batch)
            done += 1


async def _delete_log(db: Database, job_id: str, batch: int) -> None:
    """The expired job's chunks, `batch` a transaction; its expiry cleared with the last."""
    while True:
        async with db.write() as tx:
            deleted = await log_retention.delete_chunk_batch(tx, job_id, batch)
            if deleted < batch:
                await log_retention.clear_expiry(tx, job_id)
        if deleted < batch:
            return
