"""`GET …/logs/summary`: where a failed job's log says what went wrong, read once per job.

The log viewer opens a failed job at its first error and draws its attempts; this is what it
asks. Access is checked first (`access.readable_log`: 404, then 412), as on every log route.
Then, in one read transaction:

1. every chunk's meta (a few dozen bytes each, `HEADS_PER_READ` at a time) gives the attempts,
   the capped log's gap and each chunk's text size (`domain.logs.summary.MetaOutline`);
2. the last attempt's text is scanned for error-like lines (`domain.logs.summary.error_hits`),
   within a budget of `scan_bytes`: the first half from the attempt's start, the other half at
   the log's end (where a failure usually is), `SCAN_BATCH` chunks per query, stopping early
   once `ERRORS_PER_KIND` lines of each kind are found;
3. the few lines the answer names (openings, closings, the omission line) are decoded from the
   chunks holding them, in one query.

A finished job's summary never changes, so it is kept (`cache_size` jobs per process, least
recently used out first) and served again without reading the log; a running job's is read
each time.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from hourglass.domain.jobs import Job
from hourglass.domain.logs.chunks import Chunk, decode_chunk
from hourglass.domain.logs.lines import LogLine
from hourglass.domain.logs.summary import (
    AttemptOutline,
    ErrorHits,
    ErrorLine,
    Gap,
    MetaOutline,
    clip,
    error_hits,
    first_error,
)
from hourglass.services.logs.access import readable_log
from hourglass.store.db import Database, Tx
from hourglass.store.logs import reads as log_reads

HEADS_PER_READ: Final = 1024
SCAN_BATCH: Final = 16  # chunks (~1 MiB of text) per query while scanning
SCAN_BYTES: Final = 32 * 1024 * 1024
ERRORS_PER_KIND: Final = 20
CACHE_SIZE: Final = 256


@dataclass(frozen=True, slots=True)
class LogSummary:
    """What the summary route answers (see `record`)."""

    job: Job
    last_seq: int
    attempts: list[tuple[AttemptOutline, LogLine | None, LogLine | None]]
    errors: list[ErrorLine]
    first_error: ErrorLine | None
    gap: Gap | None
    omission: LogLine | None
    scanned_bytes: int
    complete: bool

    def record(self) -> dict[str, Any]:
        """The API's summary object (docs/api.md "Job logs")."""
        job = self.job
        omitted = None
        if self.gap is not None:
            omitted = {
                "sequence_num": self.gap.omission_seq,
                "next_seq": self.gap.next_seq,
                "message": clip(self.omission.message) if self.omission else None,
            }
        return {
            "id": job.id,
            "workflow_id": job.workflow_id,
            "job_status": job.status.value,
            "log_state": job.log_state.value,
            "total_lines": job.log_lines,
            "last_seq": self.last_seq,
            "first_error": _error(self.first_error),
            "errors": [_error(e) for e in self.errors],
            "attempts": [_attempt(*a) for a in self.attempts],
            "omitted": omitted,
            "scanned": {"bytes": self.scanned_bytes, "complete": self.complete},
        }


def _line(line: LogLine) -> dict[str, Any]:
    return {
        "sequence_num": line.sequence_num,
        "stream": line.stream.value,
        "attempt": line.attempt,
        "message": clip(line.message),
    }


def _error(error: ErrorLine | None) -> dict[str, Any] | None:
    return None if error is None else {**_line(error.line), "kind": error.kind.value}


def _attempt(
    outline: AttemptOutline, opening: LogLine | None, closing: LogLine | None
) -> dict[str, Any]:
    return {
        "attempt": outline.attempt,
        "first_seq": outline.first_seq,
        "last_seq": outline.last_seq,
        "lines": outline.lines,
        "started": clip(opening.message) if opening else None,
        "ended": clip(closing.message) if closing else None,
    }


class LogSummaries:
    """Summaries of job logs for the viewer, finished jobs' kept in a per-process LRU cache."""

    def __init__(
        self, db: Database, *, cache_size: int = CACHE_SIZE, scan_bytes: int = SCAN_BYTES
    ) -> None:
        if cache_size < 0 or scan_bytes < 2:
            raise ValueError("invalid log summary settings")
        self.db = db
        self.cache_size = cache_size
        self.scan_bytes = scan_bytes
        self.scans = 0  # logs read so far (the cache's misses)
        self._cache: OrderedDict[str, LogSummary] = OrderedDict()

    async def summary(self, user_id: str, workflow_id: str, job_id: str) -> LogSummary:
        """The job's summary: 404 if it is not the caller's, 412 if its logs are not kept."""
        async with self.db.read(bulk=True) as tx:
            job, last_seq = await readable_log(tx, user_id, workflow_id, job_id)
            kept = self._cache.get(job.id)
            if kept is not None and kept.job == job:
                self._cache.move_to_end(job.id)
                return kept
            self.scans += 1
            found = await _Reader(tx, job, self.scan_bytes).summarize(last_seq)
        if job.is_finished and self.cache_size:
            self._cache[job.id] = found
            self._cache.move_to_end(job.id)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return found


class _Reader:
    """One summary's reads, in the caller's read transaction."""

    def __init__(self, tx: Tx, job: Job, scan_bytes: int) -> None:
        self.tx, self.job, self.scan_bytes = tx, job, scan_bytes
        self.firsts: list[int] = []  # each chunk's first_seq, ascending
        self.sizes: list[int] = []  # each chunk's text size

    async def summarize(self, last_seq: int) -> LogSummary:
        outline = await self._outline(last_seq)
        last = outline.attempts[-1] if outline.attempts else None
        errors: list[ErrorLine] = []
        scanned, complete = 0, True
        if last is not None:
            errors, scanned, complete = await self._scan(last.first_seq)
        wanted = [
            seq
            for a in outline.attempts
            for seq in (a.opening_seq, a.closing_seq)
            if seq is not None
        ]
        if outline.gap is not None:
            wanted.append(outline.gap.omission_seq)
        lines = await self._lines(wanted)
        attempts = [
            (a, lines.get(a.opening_seq or 0), lines.get(a.closing_seq or 0))
            for a in outline.attempts
        ]
        closing = attempts[-1][2] if attempts else None
        return LogSummary(
            self.job,
            outline.last_seq,
            attempts,
            errors,
            first_error(errors, closing),
            outline.gap,
            lines.get(outline.gap.omission_seq) if outline.gap else None,
            scanned,
            complete,
        )

    async def _outline(self, last_seq: int) -> MetaOutline:
        """Attempts and gap from every chunk's meta, up to `last_seq` (read with the job)."""
        outline = MetaOutline()
        after = 0
        while True:
            heads = await log_reads.chunk_heads(
                self.tx,
                self.job.id,
                after=after,
                before=last_seq + 1,
                descending=False,
                limit=HEADS_PER_READ,
            )
            for h in heads:
                self.sizes.append(outline.add(h.first_seq, h.last_seq, h.meta))
                self.firsts.append(h.first_seq)
            if len(heads) < HEADS_PER_READ:
                return outline
            after = heads[-1].last_seq

    def _windows(self, from_seq: int) -> tuple[list[int], list[int]]:
        """Indexes of the chunks to scan from `from_seq` on, within the budget: the first half
        of it from the start, the rest at the end (empty when the first part holds them all)."""
        start = max(0, bisect.bisect_right(self.firsts, from_seq) - 1)
        every = list(range(start, len(self.firsts)))
        if sum(self.sizes[i] for i in every) <= self.scan_bytes:
            return every, []
        half = self.scan_bytes // 2
        head = _within(every, self.sizes, half)
        tail = _within(every[len(head) :][::-1], self.sizes, self.scan_bytes - half)
        return head, tail[::-1]

    async def _scan(self, from_seq: int) -> tuple[list[ErrorLine], int, bool]:
        """Error-like lines from `from_seq` on; the bytes scanned; whether the lines found are
        the first ones (no chunk before the last one read was left out)."""
        head, tail = self._windows(from_seq)
        hits = ErrorHits(ERRORS_PER_KIND)
        found: list[LogLine] = []
        scanned = 0
        picked = head + tail
        for at in range(0, len(picked), SCAN_BATCH):
            batch = [self.firsts[i] for i in picked[at : at + SCAN_BATCH]]
            for chunk in await log_reads.chunks_at(self.tx, self.job.id, batch):
                before = set(hits.seqs())
                error_hits(chunk.first_seq, chunk.text, chunk.meta, hits, after=from_seq - 1)
                scanned += len(chunk.text)
                new = set(hits.seqs()) - before
                if new:
                    found += decode_chunk(chunk.first_seq, chunk.text, chunk.meta, only=new)
            if hits.full:
                picked = picked[: at + SCAN_BATCH]
                break
        complete = not tail or len(picked) <= len(head)
        errors = [ErrorLine(hits.kind_of(line.sequence_num), line) for line in found]
        return sorted(errors, key=lambda e: e.line.sequence_num), scanned, complete

    async def _lines(self, seqs: Iterable[int]) -> dict[int, LogLine]:
        """The lines with these sequence numbers (one query for the chunks holding them)."""
        wanted = set(seqs)
        if not wanted:
            return {}
        holding = sorted({self.firsts[bisect.bisect_right(self.firsts, s) - 1] for s in wanted})
        chunks: list[Chunk] = await log_reads.chunks_at(self.tx, self.job.id, holding)
        return {
            line.sequence_num: line
            for c in chunks
            for line in decode_chunk(c.first_seq, c.text, c.meta, only=wanted)
        }


def _within(indexes: list[int], sizes: list[int], budget: int) -> list[int]:
    """The leading `indexes` whose sizes fit in `budget` (at least one)."""
    taken: list[int] = []
    used = 0
    for i in indexes:
        if taken and used + sizes[i] > budget:
            break
        taken.append(i)
        used += sizes[i]
    return taken
