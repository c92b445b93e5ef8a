"""`GET …/logs/summary`: a job log's error-like lines, attempts and gap, for the log viewer.

Same preconditions as the other log routes (401 → 404 → 412); it takes no parameters. The work
is the service's (`services/logs/summary.py`): a bounded scan, kept per finished job.
"""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import Response

from hourglass.web.deps import CurrentUser, ServicesDep
from hourglass.web.openapi import problems

router = APIRouter(prefix="/workflows/{workflow_id}/jobs/{job_id}/logs", tags=["logs"])


@router.get("/summary", response_model=None, responses=problems(412))
async def log_summary(
    workflow_id: str, job_id: str, principal: CurrentUser, services: ServicesDep
) -> Response:
    """Where the log says what went wrong: the first error-like lines of the last attempt (and
    the one a failed job should open at), each attempt's lines and reasons, a capped log's
    omitted middle."""
    found = await services.summaries.summary(principal.user_id, workflow_id, job_id)
    content = json.dumps(found.record(), ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content, media_type="application/json", headers={"Cache-Control": "no-store"})
