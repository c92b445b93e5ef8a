"""Pure-ASGI middleware: request ids, one structured access-log line per request, body limit.

Written as plain ASGI (not `BaseHTTPMiddleware`) so streamed responses — downloads and SSE — pass
through untouched and unbuffered.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hourglass.domain.common import new_id
from hourglass.web.errors import problem
from hourglass.web.metrics import Metrics

access_log = logging.getLogger("hourglass.access")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    """Tags each request with an id (`X-Request-ID`) and logs one JSON line when it ends."""

    def __init__(
        self, app: ASGIApp, *, enabled: bool = True, metrics: Metrics | None = None
    ) -> None:
        self.app = app
        self.enabled = enabled
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _SAFE_REQUEST_ID.match(incoming) else new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        sent = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    # nothing we serve is for shared caches
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if self.metrics is not None:
                self.metrics.observe(scope, status, time.perf_counter() - started)
            if self.enabled:
                access_log.info(
                    json.dumps(
                        {
                            "event": "request",
                            "request_id": request_id,
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": status,
                            "bytes": sent,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                            "client": (scope.get("client") or ("-",))[0],
                        }
                    )
                )


class BodyLimitMiddleware:
    """Refuses request bodies over `max_bytes` with 413, before anything parses them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif self._declared_too_big(scope):
            await problem(413, self._detail())(scope, receive, send)
        else:
            await self._counting(scope, receive, send)

    def _declared_too_big(self, scope: Scope) -> bool:
        declared = _header(scope, b"content-length")
        try:
            return declared is not None and int(declared) > self.max_bytes
        except ValueError:
            return False

    async def _counting(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Counts a body without (or despite) Content-Length; answers 413 once it overflows."""
        received = 0
        overflowed = False
        app_started = False

        async def limited_receive() -> Message:
            nonlocal received, overflowed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # tell the app the client is gone; the 413 below answers instead of it
                    overflowed = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal app_started
            if overflowed:
                return  # whatever the app says about a cut-off body, the answer is 413
            app_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not overflowed:
                raise
        if overflowed and not app_started:
            await problem(413, self._detail())(scope, receive, send)

    def _detail(self) -> str:
        return f"request body is larger than {self.max_bytes} bytes"


def _header(scope: Scope, name: bytes) -> str | None:
    headers: Any = scope.get("headers") or []
    for key, value in headers:
        if key == name:
            return str(value.decode("latin-1"))
    return None
