"""Pages and search, as the log viewer asks for them: `GET …/logs` and `GET …/logs/search`.

Both check access first (`access.readable_log`: 404, then 412), then parse their parameters
(400), then read the window of the log they need in the same read transaction (`scan`): a page
of an unfiltered log is found by arithmetic on sequence numbers (lines are numbered 1..N, with
one gap in a capped log that the page reads past), a stream filter plans from the chunks' meta
alone, and a search scans chunk texts with the domain's C-speed matchers
(`domain.logs.search`), decoding only the lines it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hourglass.domain.common import is_valid_id
from hourglass.domain.cursors import decode_cursor, encode_cursor
from hourglass.domain.jobs import Job
from hourglass.domain.logs.lines import LogLine, Stream
from hourglass.domain.logs.search import LogQuery, compile_query
from hourglass.errors import NotFound, ValidationError
from hourglass.services.logs import scan
from hourglass.services.logs.access import check_readable, readable_job, readable_log
from hourglass.services.logs.params import (
    parse_flag,
    parse_limit,
    parse_order,
    parse_seq,
    parse_stream,
)
from hourglass.store.db import Database, Tx
from hourglass.store.logs import reads as log_reads


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

    def window(self, last_seq: int) -> scan.Window:
        """The lines to page through, bounded by the log's last sequence number as read in the
        same transaction: lines committed meanwhile wait for the next page."""
        end = last_seq + 1 if self.before is None else min(self.before, last_seq + 1)
        return scan.Window(self.after, end, self.descending)

    def cursor_after(self, seq: int) -> str:
        return encode_cursor(seq, self.filters)


async def page(
    db: Database,
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
        async with db.read() as tx:  # 404 and 412 come before 400
            await readable_job(tx, user_id, workflow_id, job_id)
        raise
    async with db.read() as tx:
        if ask.stream is not None:
            job, last_seq = await readable_log(tx, user_id, workflow_id, job_id)
            window = ask.window(last_seq)
            lines, more = await scan.read_page(tx, job_id, window, ask.limit, ask.stream)
        else:
            job, lines, more = await _unfiltered_page(tx, user_id, workflow_id, ask)
    next_cursor = ask.cursor_after(lines[-1].sequence_num) if more and lines else None
    return LogPage(job, lines, next_cursor, job.log_lines)


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
    lines, more = await scan.page_from(tx, job_id, window, ask.limit, chunks)
    return job, lines, more


async def search(
    db: Database,
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
    async with db.read() as tx:
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
        window = scan.Window(low, high, descending)
        found = await scan.search(
            tx, job_id, window, size, query, only, count=position is None, lines=job.log_lines
        )
    lines = found.lines
    next_cursor = encode_cursor(lines[-1].sequence_num, filters) if found.more and lines else None
    return LogPage(job, lines, next_cursor, job.log_lines, True, query, found.total)
