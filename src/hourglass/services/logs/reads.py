"""Reading a whole job log as a stream, batch by batch: `LogReads`, one per process.

Both streamed routes read the store a few chunks per read transaction, growing from 4 to 64,
the next batch read while the current one is written, so the first byte leaves after one small
read and memory stays flat whatever the log's size. `LogReads` owns that reading (`batches`,
`stream_batches`), the thread that renders filtered and `jsonl`/`json` downloads (`render`) and
the live tails its readers share; what the bytes are is `download` (the raw download) and `live`
(the SSE stream), which it serves to the web layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Final

from hourglass.domain.jobs import Job
from hourglass.domain.logs.chunks import Chunk, decode_meta
from hourglass.domain.logs.lines import CHUNK_TARGET_BYTES, Streams
from hourglass.errors import BadRequest, NotFound
from hourglass.live import LiveBus
from hourglass.services.logs import live
from hourglass.services.logs.access import log_target
from hourglass.services.logs.download import body as download_body
from hourglass.services.logs.formats import Download, DownloadOptions, EventTarget
from hourglass.services.logs.params import DownloadParams, parse_resume, parse_stream
from hourglass.services.logs.tail import LiveTails
from hourglass.store import jobs as job_store
from hourglass.store.db import Database, Tx
from hourglass.store.logs import reads as log_reads
from hourglass.store.logs.reads import ChunkHead

Fetch = Callable[[Tx, str, int, int], Awaitable[list[Chunk]]]
"""`(tx, job_id, after_seq, limit)` → up to `limit` chunks holding lines after `after_seq`."""
FetchMetas = Callable[[Tx, str, int, int], Awaitable[list[ChunkHead]]]
"""`(tx, job_id, after_first_seq, limit)` → chunk metas (no text) after that chunk."""
FetchAt = Callable[[Tx, str, Sequence[int]], Awaitable[list[Chunk]]]
"""`(tx, job_id, first_seqs)` → those chunks, ascending."""
METAS_PER_READ: Final = 1024


class _SeqReads:
    """Successive reads of the chunks after a sequence number, in growing batches: doubling
    from the first, or straight to full ones after it when `expected` bytes fill a full batch
    (a download of a big log: each read costs about a millisecond of the event loop's time
    whatever its size, so the ramp cost small logs a tenth of their download's CPU)."""

    def __init__(
        self, reads: LogReads, job_id: str, after: int, expected: int = 0, most: int | None = None
    ) -> None:
        self.reads, self.job_id, self.after = reads, job_id, after
        self.most = reads.batch_chunks if most is None else min(most, reads.batch_chunks)
        self.limit = min(reads.first_batch_chunks, self.most)
        self.skip_ramp = expected >= self.most * CHUNK_TARGET_BYTES
        self.done = False

    async def next(self) -> list[Chunk] | None:
        if self.done:
            return None
        chunks = await self.reads.read(self.job_id, self.after, self.limit)
        if len(chunks) < self.limit:
            self.done = True
        elif self.skip_ramp:
            self.limit = self.most
        else:
            self.limit = min(self.limit * 2, self.most)
        if not chunks:
            return None
        self.after = chunks[-1].last_seq
        return chunks


async def _heads_after(tx: Tx, job_id: str, after: int, limit: int) -> list[ChunkHead]:
    """The stream filter's first read: chunk metas (no text) holding lines after `after`."""
    return await log_reads.chunk_heads(
        tx, job_id, after=after, before=None, descending=False, limit=limit
    )


class _StreamReads:
    """Successive reads of the chunks holding lines of one stream (metas first, then texts)."""

    def __init__(self, reads: LogReads, job_id: str, stream: Streams) -> None:
        self.reads, self.job_id, self.stream = reads, job_id, stream
        self.after = 0
        self.queue: list[int] = []
        self.exhausted = False

    async def next(self) -> list[Chunk] | None:
        reads = self.reads
        while not self.queue:
            if self.exhausted:
                return None
            async with reads.db.read(bulk=True) as tx:
                metas = await reads.fetch_metas(tx, self.job_id, self.after, METAS_PER_READ)
            self.exhausted = len(metas) < METAS_PER_READ
            if metas:
                self.after = metas[-1].last_seq
            self.queue = [m.first_seq for m in metas if self._holds(m.meta)]
        take, self.queue = self.queue[: reads.batch_chunks], self.queue[reads.batch_chunks :]
        async with reads.db.read(bulk=True) as tx:
            return await reads.fetch_at(tx, self.job_id, take)

    def _holds(self, meta: bytes) -> bool:
        return any(run.stream in self.stream for run in decode_meta(meta))


# the service


@dataclass(eq=False)
class LogReads:
    """Streams job logs out of the store; one per process (live readers share its `LiveTails`).

    A read transaction fetches `first_batch_chunks` chunks at first, then up to `batch_chunks`
    (64 chunks of ~64 KiB: ~4 MiB, two batches in memory at most; with 32, the cost of each
    read held PostgreSQL downloads at ~250 MB/s here, with 64 they pass 400). `fetch` (the
    batch read, `store.logs.reads.chunks_after`), `fetch_metas` and `fetch_at` (the stream
    filter's reads) are attributes so a test can make the store fail at a chosen point.
    `keepalive_seconds` bounds the gap between SSE keep-alive comments; `scan_budget_seconds`
    is how long a filtered download may scan (`scan.Budget`, timed by `monotonic`).
    """

    db: Database
    bus: LiveBus
    _: KW_ONLY
    batch_chunks: int = 64
    first_batch_chunks: int = 4
    keepalive_seconds: float = 15.0
    scan_budget_seconds: float = 10.0
    monotonic: Callable[[], float] = time.monotonic
    fetch: Fetch = log_reads.chunks_after
    fetch_metas: FetchMetas = _heads_after
    fetch_at: FetchAt = log_reads.chunks_at
    tails: LiveTails = field(init=False, repr=False)
    _renderer: ThreadPoolExecutor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.batch_chunks < 1 or self.first_batch_chunks < 1 or self.keepalive_seconds <= 0:
            raise ValueError("invalid log reader settings")
        self.tails = LiveTails(functools.partial(live.read_framed, self))
        # One thread renders every download's pieces: rendering is Python work holding the
        # GIL, so more threads would not go faster, and each thread allocating would get a
        # malloc arena of its own that keeps what it freed (measured: +200 MB of RSS over three
        # concurrent `jsonl` downloads on the default executor, +30 MB on one thread).
        self._renderer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hourglass-render")

    async def render(self, fn: Callable[..., bytes], *args: Any) -> bytes:
        """`fn(*args)` on the log rendering thread (CPU work kept off the event loop)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._renderer, functools.partial(fn, *args))

    # reading

    async def read(self, job_id: str, after: int, limit: int) -> list[Chunk]:
        async with self.db.read(bulk=True) as tx:
            return await self.fetch(tx, job_id, after, limit)

    def batches(
        self, job_id: str, after: int, *, expected: int = 0, most: int | None = None
    ) -> AsyncGenerator[list[Chunk], None]:
        """The job's chunks holding lines after `after`, a batch per read transaction.

        The first batch is small (the first byte should leave soon), the next ones double up to
        `batch_chunks` (a read transaction costs about a millisecond whatever its size) or
        `most` if smaller, or are full at once when the caller `expected` at least a full
        batch's bytes; it ends at the first short batch.
        """
        return self._ahead(_SeqReads(self, job_id, after, expected, most).next)

    def stream_batches(self, job_id: str, stream: Streams) -> AsyncGenerator[list[Chunk], None]:
        """The job's chunks holding lines of the streams in `stream`, ascending: chunk metas are
        read first and only the chunks with a run on one of them are read whole."""
        return self._ahead(_StreamReads(self, job_id, stream).next)

    @staticmethod
    async def _ahead(
        read: Callable[[], Awaitable[list[Chunk] | None]],
    ) -> AsyncGenerator[list[Chunk], None]:
        """What successive `read()` calls return, until None; the next read runs while the
        caller handles the current batch, so at most two batches are in memory."""
        pending = asyncio.ensure_future(read())
        try:
            while True:
                chunks = await pending
                if chunks is None:
                    return
                pending = asyncio.ensure_future(read())
                if chunks:
                    yield chunks
        finally:
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending

    async def job(self, job_id: str) -> Job:
        async with self.db.read() as tx:
            job = await job_store.get(tx, job_id)
        if job is None:
            raise NotFound("job not found")
        return job

    # the streamed routes (see `download` and `live`)

    async def download(
        self, user_id: str, workflow_id: str, job_id: str, params: DownloadParams
    ) -> Download:
        """The checked download: 404 → 412 → 400 (job not finished, then bad parameters)."""
        job = await log_target(self.db, user_id, workflow_id, job_id, retained=True)
        if not job.is_finished:
            raise BadRequest("job is not yet completed")
        return Download(job, DownloadOptions.parse(params))

    def body(
        self, d: Download, *, start: int = 0, end: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """The download's bytes, a piece per batch read or per `download.RENDER_BYTES` of it
        (see `download.body`)."""
        return download_body(self, d, start=start, end=end)

    async def event_target(
        self,
        user_id: str,
        workflow_id: str,
        job_id: str,
        *,
        last_event_id: str | None,
        after: str | None,
        stream: str | None = None,
    ) -> EventTarget:
        """The checked live stream: 404 → 412 (expired) → 400 (bad resume point or stream)."""
        job = await log_target(self.db, user_id, workflow_id, job_id, retained=False)
        return EventTarget(job, parse_resume(last_event_id, after), parse_stream(stream))

    def events(self, target: EventTarget) -> AsyncGenerator[bytes, None]:
        """The SSE frames of the stream (see `live.events`)."""
        return live.events(self, target)

    error_frame = staticmethod(live.error_frame)


__all__ = ["Fetch", "LogReads"]
