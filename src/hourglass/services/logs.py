"""Job logs as readers see them, and how long they are kept: `LogService`.

The four log routes check, in this order and before any byte of the body: 401 (done by the web
layer) → 404 workflow or job not found / not the caller's → 412 retained-log route while the
workflow keeps no logs, or the job's logs expired → 400 bad parameters. So the routes hand their
query parameters over as raw strings and `LogService` parses them after `log_target`.

Pages and searches read only the chunks they need (see `store/logs.py`): a page of an unfiltered
log is found by arithmetic on sequence numbers (lines are numbered 1..N, with one gap in a
capped log that the page reads past), a stream
filter plans from the chunks' meta alone, and a search scans chunk texts with the domain's
C-speed matchers, decoding only the lines it returns. Retention deletes expired logs in small
batches, one transaction each, after marking the job `expired` so readers see 412 at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hourglass.domain.common import Clock, is_valid_id
from hourglass.domain.cursors import decode_cursor, encode_cursor
from hourglass.domain.jobs import Job, LogState
from hourglass.domain.logs.lines import LogLine, Stream
from hourglass.domain.logs.search import LogQuery, compile_query
from hourglass.errors import NotFound, PreconditionFailed, ValidationError
from hourglass.live import LiveBus
from hourglass.services import logscan
from hourglass.services.logparams import (
    parse_flag,
    parse_limit,
    parse_order,
    parse_seq,
    parse_stream,
)
from hourglass.services.logwriter import LogOutputs
from hourglass.settings import Settings
from hourglass.store.db import Database, Tx
from hourglass.store.logs import reads as log_reads
from hourglass.store.logs import retention as log_retention

SWEEP_BATCH = 100


def check_readable(job: Job, log_retention: bool, *, retained: bool) -> None:
    """412 if the job's logs expired, or if they are not kept: on the retained-log routes
    whenever the workflow keeps none, on the live stream once the job ended without them."""
    if job.log_state == LogState.EXPIRED:
        raise PreconditionFailed("the logs of this job have expired")
    disabled = job.log_state == LogState.DISABLED
    if retained and (not log_retention or disabled):
        raise PreconditionFailed("log retention is disabled for this workflow")
    if disabled and job.is_finished:
        raise PreconditionFailed("this job's logs were not kept (log retention is disabled)")


async def readable_log(
    tx: Tx, user_id: str, workflow_id: str, job_id: str, *, retained: bool = True
) -> tuple[Job, int]:
    """The caller's job for a log route and its log's last sequence number, inside the caller's
    read transaction (so the job row and the chunks read next agree): 404 if it is not theirs,
    412 if its logs are not kept."""
    found = None
    if is_valid_id(workflow_id) and is_valid_id(job_id):
        found = await log_reads.readable_job(tx, user_id, workflow_id, job_id)
    if found is None:
        raise NotFound("job not found")
    job, log_retention, last_seq = found
    check_readable(job, log_retention, retained=retained)
    return job, last_seq


async def readable_job(
    tx: Tx, user_id: str, workflow_id: str, job_id: str, *, retained: bool = True
) -> Job:
    """`readable_log` without the last sequence number."""
    job, _ = await readable_log(tx, user_id, workflow_id, job_id, retained=retained)
    return job


async def log_target(
    db: Database, user_id: str, workflow_id: str, job_id: str, *, retained: bool
) -> Job:
    """`readable_job` in a read of its own (for the streamed routes)."""
    async with db.read() as tx:
        return await readable_job(tx, user_id, workflow_id, job_id, retained=retained)


@dataclass(frozen=True, slots=True)
class LogPage:
    """One page of a job's log (or of search hits), in the order asked for."""

    job: Job
    lines: list[LogLine]
    cursor: str | None
    total_lines: int
    search: bool = False
    query: LogQuery | None = None
    total_matches: int | None = None

    def records(self) -> list[dict[str, Any]]:
        """The API's line objects; search hits carry `highlights` (character offsets, `[]`
        when the search has no `q`)."""
        job_id = self.job.id
        if not self.search:
            return [line.record(job_id) for line in self.lines]
        out = []
        for line in self.lines:
            record = line.record(job_id)
            spans = self.query.highlights(line.message) if self.query is not None else []
            record["highlights"] = [list(span) for span in spans]
            out.append(record)
        return out


def _position(cursor: str | None, filters: Mapping[str, Any]) -> int | None:
    position = decode_cursor(cursor, filters)
    if position is not None and (not isinstance(position, int) or position < 0):
        raise ValidationError.field("cursor", "malformed cursor")
    return position


@dataclass(frozen=True, slots=True)
class PageRequest:
    """The parameters of `GET …/logs`, parsed; `after`/`before` already narrowed by the cursor."""

    filters: dict[str, Any]
    limit: int
    descending: bool
    after: int
    before: int | None
    stream: Stream | None

    @classmethod
    def parse(
        cls,
        job_id: str,
        cursor: str | None,
        limit: str | None,
        order: str | None,
        after: str | None,
        before: str | None,
        stream: str | None,
    ) -> PageRequest:
        size = parse_limit(limit)
        descending = parse_order(order)
        low = parse_seq("after", after) or 0
        high = parse_seq("before", before)
        only = parse_stream(stream)
        filters = {
            "route": "logs",
            "job": job_id,
            "order": "desc" if descending else "asc",
            "after": low,
            "before": high,
            "stream": only,
        }
        position = _position(cursor, filters)
        if position is not None:
            if descending:
                high = position if high is None else min(high, position)
            else:
                low = max(low, position)
        return cls(filters, size, descending, low, high, only)

    def window(self, last_seq: int) -> logscan.Window:
        """The lines to page through, bounded by the log's last sequence number as read in the
        same transaction: lines committed meanwhile wait for the next page."""
        end = last_seq + 1 if self.before is None else min(self.before, last_seq + 1)
        return logscan.Window(self.after, end, self.descending)

    def cursor_after(self, seq: int) -> str:
        return encode_cursor(seq, self.filters)


class LogService:
    """Reading job logs (page, search), keeping them (retention), and writing them (`outputs`)."""

    def __init__(self, db: Database, settings: Settings, clock: Clock, bus: LiveBus) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.outputs = LogOutputs(db, settings, clock, bus)

    async def page(
        self,
        user_id: str,
        workflow_id: str,
        job_id: str,
        *,
        cursor: str | None = None,
        limit: str | None = None,
        order: str | None = None,
        after: str | None = None,
        before: str | None = None,
        stream: str | None = None,
    ) -> LogPage:
        """`GET …/logs`: lines with `after < seq < before` (of `stream`), keyset-paged."""
        try:
            ask = PageRequest.parse(job_id, cursor, limit, order, after, before, stream)
        except ValidationError:
            async with self.db.read() as tx:  # 404 and 412 come before 400
                await readable_job(tx, user_id, workflow_id, job_id)
            raise
        async with self.db.read() as tx:
            if ask.stream is not None:
                job, last_seq = await readable_log(tx, user_id, workflow_id, job_id)
                window = ask.window(last_seq)
                lines, more = await logscan.read_page(tx, job_id, window, ask.limit, ask.stream)
            else:
                job, lines, more = await self._unfiltered_page(tx, user_id, workflow_id, ask)
        next_cursor = ask.cursor_after(lines[-1].sequence_num) if more and lines else None
        return LogPage(job, lines, next_cursor, job.log_lines)

    @staticmethod
    async def _unfiltered_page(
        tx: Tx, user_id: str, workflow_id: str, ask: PageRequest
    ) -> tuple[Job, list[LogLine], bool]:
        """The page through the one-statement hot path (`store.logs.readable_page`)."""
        job_id = ask.filters["job"]
        found = None
        if is_valid_id(workflow_id) and is_valid_id(job_id):
            found = await log_reads.readable_page(
                tx,
                user_id,
                workflow_id,
                job_id,
                after=ask.after,
                before=ask.before,
                descending=ask.descending,
                limit=ask.limit,
            )
        if found is None:
            raise NotFound("job not found")
        job, log_retention, last_seq, chunks = found
        check_readable(job, log_retention, retained=True)
        window = ask.window(last_seq)
        if window.empty:
            return job, [], False
        lines, more = await logscan.page_from(tx, job_id, window, ask.limit, chunks)
        return job, lines, more

    async def search(
        self,
        user_id: str,
        workflow_id: str,
        job_id: str,
        *,
        q: str | None = None,
        stream: str | None = None,
        regex: str | None = None,
        case_sensitive: str | None = None,
        cursor: str | None = None,
        limit: str | None = None,
        order: str | None = None,
    ) -> LogPage:
        """`GET …/logs/search`: matching lines with highlights; the first page counts them all."""
        async with self.db.read() as tx:
            job, last_seq = await readable_log(tx, user_id, workflow_id, job_id)
            size = parse_limit(limit)
            descending = parse_order(order)
            only = parse_stream(stream)
            is_regex = parse_flag("regex", regex)
            exact_case = parse_flag("case_sensitive", case_sensitive)
            query = compile_query(q, regex=is_regex, case_sensitive=exact_case) if q else None
            filters = {
                "route": "search",
                "job": job_id,
                "q": q or None,
                "regex": is_regex,
                "case_sensitive": exact_case,
                "stream": only,
                "order": "desc" if descending else "asc",
            }
            position = _position(cursor, filters)
            low, high = 0, last_seq + 1
            if position is not None:
                low, high = (low, position) if descending else (position, high)
            window = logscan.Window(low, high, descending)
            found = await logscan.search(
                tx, job_id, window, size, query, only, count=position is None, lines=job.log_lines
            )
        lines = found.lines
        next_cursor = (
            encode_cursor(lines[-1].sequence_num, filters) if found.more and lines else None
        )
        return LogPage(job, lines, next_cursor, job.log_lines, True, query, found.total)

    # retention

    async def sweep_expired(self, now: datetime | None = None, *, batch: int = SWEEP_BATCH) -> int:
        """Delete the logs of jobs past `log_expires_at`, at most `batch` chunks a transaction.

        Each job is marked `expired` first (readers get 412 at once), then its chunks go in
        batches, then its expiry is cleared. A sweep cut short is finished by the next one.
        Returns how many jobs were cleaned up.
        """
        now = now or self.clock.now()
        done = 0
        while True:
            async with self.db.write() as tx:
                job_ids = await log_retention.due_for_expiry(tx, now, batch)
                if job_ids:
                    await log_retention.mark_expired(tx, job_ids)
            if not job_ids:
                return done
            for job_id in job_ids:
                while True:
                    async with self.db.write() as tx:
                        deleted = await log_retention.delete_chunk_batch(tx, job_id, batch)
                        if deleted < batch:
                            await log_retention.clear_expiry(tx, job_id)
                    if deleted < batch:
                        break
                done += 1
