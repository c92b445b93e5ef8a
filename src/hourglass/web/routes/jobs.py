"""Jobs of a workflow: list, get, schedule a manual run, cancel.

The workflow's 404 comes before any parameter's or the Idempotency-Key's 400: the list parses its
query strings in the service after the ownership check, and scheduling resolves the workflow
(`OwnedWorkflow`) before the key.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from hourglass.domain.views import job_json
from hourglass.web.deps import CurrentUser, IdempotencyKey, OwnedWorkflow, ServicesDep
from hourglass.web.openapi import problems
from hourglass.web.replies import json_response, reply_response

router = APIRouter(prefix="/workflows/{workflow_id}/jobs", tags=["jobs"])


@router.get("")
async def list_jobs(
    workflow_id: str,
    principal: CurrentUser,
    services: ServicesDep,
    cursor: str | None = None,
    limit: Annotated[str | None, Query(description="1-1000, default 20")] = None,
    status: str | None = None,
    trigger: str | None = None,
) -> dict[str, Any]:
    """The workflow's jobs, newest first."""
    page = await services.jobs.list(
        principal.user_id, workflow_id, cursor=cursor, limit=limit, status=status, trigger=trigger
    )
    return {"jobs": [job_json(j) for j in page.jobs], "cursor": page.cursor}


@router.post("/schedule", status_code=201, response_model=None, responses=problems(409, 412))
async def schedule_job(
    workflow_id: str,
    principal: CurrentUser,
    _owned: OwnedWorkflow,  # 404 before the Idempotency-Key's 400
    services: ServicesDep,
    idempotency_key: IdempotencyKey,
) -> Response:
    """Run the workflow now (a MANUAL job); 412 if it is terminated or not built."""
    reply = await services.jobs.schedule(
        principal.user_id, workflow_id, idempotency_key=idempotency_key
    )
    return reply_response(reply)


@router.get("/{job_id}", response_model=dict[str, Any])
async def get_job(
    workflow_id: str, job_id: str, principal: CurrentUser, services: ServicesDep
) -> Response:
    """One job."""
    # serialized here: FastAPI's own path (validation of a dict, `jsonable_encoder`) cost more
    # than reading the job
    return json_response(job_json(await services.jobs.get(principal.user_id, workflow_id, job_id)))


@router.post("/{job_id}/cancel", status_code=202, response_model=None, responses=problems(409))
async def cancel_job(
    workflow_id: str, job_id: str, principal: CurrentUser, services: ServicesDep
) -> JSONResponse:
    """Cancel a job: waiting ones at once, a running one is stopped by its worker (409 if final)."""
    job = await services.jobs.cancel(principal.user_id, workflow_id, job_id)
    return JSONResponse(job_json(job), status_code=202)
