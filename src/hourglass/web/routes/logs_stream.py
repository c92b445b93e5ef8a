"""The streamed log routes: the raw download (`GET`/`HEAD …/logs/raw`) and live events (SSE).

Every precondition (401 → 404 → 412 → 400) is checked before the response starts; parameters
arrive as plain strings and are validated after the access checks, so a bad parameter on
someone else's job is a 404, not a 400.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from hourglass.services.logs.params import DownloadParams
from hourglass.services.logs.reads import LogReads
from hourglass.web.deps import CurrentUser, services_of
from hourglass.web.downloads import download_response
from hourglass.web.sse import EventStreamResponse

router = APIRouter(prefix="/workflows/{workflow_id}/jobs/{job_id}", tags=["logs"])


def log_reads(request: Request) -> LogReads:
    """The process's log reader (live readers of one job share its store reads through it)."""
    return services_of(request).reads


_ACCESS: dict[int | str, dict[str, object]] = {
    401: {"description": "No valid session or token"},
    404: {"description": "Workflow or job not found"},
}


def _header(description: str, **schema: object) -> dict[str, object]:
    return {"description": description, "schema": {"type": "string", **schema}}


_SENT_ALWAYS = {
    "Content-Disposition": _header('`attachment; filename="{job_id}-logs.{format}"`'),
    "Vary": _header("`Accept-Encoding`"),
    "Cache-Control": _header("`private`"),
}
_VALIDATORS = {
    "ETag": _header("strong; unfiltered `txt` only (the gzip variant's ends `-gzip`)"),
    "Last-Modified": _header("unfiltered `txt` only"),
    "Accept-Ranges": _header("`bytes`; unfiltered `txt` only"),
}
_DOWNLOAD_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The log: `txt` (default), `jsonl` or `json`, streamed batch by batch",
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
        "headers": {
            **_SENT_ALWAYS,
            **_VALIDATORS,
            "Content-Length": {
                "description": "unfiltered `txt` without gzip only",
                "schema": {"type": "integer", "minimum": 0},
            },
            "Content-Encoding": _header("`gzip` when asked by `Accept-Encoding`"),
        },
    },
    206: {
        "description": "One byte range of the unfiltered `txt` log (`Range: bytes=…`)",
        "content": {"text/plain": {"schema": {"type": "string"}}},
        "headers": {
            **_SENT_ALWAYS,
            **_VALIDATORS,
            "Content-Range": _header("`bytes {first}-{last}/{length}`"),
            "Content-Length": {"schema": {"type": "integer", "minimum": 0}},
        },
    },
    304: {
        "description": "Not modified (`If-None-Match` / `If-Modified-Since`)",
        "headers": {**_SENT_ALWAYS, **_VALIDATORS},
    },
    400: {"description": "Job not finished, or a bad parameter"},
    **_ACCESS,
    412: {"description": "The workflow keeps no logs, or they expired"},
    416: {
        "description": "Range not satisfiable",
        "headers": {"Content-Range": _header("`bytes */{length}`")},
    },
}


def _request_header(name: str, description: str) -> dict[str, object]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


# read from the request by `web/downloads.py`, never refused: what it cannot use it ignores
_CONDITIONAL = {
    "parameters": [
        _request_header(
            "Range",
            "`bytes=first-last` (or `first-`, `-suffix`) of the unfiltered `txt` log: 206, or "
            "416 outside it; several or malformed ranges are ignored (200)",
        ),
        _request_header("If-Range", "an ETag or date: the range only if the log is unchanged"),
        _request_header("If-None-Match", "ETags: 304 when one matches"),
        _request_header("If-Modified-Since", "an HTTP date: 304 when not modified since"),
        _request_header("Accept-Encoding", "`gzip`: the body is gzip-compressed"),
    ]
}
_EVENTS_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "Server-Sent Events", "content": {"text/event-stream": {}}},
    400: {"description": "Bad resume point (`Last-Event-ID` or `after`), or bad `stream`"},
    **_ACCESS,
    412: {"description": "The job's logs expired, or it ended without keeping them"},
}


@router.get(
    "/logs/raw",
    response_class=Response,
    responses=_DOWNLOAD_RESPONSES,
    openapi_extra=_CONDITIONAL,
)
async def download_logs(
    workflow_id: str,
    job_id: str,
    request: Request,
    principal: CurrentUser,
    format: Annotated[str | None, Query(description="txt (default), jsonl or json")] = None,
    stream: Annotated[str | None, Query()] = None,
    q: Annotated[str | None, Query(description="keep matching lines (as search)")] = None,
    regex: Annotated[str | None, Query(description="`q` is a regular expression")] = None,
    case_sensitive: Annotated[str | None, Query(description="match case (default false)")] = None,
    timestamps: Annotated[str | None, Query(description="txt: prefix RFC 3339 times")] = None,
    ansi: Annotated[str | None, Query(description="keep (default) or strip")] = None,
) -> Response:
    """Download a finished job's whole log (seed endpoint, plus formats, filters, ranges, gzip)."""
    params = DownloadParams(format, stream, q, regex, case_sensitive, timestamps, ansi)
    reads = log_reads(request)
    download = await reads.download(principal.user_id, workflow_id, job_id, params)
    metrics = getattr(request.app.state, "metrics", None)
    on_sent = metrics.download_bytes.inc if metrics is not None else None
    return download_response(reads, download, request.headers, on_sent=on_sent)


# HEAD: the same handler (the headers are the same; `DownloadResponse` sends no body)
router.add_api_route(
    "/logs/raw",
    download_logs,
    methods=["HEAD"],
    response_class=Response,
    responses=_DOWNLOAD_RESPONSES,
    openapi_extra=_CONDITIONAL,
    name="download_logs_head",
    summary="Download Logs (headers only)",
    description="The headers `GET` would answer, without the body.",
)


@router.get("/events", response_class=Response, responses=_EVENTS_RESPONSES)
async def job_events(
    workflow_id: str,
    job_id: str,
    request: Request,
    principal: CurrentUser,
    after: Annotated[str | None, Query(description="resume after this sequence number")] = None,
    stream: Annotated[
        str | None, Query(description="comma-separated set of stdout, stderr, system")
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    """Live log lines (backlog first), status changes, keep-alives, then `end` when finished."""
    reads = log_reads(request)
    target = await reads.event_target(
        principal.user_id,
        workflow_id,
        job_id,
        last_event_id=last_event_id,
        after=after,
        stream=stream,
    )
    return EventStreamResponse(lambda: reads.events(target), reads.error_frame)
