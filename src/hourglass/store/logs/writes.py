"""Log writes: chunk rows (one per writer flush), the job's log totals, and the per-job cap.

A chunk insert is fenced by the writer's lease token and idempotent on `(job_id, first_seq)`, so
a replayed flush never duplicates a line and a worker that lost its lease writes nothing. The
job's `log_lines`/`log_bytes` are what is stored: a trim of a capped log subtracts what it
deletes.

The cap state of a job (`CapState`, once its head is full) is kept packed in `jobs.log_cap`,
written in the same transaction as the chunks it describes and cleared with the job's log. The
cap's trim, omission line and seal are statements here; when to run them is
`services.logs.cap`'s decision, by the rules of `domain.logs.cap`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, delete, exists, func, select, text, update

from hourglass.domain.jobs import JobStatus, LogState
from hourglass.domain.logs.cap import CapState, TailStart
from hourglass.domain.logs.chunks import Chunk
from hourglass.store.db import Database, Tx
from hourglass.store.schema import jobs, log_chunks


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


# the per-job cap (see domain/logs/cap.py)


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
