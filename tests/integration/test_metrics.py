"""`/metrics` serves Prometheus text with request, job and subscriber figures."""

from __future__ import annotations

import httpx

from tests.support import UserClient


async def test_metrics_count_requests_by_route_template(base_url: str, alice: UserClient) -> None:
    """Requests are counted under their route template, not their raw path."""
    await alice.get("/workflows/01JGXYZ5V8T3K9Q2M4N6P7R8S0")
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'route="/workflows/{workflow_id}",status="404"' in text
    assert "01JGXYZ5V8T3K9Q2M4N6P7R8S0" not in text


async def test_metrics_report_jobs_by_status_and_subscribers(base_url: str) -> None:
    """Job gauges exist for every status, with the queue depth and SSE subscriber count."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        text = (await client.get("/metrics")).text
    for status in ("PENDING", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELED"):
        assert f'hourglass_jobs{{status="{status}"}} 0.0' in text
    assert "hourglass_queue_depth 0.0" in text
    assert "hourglass_sse_subscribers 0.0" in text
