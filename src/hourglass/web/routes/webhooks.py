"""The caller's webhooks: create (the secret is shown once), list, read, change, delete, send a
test, and the list of deliveries with their last attempt."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from hourglass.domain.common import format_ts
from hourglass.domain.events import WebhookEvent
from hourglass.domain.webhooks import Delivery
from hourglass.web.deps import CurrentUser, JsonBody, OwnedWebhook, ServicesDep
from hourglass.web.openapi import problems
from hourglass.web.openapi_params import CONTROL_CHARACTERS

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

_EVENTS = "job.completed | job.failed | job.canceled | workflow.build_failed | workflow.terminated"


_C = CONTROL_CHARACTERS
_URL: dict[str, Any] = {
    "type": "string",
    "maxLength": 2048,
    # what `domain.webhooks.url_problem` takes: http(s), a non-empty host (a literal address is
    # the outbound policy's to judge), a port of digits, no control characters nor spaces around,
    # no bracket before the path (`urllib` refuses one outside an IPv6 literal)
    "pattern": f"^[hH][tT][tT][pP][sS]?://([^/?#@\\[\\]{_C}]*@)?"
    f"[^/?#@:\\[\\]\\s{_C}]([^/?#@:\\[\\]{_C}]*[^/?#@:\\[\\]\\s{_C}])?"
    f"(:[0-9]{{0,4}})?([/?#]([^{_C}]*[^\\s{_C}])?)?$",
}
_EVENT_LIST: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "string", "enum": [e.value for e in WebhookEvent]},
}
_DESCRIPTION: dict[str, Any] = {"type": ["string", "null"], "maxLength": 500}
_FORMAT: dict[str, Any] = {"enum": ["standard", "slack", None]}


class WebhookCreate(BaseModel):
    # types are checked by the domain too, so every mistake names its field the same way; the
    # schema states the domain's rules
    model_config = ConfigDict(json_schema_extra={"required": ["url", "events"]})

    url: Any = Field(
        None,
        description="absolute http(s) URL (required); an address the outbound policy refuses "
        "(link-local, metadata) is a 400 on `url`",
        json_schema_extra=_URL,
    )
    events: Any = Field(
        None, description=f"non-empty list of: {_EVENTS}", json_schema_extra=_EVENT_LIST
    )
    description: Any = Field(
        None, description="up to 500 characters", json_schema_extra=_DESCRIPTION
    )
    format: Any = Field(None, description="standard (default) | slack", json_schema_extra=_FORMAT)


class WebhookPatch(WebhookCreate):
    # at least one of the fields; a given `url`, `events` or `enabled` may not be null
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [name]}
                for name in ("url", "events", "description", "format", "enabled")
            ]
        }
    )

    enabled: Any = Field(
        None,
        description="true turns it back on with a clean failure record",
        json_schema_extra={"type": "boolean"},
    )


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event": delivery.event_type,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "status_code": delivery.last_status_code,
        "error": delivery.last_error,
        "duration_ms": delivery.last_duration_ms,
        "attempted_at": format_ts(delivery.last_attempt_at),
        "next_attempt_at": format_ts(delivery.next_attempt_at),
        "created_at": format_ts(delivery.created_at),
    }


@router.post("", status_code=201, responses=problems(409))
async def create_webhook(
    principal: CurrentUser,
    body: Annotated[WebhookCreate, Depends(JsonBody(WebhookCreate))],
    services: ServicesDep,
) -> dict[str, Any]:
    """Register a webhook; its signing `secret` is in this response only (409 past 20)."""
    hook, secret = await services.webhooks.create(
        principal.user_id, body.model_dump(exclude_unset=True)
    )
    return {**hook.as_json(), "secret": secret}


@router.get("")
async def list_webhooks(principal: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """The caller's webhooks, newest first (never their secrets)."""
    return {"webhooks": [h.as_json() for h in await services.webhooks.owned(principal.user_id)]}


@router.get("/{webhook_id}")
async def get_webhook(
    webhook_id: str, principal: CurrentUser, services: ServicesDep
) -> dict[str, Any]:
    """One webhook."""
    return (await services.webhooks.get(principal.user_id, webhook_id)).as_json()


@router.patch("/{webhook_id}")
async def patch_webhook(
    webhook_id: str,
    principal: CurrentUser,
    _owned: OwnedWebhook,  # 404 before the body's 400
    body: Annotated[WebhookPatch, Depends(JsonBody(WebhookPatch))],
    services: ServicesDep,
) -> dict[str, Any]:
    """Change the given fields; answers the webhook as it is now."""
    hook = await services.webhooks.update(
        principal.user_id, webhook_id, body.model_dump(exclude_unset=True)
    )
    return hook.as_json()


@router.delete("/{webhook_id}", status_code=204, response_class=Response)
async def delete_webhook(
    webhook_id: str, principal: CurrentUser, services: ServicesDep
) -> Response:
    """Delete a webhook and its deliveries."""
    await services.webhooks.delete(principal.user_id, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries")
async def list_deliveries(
    webhook_id: str,
    principal: CurrentUser,
    services: ServicesDep,
    cursor: str | None = None,
    limit: Annotated[str | None, Query(description="1-1000, default 20")] = None,
) -> dict[str, Any]:
    """Recent deliveries, newest first: event, status, last attempt's code, error, duration."""
    page = await services.webhooks.deliveries(
        principal.user_id, webhook_id, cursor=cursor, limit=limit
    )
    return {"deliveries": [delivery_json(d) for d in page.deliveries], "cursor": page.cursor}


@router.post("/{webhook_id}/test", status_code=202, response_model=None)
async def test_webhook(
    webhook_id: str, principal: CurrentUser, services: ServicesDep
) -> JSONResponse:
    """Queue a `webhook.test` delivery (a worker sends it); answers the delivery."""
    delivery = await services.webhooks.test(principal.user_id, webhook_id)
    return JSONResponse(delivery_json(delivery), status_code=202)
