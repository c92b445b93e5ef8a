"""Job log pages and search: `GET …/logs` and `GET …/logs/search` (API.md "Job logs").

Query parameters arrive as raw strings, gathered by FastAPI into the service's `PageParams` /
`SearchParams`, and are parsed by the service after the 404 and 412 checks, so a bad parameter
on someone else's job is still a 404 (401 → 404 → 412 → 400).
The body is serialized once with `json.dumps`: a 1000-line page is the hot path of a log viewer.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from hourglass.services.logs.pages import LogPage
from hourglass.services.logs.params import PageParams, SearchParams
from hourglass.web.deps import CurrentUser, ServicesDep
from hourglass.web.openapi import problems

router = APIRouter(prefix="/workflows/{workflow_id}/jobs/{job_id}/logs", tags=["logs"])

_HEADERS = {"Cache-Control": "no-store"}


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
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content, media_type="application/json", headers=_HEADERS)


@router.get("", response_model=None, responses=problems(412))
async def get_logs(
    workflow_id: str,
    job_id: str,
    principal: CurrentUser,
    services: ServicesDep,
    params: Annotated[PageParams, Depends()],
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
    params: Annotated[SearchParams, Depends()],
) -> Response:
    """Lines matching `q` (substring, or regex with `regex=true`) with highlight offsets; the
    first page carries the exact `total_matches`."""
    page = await services.logs.search(principal.user_id, workflow_id, job_id, params)
    return _reply(page, search=True)
