"""Queries for job logs: chunk rows (one per writer flush), the per-job log totals, retention.

A chunk insert is fenced by the writer's lease token and idempotent on `(job_id, first_seq)`, so
a replayed flush never duplicates a line and a worker that lost its lease writes nothing.

Every read is a range of the `(job_id, first_seq)` key: the chunk holding sequence number `s` is
the one with the greatest `first_seq <= s`, found by one index probe, so a read at the end of a
million-line log costs what a read at its start does.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal,
    select,
    text,
    true,
    update,
)

from hourglass.domain.jobs import Job, JobStatus, LogState
from hourglass.domain.logs import Chunk
from hourglass.store.db import Database, Tx
from hourglass.store.jobs import to_job
from hourglass.store.schema import jobs, log_chunks, workflows

_COLUMNS = ["job_id", "first_seq", "last_seq", "byte_offset", "text", "meta"]
# Aliases for subqueries, so they are never correlated to the outer query; made once, as making
# one costs more than running a page query.
_HOLDING = log_chunks.alias("holding")


@dataclass(frozen=True, slots=True)
class ChunkHead:
    """A chunk without its text: enough to plan which chunks a read needs."""

    first_seq: int
    last_seq: int
    meta: bytes


def _chunk(row: Any) -> Chunk:
    return Chunk(row.first_seq, row.last_seq, row.byte_offset, bytes(row.text), bytes(row.meta))


async def _compress_fast(db: Database, tx: Tx) -> None:
    # PostgreSQL compresses large values with pglz unless told otherwise; lz4 (built into PG 15
    # packages) writes ~3x faster and reads faster, and applies per transaction: no migration.
    if db.is_postgres:
        await tx.execute(text("SET LOCAL default_toast_compression = 'lz4'"))


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
        .from_select(_COLUMNS, source)
        .on_conflict_do_nothing(index_elements=["job_id", "first_seq"])
        .returning(log_chunks.c.first_seq)
    )
    if (await tx.execute(stmt)).first() is None:
        return False
    await _bump_totals(tx, job_id, chunk.last_seq, chunk.end_offset, None)
    return True


async def insert_chunks(
    db: Database, tx: Tx, job_id: str, chunks: Sequence[Chunk], lease_token: str
) -> bool:
    """Store consecutive chunks of one writer and bump the job's totals; False if fenced out.

    The fence is the totals update itself (only the RUNNING job under `lease_token` matches), so
    the job row stays locked until commit and a concurrent finish or lease expiry either happens
    before (nothing is written) or after (everything is). Chunks already stored are skipped.
    """
    if not chunks:
        return True
    if not await _bump_totals(tx, job_id, chunks[-1].last_seq, chunks[-1].end_offset, lease_token):
        return False
    await _compress_fast(db, tx)
    rows = [
        {
            "job_id": job_id,
            "first_seq": c.first_seq,
            "last_seq": c.last_seq,
            "byte_offset": c.byte_offset,
            "text": c.text,
            "meta": c.meta,
        }
        for c in chunks
    ]
    stmt = db.insert(log_chunks).on_conflict_do_nothing(index_elements=["job_id", "first_seq"])
    await tx.execute(stmt, rows)
    return True


async def _bump_totals(
    tx: Tx, job_id: str, last_seq: int, end_offset: int, lease_token: str | None
) -> bool:
    conditions = [jobs.c.id == job_id]
    if lease_token is not None:
        conditions += [jobs.c.lease_token == lease_token, jobs.c.status == JobStatus.RUNNING.value]
    stmt = (
        update(jobs)
        .where(*conditions)
        .values(
            # a replayed flush may come after later ones: totals never go backwards
            log_lines=case((jobs.c.log_lines < last_seq, last_seq), else_=jobs.c.log_lines),
            log_bytes=case((jobs.c.log_bytes < end_offset, end_offset), else_=jobs.c.log_bytes),
        )
        .returning(jobs.c.id)
    )
    return (await tx.execute(stmt)).first() is not None


async def log_end(tx: Tx, job_id: str) -> tuple[int, int]:
    """(last stored seq, stored text bytes) of the job: where its next chunk starts."""
    row = (
        await tx.execute(select(jobs.c.log_lines, jobs.c.log_bytes).where(jobs.c.id == job_id))
    ).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def readable_job(
    tx: Tx, user_id: str, workflow_id: str, job_id: str
) -> tuple[Job, bool] | None:
    """The user's job of that workflow and the workflow's `log_retention`, in one query."""
    stmt = (
        select(jobs, workflows.c.log_retention.label("workflow_log_retention"))
        .join(workflows, workflows.c.id == jobs.c.workflow_id)
        .where(
            jobs.c.id == job_id,
            jobs.c.workflow_id == workflow_id,
            jobs.c.user_id == user_id,
            workflows.c.user_id == user_id,
        )
    )
    row = (await tx.execute(stmt)).first()
    return (to_job(row), bool(row.workflow_log_retention)) if row else None


def _least(a: Any, b: Any) -> Any:
    return case((a < b, a), else_=b)


def _greatest(a: Any, b: Any) -> Any:
    return case((a > b, a), else_=b)


async def readable_page(
    tx: Tx,
    user_id: str,
    workflow_id: str,
    job_id: str,
    *,
    after: int,
    before: int | None,
    descending: bool,
    limit: int,
) -> tuple[Job, bool, list[Chunk]] | None:
    """`readable_job` plus, in the same statement, the chunks holding the unfiltered page of
    `limit` lines with `after < seq < before` (bounded by the job's `log_lines` as read).

    One statement instead of two because a page is the hot path of the log viewer, and each
    statement costs more in round trips than the page costs to find. The page bounds are
    `services.logscan.page_bounds`, computed here in SQL from the job row.
    """
    params = {
        "job_id": job_id,
        "workflow_id": workflow_id,
        "user_id": user_id,
        "after": after,
        "before": before,
        "limit": limit,
    }
    rows = (await tx.execute(_page_statement(descending, before is not None), params)).all()
    if not rows:
        return None
    chunks = [
        Chunk(
            r.chunk_first_seq,
            r.chunk_last_seq,
            r.chunk_byte_offset,
            bytes(r.chunk_text),
            bytes(r.chunk_meta),
        )
        for r in rows
        if r.chunk_first_seq is not None
    ]
    return to_job(rows[0]), bool(rows[0].workflow_log_retention), chunks


@functools.cache
def _page_statement(descending: bool, bounded: bool) -> Select[Any]:
    # Built once per shape with bound parameters: building it costs more than running it.
    # Uncorrelated subqueries (evaluated once) keep the chunk lookup an index range scan on
    # both engines; the job row and its `log_lines` come from the same snapshot.
    job_id = bindparam("job_id", type_=String)
    after = bindparam("after", type_=BigInteger)
    limit = bindparam("limit", type_=BigInteger)
    job_row, inner = jobs.alias("page_job"), log_chunks.alias("page_chunks")
    total = select(job_row.c.log_lines).where(job_row.c.id == job_id).scalar_subquery()
    end: Any = total + 1
    if bounded:
        end = _least(bindparam("before", type_=BigInteger), total + 1)
    if descending:
        hi: Any = end - 1
        lo: Any = _greatest(end - limit, after + 1)
    else:
        lo = after + 1
        hi = _least(after + limit, end - 1)
    holding = (
        select(func.coalesce(func.max(inner.c.first_seq), 0))
        .where(inner.c.job_id == job_id, inner.c.first_seq <= lo)
        .scalar_subquery()
    )
    user_id = bindparam("user_id", type_=String)
    return (
        select(
            jobs,
            workflows.c.log_retention.label("workflow_log_retention"),
            log_chunks.c.first_seq.label("chunk_first_seq"),
            log_chunks.c.last_seq.label("chunk_last_seq"),
            log_chunks.c.byte_offset.label("chunk_byte_offset"),
            log_chunks.c.text.label("chunk_text"),
            log_chunks.c.meta.label("chunk_meta"),
        )
        .select_from(
            jobs.join(workflows, workflows.c.id == jobs.c.workflow_id).outerjoin(
                log_chunks,
                (log_chunks.c.job_id == jobs.c.id)
                & (log_chunks.c.job_id == job_id)
                & (log_chunks.c.first_seq <= hi)
                & (log_chunks.c.first_seq >= holding),
            )
        )
        .where(
            jobs.c.id == job_id,
            jobs.c.workflow_id == bindparam("workflow_id", type_=String),
            jobs.c.user_id == user_id,
            workflows.c.user_id == user_id,
        )
        .order_by(log_chunks.c.first_seq)
    )


def _holding(job_id: str, seq: int) -> ColumnElement[Any]:
    """`first_seq` of the chunk holding `seq` (or the last one before it); 0 when none is."""
    inner = _HOLDING
    floor = (
        select(inner.c.first_seq)
        .where(inner.c.job_id == job_id, inner.c.first_seq <= seq)
        .order_by(inner.c.first_seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(floor, 0)


def _window(
    columns: Sequence[Any], job_id: str, after: int, before: int | None, descending: bool
) -> Select[Any]:
    conditions = [
        log_chunks.c.job_id == job_id,
        log_chunks.c.first_seq >= _holding(job_id, after + 1),
        # the holding chunk is the last one before `after + 1`: it may end at or before `after`
        log_chunks.c.last_seq > after,
    ]
    if before is not None:
        conditions.append(log_chunks.c.first_seq < before)
    key = log_chunks.c.first_seq.desc() if descending else log_chunks.c.first_seq
    return select(*columns).where(*conditions).order_by(key)


async def chunks_after(tx: Tx, job_id: str, after_seq: int, limit: int) -> list[Chunk]:
    """Up to `limit` chunks holding lines with seq > `after_seq`, in ascending order."""
    stmt = _window([log_chunks], job_id, after_seq, None, False).limit(limit)
    return [_chunk(r) for r in await tx.execute(stmt)]


async def chunks_between(
    tx: Tx, job_id: str, *, after: int, before: int | None, descending: bool, limit: int
) -> list[Chunk]:
    """Up to `limit` chunks holding lines with `after < seq < before`, in the given order."""
    stmt = _window([log_chunks], job_id, after, before, descending).limit(limit)
    return [_chunk(r) for r in await tx.execute(stmt)]


async def stream_chunks(
    tx: Tx, job_id: str, *, after: int, before: int | None, descending: bool, batch: int
) -> AsyncGenerator[list[Chunk], None]:
    """Every chunk holding lines with `after < seq < before`, in order, `batch` at a time, from
    one statement (a server-side cursor where the engine has one)."""
    stmt = _window([log_chunks], job_id, after, before, descending)
    result = await tx.stream(stmt.execution_options(yield_per=batch))
    try:
        async for rows in result.partitions(batch):
            yield [_chunk(r) for r in rows]
    finally:
        await result.close()


async def chunk_heads(
    tx: Tx, job_id: str, *, after: int, before: int | None, descending: bool, limit: int
) -> list[ChunkHead]:
    """Like `chunks_between`, without the text (a few dozen bytes a chunk)."""
    columns = [log_chunks.c.first_seq, log_chunks.c.last_seq, log_chunks.c.meta]
    stmt = _window(columns, job_id, after, before, descending).limit(limit)
    return [ChunkHead(r.first_seq, r.last_seq, bytes(r.meta)) for r in await tx.execute(stmt)]


async def chunks_at(tx: Tx, job_id: str, first_seqs: Sequence[int]) -> list[Chunk]:
    """The chunks starting at the given sequence numbers, ascending."""
    if not first_seqs:
        return []
    stmt = (
        select(log_chunks)
        .where(log_chunks.c.job_id == job_id, log_chunks.c.first_seq.in_(list(first_seqs)))
        .order_by(log_chunks.c.first_seq)
    )
    return [_chunk(r) for r in await tx.execute(stmt)]


async def delete_job_logs(tx: Tx, job_id: str) -> None:
    await tx.execute(delete(log_chunks).where(log_chunks.c.job_id == job_id))


# retention


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
        .values(log_state=LogState.EXPIRED.value)
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


__all__ = [
    "ChunkHead",
    "chunk_heads",
    "chunks_after",
    "chunks_at",
    "chunks_between",
    "clear_expiry",
    "delete_chunk_batch",
    "delete_job_logs",
    "due_for_expiry",
    "insert_chunk",
    "insert_chunks",
    "log_end",
    "mark_expired",
    "readable_job",
    "readable_page",
    "stream_chunks",
]
