"""Where the per-job cap is applied: the store work of one attempt's cap, in the writer's
transactions.

The rules (head and tail halves, the omission line, sealing) are `domain.logs.cap`; the
statements are `store.logs.writes`. The writer (`writer.JobLog`) decides which lines are head
and which are tail as it captures them; once the head is full, every transaction that stores
tail lines calls `CapKeeper.keep`, which saves the cap state the first time and, when the tail
has passed its half, deletes the tail's oldest chunks and rewrites the one omission line. At the
end of the attempt `CapKeeper.seal` trims one last time and makes the tail's byte offsets follow
the omission line, so the stored log is one contiguous byte sequence again.

Decisions inside a transaction are taken from the cap state read in it, not from memory, so a
replayed transaction (after an unknown commit outcome) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from hourglass.domain.logs.cap import CapLimits, CapState, TailStart
from hourglass.domain.logs.chunks import Chunk
from hourglass.store.db import Database, Tx
from hourglass.store.logs import writes as log_writes


@dataclass(slots=True)
class CapProgress:
    """What the writer remembers of the cap once the job's head is full."""

    state: CapState  # as the head ended (the store's copy is the one decisions are taken from)
    saved: bool  # the store has a cap state
    tail_offset: int  # offset of the oldest stored tail chunk: no trim is due before end passes
    # it by the tail's half


class CapKeeper:
    """The cap's store work for one attempt of one job, as the holder of `lease_token`."""

    def __init__(self, db: Database, job_id: str, lease_token: str, limits: CapLimits) -> None:
        self.db = db
        self.job_id = job_id
        self.token = lease_token
        self.limits = limits

    async def keep(self, tx: Tx, batch: list[Chunk], cap: CapProgress) -> int | None:
        """Inside the transaction storing `batch` (tail lines): save the cap state the first
        time, and trim the tail's oldest chunks (never `batch`'s) if it passed its half.
        Returns the offset of the oldest tail chunk left after a trim."""
        if not cap.saved:
            await log_writes.save_cap_state(tx, self.job_id, cap.state)
        below = self.limits.trim_below(batch[-1].end_offset)
        if below <= cap.tail_offset:
            return None
        return await self._trim(tx, below, batch[0].first_seq)

    async def _trim(self, tx: Tx, below: int, keep_from: int) -> int | None:
        """Delete the tail chunks before `keep_from` that start below `below`, then rewrite the
        omission line; the oldest tail chunk's offset after it (None if nothing was deleted)."""
        job_id = self.job_id
        state = await log_writes.cap_state(tx, job_id)
        assert state is not None
        lines, nbytes = await log_writes.trim_tail(
            tx, job_id, after_seq=state.tail_after, before_seq=keep_from, below_offset=below
        )
        if not lines:
            return None
        first, _ = await self._omit(tx, state, lines, nbytes)
        await log_writes.save_cap_state(tx, job_id, state.trimmed())
        return first.byte_offset

    async def _omit(
        self, tx: Tx, state: CapState, lines: int, nbytes: int
    ) -> tuple[TailStart, Chunk]:
        """After `lines` lines (`nbytes` bytes) of the tail were deleted (perhaps none): the
        omission line rewritten for where the tail now starts, and the job's totals adjusted."""
        first = await log_writes.tail_start(tx, self.job_id, state.omission_seq)
        assert first is not None  # the newest chunk is never trimmed
        omission = state.omission(first)
        added, grown = await log_writes.put_omission(self.db, tx, self.job_id, omission)
        await log_writes.adjust_totals(
            tx, self.job_id, added - lines, grown - nbytes, self.token, truncated=True
        )
        return first, omission

    async def seal(self) -> bool | None:
        """End the attempt's cap work in one transaction: a last trim to the tail's half, then
        the tail's byte offsets made to follow the omission line (one UPDATE). Whether the log
        is truncated; None if fenced out."""
        db, job_id, token = self.db, self.job_id, self.token
        async with db.write() as tx:
            if not await log_writes.adjust_totals(tx, job_id, 0, 0, token, truncated=False):
                return None
            state = await log_writes.cap_state(tx, job_id)
            last = await log_writes.last_chunk(tx, job_id)
            if state is None or last is None:
                return False
            below = self.limits.trim_below(last[2])
            lines, nbytes = await log_writes.trim_tail(
                tx, job_id, after_seq=state.tail_after, before_seq=last[0], below_offset=below
            )
            if not lines and state.sealed:  # nothing trimmed since the last seal (if any)
                return state.truncated
            first, omission = await self._omit(tx, state, lines, nbytes)
            if (delta := omission.end_offset - first.byte_offset) != 0:
                await log_writes.shift_tail(tx, job_id, first.first_seq, delta)
            await log_writes.save_cap_state(tx, job_id, state.sealed_with(omission, first))
            return True
