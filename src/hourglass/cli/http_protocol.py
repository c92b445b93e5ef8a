"""The HTTP/1.1 protocol the API is served with: uvicorn's httptools protocol plus the limits
uvicorn lacks, so one client cannot tie up a process (docs/security.md, "Limits").

uvicorn bounds neither the request head over httptools (a 100 MiB header is read, then
answered) nor the time a client takes to send its request (`timeout_keep_alive` only runs
between requests, and any byte resets it), and its `limit_concurrency` answers 503 per request
while every idle socket stays open. Per connection, this adds:

- a cap on the request head (request line and headers, in bytes) and on its number of header
  fields: past either, 431 and the connection closes;
- a read deadline from the connection's first moment (for later requests on a keep-alive
  connection: their first byte) until the request's last body byte. Past it the answer is 408
  (or a plain close, when no byte came or a response is already on its way). Once a request is
  read nothing times its response, so downloads and SSE streams last as long as they need;
- a cap on the open connections of the process: one more is answered 503 and closed at once.

Refusals are problem+json written straight to the socket (they never reach the app), then the
connection half-closes and drains what the client still sends for a moment before closing, so
the client reads the answer instead of a reset.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from hourglass.web.errors import PROBLEM, problem_body
from hourglass.web.middleware import READ_TIMED_OUT

log = logging.getLogger("hourglass.http")

# after a refusal: how long, and how many bytes, to drain before closing
_LINGER_SECONDS = 2.0
_LINGER_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    max_connections: int
    read_timeout: float
    max_header_bytes: int
    max_headers: int


def protocol_class(limits: Limits) -> type[asyncio.Protocol]:
    """The protocol class uvicorn should build connections from (`Config(http=...)`)."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})


class _HeadTooLarge(Exception):
    """Raised inside a parser callback to stop parsing a head that broke a limit; its text is
    the refusal's detail."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[Limits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._in_head = True  # between requests, or reading a request line and headers
        self._head_bytes = 0  # received while in the head, a chunk at a time
        self._head_size = 0  # of the URL and header names and values parsed so far
        self._header_count = 0
        self._request_begun = False  # a byte of the current request has arrived
        self._refused = False
        self._drained = 0

    # connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.connections.discard(self)
            self._refuse(503, "too many connections to this server; try again later")
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            self._drain(len(data))
            return
        self._unset_keepalive_if_required()
        if self._in_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()  # no WebSocket routes: served as plain HTTP
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._refuse(431, str(exc.__context__))
            else:
                self._refuse(400, "invalid HTTP request")
            return
        if self._in_head and self._head_bytes > self.limits.max_header_bytes:
            # still no end of the head in more bytes than a head may have: stop buffering it
            self._refuse(431, self._head_too_large())

    # parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun = True
        if self._deadline is None:
            self._arm()

    def on_url(self, url: bytes) -> None:
        self._grow_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            raise _HeadTooLarge(f"a request may have at most {self.limits.max_headers} headers")
        self._grow_head(len(name) + len(value))
        super().on_header(name, value)

    def _grow_head(self, size: int) -> None:
        # a whole head may arrive in one read: the per-read count above cannot see it then
        self._head_size += size
        if self._head_size > self.limits.max_header_bytes:
            raise _HeadTooLarge(self._head_too_large())

    def _head_too_large(self) -> str:
        return f"request line and headers must fit in {self.limits.max_header_bytes} bytes"

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()
        if self.pipeline:
            self._disarm()  # queued behind another request: uvicorn stopped reading, not the client

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head, self._head_bytes, self._head_size, self._header_count = True, 0, 0, 0
        self._request_begun = False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_complete:
            self._arm()  # a queued request whose body is still to come now gets read

    # the read deadline

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.limits.read_timeout, self._read_timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _read_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self._in_head:
            # the cycle, if any, is the previous request's: answer only if it is done
            may_answer = self._request_begun and (cycle is None or cycle.response_complete)
        else:
            may_answer = cycle is not None and not cycle.response_started
        if cycle is not None and not cycle.response_complete:
            # the app, maybe waiting for the rest of the body, sees the client gone (and its
            # access log says 408, not 499)
            cycle.scope["state"][READ_TIMED_OUT] = True
            cycle.disconnected = True
            cycle.message_event.set()
        if may_answer:
            seconds = self.limits.read_timeout
            self._refuse(408, f"the request was not received within {seconds:g} seconds")
        else:
            self.transport.close()

    # refusals

    def _refuse(self, status: int, detail: str) -> None:
        """Answer `status` as problem+json, stop reading requests and close after a linger."""
        self._refused = True
        self._disarm()
        client = self.client[0] if self.client else "-"
        log.info("refused a connection from %s with %d: %s", client, status, detail)
        body = json.dumps(problem_body(status, detail)).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: " + PROBLEM.encode() + b"\r\n")
        head.append(b"content-length: " + str(len(body)).encode() + b"\r\n")
        head.append(b"cache-control: no-store\r\nconnection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(_LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    def _drain(self, received: int) -> None:
        self._drained += received
        if self._drained > _LINGER_BYTES:
            self.transport.close()
