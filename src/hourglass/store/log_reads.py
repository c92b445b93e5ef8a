"""Read-only queries the streaming log routes need beyond `store.logs`.

- the chunk holding a text byte offset (for `Range`): a chunk's `byte_offset` grows with its
  `first_seq`, so it is the last one (by the `(job_id, first_seq)` key) with `byte_offset <= b`;
- whether those offsets can be trusted: a capped log whose tail was trimmed but never sealed
  (see `domain/logs_truncation.py`) keeps the offsets its tail was written with.
"""

from __future__ import annotations

from sqlalchemy import select

from hourglass.store.db import Tx
from hourglass.store.logs import cap_state
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


async def offsets_sealed(tx: Tx, job_id: str) -> bool:
    """Whether the byte offsets of the job's chunks are contiguous: false only for a capped log
    whose last attempt ended without sealing its trimmed tail (its worker died)."""
    state = await cap_state(tx, job_id)
    return state is None or state.sealed


__all__ = ["first_seq_at_offset", "offsets_sealed"]
