"""What `hourglass logs` and `hourglass search` do, from their options to the requests.

`logs` reads the job first (so a 404 is the job's, and the right route is picked): a finished
job's whole log comes from the download route, streamed; slices, attempts and unfinished jobs
from pages of the JSON route; `--follow` goes on over SSE from the last line printed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from hourglass.client import output
from hourglass.client.api import Api
from hourglass.client.errors import Exit
from hourglass.client.follow import follow
from hourglass.client.jobs import outcome, status_notes
from hourglass.client.logs import (
    FINAL,
    LineFormat,
    Printer,
    get_job,
    job_path,
    print_download,
    print_failure,
    print_slice,
)
from hourglass.client.search import MatchPrinter, count_text, search_pages


@dataclass(frozen=True)
class Options:
    follow: bool = False
    tail: int | None = None
    head: int | None = None
    since: int | None = None
    stream: str | None = None
    attempt: int | None = None
    timestamps: bool = False
    failed: bool = False
    keep_ansi: bool = False


def show(api: Api, workflow_id: str, job_id: str, options: Options) -> Exit:
    """Print the log as asked; the exit code (by the job's outcome when following)."""
    path = job_path(workflow_id, job_id)
    job = get_job(api, workflow_id, job_id)
    fmt = LineFormat(
        timestamps=options.timestamps,
        strip_ansi=not options.keep_ansi,
        stream=options.stream,
        attempt=options.attempt,
    )
    printer = Printer(fmt)
    printer.last_seq = options.since or 0
    if options.failed:
        output.note(print_failure(api, path, printer))
        return Exit.OK
    final = job["status"] in FINAL
    whole = options.head is None and options.tail is None and options.since is None
    if final and whole and options.attempt is None:
        print_download(api, path, fmt, printer.out)
    elif not options.follow or options.tail is not None or not whole or final:
        print_slice(api, path, printer, head=options.head, tail=options.tail, since=options.since)
    if not options.follow:
        return Exit.OK
    if final:
        return outcome(job["status"])
    return outcome(follow(api, path, printer, status_notes()))


@dataclass(frozen=True)
class Query:
    pattern: str
    regex: bool = False
    case_sensitive: bool = False
    stream: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "q": self.pattern,
            "regex": "true" if self.regex else None,
            "case_sensitive": "true" if self.case_sensitive else None,
            "stream": self.stream,
        }


def search(
    api: Api,
    workflow_id: str,
    job_id: str,
    query: Query,
    context: int,
    count: bool,
    as_json: bool,
) -> None:
    """Print the matches (or only their number) and the total."""
    path = job_path(workflow_id, job_id)
    if count:
        first = next(search_pages(api, path, **query.params(), limit=1))
        sys.stdout.write(f"{first.get('total_matches', 0)}\n")
        return
    import json

    printer = MatchPrinter(api, path, context, output.colour_allowed())
    total = 0
    for page in search_pages(api, path, **query.params()):
        total = page.get("total_matches", total)
        for line in page["logs"]:
            if as_json:
                sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
            else:
                printer.match(line)
    printer.finish()
    if not as_json:
        output.note(count_text(total))
