"""Printing a job's log: the raw download streamed to standard output as it arrives, pages of
the JSON API for slices (`--head`, `--tail`, `--since`, `--attempt`), and the error excerpt.

Every line printed is what the download holds for it: the message and `\\n` (with
`--timestamps`, the RFC 3339 stamp and a space first), so slices and follow compose with the
download byte for byte.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Final

import httpx

from hourglass.client.api import Api
from hourglass.client.errors import ClientError, Exit

FINAL = ("COMPLETED", "FAILED", "CANCELED")
EXIT_BY_STATUS: Final = {
    "COMPLETED": Exit.OK,
    "FAILED": Exit.JOB_FAILED,
    "CANCELED": Exit.JOB_CANCELED,
}
PAGE = 1000  # the API's largest page
ERROR_MARK = b"\n--- ERROR: failed to fetch logs ---\n"
# identity: on loopback gzip costs more than it saves, and `Range` needs the plain bytes
RAW_HEADERS: Final = {"Accept-Encoding": "identity"}

# the server's `ansi=strip` patterns (domain/logs/render.py), repeated: the client imports
# nothing of the server, and a slice must print what the download would
_ANSI: Final = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[PX^_][^\x1b\x9c\n]*(?:\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"
)


def strip_ansi(text: str) -> str:
    if "\x1b" not in text and "\x9b" not in text and "\x9d" not in text:
        return text
    return _ANSI.sub("", text)


def job_path(workflow_id: str, job_id: str) -> str:
    return f"/workflows/{_segment(workflow_id)}/jobs/{_segment(job_id)}"


def _segment(value: str) -> str:
    """An id as one path segment: anything that is not an id's character makes it a 404 at the
    server rather than another route (`..`, `/`, `?`)."""
    from urllib.parse import quote

    segment = quote(value, safe="") or "-"
    # `.` and `..` would be resolved away by the URL's path, not sent as an id
    return segment.replace(".", "%2E") if segment.strip(".") == "" else segment


@dataclass(frozen=True)
class LineFormat:
    """How a line object becomes the bytes printed, and which lines are kept."""

    timestamps: bool = False
    strip_ansi: bool = False
    stream: str | None = None
    attempt: int | None = None

    def keeps(self, line: dict[str, Any]) -> bool:
        if self.stream is not None and line.get("stream") != self.stream:
            return False
        return self.attempt is None or line.get("attempt") == self.attempt

    def render(self, line: dict[str, Any]) -> bytes:
        message: str = line["message"]
        if self.strip_ansi:
            message = strip_ansi(message)
        if self.timestamps and "timestamp" in line:  # a summary's error lines have none
            message = f"{line['timestamp']} {message}"
        return (message + "\n").encode("utf-8", "surrogateescape")


class Printer:
    """Lines to a binary stream; flushed on request (per live line, once per page)."""

    def __init__(self, fmt: LineFormat, out: IO[bytes] | None = None) -> None:
        self.fmt = fmt
        self.out = out if out is not None else sys.stdout.buffer
        self.last_seq = 0

    def line(self, line: dict[str, Any]) -> None:
        self.last_seq = max(self.last_seq, int(line["sequence_num"]))
        if self.fmt.keeps(line):
            self.out.write(self.fmt.render(line))

    def lines(self, lines: list[dict[str, Any]]) -> None:
        for line in lines:
            self.line(line)
        self.out.flush()


def get_job(api: Api, workflow_id: str, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = api.get(job_path(workflow_id, job_id))
    return job


def print_download(api: Api, path: str, fmt: LineFormat, out: IO[bytes]) -> None:
    """The finished job's `txt` download, written as it arrives (never held whole)."""
    params: dict[str, str] = {}
    if fmt.stream:
        params["stream"] = fmt.stream
    if fmt.timestamps:
        params["timestamps"] = "true"
    if fmt.strip_ansi:
        params["ansi"] = "strip"
    with api.stream("GET", f"{path}/logs/raw", params=params, headers=RAW_HEADERS) as response:
        copy_body(api, response, out)
    out.flush()


def copy_body(
    api: Api, response: httpx.Response, out: IO[bytes], advance: Callable[[int], None] | None = None
) -> int:
    """Write a streamed body as it arrives (never held whole); the bytes written. A body that
    ends with the server's error tail is an incomplete log (`ClientError`)."""
    written, tail = 0, b""
    with api.transport_errors():
        for data in response.iter_raw():
            out.write(data)
            written += len(data)
            tail = (tail + data[-4096:])[-4096:]
            if advance is not None:
                advance(len(data))
    if "content-length" not in response.headers:  # else a short body already failed the read
        failed_stream(tail)
    return written


def failed_stream(tail: bytes) -> None:
    """The server's error tail at the end of a body: the log is incomplete."""
    at = tail.rfind(ERROR_MARK)
    if at >= 0 and tail.endswith(b"\n") and tail.count(b"\n", at + len(ERROR_MARK)) == 1:
        reason = tail[at + len(ERROR_MARK) :].decode("utf-8", "replace").strip()
        raise ClientError(f"the server failed while sending the log: {reason}", Exit.SERVER)


def pages(api: Api, path: str, **params: Any) -> Iterator[list[dict[str, Any]]]:
    """Pages of `GET …/logs` following the cursor to the end (or the current end)."""
    query = {k: v for k, v in params.items() if v is not None}
    while True:
        page = api.get(f"{path}/logs", **query)
        yield page["logs"]
        if not page.get("cursor"):
            return
        query["cursor"] = page["cursor"]


def print_slice(
    api: Api,
    path: str,
    printer: Printer,
    *,
    head: int | None = None,
    tail: int | None = None,
    since: int | None = None,
) -> None:
    """The lines after `since`, all of them or the first `head` / last `tail` (after filters)."""
    fmt = printer.fmt
    params = {"after": since, "stream": fmt.stream}
    if tail is not None and tail > PAGE:
        since = _tail_start(api, path, printer, tail, params)
        params, head = {**params, "after": since}, tail
    elif tail is not None:
        newest: list[dict[str, Any]] = []
        for page in pages(api, path, order="desc", limit=max(tail, 1), **params):
            if page:  # a follow goes on after the newest line, printed or not
                printer.last_seq = max(printer.last_seq, int(page[0]["sequence_num"]))
            newest += [line for line in page if fmt.keeps(line)]
            if len(newest) >= tail:
                break
        printer.lines(newest[:tail][::-1])
        return
    left = head
    limit = PAGE if head is None else min(PAGE, max(head, 1))
    for page in pages(api, path, order="asc", limit=limit, **params):
        if left is not None:
            page = [line for line in page if fmt.keeps(line)][:left]
            left -= len(page)
        printer.lines(page)
        if left is not None and left <= 0:
            return


def _tail_start(
    api: Api, path: str, printer: Printer, tail: int, params: dict[str, Any]
) -> int | None:
    """Where the last `tail` kept lines start (the `after` for reading them forwards): found
    going backwards by counting, so a long tail is streamed, never held whole."""
    counted, start = 0, None
    for page in pages(api, path, order="desc", limit=PAGE, **params):
        if page and start is None:
            printer.last_seq = max(printer.last_seq, int(page[0]["sequence_num"]))
        for line in page:
            if printer.fmt.keeps(line):
                counted, start = counted + 1, int(line["sequence_num"])
                if counted == tail:
                    return start - 1
    return params.get("after")


def print_failure(api: Api, path: str, printer: Printer) -> str:
    """The error excerpt of the job's log summary (`GET …/logs/summary`: the error-like lines of
    its last attempt, ascending); returns a note for the terminal naming the first error."""
    summary = api.get(f"{path}/logs/summary")
    printer.lines(summary_lines(summary))
    first = summary.get("first_error") if isinstance(summary, dict) else None
    if isinstance(first, dict) and "sequence_num" in first:
        return f"first error at line {first['sequence_num']}"
    return "the log summary found no error lines"


def summary_lines(summary: Any) -> list[dict[str, Any]]:
    """The line objects of a log summary's `errors` (messages cut to 500 characters)."""
    errors = summary.get("errors") if isinstance(summary, dict) else None
    return [e for e in errors if _is_line(e)] if isinstance(errors, list) else []


def _is_line(value: Any) -> bool:
    return isinstance(value, dict) and "sequence_num" in value and "message" in value
