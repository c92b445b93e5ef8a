"""Request dependencies: the services, who is calling, and the CSRF check.

Handlers receive them through the `Annotated[…, Depends(…)]` aliases below, which read
`app.state`; nothing here is a global.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request

from hourglass.errors import Forbidden, Unauthorized
from hourglass.services.accounts import Principal
from hourglass.services.container import Services

SESSION_COOKIE = "session"
CSRF_COOKIE = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def check_csrf(request: Request) -> None:
    """Double-submit: the `X-CSRF-Token` header must equal the `csrf` cookie."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not header or not secrets.compare_digest(cookie, header):
        raise Forbidden("CSRF token missing or does not match")


async def get_principal(request: Request) -> Principal:
    """The caller, by Bearer token or by session cookie (+ CSRF on state-changing methods)."""
    services = get_services(request)
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return await services.accounts.authenticate_token(credentials.strip())
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized()
    principal = await services.accounts.authenticate_session(token)
    if request.method not in SAFE_METHODS:
        check_csrf(request)
    return principal


ServicesDep = Annotated[Services, Depends(get_services)]
CurrentUser = Annotated[Principal, Depends(get_principal)]
