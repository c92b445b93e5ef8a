"""CORS for a dashboard on another origin: exact origins from `HOURGLASS_CORS_ORIGINS`, with
credentials, 204 preflights, and the API's own headers allowed and exposed. Nothing is sent
when no origin is configured (the default)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.integration.workflow_helpers import body, key
from tests.support import register

Serve = Callable[..., Awaitable[str]]
pytestmark = pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)

DASHBOARD = "https://dash.example.com"


def preflight(
    method: str = "POST", headers: str = "content-type,x-csrf-token,idempotency-key"
) -> dict[str, str]:
    """The headers of a browser's preflight from the dashboard's origin."""
    return {
        "Origin": DASHBOARD,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


async def test_without_origins_no_cors_header_is_sent(base_url: str) -> None:
    """The default: a cross-origin preflight or request gets no Access-Control-* header."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        answers = [
            await client.options("/workflows", headers=preflight()),
            await client.get("/healthz", headers={"Origin": DASHBOARD}),
        ]
    for answer in answers:
        assert not [h for h in answer.headers if h.lower().startswith("access-control-")]


async def test_a_preflight_from_an_allowed_origin_is_204_with_credentials(serve: Serve) -> None:
    """Preflight: 204, no body, the exact origin, credentials, CSRF and Idempotency-Key allowed."""
    url = await serve(cors_origins=(DASHBOARD,))
    async with httpx.AsyncClient(base_url=url) as client:
        answer = await client.options("/workflows", headers=preflight("PUT"))
    assert answer.status_code == 204
    assert answer.content == b""
    assert answer.headers["access-control-allow-origin"] == DASHBOARD
    assert answer.headers["access-control-allow-credentials"] == "true"
    allowed = answer.headers["access-control-allow-headers"].lower()
    assert {"x-csrf-token", "idempotency-key", "content-type"} <= set(allowed.split(", "))
    assert {"PUT", "PATCH", "DELETE"} <= set(
        answer.headers["access-control-allow-methods"].split(", ")
    )


async def test_a_credentialed_request_from_an_allowed_origin_can_be_read(serve: Serve) -> None:
    """A cookie-authenticated POST from the dashboard's origin carries the CORS answer headers."""
    url = await serve(cors_origins=(DASHBOARD,))
    user = await register(url)
    try:
        answer = await user.post("/workflows", json=body(), headers={"Origin": DASHBOARD, **key()})
    finally:
        await user.client.aclose()
    assert answer.status_code == 201, answer.text
    assert answer.headers["access-control-allow-origin"] == DASHBOARD
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()
    assert "origin" in answer.headers["vary"].lower()


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.org",
        "http://dash.example.com",  # another scheme is another origin
        "https://dash.example.com.evil.org",
        "https://dash.example.com:8443",
    ],
)
async def test_other_origins_are_refused(serve: Serve, origin: str) -> None:
    """Only exact origins match: the preflight is 400 problem+json, requests get no CORS header."""
    url = await serve(cors_origins=(DASHBOARD,))
    async with httpx.AsyncClient(base_url=url) as client:
        refused = await client.options("/workflows", headers={**preflight(), "Origin": origin})
        plain = await client.get("/healthz", headers={"Origin": origin})
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert "origin" in refused.json()["detail"]
    for answer in (refused, plain):
        assert "access-control-allow-origin" not in answer.headers


async def test_a_header_outside_the_list_fails_the_preflight(serve: Serve) -> None:
    """A request header the API does not read is refused at preflight, naming headers."""
    url = await serve(cors_origins=(DASHBOARD,))
    async with httpx.AsyncClient(base_url=url) as client:
        answer = await client.options("/workflows", headers=preflight(headers="x-sneaky"))
    assert answer.status_code == 400
    assert "headers" in answer.json()["detail"]
