"""Analytics: the totals and each workflow's figures over a window of days (`/ui/analytics`), and
one workflow's charts (`/ui/analytics/{wid}`, also loaded into its page's `#analytics-slot`).

Every figure is the analytics service's answer, as `GET /analytics` and `GET /analytics/{wid}`
give it; the charts (js/charts.js) draw the same report's daily series. The window is in the URL
(`?days=`, 30 by default) and checked by the API's own rule, its message shown by the selector.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import Response

from hourglass.domain.analytics import parse_days
from hourglass.domain.workflows import ListParams
from hourglass.errors import NotFound, ValidationError
from hourglass.web.dashboard import figures
from hourglass.web.dashboard.core import DashboardDep, is_htmx
from hourglass.web.dashboard.routing import dashboard_router
from hourglass.web.deps import CurrentUser, ServicesDep

router = dashboard_router()

PAGE_SIZE: Final = "25"


def _problem(exc: ValidationError) -> str:
    return "; ".join(f"{e.field}: {e.message}" for e in exc.errors)


def _window(request: Request) -> tuple[str, int | None, str | None]:
    """The `days` asked for (as sent), the window it means, and the API's complaint if any."""
    raw = request.query_params.get("days") or figures.DEFAULT_DAYS
    try:
        return raw, parse_days(raw), None
    except ValidationError as exc:
        return raw, None, _problem(exc)


@router.get("/ui/analytics")
async def overview(
    request: Request, principal: CurrentUser, services: ServicesDep, dashboard: DashboardDep
) -> Response:
    raw, days, problem = _window(request)
    cursor = request.query_params.get("cursor", "")
    context: dict[str, Any] = {
        "totals": await services.analytics.summary(principal.user_id),
        "days": days,
        "day_options": figures.day_options(days),
        "problem": problem,
        "rows": [],
        "next_url": None,
        "first_url": f"/ui/analytics?days={raw}" if cursor else None,
    }
    if days is not None:
        try:
            page = await services.workflows.list(
                principal, ListParams(cursor=cursor, limit=PAGE_SIZE)
            )
        except ValidationError as exc:  # a stale or hand-made cursor
            context["problem"] = _problem(exc)
        else:
            ids = [w.id for w in page.workflows]
            reports = await services.runs.window_reports(principal, ids, days)
            context["rows"] = [(w, reports[w.id]) for w in page.workflows]
            if page.cursor:
                query = urlencode({"days": raw, "cursor": page.cursor})
                context["next_url"] = f"/ui/analytics?{query}"
    template = "analytics/_overview.html" if is_htmx(request) else "analytics/index.html"
    return dashboard.render(request, template, context)


@router.get("/ui/analytics/{workflow_id}")
async def workflow_analytics(
    workflow_id: str,
    request: Request,
    principal: CurrentUser,
    services: ServicesDep,
    dashboard: DashboardDep,
) -> Response:
    """One workflow's figures and charts; a deleted workflow's still answer, from its counts."""
    raw, days, problem = _window(request)
    # another user's or unknown workflow: 404 (the service checks that before `days`)
    report = await services.analytics.workflow(
        principal.user_id, workflow_id, None if problem else raw
    )
    try:
        workflow = await services.workflows.get(principal, workflow_id)
    except NotFound:
        workflow = None
    context = {
        "workflow_id": report["workflow_id"],
        "workflow": workflow,
        "report": report,
        "days": days,
        "day_options": figures.day_options(days),
        "problem": problem,
        "series": figures.series(report) if problem is None else None,
        "standalone": not is_htmx(request) or _on_page(request),
    }
    template = "analytics/_workflow.html" if is_htmx(request) else "analytics/show.html"
    return dashboard.render(request, template, context)


def _on_page(request: Request) -> bool:
    """An htmx request from the analytics page itself (not from a workflow's page slot)."""
    return "/ui/analytics/" in request.headers.get("HX-Current-URL", "")
