"""Sign-up, login, logout and session validation; sets and expires the cookies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field, StrictStr

from hourglass.domain.common import format_ts
from hourglass.services.accounts import NewSession
from hourglass.settings import Settings
from hourglass.web.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CurrentUser,
    JsonBody,
    ServicesDep,
    client_addr,
)
from hourglass.web.openapi import problems
from hourglass.web.openapi_params import CONTROL_CHARACTERS

router = APIRouter(prefix="/auth", tags=["auth"])


_EMAIL_PART = f"[^@\\s{CONTROL_CHARACTERS}]+"


class Credentials(BaseModel):
    # the rules are the domain's (one message everywhere); the schema only states them
    email: StrictStr = Field(
        description="at most 254 characters as sent; trimmed and lower-cased",
        json_schema_extra={
            "maxLength": 254,
            "pattern": f"^\\s*{_EMAIL_PART}@{_EMAIL_PART}\\.{_EMAIL_PART}\\s*$",
        },
    )
    password: StrictStr = Field(
        description="8 to 128 characters",
        json_schema_extra={"minLength": 8, "maxLength": 128, "pattern": "^[^\\x00]*$"},
    )


CredentialsBody = Annotated[Credentials, Depends(JsonBody(Credentials))]


class SessionOut(BaseModel):
    id: str
    email: str
    created_at: str
    csrf_token: str = Field(description="equal to the `csrf` cookie; send it as X-CSRF-Token")


class Validated(BaseModel):
    status: str
    user_id: str
    via: str = Field(description="session | token")


def set_session_cookies(response: Response, settings: Settings, new: NewSession) -> None:
    """The `session` and `csrf` cookies of a new session (the dashboard signs in with them too)."""
    common: dict[str, Any] = {
        "max_age": settings.session_absolute_seconds,
        "path": "/",
        "secure": settings.cookie_secure,
        "samesite": "lax",
    }
    response.set_cookie(SESSION_COOKIE, new.token, httponly=True, **common)
    # readable by the dashboard's JavaScript, which echoes it in X-CSRF-Token
    response.set_cookie(CSRF_COOKIE, new.csrf, httponly=False, **common)


def _session_body(new: NewSession) -> dict[str, Any]:
    return {
        "id": new.user.id,
        "email": new.user.email,
        "created_at": format_ts(new.user.created_at),
        "csrf_token": new.csrf,
    }


@router.post("/register", status_code=201, response_model=SessionOut, responses=problems(403, 409))
async def register(
    body: CredentialsBody, response: Response, services: ServicesDep
) -> dict[str, Any]:
    """Create an account and log in (sets the `session` and `csrf` cookies); 403 if closed."""
    new = await services.accounts.register(body.email, body.password)
    set_session_cookies(response, services.settings, new)
    return _session_body(new)


@router.post("/login", status_code=201, response_model=SessionOut, responses=problems(401, 429))
async def login(
    body: CredentialsBody, request: Request, response: Response, services: ServicesDep
) -> dict[str, Any]:
    """Log in (sets the cookies); 401 on a wrong email or password, 429 when rate limited."""
    new = await services.accounts.login(body.email, body.password, client_addr(request))
    set_session_cookies(response, services.settings, new)
    return _session_body(new)


@router.post("/logout", status_code=204, response_class=Response)
async def logout(principal: CurrentUser, services: ServicesDep) -> Response:
    """End the session server-side and expire both cookies."""
    await services.accounts.logout(principal)
    response = Response(status_code=204)
    expire_session_cookies(response, services.settings)
    return response


def expire_session_cookies(response: Response, settings: Settings) -> None:
    secure = settings.cookie_secure
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, samesite="lax")


@router.post("/validate", response_model=Validated)
async def validate(principal: CurrentUser) -> dict[str, Any]:
    """200 while the session (and the CSRF header) are valid."""
    return {"status": "valid", "user_id": principal.user_id, "via": principal.via}
