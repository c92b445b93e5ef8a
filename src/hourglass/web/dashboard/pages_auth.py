"""Sign in, sign up and sign out: the same accounts service and cookies as `/auth/*`.

Errors land next to their field (`email`, `password`); a wrong password, a closed sign-up or
too many attempts are said at the top of the form. Register and login need no CSRF token (no
session exists yet), exactly like the API.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from hourglass.errors import (
    Conflict,
    FieldError,
    Forbidden,
    HourglassError,
    RateLimited,
    Unauthorized,
    ValidationError,
)
from hourglass.web.dashboard.core import DashboardDep
from hourglass.web.dashboard.routing import HOME, dashboard_router, read_form, redirect, safe_next
from hourglass.web.deps import CurrentUser, ServicesDep, client_addr, get_principal
from hourglass.web.routes.auth import expire_session_cookies, set_session_cookies

router = dashboard_router()


async def _signed_in(request: Request) -> bool:
    try:
        await get_principal(request)
    except HourglassError:
        return False
    return True


def _next(request: Request, value: str | None = None) -> str:
    target = value if value is not None else request.query_params.get("next")
    return target if target is not None and safe_next(target) else HOME


@router.get("/ui/login")
async def login_page(request: Request, dashboard: DashboardDep) -> Response:
    if await _signed_in(request):
        return redirect(request, _next(request))
    context: dict[str, Any] = {
        "mode": "login",
        "email": "",
        "next": _next(request),
        "errors": {},
        "problem": None,
    }
    return dashboard.render(request, "auth.html", context)


@router.get("/ui/signup")
async def signup_page(request: Request, dashboard: DashboardDep) -> Response:
    context: dict[str, Any] = {
        "mode": "signup",
        "email": "",
        "next": HOME,
        "errors": {},
        "problem": None,
    }
    return dashboard.render(request, "auth.html", context)


@router.post("/ui/login")
async def login(request: Request, dashboard: DashboardDep, services: ServicesDep) -> Response:
    form = await read_form(request)
    email, password = form.get("email", ""), form.get("password", "")
    try:
        new = await services.accounts.login(email, password, client_addr(request))
    except (ValidationError, Unauthorized, RateLimited) as exc:
        return _form_again(
            request, dashboard, "login", email, _next(request, form.get("next")), exc
        )
    response = redirect(request, _next(request, form.get("next")))
    set_session_cookies(response, services.settings, new)
    return response


@router.post("/ui/signup")
async def signup(request: Request, dashboard: DashboardDep, services: ServicesDep) -> Response:
    form = await read_form(request)
    email, password = form.get("email", ""), form.get("password", "")
    try:
        new = await services.accounts.register(email, password)
    except Conflict:
        taken = ValidationError(FieldError("email", "is already registered: sign in instead"))
        return _form_again(request, dashboard, "signup", email, HOME, taken)
    except (ValidationError, Forbidden) as exc:
        return _form_again(request, dashboard, "signup", email, HOME, exc)
    response = redirect(request, HOME)
    set_session_cookies(response, services.settings, new)
    return response


def _form_again(
    request: Request,
    dashboard: DashboardDep,
    mode: str,
    email: str,
    next_path: str,
    exc: HourglassError,
) -> Response:
    """The form with what was typed (never the password) and the errors in place."""
    errors: dict[str, list[str]] = {}
    problem = None
    if isinstance(exc, ValidationError):
        for error in exc.errors:
            errors.setdefault(error.field, []).append(error.message)
    else:
        problem = exc.message
    context = {
        "mode": mode,
        "email": email,
        "next": next_path,
        "errors": errors,
        "problem": problem,
    }
    return dashboard.render(request, "auth_form.html", context)


@router.post("/ui/logout")
async def logout(principal: CurrentUser, request: Request, services: ServicesDep) -> Response:
    await services.accounts.logout(principal)
    response = redirect(request, "/ui/login")
    expire_session_cookies(response, services.settings)
    return response


@router.post("/ui/logout-everywhere")
async def logout_everywhere(
    principal: CurrentUser, request: Request, services: ServicesDep
) -> Response:
    await services.accounts.logout_everywhere(principal)
    response = redirect(request, "/ui/login")
    expire_session_cookies(response, services.settings)
    return response
