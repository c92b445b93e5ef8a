"""Workflows: create, get, replace, terminate, delete and list the caller's workflows.

Bodies are type-checked here (so a wrong JSON type is a 400 naming the field); every rule beyond
the type lives in `domain/workflows.py`. Query parameters reach the service as raw strings, so
their errors name the parameter too.

Order of the checks (docs/api.md): 401 → CSRF 403 → 404 unknown id → 400 `Idempotency-Key` →
400 body → 409 key reused with another body. The dependencies give the first four in parameter
order; the 400 of a body's rules comes before the key's 409 because the body is validated
before the key is looked up (by the service on create, here on replace).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool, StrictStr
from pydantic.config import JsonDict

from hourglass.domain.views import workflow_json
from hourglass.domain.workflows import ListParams
from hourglass.web.deps import (
    CurrentUser,
    IdempotencyKey,
    JsonBody,
    JsonInt,
    OwnedWorkflow,
    ServicesDep,
)
from hourglass.web.openapi import problems
from hourglass.web.openapi_params import TRIMMED_TEXT
from hourglass.web.replies import reply_response

router = APIRouter(prefix="/workflows", tags=["workflows"])

_PAYLOAD = (
    "A JSON object, sent as a string, validated per kind. Secret values read back as "
    '"***"; sending "***" for a secret on PUT keeps its stored value.'
)


# exactly one of `interval` and `cron` (null, or a blank cron, counts as absent); two branches
# that exclude each other, rather than `oneOf`, so that generators build values instead of
# filtering them
_SCHEDULE: JsonDict = {
    "anyOf": [
        {
            "required": ["interval"],
            "properties": {
                "interval": {"type": "integer"},
                "cron": {"type": ["string", "null"], "pattern": "^\\s*$"},
            },
        },
        {
            "required": ["cron"],
            "properties": {
                "cron": {"type": "string", "pattern": "\\S"},
                "interval": {"type": "null"},
            },
        },
    ]
}


class _Definition(BaseModel):
    model_config = ConfigDict(json_schema_extra=_SCHEDULE)

    name: StrictStr = Field(
        description="1 to 200 characters, trimmed, no control characters",
        json_schema_extra={"minLength": 1, "maxLength": 200, "pattern": TRIMMED_TEXT},
    )
    payload: StrictStr = Field(
        description=_PAYLOAD, json_schema_extra={"contentMediaType": "application/json"}
    )
    interval: JsonInt | None = Field(
        None,
        description="minutes, 1-10080; or give cron",
        json_schema_extra={"minimum": 1, "maximum": 10080},
    )
    cron: StrictStr | None = Field(
        None, description="5-field cron expression, UTC", json_schema_extra={"maxLength": 200}
    )
    max_consecutive_job_failures_allowed: JsonInt | None = Field(
        None, description="1-100, 3", json_schema_extra={"minimum": 1, "maximum": 100}
    )


_KINDS: list[JsonValue] = ["HEARTBEAT", "CONTAINER", "COMMAND"]
_RETENTION_DAYS: JsonDict = {"minimum": 1, "maximum": 3650}


class WorkflowCreate(_Definition):
    kind: StrictStr = Field(
        description="HEARTBEAT | CONTAINER | COMMAND (COMMAND only where the server allows it)",
        json_schema_extra={"enum": _KINDS},
    )
    log_retention: StrictBool | None = Field(None, description="default true")
    log_retention_days: JsonInt | None = Field(
        None,
        description="1-3650, null = forever; default from the server settings",
        json_schema_extra=_RETENTION_DAYS,
    )


class WorkflowReplace(_Definition):
    kind: StrictStr | None = Field(
        None,
        description="left out: the workflow keeps its kind",
        json_schema_extra={"enum": [*_KINDS, None]},
    )
    log_retention: StrictBool | None = Field(None, description="left out: unchanged")
    log_retention_days: JsonInt | None = Field(
        None, description="left out: unchanged", json_schema_extra=_RETENTION_DAYS
    )


CreateBody = Annotated[WorkflowCreate, Depends(JsonBody(WorkflowCreate))]
ReplaceBody = Annotated[WorkflowReplace, Depends(JsonBody(WorkflowReplace))]


class WorkflowOut(BaseModel):
    id: str
    name: str
    kind: str
    payload: str
    interval: int | None
    cron: str | None
    build_status: str
    build_reason: str | None = Field(description="why the last build FAILED; null otherwise")
    generation: int
    consecutive_job_failures_count: int
    max_consecutive_job_failures_allowed: int
    log_retention: bool
    log_retention_days: int | None
    next_run_at: str | None
    created_at: str
    updated_at: str
    terminated_at: str | None


class WorkflowList(BaseModel):
    workflows: list[WorkflowOut]
    cursor: str | None


class CreatedId(BaseModel):
    id: str


@router.get("", response_model=WorkflowList)
async def list_workflows(
    principal: CurrentUser,
    services: ServicesDep,
    cursor: str | None = None,
    limit: Annotated[str | None, Query(description="1-1000, default 20")] = None,
    query: Annotated[str | None, Query(description="substring of the name, any case")] = None,
    kind: str | None = None,
    build_status: str | None = None,
    terminated: Annotated[str | None, Query(description="true | false")] = None,
    interval_min: str | None = None,
    interval_max: str | None = None,
) -> dict[str, Any]:
    """The caller's workflows, newest first, filtered; `cursor` is null on the last page."""
    params = ListParams(
        cursor, limit, query, kind, build_status, terminated, interval_min, interval_max
    )
    page = await services.workflows.list(principal, params)
    return {"workflows": [workflow_json(w) for w in page.workflows], "cursor": page.cursor}


@router.post("", status_code=201, response_model=CreatedId, responses=problems(409))
async def create_workflow(
    principal: CurrentUser,
    idempotency_key: IdempotencyKey,
    body: CreateBody,
    services: ServicesDep,
) -> Response:
    """Create a workflow; its build starts QUEUED and scheduling starts once it is COMPLETED."""
    reply = await services.workflows.create(
        principal, body.model_dump(exclude_unset=True), idempotency_key=idempotency_key
    )
    return reply_response(reply)


@router.get("/{workflow_id}", response_model=WorkflowOut)
async def get_workflow(
    workflow_id: str, principal: CurrentUser, services: ServicesDep
) -> dict[str, Any]:
    """One workflow, secrets shown as "***"."""
    return workflow_json(await services.workflows.get(principal, workflow_id))


@router.put("/{workflow_id}", status_code=204, response_class=Response, responses=problems(409))
async def replace_workflow(
    current: OwnedWorkflow,
    principal: CurrentUser,
    idempotency_key: IdempotencyKey,
    body: ReplaceBody,
    services: ServicesDep,
) -> Response:
    """Replace the definition: re-activates, resets the failure count, rebuilds when the payload
    changed, and cancels pending automatic jobs when the schedule changed."""
    reply = await services.workflows.update(
        principal, current.id, body.model_dump(exclude_unset=True), idempotency_key=idempotency_key
    )
    return reply_response(reply)


@router.patch("/{workflow_id}", status_code=204, response_class=Response)
async def terminate_workflow(
    workflow_id: str, principal: CurrentUser, services: ServicesDep
) -> Response:
    """Terminate (idempotent): pending and queued jobs are canceled, running ones stopped."""
    await services.workflows.terminate(principal, workflow_id)
    return Response(status_code=204)


@router.delete("/{workflow_id}", status_code=204, response_class=Response, responses=problems(412))
async def delete_workflow(
    workflow_id: str, principal: CurrentUser, services: ServicesDep
) -> Response:
    """Delete a terminated workflow without running jobs, with its jobs and logs (else 412)."""
    await services.workflows.delete(principal, workflow_id)
    return Response(status_code=204)
