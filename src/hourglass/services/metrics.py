"""Prometheus metrics of one process, in a registry of its own (no process-wide globals).

Every process (API, worker, scheduler, or all three under `hourglass up`) has one `Metrics`,
built with its `Services`; whatever runs in the process records into it, so one `/metrics`
covers everything the process does. Counters count what this process did; the gauges read
from the store (jobs by status, queue depth) are refreshed when `/metrics` is scraped, so any
process reports the whole fleet's queue. docs/api.md lists them, with example alert rules.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST
JOB_STATUSES = ("PENDING", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELED")
_JOB_SECONDS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400)
_START_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_LAG_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_WEBHOOK_SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        # HTTP (API processes)
        self.requests = Counter(
            "hourglass_http_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=r,
        )
        self.request_duration = Histogram(
            "hourglass_http_request_duration_seconds",
            "Time to the end of the response",
            ["method", "route"],
            registry=r,
        )
        self.download_bytes = Counter(
            "hourglass_download_bytes",
            "Bytes of job-log downloads sent by this process",
            registry=r,
        )
        # the fleet, read from the store at scrape time
        self.jobs = Gauge("hourglass_jobs", "Jobs by status (whole store)", ["status"], registry=r)
        self.queue_depth = Gauge(
            "hourglass_queue_depth", "Jobs QUEUED and waiting for a worker", registry=r
        )
        # jobs, as this process saw them
        self.jobs_finished = Counter(
            "hourglass_jobs_finished",
            "Jobs that reached a final status in this process",
            ["kind", "status"],
            registry=r,
        )
        self.job_duration = Histogram(
            "hourglass_job_duration_seconds",
            "Finished jobs: completed_at - started_at (all attempts)",
            ["kind"],
            buckets=_JOB_SECONDS,
            registry=r,
        )
        self.start_delay = Histogram(
            "hourglass_job_start_delay_seconds",
            "From a job becoming claimable (queued and due) to a worker of this process "
            "starting it",
            buckets=_START_SECONDS,
            registry=r,
        )
        self.running_jobs = Gauge(
            "hourglass_running_jobs", "Jobs running in this process's worker slots", registry=r
        )
        self.lease_expiries = Counter(
            "hourglass_lease_expiries", "Job leases this process's workers lost", registry=r
        )
        self.lease_recoveries = Counter(
            "hourglass_lease_recoveries",
            "Jobs of dead workers (expired leases) this process recovered",
            registry=r,
        )
        self.log_lines = Counter(
            "hourglass_log_lines_ingested",
            "Lines received from workloads by this process (before capping)",
            ["stream"],
            registry=r,
        )
        self.log_bytes = Counter(
            "hourglass_log_bytes_ingested",
            "Bytes received from workloads by this process (before capping)",
            ["stream"],
            registry=r,
        )
        # live readers, webhooks, the process itself
        self.live_subscribers = Gauge(
            "hourglass_sse_subscribers",
            "Live-bus subscriptions of this process (SSE readers, notification streams, "
            "workers' wake-ups)",
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "hourglass_webhook_deliveries",
            "Webhook delivery attempts by result",
            ["result"],
            registry=r,
        )
        self.webhook_duration = Histogram(
            "hourglass_webhook_delivery_duration_seconds",
            "Webhook delivery attempts",
            buckets=_WEBHOOK_SECONDS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "hourglass_event_loop_lag_seconds",
            "How late the event loop ran a timer (measured every half second)",
            buckets=_LAG_SECONDS,
            registry=r,
        )
        for result in ("delivered", "failed"):
            self.webhook_deliveries.labels(result)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.request_duration.labels(method, route).observe(seconds)

    def set_job_counts(self, counts: dict[str, int]) -> None:
        for status in JOB_STATUSES:
            self.jobs.labels(status).set(counts.get(status, 0))
        self.queue_depth.set(counts.get("QUEUED", 0))

    def job_finished(self, kind: str, status: str, seconds: float | None) -> None:
        self.jobs_finished.labels(kind, status).inc()
        if seconds is not None:
            self.job_duration.labels(kind).observe(seconds)

    def output(self, stream: str, data: bytes) -> None:
        """A block of a workload's output (a line is counted when its newline arrives)."""
        self.log_lines.labels(stream).inc(data.count(b"\n"))
        self.log_bytes.labels(stream).inc(len(data))

    def render(self) -> bytes:
        return generate_latest(self.registry)


async def watch_loop_lag(
    metrics: Metrics,
    stop: asyncio.Event,
    every: float = 0.5,
    clock: Callable[[], float] | None = None,
) -> None:
    """Until `stop`: sleep `every` seconds and record how much later than asked it woke."""
    loop = asyncio.get_running_loop()
    now = clock or loop.time
    while not stop.is_set():
        start = now()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if not stop.is_set():
            metrics.loop_lag.observe(max(0.0, now() - start - every))
