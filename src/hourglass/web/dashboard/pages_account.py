"""The account page: email, password, notification preference, API tokens, sign out
everywhere. Each form re-renders only its own section, with the API's errors on its fields."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from hourglass.domain.accounts import NotificationPreference
from hourglass.domain.common import is_valid_id
from hourglass.errors import NotFound, ValidationError
from hourglass.services.accounts import NewToken, Principal
from hourglass.services.container import Services
from hourglass.web.dashboard.core import DashboardDep
from hourglass.web.dashboard.forms import parse_number
from hourglass.web.dashboard.routing import dashboard_router, read_form
from hourglass.web.deps import CurrentUser, ServicesDep

router = dashboard_router()


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in exc.errors:
        found.setdefault(error.field, []).append(error.message)
    return found


@router.get("/ui/account")
async def account_page(
    request: Request, principal: CurrentUser, services: ServicesDep, dashboard: DashboardDep
) -> Response:
    user = await services.accounts.get_user(principal)
    context = {
        "user": user,
        "preferences": [p.value for p in NotificationPreference],
        "errors": {},
        **await _tokens_context(principal, services),
    }
    return dashboard.render(request, "account.html", context)


async def _tokens_context(
    principal: Principal,
    services: Services,
    *,
    new: NewToken | None = None,
    errors: dict[str, list[str]] | None = None,
    name: str = "",
) -> dict[str, Any]:
    return {
        "tokens": await services.accounts.list_tokens(principal),
        "new_token": new,
        "token_errors": errors or {},
        "token_name": name,
        "now": services.clock.now(),
    }


@router.put("/ui/users")
async def update_user(
    request: Request, principal: CurrentUser, services: ServicesDep, dashboard: DashboardDep
) -> Response:
    """The preference form or the password form (each sends only its own fields)."""
    form = await read_form(request)
    if "notification_preference" in form:
        which = "preference"
        changes = {"notification_preference": form.get("notification_preference", "")}
        done = "Notification preference saved"
    else:
        which = "password"
        changes = {
            "current_password": form.get("current_password", ""),
            "new_password": form.get("new_password", ""),
        }
        done = "Password changed: your other sessions are signed out"
    user = await services.accounts.get_user(principal)
    context: dict[str, Any] = {
        "user": user,
        "preferences": [p.value for p in NotificationPreference],
        "errors": {},
    }
    try:
        await services.accounts.update_user(principal, **changes)
    except ValidationError as exc:
        context["errors"] = _errors(exc)
        return dashboard.render(request, f"account/_{which}.html", context)
    context["user"] = await services.accounts.get_user(principal)
    return dashboard.render(request, f"account/_{which}.html", context, toast=done)


@router.post("/ui/tokens")
async def create_token(
    request: Request, principal: CurrentUser, services: ServicesDep, dashboard: DashboardDep
) -> Response:
    form = await read_form(request)
    name = form.get("name", "")
    days = parse_number(form.get("expires_in_days", ""))
    try:
        if days is not None and not isinstance(days, int):
            raise ValidationError.field("expires_in_days", "must be a whole number of days")
        new = await services.accounts.create_token(principal, name, days)
    except ValidationError as exc:
        context = await _tokens_context(principal, services, errors=_errors(exc), name=name)
        return dashboard.render(request, "account/_tokens.html", context)
    context = await _tokens_context(principal, services, new=new)
    return dashboard.render(
        request, "account/_tokens.html", context, toast=f"Token “{new.token.name}” created"
    )


@router.delete("/ui/tokens/{token_id}")
async def revoke_token(
    token_id: str,
    request: Request,
    principal: CurrentUser,
    services: ServicesDep,
    dashboard: DashboardDep,
) -> Response:
    if not is_valid_id(token_id):
        raise NotFound("token not found")
    await services.accounts.delete_token(principal, token_id)
    context = await _tokens_context(principal, services)
    return dashboard.render(request, "account/_tokens.html", context, toast="Token revoked")
