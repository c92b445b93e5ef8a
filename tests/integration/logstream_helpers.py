"""Helpers for the streamed log routes (`…/logs/raw`, `…/events`): a real server whose `LogReads`
the test configures (batch size, keep-alive, a store that fails on cue), SSE parsing, clients."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from hourglass.domain.logs.chunks import Chunk
from hourglass.errors import StoreUnavailable
from hourglass.services.container import Services
from hourglass.services.logs.reads import LogReads
from hourglass.store.logs import reads as log_reads
from tests.support import UserClient, running_server

FAILURE = "context deadline exceeded"


@asynccontextmanager
async def log_server(services: Services, **options: Any) -> AsyncIterator[tuple[str, LogReads]]:
    """A real uvicorn server over `services` whose log reader is `LogReads(**options)`."""
    reads = LogReads(services.db, services.bus, **options)
    async with running_server(dataclasses.replace(services, reads=reads)) as url:
        yield url, reads


def client_for(user: UserClient, base_url: str) -> httpx.AsyncClient:
    """A client of another server, logged in as `user` (same store, same session cookie)."""
    return httpx.AsyncClient(
        base_url=base_url,
        cookies={"session": user.client.cookies["session"]},
        headers={"X-CSRF-Token": user.csrf},
        timeout=30,
    )


class RecordingFetch:
    """`chunks_after`, recording the `limit` of each read."""

    def __init__(self) -> None:
        self.limits: list[int] = []

    async def __call__(self, tx: Any, job_id: str, after: int, limit: int) -> Any:
        self.limits.append(limit)
        return await log_reads.chunks_after(tx, job_id, after, limit)


class CountingFetch:
    """A store read (`chunks_after` by default), counted; from call `fail_at` on it raises
    `StoreUnavailable`, and call `hold_at` waits for `release` first (to prove the body streams
    before the log is read); `cancelled` is set if that held call is cancelled instead."""

    def __init__(
        self,
        read: Callable[..., Awaitable[list[Chunk]]] = log_reads.chunks_after,
        *,
        fail_at: int | None = None,
        hold_at: int | None = None,
    ) -> None:
        self.read = read
        self.calls = 0
        self.fail_at = fail_at
        self.hold_at = hold_at
        self.release = asyncio.Event()
        self.held = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def __call__(self, *args: Any) -> list[Chunk]:
        self.calls += 1
        if self.hold_at is not None and self.calls == self.hold_at:
            self.held.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise StoreUnavailable(FAILURE)
        return await self.read(*args)


def raw_url(workflow_id: str, job_id: str) -> str:
    return f"/workflows/{workflow_id}/jobs/{job_id}/logs/raw"


def events_url(workflow_id: str, job_id: str) -> str:
    return f"/workflows/{workflow_id}/jobs/{job_id}/events"


async def raw_body(response: httpx.Response) -> tuple[bytes, bool]:
    """The bytes received as sent (no decoding), and whether the body arrived complete."""
    received = bytearray()
    try:
        async for piece in response.aiter_raw():
            received += piece
    except httpx.RemoteProtocolError:
        return bytes(received), False
    return bytes(received), True


@dataclass
class Frame:
    """One SSE frame (or a lone comment)."""

    event: str | None = None
    id: str | None = None
    data: str | None = None
    retry: str | None = None
    comments: list[str] = field(default_factory=list)

    def json(self) -> Any:
        assert self.data is not None
        return json.loads(self.data)


class _Reader:
    """One response's text iterator and unparsed remainder (a stream can be iterated once)."""

    def __init__(self, response: httpx.Response) -> None:
        self.texts = response.aiter_text()
        self.buffer = ""

    async def frames(self) -> AsyncIterator[Frame]:
        while True:
            while "\n\n" in self.buffer:
                block, self.buffer = self.buffer.split("\n\n", 1)
                yield _parse(block)
            try:
                self.buffer += await anext(self.texts)
            except StopAsyncIteration:
                return


_readers: weakref.WeakKeyDictionary[httpx.Response, _Reader] = weakref.WeakKeyDictionary()


def _parse(block: str) -> Frame:
    frame = Frame()
    for line in block.split("\n"):
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "":
            frame.comments.append(value)
        elif name == "data":
            frame.data = value if frame.data is None else frame.data + "\n" + value
        elif name in ("event", "id", "retry"):
            setattr(frame, name, value)
    return frame


async def sse_frames(response: httpx.Response) -> AsyncIterator[Frame]:
    """The frames of an event stream as they arrive (blank line = end of frame); may be called
    again on the same response to go on where the last call stopped."""
    reader = _readers.get(response)
    if reader is None:
        reader = _readers[response] = _Reader(response)
    async for frame in reader.frames():
        yield frame


async def collect(
    response: httpx.Response,
    until: Callable[[Frame], bool] = lambda f: f.event == "end",
    timeout: float = 30,
) -> list[Frame]:
    """Frames up to and including the first one `until` accepts (or the end of the stream)."""
    out: list[Frame] = []
    frames = sse_frames(response)
    async with asyncio.timeout(timeout):
        async for frame in frames:
            out.append(frame)
            if until(frame):
                break
    await frames.aclose()  # type: ignore[attr-defined]
    return out


def log_seqs(frames: list[Frame]) -> list[int]:
    return [int(f.id) for f in frames if f.event == "log" and f.id is not None]


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 5) -> None:
    """Wait until `check()` holds (polling every 10 ms)."""
    async with asyncio.timeout(timeout):
        while True:
            result = check()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await asyncio.sleep(0.01)
