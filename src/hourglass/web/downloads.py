"""HTTP of the log download (`GET`/`HEAD …/logs/raw`): validators, ranges, gzip, streaming.

The seed's contract: `Content-Type: text/plain; charset=utf-8`, `Content-Disposition: attachment;
filename="{job_id}-logs.txt"`, the body written and flushed batch by batch, and a failure after
the first byte appended to the body as `\\n--- ERROR: failed to fetch logs ---\\n<error text>\\n`.

Unfiltered `txt` of a finished job is a fixed byte sequence, so it also gets `Content-Length`,
a strong `ETag`, `Last-Modified`, `Accept-Ranges: bytes`; `If-None-Match`/`If-Modified-Since`
answer 304, `Range` (one range) 206 or 416, `If-Range` falls back to the whole body when the
validator changed. `Accept-Encoding: gzip` compresses the body incrementally, each batch sync-
flushed so the client can decode it on arrival; the gzip variant has its own ETag and no length.
A `Range` request is answered uncompressed (206) even when gzip is acceptable: a range is a range
of the identity bytes, and resuming a download matters more than compressing its tail.

The first batch is read before the headers are sent (it is small: the first byte still leaves
after one short read), so a failure to read it is a plain error answer: the seed's 500,
problem+json, or a 400 when the request is at fault (a filter that ran past its scan budget). A
failure once the body has started cannot change the status any more: the body
gets the error tail. With a declared `Content-Length` the tail is written only if the body stays
short of the declared length with it (else it is left out), and the connection is then closed
short, so the client always knows the transfer is incomplete and the saved file ends with the
error text whenever there was room for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import zlib
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hourglass.errors import BadRequest
from hourglass.services.logs.formats import FETCH_ERROR, Download, describe
from hourglass.services.logs.reads import LogReads
from hourglass.web.errors import error_response, problem
from hourglass.web.streaming import run_until_disconnect

log = logging.getLogger("hourglass.web.downloads")

GZIP_LEVEL = 1  # ~8x on log text at ~185 MB/s of one core; higher levels gain little on logs
THREAD_COMPRESS_BYTES = 64 * 1024  # compress bigger pieces off the event loop (zlib drops the GIL)
CACHE_CONTROL = "private"

Body = Callable[[], AsyncGenerator[bytes, None]]
Tail = Callable[[BaseException], bytes]


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether `Accept-Encoding` allows gzip (`gzip`, `x-gzip` or `*`, with q > 0)."""
    if not accept_encoding:
        return False
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            return True
    return False


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive


class Unsatisfiable(Exception):
    """The Range header names no byte of the representation."""


def parse_range(header: str, length: int) -> ByteRange | None:
    """One byte range of `length` bytes; None when the header is ignored (malformed, multiple)."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    digits = first + last
    if not dash or not digits.isascii() or not digits.isdigit():
        return None
    if not first:  # suffix: the last N bytes
        count = int(last)
        if count == 0 or length == 0:
            raise Unsatisfiable
        return ByteRange(max(0, length - count), length - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= length:
        raise Unsatisfiable
    end = min(int(last), length - 1) if last else length - 1
    return ByteRange(start, end)


def _etags(value: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in value.split(",") if t.strip()]


def _if_range_holds(value: str | None, etag: str, last_modified: datetime | None) -> bool:
    """Whether a `Range` applies under `If-Range` (strong comparison; absent: always)."""
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag
    date = _parse_http_date(value)
    return date is not None and last_modified is not None and _seconds(last_modified) == date


def _not_modified(headers: Headers, etag: str, last_modified: datetime | None) -> bool:
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = _etags(if_none_match)
        return "*" in tags or etag in tags
    since = _parse_http_date(headers.get("if-modified-since"))
    return since is not None and last_modified is not None and _seconds(last_modified) <= since


class DownloadResponse(Response):
    """Headers now, then the body batch by batch (nothing for HEAD), until done or disconnect."""

    def __init__(
        self,
        status_code: int,
        headers: list[tuple[str, str]],
        body: Body | None,
        *,
        tail: Tail,
        length: int | None,
        gzip: bool,
        on_sent: Callable[[int], None] | None = None,
    ) -> None:
        self.status_code = status_code
        self.background = None
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        self._body = body
        self._tail = tail
        self._length = length
        self._gzip = gzip
        self._on_sent = on_sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        if self._body is None or scope.get("method") == "HEAD":
            await send({**start, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        body = self._body()
        try:
            first = await anext(body, None)  # the first batch, before any header
        except BadRequest as exc:
            await body.aclose()
            await error_response(exc)(scope, receive, send)
            return
        except Exception as exc:
            await body.aclose()
            log.warning("log download failed before its first byte: %s", exc)
            detail = f"{FETCH_ERROR}: {describe(exc)}"
            await problem(500, detail)(scope, receive, send)
            return
        await send({**start, "headers": self.raw_headers})
        await run_until_disconnect(receive, self._pump(first, body, send))

    async def _pump(
        self, first: bytes | None, body: AsyncGenerator[bytes, None], send: Send
    ) -> None:
        z = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if self._gzip else None
        remaining = self._length
        async with contextlib.aclosing(body):
            try:
                piece = first
                while piece is not None:
                    if piece:
                        remaining = await self._send(piece, z, remaining, send)
                    piece = await anext(body, None)
            except Exception as exc:
                await self._fail(exc, z, remaining, send)
                return
        end = z.flush() if z is not None else b""
        await send({"type": "http.response.body", "body": end, "more_body": False})

    async def _send(
        self, piece: bytes, z: zlib._Compress | None, remaining: int | None, send: Send
    ) -> int | None:
        """Write one piece of body (compressed if asked); what remains of a declared length."""
        if z is not None:
            piece = await _deflate(z, piece)
        if remaining is not None:
            remaining -= len(piece)
        if piece:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            if self._on_sent is not None:
                self._on_sent(len(piece))
        return remaining

    async def _fail(
        self, exc: Exception, z: zlib._Compress | None, remaining: int | None, send: Send
    ) -> None:
        tail = self._tail(exc)
        if remaining is None:
            if z is not None:
                tail = z.compress(tail) + z.flush()
            await send({"type": "http.response.body", "body": tail, "more_body": False})
            return
        log.warning("log download failed after its first byte: %s", exc)
        if len(tail) < remaining:  # with the tail the body is still short: the client can tell
            await send({"type": "http.response.body", "body": tail, "more_body": True})
        # returning now leaves the body short of Content-Length: the server closes the connection


async def _deflate(z: zlib._Compress, data: bytes) -> bytes:
    if len(data) >= THREAD_COMPRESS_BYTES:
        return await asyncio.to_thread(_deflate_now, z, data)
    return _deflate_now(z, data)


def _deflate_now(z: zlib._Compress, data: bytes) -> bytes:
    return z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)


@dataclass(frozen=True, slots=True)
class _Answer:
    """How to answer a request for the fixed (unfiltered `txt`) bytes: 200, 206, 304 or 416."""

    status: int
    etag: str  # of the variant sent (the gzip one has its own)
    gzip: bool = False
    range: ByteRange | None = None


def _requested_range(
    headers: Headers, etag: str, length: int, last_modified: datetime | None
) -> ByteRange | Unsatisfiable | None:
    """The one byte range asked for, if `If-Range` lets it apply (None: the whole body)."""
    value = headers.get("range")
    if value is None or not _if_range_holds(headers.get("if-range"), etag, last_modified):
        return None
    try:
        return parse_range(value, length)
    except Unsatisfiable as exc:
        return exc


def _answer(
    headers: Headers, etag: str, length: int, last_modified: datetime | None, gzip: bool
) -> _Answer:
    """The conditional-request and range logic, in RFC 9110's order: a range (which wins over
    gzip) is chosen first, since the variant decides the validator `If-None-Match` compares."""
    wanted = _requested_range(headers, etag, length, last_modified)
    gzip = gzip and wanted is None
    tag = etag[:-1] + '-gzip"' if gzip else etag
    if _not_modified(headers, tag, last_modified):
        return _Answer(304, tag)
    if isinstance(wanted, Unsatisfiable):
        return _Answer(416, tag)
    if wanted is not None:
        return _Answer(206, tag, range=wanted)
    return _Answer(200, tag, gzip=gzip)


def _fixed_headers(d: Download) -> list[tuple[str, str]]:
    """The headers of every download answer (the seed's two first)."""
    return [
        ("Content-Type", d.media_type),
        ("Content-Disposition", f'attachment; filename="{d.filename}"'),
        ("Cache-Control", CACHE_CONTROL),
        ("X-Content-Type-Options", "nosniff"),
        ("Vary", "Accept-Encoding"),
    ]


def _validators(etag: str, last_modified: datetime | None) -> list[tuple[str, str]]:
    validators = [("ETag", etag), ("Accept-Ranges", "bytes")]
    if last_modified is not None:
        validators.append(("Last-Modified", http_date(last_modified)))
    return validators


def _unsatisfiable(length: int) -> Response:
    return problem(
        416,
        f"the range is outside the log's {length} bytes",
        extra={"title": "Range Not Satisfiable"},
        headers={"Content-Range": f"bytes */{length}", "Accept-Ranges": "bytes"},
    )


def download_response(
    reads: LogReads,
    d: Download,
    headers: Headers,
    *,
    on_sent: Callable[[int], None] | None = None,
) -> Response:
    """The response to a checked download request (GET or HEAD: the headers are the same).

    `on_sent` is told the size of every piece of body written (the download-bytes metric).
    """
    fixed = _fixed_headers(d)
    gzip = accepts_gzip(headers.get("accept-encoding"))
    encoded = [("Content-Encoding", "gzip")]

    def streamed(
        status: int, more: list[tuple[str, str]], body: Body | None, length: int | None, gz: bool
    ) -> DownloadResponse:
        return DownloadResponse(
            status, fixed + more, body, tail=d.failure_tail, length=length, gzip=gz, on_sent=on_sent
        )

    if d.etag is None or d.length is None:  # filtered or rendered: no validators
        return streamed(200, encoded if gzip else [], lambda: reads.body(d), None, gzip)
    length = d.length
    answer = _answer(headers, d.etag, length, d.last_modified, gzip)
    validators = _validators(answer.etag, d.last_modified)
    if answer.status == 304:
        return streamed(304, validators, None, None, False)
    if answer.status == 416:
        return _unsatisfiable(length)
    if (wanted := answer.range) is not None:
        size = wanted.end - wanted.start + 1
        ranged = [
            ("Content-Range", f"bytes {wanted.start}-{wanted.end}/{length}"),
            ("Content-Length", str(size)),
        ]
        body = functools.partial(reads.body, d, start=wanted.start, end=wanted.end)
        return streamed(206, validators + ranged, body, size, False)
    if answer.gzip:
        return streamed(200, validators + encoded, lambda: reads.body(d), None, True)
    sized = [("Content-Length", str(length))]
    return streamed(200, validators + sized, lambda: reads.body(d), length, False)
