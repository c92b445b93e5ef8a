"""`create_app(...)`: the FastAPI app, built from the parts the composition root hands in."""

from __future__ import annotations

from fastapi import FastAPI

from hourglass import __version__
from hourglass.services.container import Services
from hourglass.web import cors, dashboard, docs, errors, metrics, openapi
from hourglass.web.metrics import Metrics
from hourglass.web.middleware import BodyLimitMiddleware, RequestContextMiddleware
from hourglass.web.routes import (
    analytics,
    auth,
    health,
    jobs,
    logs,
    logs_stream,
    notifications,
    users,
    webhooks,
    workflows,
)

DESCRIPTION = (
    "Hourglass HTTP API: accounts, workflows, jobs, job logs, notifications, analytics and "
    "webhooks. "
    "Errors are application/problem+json (RFC 9457); 422 is never used (invalid input is 400). "
    "Authenticate with the `session` cookie (plus `X-CSRF-Token` on state-changing requests) "
    "or `Authorization: Bearer <API token>`. The contract is docs/api.md."
)


def create_app(services: Services) -> FastAPI:
    """A ready-to-serve app; it owns no resources (the caller opens and closes them)."""
    app = FastAPI(
        title="Hourglass",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # served by web/docs.py from the package, not from a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.services = services
    errors.install(app)
    for module in (
        health,
        auth,
        users,
        workflows,
        jobs,
        logs,
        logs_stream,
        notifications,
        analytics,
        webhooks,
    ):
        app.include_router(module.router)
    dashboard.install(app, services.settings)  # the web dashboard under /ui/
    settings = services.settings
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # inside the request context, so preflights are logged and counted like other requests
    cors.install(app, settings.cors_origins)
    app.state.metrics = Metrics(services.metrics)
    app.include_router(metrics.router)
    # outermost of ours: it also answers unexpected errors, so a 500 has a request id too
    app.add_middleware(
        RequestContextMiddleware, enabled=settings.access_log, metrics=app.state.metrics
    )
    openapi.install(app)
    docs.install(app, openapi_url="/openapi.json")
    return app
