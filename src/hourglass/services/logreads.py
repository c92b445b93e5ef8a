"""Reading a whole job log as a stream: the raw download and the live event stream (SSE).

Both read the store batch by batch (a few chunks per read transaction, growing from 4 to 64,
the next batch read while the current one is written), so the first byte leaves after one small
read and memory stays flat whatever the log's size. The web layer owns HTTP (headers,
validators, ranges, gzip, disconnects); this module owns what the bytes are.

Download (`GET …/logs/raw`): unfiltered `txt` is the concatenation of the chunks' `text`
columns, sliced only at the edges of a byte range: no decoding. Filters and other formats work
run by run on chunk slices (`render_txt`), or build JSON entries from per-run templates; a
stream filter reads chunk metas first and skips the text of chunks without that stream. The
body yields one piece per batch read, empty ones included, so the web layer can read the first
batch before it sends the headers (a failure there is still an HTTP error); a failure after the
first byte is turned into the format's error tail (`Download.failure_tail`).

Live stream (`GET …/events`): subscribe to the bus first, then send the backlog read straight
from the store, then loop "read the store after the last sequence number sent → send → wait for
a wake-up (at most until the next keep-alive)". Because every read starts after the last line
sent and the subscription exists before the backlog read, the hand-off from backlog to live
lines can neither skip nor repeat a line. Readers at the live edge share their store reads and
frame encoding through `LiveTails`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

from hourglass.domain.jobs import FINISHED, Job
from hourglass.domain.logs.chunks import Chunk, LogChunkCorrupt, decode_meta
from hourglass.domain.logs.lines import Stream
from hourglass.domain.logs.render import render_txt
from hourglass.errors import BadRequest, NotFound
from hourglass.live import LiveBus
from hourglass.services.logformats import (
    SSE_RETRY_MS,
    Download,
    DownloadOptions,
    DownloadParams,
    EventTarget,
    Format,
    describe,
    json_entries,
    sse_frame,
    sse_log_frames,
)
from hourglass.services.logparams import parse_resume
from hourglass.services.logs import log_target
from hourglass.services.logtail import FramedChunk, LiveTails
from hourglass.store import jobs as job_store
from hourglass.store.db import Database, Tx
from hourglass.store.logs import reads as log_reads
from hourglass.store.logs.reads import ChunkHead

log = logging.getLogger("hourglass.logreads")

Fetch = Callable[[Tx, str, int, int], Awaitable[list[Chunk]]]
"""`(tx, job_id, after_seq, limit)` → up to `limit` chunks holding lines after `after_seq`."""
FetchMetas = Callable[[Tx, str, int, int], Awaitable[list[ChunkHead]]]
"""`(tx, job_id, after_first_seq, limit)` → chunk metas (no text) after that chunk."""
FetchAt = Callable[[Tx, str, Sequence[int]], Awaitable[list[Chunk]]]
"""`(tx, job_id, first_seqs)` → those chunks, ascending."""
METAS_PER_READ: Final = 1024


class _ByteCut:
    """Slices bytes `start..end` (inclusive) of a log out of its chunks as they come.

    Positions are counted from `at`, the position of the first chunk read (None: its
    `byte_offset`). With `check`, every chunk must start where the previous one ended (the
    offsets are trusted); a capped log whose trimmed tail was never sealed is read from its
    start without it.
    """

    def __init__(self, start: int, end: int, at: int | None, *, check: bool) -> None:
        self.start, self.end = start, end
        self.at = at  # text position the next chunk starts at
        self.check = check

    @property
    def done(self) -> bool:
        return self.at is not None and self.at > self.end

    def take(self, chunks: list[Chunk]) -> list[bytes]:
        pieces: list[bytes] = []
        start, end = self.start, self.end
        for c in chunks:
            if self.at is None:
                if c.byte_offset > start:
                    raise LogChunkCorrupt("the stored log does not cover the requested bytes")
                self.at = c.byte_offset
            elif self.check and c.byte_offset != self.at:
                raise LogChunkCorrupt("the stored log chunks are not contiguous")
            at = self.at
            self.at = at + len(c.text)
            lo, hi = max(start - at, 0), min(end + 1 - at, len(c.text))
            if lo == 0 and hi == len(c.text):
                pieces.append(c.text)
            elif lo < hi:
                pieces.append(c.text[lo:hi])
            if self.done:
                break
        return pieces


@dataclass(frozen=True, slots=True)
class _PlainRead:
    """Where a plain read starts (after this sequence number) and how it cuts the bytes."""

    after: int
    cut: _ByteCut


class _SeqReads:
    """Successive reads of the chunks after a sequence number, in growing batches."""

    def __init__(self, reads: LogReads, job_id: str, after: int) -> None:
        self.reads, self.job_id, self.after = reads, job_id, after
        self.limit = min(reads.first_batch_chunks, reads.batch_chunks)
        self.done = False

    async def next(self) -> list[Chunk] | None:
        if self.done:
            return None
        chunks = await self.reads._read(self.job_id, self.after, self.limit)
        if len(chunks) < self.limit:
            self.done = True
        else:
            self.limit = min(self.limit * 2, self.reads.batch_chunks)
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

    def __init__(self, reads: LogReads, job_id: str, stream: Stream) -> None:
        self.reads, self.job_id, self.stream = reads, job_id, stream
        self.after = 0
        self.queue: list[int] = []
        self.exhausted = False

    async def next(self) -> list[Chunk] | None:
        reads = self.reads
        while not self.queue:
            if self.exhausted:
                return None
            async with reads.db.read() as tx:
                metas = await reads.fetch_metas(tx, self.job_id, self.after, METAS_PER_READ)
            self.exhausted = len(metas) < METAS_PER_READ
            if metas:
                self.after = metas[-1].last_seq
            self.queue = [m.first_seq for m in metas if self._holds(m.meta)]
        take, self.queue = self.queue[: reads.batch_chunks], self.queue[reads.batch_chunks :]
        async with reads.db.read() as tx:
            return await reads.fetch_at(tx, self.job_id, take)

    def _holds(self, meta: bytes) -> bool:
        return any(run.stream is self.stream for run in decode_meta(meta))


# the service


class LogReads:
    """Streams job logs out of the store; one per process (live readers share its `LiveTails`).

    A read transaction fetches `first_batch_chunks` chunks at first, then up to `batch_chunks`
    (64 chunks of ~64 KiB: ~4 MiB, two batches in memory at most; with 32, the cost of each
    read held PostgreSQL downloads at ~250 MB/s here, with 64 they pass 400). `fetch` (the batch
    read, `store.logs.chunks_after`), `fetch_metas` and `fetch_at` (the stream filter's reads) are
    attributes so a test can make the store fail at a chosen point. `keepalive_seconds` bounds
    the gap between SSE keep-alive comments.
    """

    def __init__(
        self,
        db: Database,
        bus: LiveBus,
        *,
        batch_chunks: int = 64,
        first_batch_chunks: int = 4,
        keepalive_seconds: float = 15.0,
        fetch: Fetch = log_reads.chunks_after,
        fetch_metas: FetchMetas = _heads_after,
        fetch_at: FetchAt = log_reads.chunks_at,
    ) -> None:
        if batch_chunks < 1 or first_batch_chunks < 1 or keepalive_seconds <= 0:
            raise ValueError("invalid log reader settings")
        self.db = db
        self.bus = bus
        self.batch_chunks = batch_chunks
        self.first_batch_chunks = first_batch_chunks
        self.keepalive_seconds = keepalive_seconds
        self.fetch = fetch
        self.fetch_metas = fetch_metas
        self.fetch_at = fetch_at
        self.tails = LiveTails(self._read_framed)

    # reading

    async def _read(self, job_id: str, after: int, limit: int) -> list[Chunk]:
        async with self.db.read() as tx:
            return await self.fetch(tx, job_id, after, limit)

    def batches(self, job_id: str, after: int) -> AsyncGenerator[list[Chunk], None]:
        """The job's chunks holding lines after `after`, a batch per read transaction.

        The first batch is small (the first byte should leave soon), the next ones double up to
        `batch_chunks` (a read transaction costs about a millisecond whatever its size); it ends
        at the first short batch.
        """
        return self._ahead(_SeqReads(self, job_id, after).next)

    def stream_batches(self, job_id: str, stream: Stream) -> AsyncGenerator[list[Chunk], None]:
        """The job's chunks holding lines of `stream`, ascending: chunk metas are read first and
        only the chunks with a run on `stream` are read whole."""
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

    async def _job(self, job_id: str) -> Job:
        async with self.db.read() as tx:
            job = await job_store.get(tx, job_id)
        if job is None:
            raise NotFound("job not found")
        return job

    # download

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
        """The download's bytes, one piece per batch read (possibly empty, when a filter keeps
        none of its lines), so the first piece marks the end of the first read; `start`/`end`
        (inclusive) for plain txt."""
        if d.options.plain:
            last = d.job.log_bytes - 1 if end is None else end
            return self._plain(d.job, start, last)
        return self._rendered(d)

    async def _plain(self, job: Job, start: int, end: int) -> AsyncGenerator[bytes, None]:
        if start > end:
            return
        cut = await self._cut(job, start, end)
        async for chunks in self.batches(job.id, cut.after):
            pieces = cut.cut.take(chunks)
            yield pieces[0] if len(pieces) == 1 else b"".join(pieces)
            if cut.cut.done:
                return
        raise LogChunkCorrupt("the stored log is shorter than its recorded size")

    async def _cut(self, job: Job, start: int, end: int) -> _PlainRead:
        """Where a plain read of bytes `start..end` starts: at the chunk holding `start` (found
        by its offset), or at the log's start when the offsets cannot be trusted (a capped log
        whose trimmed tail was never sealed: its worker died)."""
        first = None
        if job.log_offsets_sealed and start > 0:
            async with self.db.read() as tx:
                first = await log_reads.first_seq_at_offset(tx, job.id, start)
        if first is None:
            return _PlainRead(0, _ByteCut(start, end, 0, check=job.log_offsets_sealed))
        return _PlainRead(first - 1, _ByteCut(start, end, None, check=True))

    async def _rendered(self, d: Download) -> AsyncGenerator[bytes, None]:
        options, job = d.options, d.job
        fmt = options.format
        # the JSON document's head goes out with the first batch, so that its read comes first
        head = b""
        if fmt is Format.JSON:
            head = f'{{"id":"{job.id}","workflow_id":"{job.workflow_id}","logs":['.encode()
        first = True
        if options.stream is not None:
            source = self.stream_batches(job.id, options.stream)
        else:
            source = self.batches(job.id, 0)
        async for chunks in source:
            if fmt is Format.TXT:
                data = b"".join([self._txt(c, options) for c in chunks])
            else:
                entries = [e for c in chunks for e in json_entries(job.id, c, options)]
                data = b""
                if entries and fmt is Format.JSONL:
                    data = ("\n".join(entries) + "\n").encode()
                elif entries:
                    data = (("" if first else ",") + ",".join(entries)).encode()
                    first = False
            yield head + data
            head = b""
        if fmt is Format.JSON:
            yield head + b"]}\n"

    @staticmethod
    def _txt(c: Chunk, options: DownloadOptions) -> bytes:
        return render_txt(
            c.text,
            c.meta,
            stream=options.stream,
            query=options.query,
            timestamps=options.timestamps,
            ansi_strip=options.ansi_strip,
        )

    # live stream

    async def event_target(
        self,
        user_id: str,
        workflow_id: str,
        job_id: str,
        *,
        last_event_id: str | None,
        after: str | None,
    ) -> EventTarget:
        """The checked live stream: 404 → 412 (expired) → 400 (bad resume point)."""
        job = await log_target(self.db, user_id, workflow_id, job_id, retained=False)
        return EventTarget(job, parse_resume(last_event_id, after))

    async def _read_framed(self, job_id: str, after: int) -> list[FramedChunk]:
        chunks = await self._read(job_id, after, self.batch_chunks)
        return [
            FramedChunk(max(c.first_seq, after + 1), c.last_seq, sse_log_frames(job_id, c, after))
            for c in chunks
        ]

    async def events(self, target: EventTarget) -> AsyncGenerator[bytes, None]:
        """The SSE frames of the stream, until the job is finished and every line was sent."""
        job_id = target.job.id
        loop = asyncio.get_running_loop()
        yield f"retry: {SSE_RETRY_MS}\n\n".encode()
        async with self.bus.subscribe(job_id) as sub, self.tails.use(job_id) as tail:
            seen = sub.status_version
            job = await self._job(job_id)  # after subscribing: no status change can slip by
            announced = job.status
            yield sse_frame("connected", {"status": "connected", "job_status": announced.value})
            last = target.after
            async for chunks in self.batches(job_id, last):
                yield b"".join([sse_log_frames(job_id, c, last) for c in chunks])
                last = max(last, chunks[-1].last_seq)
            keepalive_at = loop.time() + self.keepalive_seconds
            hint: int | None = sub.last_seq
            since = loop.time()
            while True:
                # Lines first: everything committed before `job` was read is sent before its status.
                while hint is None or last < hint:
                    pieces, new_last = await self.tails.after(tail, last, hint, since=since)
                    if new_last <= last:
                        break
                    yield b"".join(pieces)
                    last = new_last
                if job.status is not announced:
                    announced = job.status
                    yield sse_frame("status", {"job_status": announced.value})
                if announced in FINISHED:
                    end = {"status": "stream_ended", "job_status": announced.value}
                    yield sse_frame("end", {**end, "total_lines": job.log_lines})
                    return
                timeout = keepalive_at - loop.time()
                if timeout > 0:
                    await sub.wait(timeout)
                poll = loop.time() >= keepalive_at
                if poll:
                    yield b": keep-alive\n\n"
                    keepalive_at = loop.time() + self.keepalive_seconds
                if poll or sub.status_version != seen:
                    # a status change (or a poll for ones nobody announced): read the job, then
                    # the store until it has nothing more
                    seen = sub.status_version
                    job = await self._job(job_id)
                    since = loop.time()  # a store read started from now on sees every line
                    hint = None
                else:
                    hint = sub.last_seq

    @staticmethod
    def error_frame(exc: BaseException) -> bytes:
        return sse_frame("error", {"error": describe(exc)})


__all__ = ["Fetch", "LogReads"]
