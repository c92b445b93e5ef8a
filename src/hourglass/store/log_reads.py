"""Read-only queries the streaming log routes need beyond `store.logs`: the chunk holding a text
byte offset (for `Range`). A chunk's `byte_offset` grows with its `first_seq`, so it is the last
one (by the `(job_id, first_seq)` key) with `byte_offset <= b` — when the offsets can be trusted
(`Job.log_offsets_sealed`).
"""

from __future__ import annotations

from sqlalchemy import select

from hourglass.store.db import Tx
from hourglass.store.schema import log_chunks


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


__all__ = ["first_seq_at_offset"]
