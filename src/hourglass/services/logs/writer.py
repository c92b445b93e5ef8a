"""The log writer: what the worker's output of one job attempt becomes in the store.

`LogOutputs` is the runtime's `OutputFactory`; each `JobLog` it opens runs one attempt's output
down "The path of one log line" (DESIGN.md): `LineSplitter` (line cap, secrets masked, attempt
tag) → `TruncationPolicy` (head or tail, for the per-job cap) → `ChunkBuilder` (numbering, ~64 KiB
chunks) → a bounded queue → one writer task that commits queued chunks, several per transaction
when they pile up, fenced by the lease token → after each commit one wake-up `(job_id, last_seq)`
on the live bus.

The per-job cap (rules: `domain.logs.cap`) never holds a line back: once the head is full,
tail lines are stored like any other, and the transaction that takes the tail past its half
also deletes the tail's oldest chunks and rewrites the one omission line; `close()` ends with a
seal (a last trim, then the tail's byte offsets made contiguous). That store work is
`cap.CapKeeper`'s; the writer itself keeps a few numbers per job (`cap.CapProgress`).

Capture never waits on the database: `write()` only splits and packs (C-speed, in memory) and
hands chunks over; it blocks only while more than `max_pending_bytes` wait to be committed, which
slows a too-fast producer down instead of growing memory. A chunk is closed at ~64 KiB by the
builder, or `flush_seconds` after its first line by a timer, whichever comes first, so a quiet
job's line is stored (and seen live) within ~50 ms. Neither task outlives its work: both start
on demand and end when idle, so an output abandoned after a lost lease leaks nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import KW_ONLY, dataclass
from typing import TypeVar

from hourglass.domain.common import Clock
from hourglass.domain.jobs import Job, LogState, RunSpec
from hourglass.domain.logs.cap import CapLimits, CapState, TruncationPolicy
from hourglass.domain.logs.capture import LineSplitter, SecretMasker
from hourglass.domain.logs.chunks import Chunk, ChunkBuilder
from hourglass.domain.logs.lines import LineBatch, Stream, to_epoch_us
from hourglass.errors import StoreUnavailable
from hourglass.live import LiveBus, Wakeup
from hourglass.services.logs.cap import CapKeeper, CapProgress
from hourglass.settings import Settings
from hourglass.store.db import Database
from hourglass.store.logs import writes as log_writes

log = logging.getLogger("hourglass.logwriter")

FLUSH_SECONDS = 0.05
MAX_PENDING_BYTES = 8 * 1024 * 1024
# One transaction takes what is queued, up to this much: big enough to keep up with a flood,
# small enough that a live reader sees a fast job's lines in steps of a fraction of a second.
TX_MAX_BYTES = 2 * 1024 * 1024
# A transaction storing more than this is a bulk write (`Database.write`): on SQLite its
# statements run on a worker thread rather than the event loop's.
BULK_BYTES = 256 * 1024

Sleep = Callable[[float], Awaitable[object]]
T = TypeVar("T")


def secret_values(payload: Mapping[str, object]) -> list[str]:
    """The values of the payload's `secrets` object (what capture masks)."""
    secrets = payload.get("secrets")
    if not isinstance(secrets, Mapping):
        return []
    return [str(v) for v in secrets.values() if v is not None]


@dataclass(eq=False)
class LogOutputs:
    """Opens one `JobLog` per attempt, continuing the numbering the store already holds.

    `sleep` waits for the flush timer (tests pass one they release by hand).
    """

    db: Database
    settings: Settings
    clock: Clock
    bus: LiveBus
    _: KW_ONLY
    flush_seconds: float = FLUSH_SECONDS
    max_pending_bytes: int = MAX_PENDING_BYTES
    sleep: Sleep = asyncio.sleep

    async def open(self, job: Job, spec: RunSpec, lease_token: str) -> JobLog:
        """An output for attempt `job.attempts` of `job`, writing as the holder of `lease_token`."""
        if job.attempts <= 1 and job.log_lines == 0:
            # a first attempt, as claimed: nothing was stored yet (a read less per job)
            end = log_writes.LogEnd(0, 0, None, None)
        else:
            async with self.db.read() as tx:
                end = await log_writes.log_end(tx, job.id)
        masker = SecretMasker(secret_values(spec.payload))
        splitter = LineSplitter(
            attempt=max(job.attempts, 1),
            line_limit=self.settings.log_line_limit_bytes,
            masker=masker,
        )
        limits = CapLimits(self.settings.log_job_cap_bytes)
        policy = TruncationPolicy(limits, head_bytes=end.end_offset, head_full=end.cap is not None)
        builder = ChunkBuilder(next_seq=end.last_seq + 1, byte_offset=end.end_offset)
        log = JobLog(self, job.id, lease_token, splitter, policy, builder)
        if end.cap is not None:  # an earlier attempt filled the head
            tail_offset = end.end_offset if end.tail_offset is None else end.tail_offset
            log.resume_tail(CapProgress(end.cap, True, tail_offset))
        return log


class JobLog:
    """The output of one attempt of one job (the runtime's `JobOutput`)."""

    def __init__(
        self,
        outputs: LogOutputs,
        job_id: str,
        lease_token: str,
        splitter: LineSplitter,
        policy: TruncationPolicy,
        builder: ChunkBuilder,
    ) -> None:
        self.job_id = job_id
        self._outputs = outputs
        self._token = lease_token
        self._splitter = splitter
        self._policy = policy
        self._builder = builder
        self._keeper = CapKeeper(outputs.db, job_id, lease_token, policy.limits)
        self._cap: CapProgress | None = None
        self._truncated = False
        self._queue: deque[Chunk] = deque()
        self._queued_bytes = 0
        self._room = asyncio.Event()
        self._room.set()
        self._writer: asyncio.Task[None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self.fenced = False
        self.closed = False
        self.last_committed_seq = builder.next_seq - 1

    @property
    def queued_bytes(self) -> int:
        """Bytes of closed chunks waiting to be committed."""
        return self._queued_bytes

    def resume_tail(self, cap: CapProgress) -> None:
        """Go on from a log whose head an earlier attempt filled."""
        self._cap = cap
        self._truncated = cap.state.truncated
        self._builder.target_bytes = self._policy.limits.tail_chunk_bytes

    async def write(self, stream: str, data: bytes) -> None:
        """A raw block of output; returns once it is split and queued (never waits on the store
        unless the queue is full)."""
        if self._error is not None:
            raise self._error
        if self.fenced or self.closed or not data:
            return
        self._take(self._splitter.feed(Stream(stream), data, self._now_us()))
        if not self._room.is_set():
            await self._room.wait()

    async def system(self, message: str) -> None:
        """One `system` line (masked and capped like any other)."""
        if self.fenced or self.closed:
            return
        self._take(self._splitter.lines(Stream.SYSTEM, [message], self._now_us()))
        if not self._room.is_set():
            await self._room.wait()

    async def close(self, final: str | None = None) -> LogState:
        """Store everything left, in order: the workload's unfinished last lines, then the
        `final` system line (how the attempt ended); then seal the cap. Returns the job's log
        state (`truncated` if this or an earlier attempt went past the cap)."""
        if not self.closed:
            self.closed = True
            if not self.fenced:
                now = self._now_us()
                for batch in self._splitter.flush(now):
                    self._enqueue(self._admit(batch))
                if final is not None:
                    self._enqueue(self._admit(self._splitter.lines(Stream.SYSTEM, [final], now)))
            await self._stop_timer()
            if not self.fenced:
                self._enqueue_one(self._builder.flush())
            while self._writer is not None:
                await asyncio.shield(self._writer)
            if self._cap is not None and not self.fenced and self._error is None:
                await self._seal()
        if self._error is not None:
            raise self._error
        return LogState.TRUNCATED if self._truncated else LogState.COMPLETE

    async def flush(self) -> None:
        """Close the pending chunk now and wait until everything queued is committed."""
        await self._stop_timer()
        self._enqueue_one(self._builder.flush())
        while self._writer is not None:
            await asyncio.shield(self._writer)

    # capture side: synchronous, so chunks are queued in sequence order

    def _now_us(self) -> int:
        return to_epoch_us(self._outputs.clock.now())

    def _admit(self, batch: LineBatch | None) -> list[Chunk]:
        """The chunks `batch` fills; the head's last chunk ends where the head does."""
        head, tail = self._policy.admit(batch)
        chunks = self._builder.add(head)
        if tail is None:
            return chunks
        if self._cap is None:  # the head is full: close its last chunk here
            last = self._builder.flush()
            chunks += [last] if last is not None else []
            builder = self._builder
            state = CapState.start(builder.next_seq - 1, builder.byte_offset)
            self._cap = CapProgress(state, False, builder.byte_offset)
            builder.target_bytes = self._policy.limits.tail_chunk_bytes
        return chunks + self._builder.add(tail)

    def _take(self, batch: LineBatch | None) -> None:
        if batch is None:
            return
        self._enqueue(self._admit(batch))
        if self._builder.pending_lines and self._timer is None and not self.closed:
            self._timer = asyncio.create_task(self._flush_later())

    def _enqueue_one(self, chunk: Chunk | None) -> None:
        if chunk is not None:
            self._enqueue([chunk])

    def _enqueue(self, chunks: Iterable[Chunk]) -> None:
        for chunk in chunks:
            if self.fenced:
                return
            self._queue.append(chunk)
            self._queued_bytes += len(chunk.text)
        if self._queued_bytes > self._outputs.max_pending_bytes:
            self._room.clear()
        if self._queue and self._writer is None:
            self._writer = asyncio.create_task(self._write_queued())

    async def _flush_later(self) -> None:
        try:
            await self._outputs.sleep(self._outputs.flush_seconds)
        finally:
            if self._timer is asyncio.current_task():
                self._timer = None
        self._enqueue_one(self._builder.flush())

    async def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    # store side: one task at a time, while there is something to commit

    async def _write_queued(self) -> None:
        try:
            while self._queue and not self.fenced:
                batch = self._next_batch()
                if not await self._retrying(functools.partial(self._store, batch)):
                    self._fence()
                    break
                for _ in batch:
                    self._queued_bytes -= len(self._queue.popleft().text)
                if self._queued_bytes <= self._outputs.max_pending_bytes:
                    self._room.set()
                self.last_committed_seq = batch[-1].last_seq
                await self._outputs.bus.publish(Wakeup(self.job_id, last_seq=batch[-1].last_seq))
        except Exception as exc:
            log.exception("job %s: storing its log failed", self.job_id)
            self._error = exc
            self._fence()
        finally:
            self._writer = None

    def _next_batch(self) -> list[Chunk]:
        batch: list[Chunk] = []
        size = 0
        for chunk in self._queue:
            if batch and size + len(chunk.text) > TX_MAX_BYTES:
                break
            batch.append(chunk)
            size += len(chunk.text)
        return batch

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """`attempt()` (one transaction), tried again while the store is briefly away."""
        outputs = self._outputs
        loop = asyncio.get_running_loop()
        give_up = loop.time() + outputs.settings.lease_seconds
        delay = 0.05
        while True:
            try:
                return await attempt()
            except StoreUnavailable:
                # a replay after an unknown commit outcome is harmless: every write is idempotent
                if loop.time() + delay > give_up:
                    raise
                log.warning("job %s: store unavailable, retrying its log write", self.job_id)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def _store(self, batch: list[Chunk]) -> bool:
        """Insert `batch` in one transaction, trimming the tail if it passed its half; False if
        fenced out."""
        db, cap = self._outputs.db, self._cap
        tail = cap is not None and batch[-1].last_seq > cap.state.head_last_seq
        bulk = sum(len(c.text) for c in batch) > BULK_BYTES
        async with db.write(bulk=bulk) as tx:
            if not await log_writes.insert_chunks(db, tx, self.job_id, batch, self._token):
                return False
            moved = await self._keeper.keep(tx, batch, cap) if cap is not None and tail else None
        if cap is not None and tail:
            cap.saved = True
            if moved is not None:
                cap.tail_offset = moved
                self._truncated = True
        return True

    async def _seal(self) -> None:
        """End the attempt's cap work (`CapKeeper.seal`), retried while the store is away."""
        truncated = await self._retrying(self._keeper.seal)
        if truncated is None:
            self._fence()
        elif truncated:
            self._truncated = True

    def _fence(self) -> None:
        """The lease is gone (or the store refused us): drop everything, write nothing more."""
        if not self.fenced and self._error is None:
            log.warning("job %s: lease lost; its output is no longer stored", self.job_id)
        self.fenced = True
        self._queue.clear()
        self._queued_bytes = 0
        self._room.set()
