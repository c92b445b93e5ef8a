"""`GET /metrics` and the HTTP side of the process's metrics (`services.metrics.Metrics`).

Request counts and durations are labelled by route template (never by raw path, which would
explode the label space); job counts by status and queue depth are read from the store when
`/metrics` is scraped; live subscribers come from the bus. `metrics_app` is the same route
alone, for the `--metrics-port` of worker and scheduler processes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import PlainTextResponse, Response
from starlette.types import Scope

from hourglass.services import metrics as process_metrics
from hourglass.services.container import Services
from hourglass.web import errors
from hourglass.web.deps import ServicesDep
from hourglass.web.routes import health


class Metrics:
    """What the web layer records: requests by route template, download bytes."""

    def __init__(self, process: process_metrics.Metrics) -> None:
        self.process = process
        self.download_bytes = process.download_bytes

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        self.process.observe_request(scope.get("method", "-"), route, status, seconds)


router = APIRouter(tags=["operations"])


async def scrape(services: Services) -> Response:
    """Refresh what is read at scrape time, then the whole registry in Prometheus text."""
    registry = services.metrics
    registry.set_job_counts(await services.jobs.counts_by_status())
    registry.live_subscribers.set(services.bus.subscriber_count())
    return Response(registry.render(), media_type=process_metrics.CONTENT_TYPE)


_EXPOSITION: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Every metric of the process, in the Prometheus text exposition format "
        "(0.0.4)",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


@router.get("/metrics", response_class=PlainTextResponse, responses=_EXPOSITION)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus text format (no authentication, like the health probes)."""
    return await scrape(services)


def metrics_app(services: Services) -> FastAPI:
    """An app serving only `GET /metrics` (and the probes), for worker and scheduler processes."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    errors.install(app)
    app.include_router(health.router)
    app.include_router(router)
    return app
