"""Log reads: the queries behind pages, searches, downloads and the live stream.

Every read is a range of the `(job_id, first_seq)` key: the chunk holding sequence number `s` is
the one with the greatest `first_seq <= s`, found by one index probe, so a read at the end of a
million-line log costs what a read at its start does. Sequence numbers are 1..N except in a
capped log, whose omitted middle leaves one gap after the omission line (`domain/logs/cap.py`);
so the end of a log is its last chunk's `last_seq`, not its line count.

A byte offset (for `Range`) is found the same way: a chunk's `byte_offset` grows with its
`first_seq`, so the chunk holding byte `b` is the last one with `byte_offset <= b`, when the
offsets can be trusted (`Job.log_offsets_sealed`).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, String, bindparam, case, func, select

from hourglass.domain.jobs import Job
from hourglass.domain.logs.chunks import Chunk
from hourglass.store.db import Tx
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
    `services.logs.scan.page_bounds`, computed here in SQL from the job row.
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
    params = {"job_id": job_id, "after": after_seq, "first": after_seq + 1, "limit": limit}
    return [_chunk(r) for r in await tx.execute(_after_statement(), params)]


@functools.cache
def _after_statement() -> Select[Any]:
    # `chunks_after` is every streamed read's query (a download makes one per batch): built
    # once with bound parameters, as building it cost about what a small batch's read does
    job_id = bindparam("job_id", type_=String)
    after = bindparam("after", type_=BigInteger)
    inner = _HOLDING
    holding = (
        select(inner.c.first_seq)
        .where(inner.c.job_id == job_id, inner.c.first_seq <= bindparam("first", type_=BigInteger))
        .order_by(inner.c.first_seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(log_chunks)
        .where(
            log_chunks.c.job_id == job_id,
            log_chunks.c.first_seq >= func.coalesce(holding, 0),
            log_chunks.c.last_seq > after,
        )
        .order_by(log_chunks.c.first_seq)
        .limit(bindparam("limit", type_=BigInteger))
    )


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


async def first_seq_at_offset(tx: Tx, job_id: str, offset: int) -> int | None:
    """`first_seq` of the chunk holding text byte `offset` of the job's log; None if none does."""
    stmt = (
        select(log_chunks.c.first_seq)
        .where(
            log_chunks.c.job_id == job_id,
            log_chunks.c.byte_offset <= offset,
        )
        .order_by(log_chunks.c.first_seq.desc())
        .limit(1)
    )
    value = (await tx.execute(stmt)).scalar()
    return None if value is None else int(value)
