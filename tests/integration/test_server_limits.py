"""The front door over real sockets: header caps (431), the request read deadline (408), the
per-process connection cap (503), long responses left alone, and clients that hang up mid-body.

Raw asyncio streams stand in for hostile clients (httpx would refuse to misbehave). None of it
touches the store, so SQLite only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from hourglass.services.container import Services
from hourglass.web.app import create_app
from tests.support import running_server

Serve = Callable[..., Awaitable[str]]
pytestmark = pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)

HEAD = b"GET /healthz HTTP/1.1\r\nHost: test\r\n"
# a login whose body says 100 bytes and stops after 12
HALF_BODY = (
    b"POST /auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    b'Content-Length: 100\r\n\r\n{"email": "a'
)


@contextlib.asynccontextmanager
async def raw(
    url: str, first: bytes = b""
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A raw connection to the server, with `first` already sent.

    `first` goes out on a blocking socket before the event loop (the server's too) runs again,
    so it is in the server's receive buffer before the server accepts the connection and arms
    its deadline: however long the loop then stalls on a busy machine, the server reads those
    bytes before the deadline fires (a deadline firing first would close a silent connection,
    and the late bytes would meet a reset).
    """
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port))
    sock.sendall(first)
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and everything the server sent until it closed the connection."""
    data = await asyncio.wait_for(reader.read(), timeout=30)
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data


async def healthz(url: str) -> int:
    async with httpx.AsyncClient(base_url=url) as client:
        return (await client.get("/healthz")).status_code


# the request head


async def test_a_100_mib_header_is_refused_with_431_after_the_limit(serve: Serve) -> None:
    """A huge header is cut off at the head limit: 431 problem+json, the rest is never read."""
    url = await serve(max_header_bytes=16 * 1024)
    async with raw(url) as (reader, writer):
        reply = asyncio.create_task(answer(reader))
        writer.write(HEAD + b"X-Big: ")
        sent, piece = 0, b"a" * 65536
        with contextlib.suppress(ConnectionError):
            while sent < 100 * 1024 * 1024 and not reply.done():
                writer.write(piece)
                await writer.drain()
                sent += len(piece)
        status, data = await reply
    assert status == 431
    assert b"application/problem+json" in data
    assert b'"title": "Request Header Fields Too Large"' in data
    assert b"fit in 16384 bytes" in data
    assert sent < 32 * 1024 * 1024  # socket buffers aside, the server stopped reading early


async def test_a_head_over_the_limit_sent_at_once_is_refused_with_431(serve: Serve) -> None:
    """A whole 100 KB head arriving in one read is measured too, not only a head still coming."""
    url = await serve()
    async with raw(url) as (reader, writer):
        writer.write(HEAD + b"X-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        status, data = await answer(reader)
    assert status == 431
    assert b"fit in 16384 bytes" in data


async def test_too_many_header_fields_are_refused_with_431(serve: Serve) -> None:
    """More header fields than `max_headers` is 431, however small each one is."""
    url = await serve(max_headers=20)
    async with raw(url) as (reader, writer):
        writer.write(HEAD + b"".join(b"X-%d: 1\r\n" % i for i in range(21)) + b"\r\n")
        status, data = await answer(reader)
    assert status == 431
    assert b"at most 20 headers" in data


async def test_a_head_within_the_limits_is_served(serve: Serve) -> None:
    """A 15 KiB cookie and 19 more headers fit the defaults (16 KiB, 100 fields)."""
    url = await serve()
    headers = {f"X-{i}": "1" for i in range(19)} | {"Cookie": "c=" + "x" * 15000}
    async with httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/healthz", headers=headers)).status_code == 200


# the read deadline


async def test_200_stalled_half_bodies_get_408_while_others_are_served(serve: Serve) -> None:
    """Sockets that send half a body and stall are answered 408 and closed at the deadline."""
    url = await serve(request_read_timeout_seconds=2)
    async with contextlib.AsyncExitStack() as stack:
        sockets = []
        for _ in range(200):
            # each deadline runs from its connection: its half body is there before it
            sockets.append(await stack.enter_async_context(raw(url, HALF_BODY)))
        assert await healthz(url) == 200
        answers = await asyncio.gather(*(answer(reader) for reader, _ in sockets))
    assert {status for status, _ in answers} == {408}
    assert b"not received within 2 seconds" in answers[0][1]


async def test_a_body_cut_by_the_deadline_is_counted_as_408(serve: Serve) -> None:
    """The app saw the request start, so /metrics counts it: as the 408 sent, not as a 499."""
    url = await serve(request_read_timeout_seconds=0.5)
    async with raw(url, HALF_BODY) as (reader, _):
        assert (await answer(reader))[0] == 408
    async with httpx.AsyncClient(base_url=url) as client:
        metrics = await until_in_metrics(client, 'route="/auth/login",status="408"')
    assert 'status="499"' not in metrics


async def until_in_metrics(client: httpx.AsyncClient, text: str) -> str:
    """/metrics once it shows `text` (the server counts a request when its handler ends)."""
    metrics = ""
    for _ in range(200):
        metrics = (await client.get("/metrics")).text
        if text in metrics:
            break
        await asyncio.sleep(0.01)
    return metrics


async def test_a_stalled_head_gets_408(serve: Serve) -> None:
    """Half a request head and then nothing: 408, and the connection closes."""
    url = await serve(request_read_timeout_seconds=0.5)
    async with raw(url, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ") as (reader, _):
        status, _ = await answer(reader)
    assert status == 408


async def test_a_silent_connection_is_closed_without_an_answer(serve: Serve) -> None:
    """A connection that never sends a byte is closed at the deadline (nothing to answer)."""
    url = await serve(request_read_timeout_seconds=0.5)
    async with raw(url) as (reader, _):
        assert await answer(reader) == (0, b"")


async def test_a_trickled_head_gets_408_even_though_bytes_keep_coming(serve: Serve) -> None:
    """The deadline is for the whole request, so one byte at a time does not keep it open."""
    url = await serve(request_read_timeout_seconds=0.5)
    async with raw(url) as (reader, writer):
        reply = asyncio.create_task(answer(reader))
        writer.write(HEAD + b"X-Slow: ")
        with contextlib.suppress(ConnectionError):
            while not reply.done():
                writer.write(b"a")
                await writer.drain()
                await asyncio.wait({reply}, timeout=0.05)
        status, _ = await reply
    assert status == 408


def with_a_slow_stream(services: Services, chunks: int, pause: float) -> FastAPI:
    """The real app plus one route that streams `chunks` pieces, `pause` seconds apart."""
    app = create_app(services)

    async def slow() -> StreamingResponse:
        async def pieces() -> AsyncIterator[bytes]:
            for i in range(chunks):
                yield b"%d\n" % i
                await asyncio.sleep(pause)

        return StreamingResponse(pieces(), media_type="text/plain")

    app.add_api_route("/slow", slow)
    return app


async def test_a_response_may_outlast_the_read_deadline(services: Services) -> None:
    """Once the request is read nothing times the response: a stream 4x the deadline ends whole."""
    # a deadline loose enough for a loaded machine to read the request within it
    fast = _with_read_timeout(services, 1.0)
    async with (
        running_server(fast, with_a_slow_stream(fast, chunks=10, pause=0.4)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        response = await client.get("/slow")
    assert response.text == "".join(f"{i}\n" for i in range(10))


def _with_read_timeout(services: Services, seconds: float) -> Services:
    settings = dataclasses.replace(services.settings, request_read_timeout_seconds=seconds)
    return dataclasses.replace(services, settings=settings)


async def test_a_keep_alive_connection_gets_a_fresh_deadline_per_request(serve: Serve) -> None:
    """Requests on one connection, together longer than the deadline, are all served."""
    url = await serve(request_read_timeout_seconds=0.5)
    async with raw(url) as (reader, writer):
        for _ in range(3):
            writer.write(HEAD + b"\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            await asyncio.sleep(0.3)  # idle between requests: the keep-alive timeout's business


async def test_pipelined_requests_are_all_answered(serve: Serve) -> None:
    """Four requests sent in one write get four answers (the deadline follows each request)."""
    url = await serve(request_read_timeout_seconds=0.5)
    async with raw(url) as (reader, writer):
        writer.write((HEAD + b"\r\n") * 3 + HEAD + b"Connection: close\r\n\r\n")
        _, data = await answer(reader)
    assert data.count(b"HTTP/1.1 200 OK") == 4


# the connection cap


async def test_connections_past_the_cap_are_503_and_closed(serve: Serve) -> None:
    """With `max_connections=3`, a fourth open connection is answered 503 at once."""
    url = await serve(max_connections=3)
    async with contextlib.AsyncExitStack() as stack:
        held = [await stack.enter_async_context(raw(url)) for _ in range(3)]
        for reader, writer in held:  # each is being served
            writer.write(HEAD + b"\r\n")
            assert (await reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200")
        async with raw(url) as (reader, _):
            status, data = await answer(reader)
    assert status == 503
    assert b"too many connections" in data


async def test_a_connection_is_served_again_once_one_closes(serve: Serve) -> None:
    """The cap counts open connections: closing one makes room for the next."""
    url = await serve(max_connections=1)
    async with raw(url) as (reader, writer):
        writer.write(HEAD + b"Connection: close\r\n\r\n")
        status, _ = await answer(reader)  # the server closed it after answering
    assert status == 200
    statuses = []
    for _ in range(100):  # the server notices the close on its next loop turn or so
        async with raw(url) as (reader, writer):
            writer.write(HEAD + b"Connection: close\r\n\r\n")
            statuses.append((await answer(reader))[0])
        if statuses[-1] == 200:
            break
    assert statuses[-1] == 200


# clients that hang up


async def test_a_client_gone_mid_body_is_499_at_info_without_a_traceback(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    """Hanging up mid-body is the client's doing: logged at info, counted as 499, never 500."""
    caplog.set_level(logging.INFO)
    url = await serve(access_log=True)
    async with raw(url) as (_, writer):
        writer.write(HALF_BODY)
        await writer.drain()
    async with httpx.AsyncClient(base_url=url) as client:
        metrics = await until_in_metrics(client, 'status="499"')
    assert 'route="/auth/login",status="499"' in metrics
    assert 'status="500"' not in metrics
    assert all(r.exc_info is None for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    access = [r.getMessage() for r in caplog.records if r.name == "hourglass.access"]
    assert any('"status": 499' in line and "/auth/login" in line for line in access)
