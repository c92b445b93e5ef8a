"""What the bytes of a log download (`GET …/logs/raw`) are, read batch by batch.

Unfiltered `txt` is the concatenation of the chunks' `text` columns, sliced only at the edges of
a byte range: no decoding (`_ByteCut`), one piece per batch read. Filters and other formats work
run by run on chunk slices (`domain.logs.render.render_txt`), or build JSON entries from per-run
templates (`formats.json_entries`), `RENDER_BYTES` of stored text at a time on the log rendering
thread (`LogReads.render`), one piece each: a `jsonl` line is about three times its message, so
rendering a whole batch at once held tens of MB per download and stalled the event loop. A
stream filter reads chunk metas first and skips the text of chunks without that stream
(`LogReads.stream_batches`). A filtered download runs under a `scan.Budget` (checked before each
piece, not counting the time the client takes to read what was sent). The first piece comes
after the first batch read (possibly empty, when a filter keeps none of its lines), so the web
layer can read it before it sends the headers (a failure there is still an HTTP error); a
failure after the first byte is turned into the format's error tail
(`formats.Download.failure_tail`). HTTP itself (validators, ranges, gzip) is `web.downloads`'.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from hourglass.domain.jobs import Job
from hourglass.domain.logs.chunks import Chunk, LogChunkCorrupt
from hourglass.domain.logs.render import render_txt
from hourglass.services.logs.formats import (
    Download,
    DownloadOptions,
    Format,
    json_entries,
)
from hourglass.services.logs.scan import Budget
from hourglass.store.logs import reads as log_reads

if TYPE_CHECKING:  # reads.LogReads calls in here
    from hourglass.services.logs.reads import LogReads


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


def body(
    reads: LogReads, d: Download, *, start: int = 0, end: int | None = None
) -> AsyncGenerator[bytes, None]:
    """The download's bytes, a piece per batch read (plain txt) or per `RENDER_BYTES` of it
    (possibly empty, when a filter keeps none of its lines), so the first piece marks the end of
    the first read; `start`/`end` (inclusive) for plain txt."""
    if d.options.plain:
        last = d.job.log_bytes - 1 if end is None else end
        return _plain(reads, d.job, start, last)
    return _rendered(reads, d)


async def _plain(reads: LogReads, job: Job, start: int, end: int) -> AsyncGenerator[bytes, None]:
    if start > end:
        return
    cut = await _cut(reads, job, start, end)
    async for chunks in reads.batches(job.id, cut.after, expected=end + 1 - start):
        pieces = cut.cut.take(chunks)
        yield pieces[0] if len(pieces) == 1 else b"".join(pieces)
        if cut.cut.done:
            return
    raise LogChunkCorrupt("the stored log is shorter than its recorded size")


async def _cut(reads: LogReads, job: Job, start: int, end: int) -> _PlainRead:
    """Where a plain read of bytes `start..end` starts: at the chunk holding `start` (found
    by its offset), or at the log's start when the offsets cannot be trusted (a capped log
    whose trimmed tail was never sealed: its worker died)."""
    first = None
    if job.log_offsets_sealed and start > 0:
        async with reads.db.read() as tx:
            first = await log_reads.first_seq_at_offset(tx, job.id, start)
    if first is None:
        return _PlainRead(0, _ByteCut(start, end, 0, check=job.log_offsets_sealed))
    return _PlainRead(first - 1, _ByteCut(start, end, None, check=True))


RENDER_BYTES: Final = 256 * 1024
"""Stored text rendered per step of a filtered or `jsonl`/`json` download: a few hundred KiB in,
a few hundred KiB out (a `jsonl` line is about three times its message), so a download holds
little beyond its two batches of chunks, and each step is a short job for a worker thread."""


def _groups(chunks: list[Chunk]) -> Iterator[list[Chunk]]:
    """`chunks` cut into runs of about `RENDER_BYTES` of text."""
    group: list[Chunk] = []
    size = 0
    for c in chunks:
        group.append(c)
        size += len(c.text)
        if size >= RENDER_BYTES:
            yield group
            group, size = [], 0
    if group:
        yield group


def _render(job_id: str, chunks: list[Chunk], options: DownloadOptions) -> bytes:
    """The bytes of `chunks` in the download's format: `txt` lines, `jsonl` lines, or `json`
    entries separated by commas (no leading or trailing one)."""
    fmt = options.format
    if fmt is Format.TXT:
        return b"".join([_txt(c, options) for c in chunks])
    entries = [e for c in chunks for e in json_entries(job_id, c, options)]
    if not entries:
        return b""
    if fmt is Format.JSONL:
        entries.append("")
        return "\n".join(entries).encode()
    return ",".join(entries).encode()


async def _rendered(reads: LogReads, d: Download) -> AsyncGenerator[bytes, None]:
    """A filtered or formatted download, a piece per `RENDER_BYTES` of stored text, each
    rendered in a worker thread (the event loop only moves bytes)."""
    options, job = d.options, d.job
    fmt = options.format
    # the JSON document's head goes out with the first batch, so that its read comes first
    head = b""
    if fmt is Format.JSON:
        head = f'{{"id":"{job.id}","workflow_id":"{job.workflow_id}","logs":['.encode()
    separator = b""
    if options.stream is not None:
        source = reads.stream_batches(job.id, options.stream)
    else:
        source = reads.batches(job.id, 0, expected=job.log_bytes)
    budget = None
    if options.query is not None or options.stream is not None:
        budget = Budget.start(reads.scan_budget_seconds, reads.monotonic)
    async for chunks in source:
        for group in _groups(chunks):
            if budget is not None:
                budget.check("q" if options.query is not None else "stream")
            data = await reads.render(_render, job.id, group, options)
            if data and fmt is Format.JSON:
                data, separator = separator + data, b","
            paused = reads.monotonic()
            yield head + data
            head = b""
            if budget is not None:  # a slow client's time is not the scan's
                budget = budget.extended(reads.monotonic() - paused)
    if fmt is Format.JSON:
        yield head + b"]}\n"


def _txt(c: Chunk, options: DownloadOptions) -> bytes:
    return render_txt(
        c.text,
        c.meta,
        stream=options.stream,
        query=options.query,
        timestamps=options.timestamps,
        ansi_strip=options.ansi_strip,
    )
