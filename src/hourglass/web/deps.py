"""Request dependencies: the services, who is calling, and the CSRF check.

Handlers receive them through the `Annotated[…, Depends(…)]` aliases below, which read
`app.state`; nothing here is a global.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request

from hourglass.domain.accounts import csrf_token_for
from hourglass.errors import Forbidden, Unauthorized
from hourglass.services.accounts import Principal
from hourglass.services.container import Services

SESSION_COOKIE = "session"
CSRF_COOKIE = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    """The app's services (async: FastAPI would run a plain `def` dependency in a thread)."""
    return services_of(request)


def check_csrf(request: Request, session_token: str) -> None:
    """Double-submit: the `X-CSRF-Token` header must equal the `csrf` cookie.

    The cookie must also be the one issued with this session, so a planted `csrf` cookie
    (from a sibling subdomain, or injected over plain http) is worthless.
    """
    # compared as bytes: `compare_digest` refuses non-ASCII str, and headers may carry any byte
    cookie = request.cookies.get(CSRF_COOKIE, "").encode()
    header = request.headers.get(CSRF_HEADER, "").encode()
    expected = csrf_token_for(session_token).encode()
    matches = secrets.compare_digest(cookie, header) & secrets.compare_digest(cookie, expected)
    if not cookie or not matches:
        raise Forbidden("CSRF token missing or does not match")


async def get_principal(request: Request) -> Principal:
    """The caller, by Bearer token or by session cookie (+ CSRF on state-changing methods)."""
    services = services_of(request)
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return await services.accounts.authenticate_token(credentials.strip())
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized()
    principal = await services.accounts.authenticate_session(token)
    if request.method not in SAFE_METHODS:
        check_csrf(request, token)
    return principal


ServicesDep = Annotated[Services, Depends(get_services)]
CurrentUser = Annotated[Principal, Depends(get_principal)]
