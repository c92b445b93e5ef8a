"""Log retention: `log_retention_days` expiry swept in batches, `log_retention=false` dropping
lines when the job ends, and the 412 answers that follow."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event

from hourglass.domain.jobs import LogState
from hourglass.services.container import Services
from hourglass.store.db import Database
from hourglass.store.schema import log_chunks
from tests.integration.log_helpers import finish, numbered, running_job, written_log
from tests.integration.workflow_helpers import count_rows, job_row
from tests.support import UserClient


def urls(got: Any) -> list[str]:
    base = f"/workflows/{got.job.workflow_id}/jobs/{got.job.id}/logs"
    return [base, base + "/search?q=line"]


@contextmanager
def chunk_deletes(db: Database) -> Iterator[list[int]]:
    """The row count of every DELETE on log_chunks the store runs meanwhile."""
    counts: list[int] = []

    def seen(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM LOG_CHUNKS"):
            counts.append(cursor.rowcount)

    event.listen(db.engine.sync_engine, "after_cursor_execute", seen)
    try:
        yield counts
    finally:
        event.remove(db.engine.sync_engine, "after_cursor_execute", seen)


async def test_expired_logs_are_deleted_in_batches_and_answer_412(
    alice: UserClient, services: Services
) -> None:
    """Past log_retention_days the sweep deletes the chunks a batch at a time; reads are 412."""
    got = await written_log(alice, services, numbered(25), chunk_lines=1, log_retention_days=2)
    row = await job_row(services.db, got.job.id)
    assert row.log_expires_at == row.completed_at + timedelta(days=2)
    assert await services.logs.sweep_expired(row.completed_at + timedelta(days=1)) == 0
    with chunk_deletes(services.db) as deletes:
        swept = await services.logs.sweep_expired(row.completed_at + timedelta(days=2), batch=10)
    assert swept == 1
    assert deletes == [10, 10, 5]
    assert await count_rows(services.db, log_chunks, job_id=got.job.id) == 0
    row = await job_row(services.db, got.job.id)
    assert (row.log_state, row.log_expires_at) == ("expired", None)
    for path in urls(got):
        response = await alice.get(path)
        assert response.status_code == 412
        assert "expired" in response.json()["detail"]


async def test_the_sweep_leaves_unexpired_and_forever_logs_alone(
    alice: UserClient, services: Services
) -> None:
    """Logs kept forever (`log_retention_days` null) or not yet due survive the sweep."""
    forever = await written_log(alice, services, numbered(3), log_retention_days=None)
    later = await written_log(alice, services, numbered(3), log_retention_days=30)
    now = (await job_row(services.db, later.job.id)).completed_at + timedelta(days=29)
    assert await services.logs.sweep_expired(now) == 0
    for got in (forever, later):
        assert (await job_row(services.db, got.job.id)).log_state == "complete"
        assert (await alice.get(urls(got)[0])).status_code == 200


async def test_without_retention_lines_live_only_while_the_job_runs(
    alice: UserClient, services: Services
) -> None:
    """With log_retention=false lines are stored while running and dropped when the job ends."""
    got = await running_job(alice, services, log_retention=False)
    out = await services.logs.outputs.open(got.job, got.spec, got.token)
    await out.write("stdout", b"transient\n")
    await out.flush()
    assert await count_rows(services.db, log_chunks, job_id=got.job.id) == 1
    await finish(services, got, await out.close())
    assert await count_rows(services.db, log_chunks, job_id=got.job.id) == 0
    assert (await job_row(services.db, got.job.id)).log_state == LogState.DISABLED
    for path in urls(got):
        assert (await alice.get(path)).status_code == 412


async def test_the_scheduler_housekeeping_includes_the_log_sweep(services: Services) -> None:
    """`Services.housekeeping()` hands the scheduler the idempotency prune and the log sweep."""
    tasks = services.housekeeping()
    assert services.logs.sweep_expired in tasks
    assert services.idempotency.prune in tasks
    for task in tasks:
        await task()
