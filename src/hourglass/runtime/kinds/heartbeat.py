"""HEARTBEAT: one HTTP request to the user's endpoint, checked against the expected status.

Redirects are followed, at most `MAX_REDIRECTS` hops, one at a time so each is logged as it
comes. The outcome is written as a short log on `stdout` (one line per hop: method, URL, status,
duration), so heartbeats have logs like any job. Every failure is the endpoint's, hence
WORKLOAD_FAILURE: an unexpected status, a refused connection, a timeout, too many redirects.
The body is never read.

Every connection, redirects included, goes through the outbound address policy
(`runtime/outbound.py`): an endpoint or a redirect whose addresses are refused fails with
"refused by the outbound policy" and nothing more, so a heartbeat cannot probe which ports of
the server's own network are open.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from typing import Any

import httpx

from hourglass.domain.jobs import Kind, RunResult
from hourglass.domain.payloads import default_timeout
from hourglass.runtime.kinds.base import Ended, OutputSink, race, timeout_of
from hourglass.runtime.outbound import (
    REFUSED,
    OutboundPolicy,
    OutboundRefused,
    Resolver,
    outbound_client,
)

MAX_REDIRECTS = 5
DEFAULT_TIMEOUT = default_timeout(Kind.HEARTBEAT)


def header_items(headers: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Headers as (name, value) pairs; a list value sends the header once per element."""
    items: list[tuple[str, str]] = []
    for name, value in (headers or {}).items():
        values = value if isinstance(value, list | tuple) else [value]
        items.extend((str(name), str(v)) for v in values)
    return items


def _hop(method: str, url: httpx.URL, response: httpx.Response, seconds: float) -> bytes:
    status = f"{response.status_code} {response.reason_phrase}".rstrip()
    return f"{method} {url} -> {status} in {seconds * 1000:.1f} ms\n".encode()


class HeartbeatKind:
    """Checks that an HTTP endpoint answers with the expected status.

    `policy` decides which addresses may be reached; `resolver` and `verify` (httpx's TLS
    verification) are for tests, which give names and a CA of their own.
    """

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self._tls = verify  # built on first use: loading the CA bundle takes ~20 ms

    def _client(self, timeout: float) -> httpx.AsyncClient:
        if self._tls is None:
            self._tls = httpx.create_ssl_context(trust_env=False)
        return outbound_client(
            self.policy, timeout=timeout, resolver=self.resolver, verify=self._tls
        )

    async def build(self, payload: Mapping[str, Any]) -> None:
        """Nothing to prepare: the request is made fresh on every run."""

    async def run(
        self, payload: Mapping[str, Any], sink: OutputSink, cancel: asyncio.Event
    ) -> RunResult:
        timeout, timeout_label = timeout_of(payload, DEFAULT_TIMEOUT)
        method = str(payload.get("method") or "GET").upper()
        url = str(payload["endpoint"])
        expected = int(payload.get("expected_status_code") or 200)
        if cancel.is_set():
            return RunResult.canceled()
        check = asyncio.ensure_future(
            self._check(method, url, payload, (timeout, timeout_label), sink)
        )
        try:
            ended = await race(check, cancel, timeout)
        finally:
            check.cancel()
        if ended is Ended.CANCELED:
            return RunResult.canceled()
        if ended is Ended.TIMED_OUT:
            await sink.write("stderr", f"{method} {url} -> timed out\n".encode())
            return RunResult.workload_failure(f"timed out after {timeout_label}")
        status, failure = check.result()
        if failure is not None:
            return RunResult.workload_failure(failure)
        if status != expected:
            return RunResult.workload_failure(f"unexpected status {status} (expected {expected})")
        return RunResult.success(None)

    async def _check(
        self,
        method: str,
        url: str,
        payload: Mapping[str, Any],
        timeout: tuple[float, str],
        sink: OutputSink,
    ) -> tuple[int | None, str | None]:
        """(final status, None), or (None, reason) when no final response came."""
        hop: tuple[str, object] = (method, url)  # the request that failed, for the log
        async with self._client(timeout[0]) as client:
            try:
                request = client.build_request(
                    method, url, headers=header_items(payload.get("headers"))
                )
                for _hop_number in range(MAX_REDIRECTS + 1):
                    hop = (request.method, request.url)
                    response = await self._send(client, request, sink)
                    if response.next_request is None:
                        return response.status_code, None
                    request = response.next_request
                hop = (method, url)
                reason = f"too many redirects (more than {MAX_REDIRECTS})"
            except httpx.TimeoutException:
                reason = f"timed out after {timeout[1]}"
            except OutboundRefused:
                reason = REFUSED
            except httpx.ConnectError as exc:
                reason = f"connection failed: {exc or type(exc).__name__}"
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                reason = f"request failed: {exc or type(exc).__name__}"
        await sink.write("stderr", f"{hop[0]} {hop[1]} -> {reason}\n".encode())
        return None, reason

    @staticmethod
    async def _send(
        client: httpx.AsyncClient, request: httpx.Request, sink: OutputSink
    ) -> httpx.Response:
        """Send one hop without reading the body, and log it."""
        started = time.perf_counter()
        response = await client.send(request, stream=True)
        await response.aclose()
        elapsed = time.perf_counter() - started
        await sink.write("stdout", _hop(request.method, request.url, response, elapsed))
        return response
