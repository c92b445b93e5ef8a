"""Read-only queries the streaming log routes need beyond `store.logs`.

- the chunk holding a text byte offset (for `Range`): a chunk's `byte_offset` grows with its
  `first_seq`, so it is the last one (by the `(job_id, first_seq)` key) with `byte_offset <= b`;
- chunk metas without their text, then the texts of chosen chunks (for a stream filter: a
  chunk none of whose runs is on the stream is never read; on PostgreSQL the text lives out of
  line, so skipping it skips its reading and decompression).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

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


__all__ = ["first_seq_at_offset"]
