"""Prometheus metrics of one API process, in a registry of its own (no process-wide globals).

Request counts and durations are labelled by route template (never by raw path, which would
explode the label space); job counts by status and queue depth are read from the store when
`/metrics` is scraped; SSE subscribers come from the live bus.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import Scope

from hourglass.web.deps import ServicesDep


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hourglass_http_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "hourglass_http_request_duration_seconds",
            "Time to the end of the response",
            ["method", "route"],
            registry=self.registry,
        )
        self.jobs = Gauge("hourglass_jobs", "Jobs by status", ["status"], registry=self.registry)
        self.queue_depth = Gauge(
            "hourglass_queue_depth", "Jobs QUEUED and waiting for a worker", registry=self.registry
        )
        self.sse_subscribers = Gauge(
            "hourglass_sse_subscribers",
            "Live-log subscribers of this process",
            registry=self.registry,
        )
        self.log_lines = Counter(
            "hourglass_log_lines_ingested",
            "Log lines stored by writers of this process",
            registry=self.registry,
        )
        self.download_bytes = Counter(
            "hourglass_download_bytes",
            "Bytes of job-log downloads sent by this process",
            registry=self.registry,
        )

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope.get("method", "-")
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)


router = APIRouter(tags=["operations"])


@router.get("/metrics", response_model=None)
async def metrics(request: Request, services: ServicesDep) -> Response:
    """Prometheus text format (no authentication, like the health probes)."""
    registry: Metrics = request.app.state.metrics
    counts = await services.jobs.counts_by_status()
    for status in ("PENDING", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELED"):
        registry.jobs.labels(status).set(counts.get(status, 0))
    registry.queue_depth.set(counts.get("QUEUED", 0))
    registry.sse_subscribers.set(services.bus.subscriber_count())
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
