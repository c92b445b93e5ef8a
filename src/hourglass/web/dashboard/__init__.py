"""The web dashboard under `/ui/`: server-rendered Jinja2 pages, htmx for partial updates, a few
small ES modules, and vendored third-party files; no build step, nothing fetched at run time.

`install(app)` adds it to the API's app: the same process, session cookie and CSRF token.
Pages call the services directly. What is where: docs/dashboard.md.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from hourglass.errors import NotFound
from hourglass.settings import Settings
from hourglass.web.dashboard import (
    pages_account,
    pages_analytics,
    pages_auth,
    pages_forms,
    pages_jobs,
    pages_notifications,
    pages_webhooks,
    pages_workflows,
)
from hourglass.web.dashboard.core import Dashboard, DashboardDep
from hourglass.web.dashboard.routing import dashboard_router, redirect

_assets = dashboard_router()


@_assets.get("/ui/static/{version}/{name:path}")
async def static_file(
    version: str, name: str, request: Request, dashboard: DashboardDep
) -> Response:
    return dashboard.assets.response(version, name, request.headers.get("accept-encoding", ""))


_fallback = dashboard_router()


@_fallback.get("/ui/{rest:path}")
async def not_found(rest: str) -> Response:
    raise NotFound("There is no such page.")


async def root(request: Request) -> Response:
    """`GET /`: a browser goes to the dashboard; an API client gets a 404 saying where to go."""
    if "text/html" not in request.headers.get("accept", ""):
        raise NotFound("nothing here: the API is described at /docs, the dashboard is at /ui/")
    return redirect(request, "/ui/")


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the dashboard from `app` (its routes stay out of the API's OpenAPI document)."""
    app.state.dashboard = Dashboard(settings)
    app.add_api_route("/", root, methods=["GET"], include_in_schema=False)
    # order matters: fixed paths (/ui/workflows/new) before the patterns that would take them
    for module in (
        pages_auth,
        pages_forms,
        pages_workflows,
        pages_jobs,
        pages_account,
        pages_notifications,
        pages_analytics,
        pages_webhooks,
    ):
        app.include_router(module.router)
    app.include_router(_assets)
    app.include_router(_fallback)
