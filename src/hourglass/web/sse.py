"""HTTP of the live log stream (`GET …/events`): Server-Sent Events over a streamed response.

Headers `Content-Type: text/event-stream`, `Cache-Control: no-cache`, `X-Accel-Buffering: no`
(proxies must not buffer it), never compressed. The frames come from `LogReads.events`; each is
written (and so flushed) as it is produced. A failure after the headers becomes an
`event: error` frame and the stream closes. When the client disconnects, the producer is
cancelled at once: its bus subscription and any store read in flight end with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hourglass.web.streaming import run_until_disconnect

SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"x-content-type-options", b"nosniff"),
]


class EventStreamResponse(Response):
    """Streams SSE frames until the producer ends, fails (`event: error`) or the client leaves."""

    def __init__(
        self,
        frames: Callable[[], AsyncGenerator[bytes, None]],
        error_frame: Callable[[Exception], bytes],
    ) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = list(SSE_HEADERS)
        self._frames = frames
        self._error_frame = error_frame

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await run_until_disconnect(receive, self._pump(send))

    async def _pump(self, send: Send) -> None:
        async with contextlib.aclosing(self._frames()) as frames:
            try:
                async for frame in frames:
                    await send({"type": "http.response.body", "body": frame, "more_body": True})
            except Exception as exc:
                error = self._error_frame(exc)
                await send({"type": "http.response.body", "body": error, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
