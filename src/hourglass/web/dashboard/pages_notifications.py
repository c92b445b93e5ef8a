"""Notifications: the list the bell's drawer shows (and `/ui/notifications`, the same list as a
page), and marking them read — one, the selected ones, or all of them.

The unread count and its live updates are the browser's (js/bell.js reads the API's list and
its SSE stream); these routes render the list and mark read through the same service as
`PUT /notifications`. "Mark all read" marks the unread ones up to the newest the list showed,
so a notification that arrives while the person reads is not marked unseen.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import Response

from hourglass.errors import ValidationError
from hourglass.services.accounts import Principal
from hourglass.services.container import Services
from hourglass.web.dashboard import notices
from hourglass.web.dashboard.core import DashboardDep, is_htmx
from hourglass.web.dashboard.forms import FormData
from hourglass.web.dashboard.routing import dashboard_router, read_form
from hourglass.web.deps import CurrentUser, ServicesDep

router = dashboard_router()

PAGE_SIZE: Final = "20"
MARK_BATCH: Final = 1000  # the API's most ids per request


def _url(view: str, cursor: str = "") -> str:
    params = {"unread": "false"} if view == "all" else {}
    if cursor:
        params["cursor"] = cursor
    return "/ui/notifications" + (f"?{urlencode(params)}" if params else "")


async def _context(
    principal: Principal, services: Services, view: str, cursor: str
) -> dict[str, Any]:
    user = await services.accounts.get_user(principal)
    context: dict[str, Any] = {
        "view": view,
        "items": [],
        "newest": None,
        "problem": None,
        "next_url": None,
        "first_url": _url(view) if cursor else None,
        "hidden": notices.HIDDEN[user.notification_preference],
        "preference": user.notification_preference.value,
    }
    unread = "true" if view == "unread" else "false"
    try:
        page = await services.notifications.list(
            principal.user_id, cursor=cursor or None, limit=PAGE_SIZE, unread=unread
        )
    except ValidationError as exc:  # a stale or hand-made cursor: say so, offer the first page
        context["problem"] = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
        context["first_url"] = _url(view)
        return context
    context["items"] = [notices.notice(n) for n in page.notifications]
    context["next_url"] = _url(view, page.cursor) if page.cursor else None
    context["newest"] = await _newest(principal, services, page.notifications, cursor)
    return context


async def _newest(
    principal: Principal, services: Services, shown: list[Any], cursor: str
) -> int | None:
    """The newest notification's seq the person has in front of them: the first page's top
    one (a later page asks for it)."""
    if not cursor:
        return shown[0].seq if shown else None
    top = await services.notifications.list(
        principal.user_id, cursor=None, limit="1", unread="false"
    )
    return top.notifications[0].seq if top.notifications else None


@router.get("/ui/notifications")
async def notifications_page(
    request: Request, principal: CurrentUser, services: ServicesDep, dashboard: DashboardDep
) -> Response:
    view = "all" if request.query_params.get("unread") == "false" else "unread"
    context = await _context(principal, services, view, request.query_params.get("cursor", ""))
    context["standalone"] = not is_htmx(request) or _on_page(request)
    template = "notifications/_list.html" if is_htmx(request) else "notifications/page.html"
    return dashboard.render(request, template, context)


def _on_page(request: Request) -> bool:
    """An htmx request sent from the notifications page itself (not from the drawer)."""
    return request.headers.get("HX-Current-URL", "").split("?")[0].endswith("/ui/notifications")


@router.put("/ui/notifications")
async def mark_read(
    request: Request, principal: CurrentUser, services: ServicesDep, dashboard: DashboardDep
) -> Response:
    """One (`one`), all up to the newest shown (`through`), or the checked ones (`ids`)."""
    form = await read_form(request)
    view = "all" if form.get("view") == "all" else "unread"
    problem, toast = None, None
    try:
        ids = await _chosen(principal, services, form)
        # the chosen ones go as sent (the API's rules apply); "all" may be more than one request
        batches = [ids[i : i + MARK_BATCH] for i in range(0, len(ids), MARK_BATCH)]
        for batch in batches if "through" in form else [ids]:
            await services.notifications.mark_read(principal.user_id, batch)
    except ValidationError as exc:
        problem = _problem(exc)
    else:
        toast = "Marked read" if len(ids) == 1 else f"Marked {len(ids)} notifications read"
    context = await _context(principal, services, view, "")
    context.update(problem=problem or context["problem"], standalone=_on_page(request))
    return dashboard.render(request, "notifications/_list.html", context, toast=toast)


async def _chosen(principal: Principal, services: Services, form: FormData) -> list[str]:
    if form.get("one"):
        return [form["one"]]
    if "through" in form:
        return await _unread_through(principal, services, _seq(form["through"]))
    return form.getlist("ids")


def _seq(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ValidationError.field("through", "must be a notification sequence number")
    return int(raw)


async def _unread_through(principal: Principal, services: Services, through: int) -> list[str]:
    """The ids of the caller's unread notifications (as their preference lists them) up to
    `through`, however many pages that is."""
    ids: list[str] = []
    cursor = None
    while True:
        page = await services.notifications.list(
            principal.user_id, cursor=cursor, limit=str(MARK_BATCH), unread="true"
        )
        ids += [n.id for n in page.notifications if n.seq <= through]
        if page.cursor is None:
            break
        cursor = page.cursor
    if not ids:
        raise ValidationError.field("ids", "nothing to mark: every notification shown is read")
    return ids


def _problem(exc: ValidationError) -> str:
    messages = []
    for error in exc.errors:
        if error.field == "ids" and error.message == "must not be empty":
            messages.append("Select the notifications to mark read first.")
        else:
            messages.append(
                error.message if error.field == "ids" else f"{error.field}: {error.message}"
            )
    return " ".join(messages)
