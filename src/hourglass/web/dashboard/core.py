"""The dashboard's parts, built once per app: its templates, its static files and how a page is
rendered (the context every template gets, the `HX-Trigger` toasts of htmx answers)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import Depends, Request
from markupsafe import Markup
from starlette.responses import HTMLResponse, Response

from hourglass.domain.common import format_ts
from hourglass.settings import Settings
from hourglass.web.dashboard import figures, views
from hourglass.web.dashboard.assets import Assets

HERE = Path(__file__).parent
TOAST_EVENT = "hg:toast"


def when(moment: datetime | None) -> Markup:
    """A `<time>` in UTC; the browser rewrites its text in local time (js/time.js)."""
    if moment is None:
        return Markup('<span class="muted">—</span>')
    stamp = format_ts(moment)
    text = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}">{}</time>').format(stamp, text)


class Dashboard:
    """Templates + assets; `render` answers a page or an htmx fragment."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.assets = Assets(HERE / "static")
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.templates.globals.update(
            asset=self.assets.url,
            signup_open=settings.signup == "open",
            command_enabled=settings.command_kind_enabled,
            tones=views.JOB_TONES,
        )
        self.templates.filters.update(
            when=when,
            duration=views.duration_words,
            state=views.workflow_state,
            schedule=views.schedule_words,
            percent=figures.percent,
            millis=figures.millis,
        )

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        toast: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """The template rendered with the request's context; `toast` becomes a message the page
        shows (an `HX-Trigger` event)."""
        page = self.templates.get_template(template)
        html = page.render(request=request, path=request.url.path, **(context or {}))
        response = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
        if toast is not None:
            add_toast(response, toast)
        return response


def add_toast(
    response: Response, message: str, level: str = "ok", *, after_redirect: bool = False
) -> None:
    """Ask the page to show `message` (kept for the next page when the answer redirects)."""
    detail = {"message": message, "level": level, "persist": after_redirect}
    response.headers["HX-Trigger"] = json.dumps({TOAST_EVENT: detail})


def dashboard_of(request: Request) -> Dashboard:
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


async def get_dashboard(request: Request) -> Dashboard:
    return dashboard_of(request)


DashboardDep = Annotated[Dashboard, Depends(get_dashboard)]


def is_htmx(request: Request) -> bool:
    """An htmx request (not a history restore, which wants the whole page)."""
    return request.headers.get("HX-Request") == "true"
