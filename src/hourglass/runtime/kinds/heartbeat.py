"""HEARTBEAT: one HTTP request to the user's endpoint, checked against the expected status.

Redirects are followed, at most `MAX_REDIRECTS` hops. The outcome is written as a short log on
`stdout` (one line per hop: method, URL, status, duration), so heartbeats have logs like any job.
Every failure is the endpoint's, hence WORKLOAD_FAILURE: an unexpected status, a refused
connection, a timeout, too many redirects. The body is never read. The server's proxy variables
and .netrc are ignored (`trust_env=False`): its credentials must never reach a user's endpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import httpx

from hourglass.domain.jobs import Kind, RunResult
from hourglass.domain.payloads import default_timeout
from hourglass.runtime.kinds.base import Ended, OutputSink, race, timeout_of

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
    """Checks that an HTTP endpoint answers with the expected status."""

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
        headers = header_items(payload.get("headers"))
        started = time.perf_counter()
        async with httpx.AsyncClient(
            timeout=timeout[0], max_redirects=MAX_REDIRECTS, trust_env=False
        ) as client:
            try:
                request = client.build_request(method, url, headers=headers)
                response = await client.send(request, stream=True, follow_redirects=True)
            except httpx.TooManyRedirects:
                reason = f"too many redirects (more than {MAX_REDIRECTS})"
            except httpx.TimeoutException:
                reason = f"timed out after {timeout[1]}"
            except httpx.ConnectError as exc:
                reason = f"connection failed: {exc or type(exc).__name__}"
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                reason = f"request failed: {exc or type(exc).__name__}"
            else:
                elapsed = time.perf_counter() - started
                await response.aclose()
                for hop in response.history:
                    spent = hop.elapsed.total_seconds()
                    await sink.write(
                        "stdout", _hop(hop.request.method, hop.request.url, hop, spent)
                    )
                    elapsed -= spent
                final = response.request
                await sink.write("stdout", _hop(final.method, final.url, response, elapsed))
                return response.status_code, None
        await sink.write("stderr", f"{method} {url} -> {reason}\n".encode())
        return None, reason
