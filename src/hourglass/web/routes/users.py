"""The caller's own user record and settings, and personal API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictStr
from pydantic.config import JsonDict

from hourglass.domain.accounts import ApiToken
from hourglass.domain.common import format_ts, is_valid_id
from hourglass.errors import NotFound
from hourglass.web.deps import CurrentUser, JsonBody, JsonInt, ServicesDep, client_addr
from hourglass.web.openapi import problems
from hourglass.web.openapi_params import TRIMMED_TEXT

router = APIRouter(tags=["users"])


_PREFERENCES: list[JsonValue] = ["ALL", "ALERTS", "NONE"]
_PREFERENCE: JsonDict = {"type": "string", "enum": _PREFERENCES}
_PASSWORD: JsonDict = {"type": "string", "minLength": 8, "maxLength": 128, "pattern": "^[^\\x00]*$"}


class UserUpdate(BaseModel):
    # null counts as absent; something must change, and the two passwords go together
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["notification_preference"],
                    "properties": {
                        "notification_preference": _PREFERENCE,
                        "current_password": {"type": "null"},
                        "new_password": {"type": "null"},
                    },
                },
                {
                    "required": ["current_password", "new_password"],
                    "properties": {
                        "current_password": {"type": "string"},
                        "new_password": _PASSWORD,
                    },
                },
            ]
        }
    )

    notification_preference: StrictStr | None = Field(
        None,
        description="ALL | ALERTS | NONE",
        json_schema_extra={"enum": [*_PREFERENCES, None]},
    )
    current_password: StrictStr | None = Field(
        None,
        description="with new_password; a wrong one is a 400 on it (and counts as a failed login)",
    )
    new_password: StrictStr | None = Field(None, description="8 to 128 characters")


class TokenCreate(BaseModel):
    # length is the domain's rule, so the message is the same everywhere
    name: StrictStr = Field(
        description="1 to 100 characters, trimmed, no control characters",
        json_schema_extra={"minLength": 1, "maxLength": 100, "pattern": TRIMMED_TEXT},
    )
    expires_in_days: JsonInt | None = Field(
        None,
        description="1-3650; left out: never",
        json_schema_extra={"minimum": 1, "maximum": 3650},
    )


class UserOut(BaseModel):
    id: str
    email: str
    notification_preference: str
    created_at: str
    updated_at: str


class TokenOut(BaseModel):
    id: str
    name: str
    created_at: str
    expires_at: str | None
    last_used_at: str | None


class NewTokenOut(TokenOut):
    token: str = Field(description="the secret, shown this once: `Authorization: Bearer …`")


class TokenList(BaseModel):
    tokens: list[TokenOut]


@router.get("/users", response_model=UserOut)
async def get_user(principal: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """The caller's user record."""
    user = await services.accounts.get_user(principal)
    return {
        "id": user.id,
        "email": user.email,
        "notification_preference": user.notification_preference.value,
        "created_at": format_ts(user.created_at),
        "updated_at": format_ts(user.updated_at),
    }


@router.put("/users", status_code=204, response_class=Response, responses=problems(429))
async def put_user(
    request: Request,
    principal: CurrentUser,
    body: Annotated[UserUpdate, Depends(JsonBody(UserUpdate))],
    services: ServicesDep,
) -> Response:
    """Change the notification preference and/or the password (ends other sessions).

    A wrong `current_password` counts like a failed login (429 past the limit)."""
    await services.accounts.update_user(
        principal,
        notification_preference=body.notification_preference,
        current_password=body.current_password,
        new_password=body.new_password,
        client_addr=client_addr(request),
    )
    return Response(status_code=204)


def _token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "created_at": format_ts(token.created_at),
        "expires_at": format_ts(token.expires_at),
        "last_used_at": format_ts(token.last_used_at),
    }


@router.post("/tokens", status_code=201, response_model=NewTokenOut)
async def create_token(
    principal: CurrentUser,
    body: Annotated[TokenCreate, Depends(JsonBody(TokenCreate))],
    services: ServicesDep,
) -> dict[str, Any]:
    """Create a personal API token; its secret is in this response only."""
    new = await services.accounts.create_token(principal, body.name, body.expires_in_days)
    return {**_token_json(new.token), "token": new.secret}


@router.get("/tokens", response_model=TokenList)
async def list_tokens(principal: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """The caller's tokens, newest first, without their secrets."""
    return {"tokens": [_token_json(t) for t in await services.accounts.list_tokens(principal)]}


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response)
async def delete_token(token_id: str, principal: CurrentUser, services: ServicesDep) -> Response:
    """Revoke a token at once."""
    if not is_valid_id(token_id):
        raise NotFound("token not found")
    await services.accounts.delete_token(principal, token_id)
    return Response(status_code=204)
