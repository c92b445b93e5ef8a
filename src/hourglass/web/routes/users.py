"""The caller's own user record and settings, and personal API tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, StrictInt, StrictStr

from hourglass.domain.accounts import ApiToken
from hourglass.domain.common import format_ts, is_valid_id
from hourglass.errors import NotFound
from hourglass.web.deps import CurrentUser, ServicesDep

router = APIRouter(tags=["users"])


class UserUpdate(BaseModel):
    notification_preference: StrictStr | None = None
    current_password: StrictStr | None = None
    new_password: StrictStr | None = None


class TokenCreate(BaseModel):
    name: StrictStr  # length is the domain's rule, so the message is the same everywhere
    expires_in_days: StrictInt | None = None


@router.get("/users")
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


@router.put("/users", status_code=204)
async def put_user(body: UserUpdate, principal: CurrentUser, services: ServicesDep) -> Response:
    """Change the notification preference and/or the password (ends other sessions)."""
    await services.accounts.update_user(
        principal,
        notification_preference=body.notification_preference,
        current_password=body.current_password,
        new_password=body.new_password,
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


@router.post("/tokens", status_code=201)
async def create_token(
    body: TokenCreate, principal: CurrentUser, services: ServicesDep
) -> dict[str, Any]:
    """Create a personal API token; its secret is in this response only."""
    new = await services.accounts.create_token(principal, body.name, body.expires_in_days)
    return {**_token_json(new.token), "token": new.secret}


@router.get("/tokens")
async def list_tokens(principal: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """The caller's tokens, newest first, without their secrets."""
    return {"tokens": [_token_json(t) for t in await services.accounts.list_tokens(principal)]}


@router.delete("/tokens/{token_id}", status_code=204)
async def delete_token(token_id: str, principal: CurrentUser, services: ServicesDep) -> Response:
    """Revoke a token at once."""
    if not is_valid_id(token_id):
        raise NotFound("token not found")
    await services.accounts.delete_token(principal, token_id)
    return Response(status_code=204)
