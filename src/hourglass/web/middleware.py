"""Pure-ASGI middleware: request ids, 500s, one structured access-log line per request (499 for a
client that hung up before its request was read), body limit.

Written as plain ASGI (not `BaseHTTPMiddleware`) so streamed responses — downloads and SSE — pass
through untouched and unbuffered.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hourglass.domain.common import new_id
from hourglass.web.errors import problem
from hourglass.web.metrics import Metrics

access_log = logging.getLogger("hourglass.access")
error_log = logging.getLogger("hourglass.web")

CLIENT_CLOSED_REQUEST = 499  # logged and counted, never sent
# set in a request's `scope["state"]` by the server (cli/http_protocol.py) when it gave up
# waiting for the body: then the 408 it sent is what the access log and /metrics count
READ_TIMED_OUT = "hourglass.read_timed_out"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    """Tags each request with an id (`X-Request-ID`), answers unexpected errors with a 500
    problem+json that carries it, and logs one JSON line when the request ends.

    It sits inside Starlette's `ServerErrorMiddleware`, which would otherwise answer a crash
    itself, past this middleware: without the request id and without the bytes being counted.
    """

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
        exchange = _Exchange(request_id, send)
        try:
            await self.app(scope, receive, exchange.send)
        except ClientDisconnect:
            # the client hung up before its request was read: its doing, not ours. Nobody is
            # left to answer; nginx's 499 ("client closed request") keeps it apart in the counts
            timed_out = scope["state"].get(READ_TIMED_OUT, False)
            exchange.status = 408 if timed_out else CLIENT_CLOSED_REQUEST
            error_log.info(
                "%s before its request was read (request_id=%s) on %s %s",
                "the read deadline passed" if timed_out else "the client went away",
                request_id,
                scope["method"],
                scope["path"],
            )
        except Exception:
            error_log.exception(
                "unhandled error (request_id=%s) on %s %s",
                request_id,
                scope["method"],
                scope["path"],
            )
            if exchange.started:
                raise  # too late for a 500: the server closes the connection
            body = {"request_id": request_id}
            await problem(500, "internal server error", extra=body)(scope, receive, exchange.send)
        finally:
            self._record(scope, exchange)

    def _record(self, scope: Scope, exchange: _Exchange) -> None:
        seconds = time.perf_counter() - exchange.began
        if self.metrics is not None:
            self.metrics.observe(scope, exchange.status, seconds)
        if self.enabled:
            access_log.info(
                json.dumps(
                    {
                        "event": "request",
                        "request_id": exchange.request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": exchange.status,
                        "bytes": exchange.sent,
                        "duration_ms": round(seconds * 1000, 2),
                        "client": (scope.get("client") or ("-",))[0],
                    }
                )
            )


class _Exchange:
    """One response on its way out: its status, the bytes sent, and our headers added."""

    def __init__(self, request_id: str, send: Send) -> None:
        self.request_id = request_id
        self._send = send
        self.began = time.perf_counter()
        self.status = 500  # what the log says if the app never answers
        self.sent = 0
        self.started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            headers = list(message.get("headers", []))
            headers.append((b"x-request-id", self.request_id.encode()))
            if not any(k.lower() == b"cache-control" for k, _ in headers):
                # nothing we serve is for shared caches
                headers.append((b"cache-control", b"no-store"))
            message = {**message, "headers": headers}
        elif message["type"] == "http.response.body":
            self.sent += len(message.get("body", b""))
        await self._send(message)


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
