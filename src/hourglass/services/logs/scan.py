"""Reading ranges of a job's log out of its chunks: pages and searches, with no per-row scans.

A `Window` is the open interval `(after, before)` of sequence numbers a read may return, walked
ascending or descending. Lines are numbered 1..N with at most one gap (the omitted middle of a
capped log, after its omission line), so an unfiltered page is plain arithmetic plus one query
for the one or two chunks holding it, and a page that comes short has met the gap: one probe
finds the first line past it and the page goes on from there; a stream filter first plans
from the chunks' meta (a few dozen bytes each) and then fetches only the chunks it needs; a
search scans chunk texts batch by batch with the domain's matchers and decodes only the lines it
returns, so its cost is one C-speed pass over the text, whatever the number of hits: once the
page is full, the exact count goes on chunk by chunk without listing any line
(`search.count_chunk`).

The CPU work of a scan runs in a worker thread, a batch at a time (the event loop keeps serving
other requests, `/healthz` included), and under a `Budget`: a search or filtered download that
runs past `HOURGLASS_LOG_SCAN_BUDGET_SECONDS` stops with a 400 naming its filter.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from hourglass.domain.logs.chunks import Chunk, decode_chunk, decode_meta
from hourglass.domain.logs.lines import LogLine, Streams
from hourglass.domain.logs.search import LogQuery, count_chunk, search_chunk
from hourglass.errors import FieldError, ValidationError
from hourglass.store.db import Tx
from hourglass.store.logs import reads as log_reads

HEAD_BATCH = 256  # chunk heads read at a time while planning a filtered page
SCAN_BATCH = 16  # chunks (~1 MiB of text) read at a time while searching
READ_AHEAD = 2  # batches read ahead of the scan


@dataclass(frozen=True, slots=True)
class Budget:
    """How long a scan may run: `check` raises once `seconds` have passed since `start`.

    The error is a `ValidationError` on `field` (the filter to narrow: `q`, or `stream` for a
    download filtered by stream only), so it is a 400 before a body starts, and the download's
    error tail after."""

    seconds: float
    deadline: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def start(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Budget:
        return cls(seconds, clock() + seconds, clock)

    def extended(self, seconds: float) -> Budget:
        """The same budget with `seconds` more (time spent waiting for the client, not scanning)."""
        return Budget(self.seconds, self.deadline + seconds, self.clock)

    def check(self, field: str = "q") -> None:
        if self.clock() > self.deadline:
            text = (
                f"the search ran past its {self.seconds:g} s budget; narrow it with "
                "after/before/stream or a more selective q"
            )
            raise ValidationError(FieldError(field, text), text)


@dataclass(frozen=True, slots=True)
class Window:
    """Sequence numbers `after < seq < before`, read ascending or descending."""

    after: int
    before: int
    descending: bool

    @property
    def empty(self) -> bool:
        return self.before <= self.after + 1


@dataclass(frozen=True, slots=True)
class Found:
    """One page of search hits, whether more follow, and (first page) how many there are."""

    lines: list[LogLine]
    more: bool
    total: int | None


def page_bounds(window: Window, limit: int) -> tuple[int, int, bool]:
    """`(lo, hi, more)`: the unfiltered page of `window` is lines `lo..hi` (inclusive), and
    `more` tells whether lines of the window lie beyond it (`store.logs.reads.readable_page`
    computes the same bounds in SQL)."""
    if window.descending:
        hi = window.before - 1
        lo = max(window.before - limit, window.after + 1)
        return lo, hi, lo > window.after + 1
    lo = window.after + 1
    hi = min(window.after + limit, window.before - 1)
    return lo, hi, hi < window.before - 1


def lines_of(chunks: list[Chunk], lo: int, hi: int, descending: bool) -> list[LogLine]:
    """Lines `lo..hi` of `chunks` (ascending chunks), in the page's order."""
    lines = [
        line for c in chunks for line in decode_chunk(c.first_seq, c.text, c.meta, lo=lo, hi=hi)
    ]
    if descending:
        lines.reverse()
    return lines


async def read_page(
    tx: Tx, job_id: str, window: Window, limit: int, stream: Streams | None
) -> tuple[list[LogLine], bool]:
    """The first `limit` lines of `window` (of `stream` only, if given) and whether more follow."""
    if window.empty:
        return [], False
    if stream is not None:
        return await _filtered_page(tx, job_id, window, limit, stream)
    lo, hi, _ = page_bounds(window, limit)
    chunks = await log_reads.chunks_between(
        tx, job_id, after=lo - 1, before=hi + 1, descending=False, limit=hi - lo + 1
    )
    return await page_from(tx, job_id, window, limit, chunks)


async def page_from(
    tx: Tx, job_id: str, window: Window, limit: int, chunks: list[Chunk]
) -> tuple[list[LogLine], bool]:
    """The unfiltered page of `window` out of `chunks` (those holding its first `limit` lines)
    and whether more follow; completed past a capped log's gap when the chunks fall short."""
    lo, hi, more = page_bounds(window, limit)
    lines = lines_of(chunks, lo, hi, window.descending)
    if len(lines) < hi - lo + 1:  # the omitted middle of a capped log
        return await past_gap(tx, job_id, window, limit, lines, (lo, hi))
    return lines, more


async def past_gap(
    tx: Tx,
    job_id: str,
    window: Window,
    limit: int,
    lines: list[LogLine],
    bounds: tuple[int, int],
) -> tuple[list[LogLine], bool]:
    """An unfiltered page of lines `bounds` (inclusive) that came short of them, completed
    with the lines past the gap and whether more follow. Only a capped log has a gap, and only
    one, so the lines past it are numbered without one."""
    lo, hi = bounds
    if window.descending:
        found = await log_reads.chunks_between(
            tx, job_id, after=window.after, before=lo, descending=True, limit=1
        )
        if not found:
            return lines, False
        rest = Window(window.after, min(found[0].last_seq, lo - 1) + 1, True)
    else:
        found = await log_reads.chunks_after(tx, job_id, hi, 1)
        if not found or found[0].first_seq >= window.before:
            return lines, False
        rest = Window(max(found[0].first_seq, hi + 1) - 1, window.before, False)
    start, end, more = page_bounds(rest, limit - len(lines))
    chunks = await log_reads.chunks_between(
        tx, job_id, after=start - 1, before=end + 1, descending=False, limit=end - start + 1
    )
    return lines + lines_of(chunks, start, end, window.descending), more


def _stream_lines(first_seq: int, meta: bytes, stream: Streams, window: Window) -> int:
    """How many lines of the streams in `stream` in the chunk fall inside `window`."""
    n = 0
    for run in decode_meta(meta):
        if run.stream not in stream:
            continue
        a = max(first_seq + run.first_index, window.after + 1)
        b = min(first_seq + run.first_index + run.count - 1, window.before - 1)
        if a <= b:
            n += b - a + 1
    return n


async def _filtered_page(
    tx: Tx, job_id: str, window: Window, limit: int, stream: Streams
) -> tuple[list[LogLine], bool]:
    needed: list[int] = []
    got = 0
    more = False
    after, before = window.after, window.before
    while not more:
        heads = await log_reads.chunk_heads(
            tx, job_id, after=after, before=before, descending=window.descending, limit=HEAD_BATCH
        )
        for head in heads:
            n = _stream_lines(head.first_seq, head.meta, stream, window)
            if not n:
                continue
            if got >= limit:
                more = True
                break
            needed.append(head.first_seq)
            got += n
            if got > limit:
                more = True
                break
        if len(heads) < HEAD_BATCH:
            break
        if window.descending:
            before = heads[-1].first_seq
        else:
            after = heads[-1].last_seq
    lo, hi = window.after + 1, window.before - 1
    lines = [
        line
        for c in await log_reads.chunks_at(tx, job_id, needed)
        for line in decode_chunk(c.first_seq, c.text, c.meta, lo=lo, hi=hi, stream=stream)
    ]
    if window.descending:
        lines.reverse()
    return lines[:limit], more


async def count_stream(tx: Tx, job_id: str, window: Window, stream: Streams) -> int:
    """How many lines of `stream` the window holds (from the chunks' meta alone)."""
    total = 0
    after = window.after
    while True:
        heads = await log_reads.chunk_heads(
            tx, job_id, after=after, before=window.before, descending=False, limit=HEAD_BATCH
        )
        total += sum(_stream_lines(h.first_seq, h.meta, stream, window) for h in heads)
        if len(heads) < HEAD_BATCH:
            return total
        after = heads[-1].last_seq


class _Collector:
    """Gathers the first `limit` hits of a scan (decoded) and counts the rest."""

    def __init__(self, window: Window, limit: int, stream: Streams | None) -> None:
        self.window = window
        self.limit = limit
        self.stream = stream
        self.lines: list[LogLine] = []
        self.more = False
        self.total = 0

    def full(self, chunk: Chunk) -> bool:
        """Whether the page is full and `chunk` lies inside the window: its hits only count."""
        window = self.window
        inside = window.after < chunk.first_seq and chunk.last_seq < window.before
        return inside and len(self.lines) >= self.limit

    def count(self, hits: int) -> None:
        """`hits` more matches past the full page."""
        self.total += hits
        self.more = self.more or hits > 0

    def add(self, chunk: Chunk, hits: list[int]) -> None:
        window = self.window
        if hits and (chunk.first_seq <= window.after or chunk.last_seq >= window.before):
            hits = [h for h in hits if window.after < h < window.before]
        if not hits:
            return
        self.total += len(hits)
        room = self.limit - len(self.lines)
        if room <= 0:
            self.more = True
            return
        if window.descending:
            hits.reverse()
        take = hits[:room]
        self.more = self.more or len(hits) > room
        found = decode_chunk(
            chunk.first_seq,
            chunk.text,
            chunk.meta,
            lo=min(take),
            hi=max(take),
            stream=self.stream,
            only=set(take),
        )
        if window.descending:
            found.reverse()
        self.lines += found


_Batches = asyncio.Queue[list[Chunk] | BaseException | None]


@contextlib.asynccontextmanager
async def _read_ahead(tx: Tx, job_id: str, window: Window) -> AsyncIterator[_Batches]:
    """Batches of the window's chunks, fetched by a task one or two batches ahead of the
    caller, so the store reads the next batch (in its thread or server) while the caller scans
    this one. Ends with None, or with the exception that stopped the reading.

    The reader is never cancelled mid-read (that would break the connection of the transaction
    it shares): told to stop, it finishes the read in flight and ends."""
    queue: _Batches = asyncio.Queue(maxsize=READ_AHEAD)
    stop = asyncio.Event()

    async def read() -> None:
        batches = log_reads.stream_chunks(
            tx,
            job_id,
            after=window.after,
            before=window.before,
            descending=window.descending,
            batch=SCAN_BATCH,
        )
        try:
            async with contextlib.aclosing(batches):
                async for chunks in batches:
                    if stop.is_set():
                        return
                    await queue.put(chunks)
        except Exception as exc:
            await queue.put(exc)
            return
        await queue.put(None)

    reader = asyncio.create_task(read())
    try:
        yield queue
    finally:
        stop.set()
        while not reader.done():
            while not queue.empty():
                queue.get_nowait()  # a reader blocked on a full queue gets its turn
            await asyncio.wait([reader], timeout=0.01)
        await reader


async def search(
    tx: Tx,
    job_id: str,
    window: Window,
    limit: int,
    query: LogQuery | None,
    stream: Streams | None,
    *,
    count: bool,
    lines: int,
    budget: Budget | None = None,
) -> Found:
    """The first `limit` lines of `window` matching `query` and `stream`; with `count`, the
    exact number of matches in the whole window too (else the scan stops once the page is full).
    `lines`: how many lines the window holds (not derivable: a capped log's window has a gap).
    Each batch is scanned in a worker thread, checking `budget` before each chunk.
    """
    if query is None:
        page, more = await read_page(tx, job_id, window, limit, stream)
        total = None
        if count and stream is None:
            total = lines
        elif count and stream is not None:
            total = await count_stream(tx, job_id, window, stream)
        return Found(page, more, total)
    hits = _Collector(window, limit, stream)
    if window.empty:
        return Found([], False, 0 if count else None)
    async with _read_ahead(tx, job_id, window) as batches:
        while (chunks := await batches.get()) is not None:
            if isinstance(chunks, BaseException):
                raise chunks
            await _scan(hits, chunks, query, stream, budget)
            if hits.more and not count:
                break
    return Found(hits.lines, hits.more, hits.total if count else None)


async def _scan(
    hits: _Collector,
    chunks: list[Chunk],
    query: LogQuery,
    stream: Streams | None,
    budget: Budget | None,
) -> None:
    """One batch, in worker threads: a regex batch that is only counted (the page is full) is
    split between two threads, which RE2 runs at once (it lets go of the GIL while it scans)."""
    if query.regex and len(chunks) > 1 and all(hits.full(c) for c in chunks):
        half = len(chunks) // 2
        counts = await asyncio.gather(
            asyncio.to_thread(_count_batch, chunks[:half], query, stream, budget),
            asyncio.to_thread(_count_batch, chunks[half:], query, stream, budget),
        )
        hits.count(sum(counts))
        return
    await asyncio.to_thread(_scan_batch, hits, chunks, query, stream, budget)


def _count_batch(
    chunks: list[Chunk], query: LogQuery, stream: Streams | None, budget: Budget | None
) -> int:
    total = 0
    for c in chunks:
        if budget is not None:
            budget.check()
        total += count_chunk(c.text, c.meta, query, stream=stream)
    return total


def _scan_batch(
    hits: _Collector,
    chunks: list[Chunk],
    query: LogQuery,
    stream: Streams | None,
    budget: Budget | None,
) -> None:
    """One batch of a search (run in a worker thread: RE2 lets go of the GIL while it scans)."""
    for c in chunks:
        if budget is not None:
            budget.check()
        if hits.full(c):
            hits.count(count_chunk(c.text, c.meta, query, stream=stream))
        else:
            hits.add(c, search_chunk(c.first_seq, c.text, c.meta, query, stream=stream))
