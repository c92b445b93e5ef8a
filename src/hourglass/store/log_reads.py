"""Read-only queries the streaming log routes need beyond `store.logs`.

- the chunk holding a text byte offset (for `Range`): a chunk's `byte_offset` grows with its
  `first_seq`, so it is the last one (by the `(job_id, first_seq)` key) with `byte_offset <= b`;
- chunk metas without their text, then the texts of chosen chunks (for a stream filter: a
  chunk none of whose runs is on the stream is never read; on PostgreSQL the text lives out of
  line, so skipping it skips its reading and decompression).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from hourglass.domain.logs import Chunk
from hourglass.store.db import Tx
from hourglass.store.schema import log_chunks


@dataclass(frozen=True, slots=True)
class ChunkMeta:
    """A chunk's key and meta, without its text."""

    first_seq: int
    last_seq: int
    meta: bytes


async def first_seq_at_offset(tx: Tx, job_id: str, offset: int) -> int | None:
    """`first_seq` of the chunk holding text byte `offset` of the job's log; None if none does."""
    stmt = (
        select(log_chunks.c.first_seq)
        .where(log_chunks.c.job_id == job_id, log_chunks.c.byte_offset <= offset)
        .order_by(log_chunks.c.first_seq.desc())
        .limit(1)
    )
    value = (await tx.execute(stmt)).scalar()
    return None if value is None else int(value)


async def chunk_metas(tx: Tx, job_id: str, after_first_seq: int, limit: int) -> list[ChunkMeta]:
    """Up to `limit` chunks with `first_seq > after_first_seq`, ascending, without their text."""
    stmt = (
        select(log_chunks.c.first_seq, log_chunks.c.last_seq, log_chunks.c.meta)
        .where(log_chunks.c.job_id == job_id, log_chunks.c.first_seq > after_first_seq)
        .order_by(log_chunks.c.first_seq)
        .limit(limit)
    )
    return [ChunkMeta(r.first_seq, r.last_seq, bytes(r.meta)) for r in await tx.execute(stmt)]


async def chunks_starting_at(tx: Tx, job_id: str, first_seqs: Sequence[int]) -> list[Chunk]:
    """The chunks whose `first_seq` is one of `first_seqs`, ascending."""
    if not first_seqs:
        return []
    stmt = (
        select(log_chunks)
        .where(log_chunks.c.job_id == job_id, log_chunks.c.first_seq.in_(list(first_seqs)))
        .order_by(log_chunks.c.first_seq)
    )
    return [
        Chunk(r.first_seq, r.last_seq, r.byte_offset, bytes(r.text), bytes(r.meta))
        for r in await tx.execute(stmt)
    ]


__all__ = ["ChunkMeta", "chunk_metas", "chunks_starting_at", "first_seq_at_offset"]
