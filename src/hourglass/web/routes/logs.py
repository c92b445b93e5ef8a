"""Job log pages and search: `GET …/logs` and `GET …/logs/search` (API.md "Job logs").

Query parameters arrive as raw strings, gathered by FastAPI into the service's `PageParams` /
`SearchParams`, and are parsed by the service after the 404 and 412 checks, so a bad parameter
on someone else's job is still a 404 (401 → 404 → 412 → 400).
The body is serialized once with orjson (`replies.json_response`): a 1000-line page is the hot
path of a log viewer.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from hourglass.services.logs.pages import LogPage
from hourglass.services.logs.params import PageParams, SearchParams
from hourglass.web.deps import CurrentUser, ServicesDep
from hourglass.web.openapi import problems
from hourglass.web.replies import json_response

router = APIRouter(prefix="/workflows/{workflow_id}/jobs/{job_id}/logs", tags=["logs"])

_HEADERS = {"Cache-Control": "no-store"}


# async on purpose: FastAPI runs a plain callable dependency (the dataclass itself) in a
# worker thread, a thread hop on every page (~0.3 ms, more under load)
async def page_params(
    cursor: str | None = None,
    limit: str | None = None,
    order: str | None = None,
    after: str | None = None,
    before: str | None = None,
    stream: str | None = None,
) -> PageParams:
    return PageParams(cursor, limit, order, after, before, stream)


async def search_params(
    q: str | None = None,
    stream: str | None = None,
    regex: str | None = None,
    case_sensitive: str | None = None,
    cursor: str | None = None,
    limit: str | None = None,
    order: str | None = None,
) -> SearchParams:
    return SearchParams(q, stream, regex, case_sensitive, cursor, limit, order)


def _reply(page: LogPage, *, search: bool) -> Response:
    job = page.job
    body: dict[str, Any] = {
        "id": job.id,
        "workflow_id": job.workflow_id,
        "logs": page.records(),
        "cursor": page.cursor,
        "log_state": job.log_state.value,
        "total_lines": page.total_lines,
    }
    if search and page.total_matches is not None:
        body["total_matches"] = page.total_matches
    return json_response(body, headers=_HEADERS)


@router.get("", response_model=None, responses=problems(412))
async def get_logs(
    workflow_id: str,
    job_id: str,
    principal: CurrentUser,
    services: ServicesDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> Response:
    """A page of the job's log lines (newest first by default); works while the job runs."""
    page = await services.logs.page(principal.user_id, workflow_id, job_id, params)
    return _reply(page, search=False)


@router.get("/search", response_model=None, responses=problems(412))
async def search_logs(
    workflow_id: str,
    job_id: str,
    principal: CurrentUser,
    services: ServicesDep,
    params: Annotated[SearchParams, Depends(search_params)],
) -> Response:
    """Lines matching `q` (substring, or regex with `regex=true`) with highlight offsets; the
    first page carries the exact `total_matches`."""
    page = await services.logs.search(principal.user_id, workflow_id, job_id, params)
    return _reply(page, search=True)
