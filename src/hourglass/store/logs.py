"""Queries for job logs: chunk rows (one per writer flush) and the per-job log totals.

A chunk insert is fenced by the writer's lease token and idempotent on `(job_id, first_seq)`, so
a replayed flush never duplicates a line and a worker that lost its lease writes nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, exists, literal, select, true, update

from hourglass.domain.jobs import JobStatus
from hourglass.domain.logs import Chunk
from hourglass.store.db import Database, Tx
from hourglass.store.schema import jobs, log_chunks


def _chunk(row: Any) -> Chunk:
    return Chunk(row.first_seq, row.last_seq, row.byte_offset, bytes(row.text), bytes(row.meta))


async def insert_chunk(
    db: Database, tx: Tx, job_id: str, chunk: Chunk, lease_token: str | None
) -> bool:
    """Store one chunk and bump the job's totals; False if fenced out or already stored.

    With `lease_token` the job must still be RUNNING under that lease; with None (a system line
    written by the engine itself) it is not checked.
    """
    held = exists().where(
        jobs.c.id == job_id,
        jobs.c.lease_token == lease_token,
        jobs.c.status == JobStatus.RUNNING.value,
    )
    source = select(
        literal(job_id),
        literal(chunk.first_seq),
        literal(chunk.last_seq),
        literal(chunk.byte_offset),
        literal(chunk.text),
        literal(chunk.meta),
    )
    # SQLite needs a WHERE in INSERT … SELECT … ON CONFLICT to parse it
    source = source.where(held if lease_token is not None else true())
    stmt = (
        db.insert(log_chunks)
        .from_select(["job_id", "first_seq", "last_seq", "byte_offset", "text", "meta"], source)
        .on_conflict_do_nothing(index_elements=["job_id", "first_seq"])
        .returning(log_chunks.c.first_seq)
    )
    if (await tx.execute(stmt)).first() is None:
        return False
    await tx.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(
            log_lines=chunk.last_seq,
            log_bytes=chunk.byte_offset + len(chunk.text),
        )
    )
    return True


async def log_end(tx: Tx, job_id: str) -> tuple[int, int]:
    """(last stored seq, stored text bytes) of the job: where its next chunk starts."""
    row = (
        await tx.execute(select(jobs.c.log_lines, jobs.c.log_bytes).where(jobs.c.id == job_id))
    ).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def chunks_after(tx: Tx, job_id: str, after_seq: int, limit: int) -> list[Chunk]:
    """Up to `limit` chunks holding lines with seq > `after_seq`, in ascending order."""
    stmt = (
        select(log_chunks)
        .where(log_chunks.c.job_id == job_id, log_chunks.c.last_seq > after_seq)
        .order_by(log_chunks.c.first_seq)
        .limit(limit)
    )
    return [_chunk(r) for r in await tx.execute(stmt)]


async def chunks_before(tx: Tx, job_id: str, before_seq: int, limit: int) -> list[Chunk]:
    """Up to `limit` chunks holding lines with seq < `before_seq`, in descending order."""
    stmt = (
        select(log_chunks)
        .where(log_chunks.c.job_id == job_id, log_chunks.c.first_seq < before_seq)
        .order_by(log_chunks.c.first_seq.desc())
        .limit(limit)
    )
    return [_chunk(r) for r in await tx.execute(stmt)]


async def delete_job_logs(tx: Tx, job_id: str) -> None:
    await tx.execute(delete(log_chunks).where(log_chunks.c.job_id == job_id))


__all__ = ["chunks_after", "chunks_before", "delete_job_logs", "insert_chunk", "log_end"]
