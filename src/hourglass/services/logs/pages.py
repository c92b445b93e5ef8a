"""Pages and search, as the log viewer asks for them: `GET …/logs` and `GET …/logs/search`.

Both check access first (`access.readable_log`: 404, then 412), then parse their parameters
(400), then read the window of the log they need in the same read transaction (`scan`): a page
of an unfiltered log is found by arithmetic on sequence numbers (lines are numbered 1..N, with
one gap in a capped log that the page reads past), a stream filter plans from the chunks' meta
alone, and a search scans chunk texts with the domain's C-speed matchers
(`domain.logs.search`), decoding only the lines it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hourglass.domain.common import is_valid_id
from hourglass.domain.jobs import Job
from hourglass.domain.logs.lines import LogLine
from hourglass.domain.logs.search import LogQuery
from hourglass.errors import NotFound, ValidationError
from hourglass.services.logs import scan
from hourglass.services.logs.access import check_readable, readable_job, readable_log
from hourglass.services.logs.params import PageParams, PageRequest, SearchParams, SearchRequest
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


async def page(
    db: Database, user_id: str, workflow_id: str, job_id: str, params: PageParams
) -> LogPage:
    """`GET …/logs`: lines with `after < seq < before` (of `stream`), keyset-paged."""
    try:
        ask = PageRequest.parse(job_id, params)
    except ValidationError:
        async with db.read() as tx:  # 404 and 412 come before 400
            await readable_job(tx, user_id, workflow_id, job_id)
        raise
    # a page of some streams may scan far for its lines: a bulk read then
    async with db.read(bulk=ask.stream is not None) as tx:
        if ask.stream is not None:
            job, last_seq = await readable_log(tx, user_id, workflow_id, job_id)
            window = ask.window(last_seq)
            lines, more = await scan.read_page(tx, job_id, window, ask.limit, ask.stream)
        else:
            job, lines, more = await _unfiltered_page(tx, user_id, workflow_id, ask)
    return LogPage(job, lines, ask.next_cursor(lines, more=more), job.log_lines)


async def _unfiltered_page(
    tx: Tx, user_id: str, workflow_id: str, ask: PageRequest
) -> tuple[Job, list[LogLine], bool]:
    """The page through the one-statement hot path (`store.logs.reads.readable_page`)."""
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
    params: SearchParams,
    *,
    budget_seconds: float,
) -> LogPage:
    """`GET …/logs/search`: matching lines with highlights; the first page counts them all.
    The scan stops with a 400 on `q` past `budget_seconds`."""
    budget = scan.Budget.start(budget_seconds)
    async with db.read(bulk=True) as tx:
        job, last_seq = await readable_log(tx, user_id, workflow_id, job_id)
        ask = SearchRequest.parse(job_id, params)
        count = ask.position is None
        found = await scan.search(
            tx,
            job_id,
            ask.window(last_seq),
            ask.limit,
            ask.query,
            ask.stream,
            count=count,
            lines=job.log_lines,
            budget=budget,
        )
    cursor = ask.next_cursor(found.lines, more=found.more)
    return LogPage(job, found.lines, cursor, job.log_lines, True, ask.query, found.total)
