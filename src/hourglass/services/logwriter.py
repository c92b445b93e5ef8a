"""The log writer: what the worker's output of one job attempt becomes in the store.

`LogOutputs` is the runtime's `OutputFactory`; each `JobLog` it opens runs one attempt's output
down "The path of one log line" (DESIGN.md): `LineSplitter` (line cap, secrets masked, attempt
tag) → `TruncationPolicy` (per-job cap) → `ChunkBuilder` (numbering, ~64 KiB chunks) → a bounded
queue → one writer task that commits queued chunks, several per transaction when they pile up,
fenced by the lease token → after each commit one wake-up `(job_id, last_seq)` on the live bus.

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
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping

from hourglass.domain.common import Clock
from hourglass.domain.jobs import Job, LogState, RunSpec
from hourglass.domain.logs import (
    Chunk,
    ChunkBuilder,
    LineBatch,
    LineSplitter,
    SecretMasker,
    Stream,
    TruncationPolicy,
    to_epoch_us,
)
from hourglass.errors import StoreUnavailable
from hourglass.live import LiveBus, Wakeup
from hourglass.settings import Settings
from hourglass.store import logs as log_store
from hourglass.store.db import Database

log = logging.getLogger("hourglass.logwriter")

FLUSH_SECONDS = 0.05
MAX_PENDING_BYTES = 8 * 1024 * 1024
# One transaction takes what is queued, up to this much: big enough to keep up with a flood,
# small enough that a live reader sees a fast job's lines in steps of a fraction of a second.
TX_MAX_BYTES = 2 * 1024 * 1024

Sleep = Callable[[float], Awaitable[object]]


def secret_values(payload: Mapping[str, object]) -> list[str]:
    """The values of the payload's `secrets` object (what capture masks)."""
    secrets = payload.get("secrets")
    if not isinstance(secrets, Mapping):
        return []
    return [str(v) for v in secrets.values() if v is not None]


class LogOutputs:
    """Opens one `JobLog` per attempt, continuing the numbering the store already holds."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        bus: LiveBus,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """`sleep` waits for the flush timer (tests pass one they release by hand)."""
        self.db = db
        self.settings = settings
        self.clock = clock
        self.bus = bus
        self.flush_seconds = flush_seconds
        self.max_pending_bytes = max_pending_bytes
        self.sleep = sleep

    async def open(self, job: Job, spec: RunSpec, lease_token: str) -> JobLog:
        """An output for attempt `job.attempts` of `job`, writing as the holder of `lease_token`."""
        async with self.db.read() as tx:
            last_seq, stored_bytes = await log_store.log_end(tx, job.id)
        masker = SecretMasker(secret_values(spec.payload))
        splitter = LineSplitter(
            attempt=max(job.attempts, 1),
            line_limit=self.settings.log_line_limit_bytes,
            masker=masker,
        )
        policy = TruncationPolicy(self.settings.log_job_cap_bytes, stored_bytes=stored_bytes)
        builder = ChunkBuilder(next_seq=last_seq + 1, byte_offset=stored_bytes)
        return JobLog(self, job.id, lease_token, splitter, policy, builder)


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

    async def write(self, stream: str, data: bytes) -> None:
        """A raw block of output; returns once it is split and queued (never waits on the store
        unless the queue is full)."""
        if self._error is not None:
            raise self._error
        if self.fenced or self.closed or not data:
            return
        batch = self._splitter.feed(Stream(stream), data, self._now_us())
        self._take(self._policy.admit(batch))
        if not self._room.is_set():
            await self._room.wait()

    async def system(self, message: str) -> None:
        """One `system` line (masked and capped like any other)."""
        if self.fenced or self.closed:
            return
        batch = self._splitter.lines(Stream.SYSTEM, [message], self._now_us())
        self._take(self._policy.admit(batch))
        if not self._room.is_set():
            await self._room.wait()

    async def close(self, final: str | None = None) -> LogState:
        """Store everything left, in order: the workload's unfinished last lines, then the
        `final` system line (how the attempt ended), then what the cap held back; returns the
        attempt's log state."""
        if not self.closed:
            self.closed = True
            if not self.fenced:
                now = self._now_us()
                for batch in self._splitter.flush(now):
                    self._enqueue(self._builder.add(self._policy.admit(batch)))
                if final is not None:
                    line = self._splitter.lines(Stream.SYSTEM, [final], now)
                    self._enqueue(self._builder.add(self._policy.admit(line)))
                for batch in self._policy.finish():
                    self._enqueue(self._builder.add(batch))
            await self._stop_timer()
            if not self.fenced:
                self._enqueue_one(self._builder.flush())
            while self._writer is not None:
                await asyncio.shield(self._writer)
        if self._error is not None:
            raise self._error
        return LogState.TRUNCATED if self._policy.truncated else LogState.COMPLETE

    async def flush(self) -> None:
        """Close the pending chunk now and wait until everything queued is committed."""
        await self._stop_timer()
        self._enqueue_one(self._builder.flush())
        while self._writer is not None:
            await asyncio.shield(self._writer)

    # capture side: synchronous, so chunks are queued in sequence order

    def _now_us(self) -> int:
        return to_epoch_us(self._outputs.clock.now())

    def _take(self, batch: LineBatch | None) -> None:
        if batch is None:
            return
        self._enqueue(self._builder.add(batch))
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
                if not await self._commit(batch):
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

    async def _commit(self, batch: list[Chunk]) -> bool:
        """Insert `batch` in one transaction (retrying while the store is briefly away)."""
        outputs = self._outputs
        loop = asyncio.get_running_loop()
        give_up = loop.time() + outputs.settings.lease_seconds
        delay = 0.05
        while True:
            try:
                async with outputs.db.write() as tx:
                    return await log_store.insert_chunks(
                        outputs.db, tx, self.job_id, batch, self._token
                    )
            except StoreUnavailable:
                # a replay after an unknown commit outcome is harmless: inserts are idempotent
                if loop.time() + delay > give_up:
                    raise
                log.warning("job %s: store unavailable, retrying its log write", self.job_id)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _fence(self) -> None:
        """The lease is gone (or the store refused us): drop everything, write nothing more."""
        if not self.fenced and self._error is None:
            log.warning("job %s: lease lost; its output is no longer stored", self.job_id)
        self.fenced = True
        self._queue.clear()
        self._queued_bytes = 0
        self._room.set()
