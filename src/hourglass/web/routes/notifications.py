"""The caller's notifications: the list, marking read, and the live stream (SSE)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from hourglass.services.notifications import parse_resume
from hourglass.web.deps import CurrentUser, JsonBody, ServicesDep
from hourglass.web.openapi import problems
from hourglass.web.openapi_params import ULID
from hourglass.web.sse import EventStreamResponse

router = APIRouter(prefix="/notifications", tags=["notifications"])


class NotificationOut(BaseModel):
    id: str
    seq: int = Field(description="the user's notifications in commit order: the SSE event id")
    kind: str = Field(description="WEB_INFO | WEB_SUCCESS | WEB_WARN | WEB_ERROR | WEB_ALERT")
    payload: str = Field(
        description='a JSON object as a string: {"title","message","entity_id","entity_type",'
        '"action_url"}'
    )
    read_at: str | None
    created_at: str
    updated_at: str


class NotificationList(BaseModel):
    notifications: list[NotificationOut]
    cursor: str | None


class MarkRead(BaseModel):
    # checked by the domain, so every way of being wrong names `ids` or `ids[i]` alike
    model_config = ConfigDict(json_schema_extra={"required": ["ids"]})

    ids: Any = Field(
        None,
        description="1 to 1000 notification ids (required)",
        json_schema_extra={
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "items": {"type": "string", "pattern": ULID["pattern"]},
        },
    )


@router.get("", response_model=NotificationList)
async def list_notifications(
    principal: CurrentUser,
    services: ServicesDep,
    cursor: str | None = None,
    limit: Annotated[str | None, Query(description="1-1000, default 20")] = None,
    unread: Annotated[
        str | None, Query(description="true (default) | false: read ones too")
    ] = None,
) -> dict[str, Any]:
    """The caller's notifications allowed by their preference, newest first."""
    page = await services.notifications.list(
        principal.user_id, cursor=cursor, limit=limit, unread=unread
    )
    return {
        "notifications": [n.as_json() for n in page.notifications],
        "cursor": page.cursor,
    }


@router.put("", status_code=204, response_class=Response, responses=problems(404))
async def mark_read(
    principal: CurrentUser,
    body: Annotated[MarkRead, Depends(JsonBody(MarkRead))],
    services: ServicesDep,
) -> Response:
    """Mark notifications read (400 empty or malformed `ids`; 404 when none is the caller's)."""
    await services.notifications.mark_read(principal.user_id, body.ids)
    return Response(status_code=204)


@router.get(
    "/events",
    response_class=Response,
    responses={
        200: {"description": "Server-Sent Events", "content": {"text/event-stream": {}}},
        400: {"description": "Bad resume point (`Last-Event-ID` or `after`)"},
        401: {"description": "No valid session or token"},
    },
)
async def notification_events(
    principal: CurrentUser,
    services: ServicesDep,
    after: Annotated[str | None, Query(description="resume after this seq")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    """New notifications as they are written (resumable with `Last-Event-ID`), keep-alives."""
    resume = parse_resume(last_event_id, after)
    notifications = services.notifications
    return EventStreamResponse(
        lambda: notifications.events(principal.user_id, resume), notifications.error_frame
    )
