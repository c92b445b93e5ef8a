"""Queries for job logs: chunk rows (one per writer flush), the per-job log totals, the per-job
cap, retention.

A chunk insert is fenced by the writer's lease token and idempotent on `(job_id, first_seq)`, so
a replayed flush never duplicates a line and a worker that lost its lease writes nothing. The
job's `log_lines`/`log_bytes` are what is stored: a trim of a capped log subtracts what it
deletes.

Every read is a range of the `(job_id, first_seq)` key: the chunk holding sequence number `s` is
the one with the greatest `first_seq <= s`, found by one index probe, so a read at the end of a
million-line log costs what a read at its start does. Sequence numbers are 1..N except in a
capped log, whose omitted middle leaves one gap after the omission line (`domain/
logs_truncation.py`); so the end of a log is its last chunk's `last_seq`, not its line count.

The cap state of a job (`CapState`, once its head is full) is kept packed in `jobs.log_cap`,
written in the same transaction as the chunks it describes and cleared with the job's log.
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
    select,
    text,
    update,
)

from hourglass.domain.jobs import Job, JobStatus, LogState
from hourglass.domain.logs.cap import CapState, TailStart
from hourglass.domain.logs.chunks import Chunk
from hourglass.store.db import Database, Tx
from hourglass.store.jobs import to_job
from hourglass.store.schema import jobs, log_chunks, workflows

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


def _increments(job_id: str, chunks: Sequence[Chunk]) -> dict[str, Any]:
    """The totals' new values for inserting `chunks`, unless their first one is already stored
    (a replayed flush: the chunks of one flush are stored together or not at all)."""
    stored = exists().where(
        log_chunks.c.job_id == job_id, log_chunks.c.first_seq == chunks[0].first_seq
    )
    lines = sum(c.line_count for c in chunks)
    size = sum(len(c.text) for c in chunks)
    return {
        "log_lines": jobs.c.log_lines + case((stored, 0), else_=lines),
        "log_bytes": jobs.c.log_bytes + case((stored, 0), else_=size),
    }


async def insert_chunks(
    db: Database, tx: Tx, job_id: str, chunks: Sequence[Chunk], lease_token: str | None
) -> bool:
    """Store consecutive chunks of one writer and add them to the job's totals; False if fenced
    out. With `lease_token=None` (tests, benchmarks) the lease is not checked.

    The fence is the totals update itself (only the RUNNING job under `lease_token` matches), so
    the job row stays locked until commit and a concurrent finish or lease expiry either happens
    before (nothing is written) or after (everything is). Chunks already stored are skipped, and
    a replay of a flush whose first chunk is stored adds nothing to the totals.
    """
    if not chunks:
        return True
    bump = update(jobs).where(*_held(job_id, lease_token)).values(**_increments(job_id, chunks))
    if (await tx.execute(bump.returning(jobs.c.id))).first() is None:
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


def _held(job_id: str, lease_token: str | None) -> list[ColumnElement[bool]]:
    conditions = [jobs.c.id == job_id]
    if lease_token is not None:
        conditions += [jobs.c.lease_token == lease_token, jobs.c.status == JobStatus.RUNNING.value]
    return conditions


@dataclass(frozen=True, slots=True)
class LogEnd:
    """Where a job's stored log ends, and its cap state once its head is full."""

    last_seq: int
    end_offset: int  # in the offsets its last chunk was written with
    cap: CapState | None
    tail_offset: int | None  # byte offset of the first tail chunk (cap only)


async def last_chunk(tx: Tx, job_id: str) -> tuple[int, int, int] | None:
    """(first_seq, last_seq, end offset) of the job's last chunk, if it has one."""
    stmt = (
        select(
            log_chunks.c.first_seq,
            log_chunks.c.last_seq,
            log_chunks.c.byte_offset + func.length(log_chunks.c.text),
        )
        .where(log_chunks.c.job_id == job_id)
        .order_by(log_chunks.c.first_seq.desc())
        .limit(1)
    )
    row = (await tx.execute(stmt)).first()
    return None if row is None else (int(row[0]), int(row[1]), int(row[2]))


async def log_end(tx: Tx, job_id: str) -> LogEnd:
    """Where the job's next chunk starts, and what its writer needs to go on keeping the cap."""
    last = await last_chunk(tx, job_id)
    cap = await cap_state(tx, job_id)
    start = await tail_start(tx, job_id, cap.tail_after) if cap is not None else None
    return LogEnd(
        last[1] if last else 0,
        last[2] if last else 0,
        cap,
        start.byte_offset if start is not None else None,
    )


# the per-job cap (see domain/logs_truncation.py)


async def cap_state(tx: Tx, job_id: str) -> CapState | None:
    """The job's cap state, once its head is full."""
    packed = (await tx.execute(select(jobs.c.log_cap).where(jobs.c.id == job_id))).scalar()
    return None if packed is None else CapState.decode(bytes(packed))


async def save_cap_state(tx: Tx, job_id: str, state: CapState) -> None:
    """Record the job's cap state (with the chunks it describes, in the same transaction)."""
    await tx.execute(update(jobs).where(jobs.c.id == job_id).values(log_cap=state.encode()))


async def trim_tail(
    tx: Tx, job_id: str, *, after_seq: int, before_seq: int, below_offset: int
) -> tuple[int, int]:
    """Delete the chunks with `after_seq < first_seq < before_seq` starting below
    `below_offset` (the oldest of the tail); (lines, bytes) deleted."""
    stmt = (
        delete(log_chunks)
        .where(
            log_chunks.c.job_id == job_id,
            log_chunks.c.first_seq > after_seq,
            log_chunks.c.first_seq < before_seq,
            log_chunks.c.byte_offset < below_offset,
        )
        .returning(
            log_chunks.c.last_seq - log_chunks.c.first_seq + 1, func.length(log_chunks.c.text)
        )
    )
    rows = (await tx.execute(stmt)).all()
    return sum(int(r[0]) for r in rows), sum(int(r[1]) for r in rows)


async def tail_start(tx: Tx, job_id: str, after_seq: int) -> TailStart | None:
    """The first chunk with `first_seq > after_seq`."""
    stmt = (
        select(log_chunks.c.first_seq, log_chunks.c.byte_offset, log_chunks.c.meta)
        .where(log_chunks.c.job_id == job_id, log_chunks.c.first_seq > after_seq)
        .order_by(log_chunks.c.first_seq)
        .limit(1)
    )
    row = (await tx.execute(stmt)).first()
    return None if row is None else TailStart(row.first_seq, row.byte_offset, bytes(row.meta))


async def put_omission(db: Database, tx: Tx, job_id: str, chunk: Chunk) -> tuple[int, int]:
    """Store the omission line's chunk, replacing an earlier one; (lines, bytes) it adds."""
    key = (log_chunks.c.job_id == job_id, log_chunks.c.first_seq == chunk.first_seq)
    old = (await tx.execute(select(func.length(log_chunks.c.text)).where(*key))).scalar()
    if old is None:
        row = {"job_id": job_id, "first_seq": chunk.first_seq, "last_seq": chunk.last_seq}
        values = {**row, "byte_offset": chunk.byte_offset, "text": chunk.text, "meta": chunk.meta}
        await tx.execute(db.insert(log_chunks).values(**values))
        return 1, len(chunk.text)
    changed = {"text": chunk.text, "meta": chunk.meta, "byte_offset": chunk.byte_offset}
    await tx.execute(update(log_chunks).where(*key).values(**changed))
    return 0, len(chunk.text) - int(old)


async def shift_tail(tx: Tx, job_id: str, from_seq: int, delta: int) -> None:
    """Move the byte offsets of the chunks from `from_seq` on by `delta` (one statement)."""
    await tx.execute(
        update(log_chunks)
        .where(log_chunks.c.job_id == job_id, log_chunks.c.first_seq >= from_seq)
        .values(byte_offset=log_chunks.c.byte_offset + delta)
    )


async def adjust_totals(
    tx: Tx, job_id: str, lines: int, nbytes: int, lease_token: str, *, truncated: bool
) -> bool:
    """Add to the job's totals (and mark its log `truncated`); False if fenced out."""
    values: dict[str, Any] = {
        "log_lines": jobs.c.log_lines + lines,
        "log_bytes": jobs.c.log_bytes + nbytes,
    }
    if truncated:
        values["log_state"] = LogState.TRUNCATED.value
    stmt = update(jobs).where(*_held(job_id, lease_token)).values(**values).returning(jobs.c.id)
    return (await tx.execute(stmt)).first() is not None


def _last_seq(job_id: Any, alias: str) -> Any:
    """The job's last stored sequence number (its last chunk's `last_seq`; 0 if none), as a
    scalar subquery: one probe of the key from its end."""
    inner = log_chunks.alias(alias)
    last = (
        select(inner.c.last_seq)
        .where(inner.c.job_id == job_id)
        .order_by(inner.c.first_seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(last, 0)


async def readable_job(
    tx: Tx, user_id: str, workflow_id: str, job_id: str
) -> tuple[Job, bool, int] | None:
    """The user's job of that workflow, the workflow's `log_retention` and the log's last
    sequence number, in one query."""
    stmt = (
        select(
            jobs,
            workflows.c.log_retention.label("workflow_log_retention"),
            _last_seq(job_id, "last_chunk").label("log_last_seq"),
        )
        .join(workflows, workflows.c.id == jobs.c.workflow_id)
        .where(
            jobs.c.id == job_id,
            jobs.c.workflow_id == workflow_id,
            jobs.c.user_id == user_id,
            workflows.c.user_id == user_id,
        )
    )
    row = (await tx.execute(stmt)).first()
    return (to_job(row), bool(row.workflow_log_retention), int(row.log_last_seq)) if row else None


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
) -> tuple[Job, bool, int, list[Chunk]] | None:
    """`readable_job` plus, in the same statement, the chunks holding the unfiltered page of
    `limit` sequence numbers with `after < seq < before` (bounded by the log's last one as
    read). In a capped log such a page may hold fewer lines (the omitted middle): the caller
    reads on past the gap.

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
    first = rows[0]
    return to_job(first), bool(first.workflow_log_retention), int(first.log_last_seq), chunks


@functools.cache
def _page_statement(descending: bool, bounded: bool) -> Select[Any]:
    # Built once per shape with bound parameters: building it costs more than running it.
    # Uncorrelated subqueries (evaluated once) keep the chunk lookup an index range scan on
    # both engines; the job row and the log's last sequence number come from the same snapshot.
    job_id = bindparam("job_id", type_=String)
    after = bindparam("after", type_=BigInteger)
    limit = bindparam("limit", type_=BigInteger)
    inner = log_chunks.alias("page_chunks")
    total = _last_seq(job_id, "page_last")
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
            total.label("log_last_seq"),
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
    await tx.execute(update(jobs).where(jobs.c.id == job_id).values(log_cap=None))


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


__all__ = [
    "ChunkHead",
    "LogEnd",
    "adjust_totals",
    "cap_state",
    "chunk_heads",
    "chunks_after",
    "chunks_at",
    "chunks_between",
    "clear_expiry",
    "delete_chunk_batch",
    "delete_job_logs",
    "due_for_expiry",
    "insert_chunks",
    "last_chunk",
    "log_end",
    "mark_expired",
    "put_omission",
    "readable_job",
    "readable_page",
    "save_cap_state",
    "shift_tail",
    "stream_chunks",
    "tail_start",
    "trim_tail",
]
