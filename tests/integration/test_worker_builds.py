"""The worker's builder: a build that outlasts its lease keeps it (renewed while building), and a
build whose builder died is built again, so no build stays STARTED for ever. The slow image
pull comes from a stand-in for the Docker Engine on a local unix socket (the outside world)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hourglass.domain.common import FrozenClock
from hourglass.domain.jobs import BuildStatus
from hourglass.services.container import Services
from hourglass.settings import Settings
from hourglass.store.db import Database
from tests.integration.engine_helpers import (
    create_workflow,
    eventually,
    principal,
    serving,
    workflow_row,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class SlowPullEngine:
    """Answers the Docker Engine API calls a build makes: every image is missing, and a pull
    completes only once `release` is set."""

    def __init__(self) -> None:
        self.pulls = 0
        self.pulling = asyncio.Event()
        self.release = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        method, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
        length = next(
            (
                int(h.split(":", 1)[1])
                for h in head.split("\r\n")
                if h.lower().startswith("content-length:")
            ),
            0,
        )
        await reader.readexactly(length)
        status, body = 404, {"message": f"No such image: {target}"}
        if method == "POST" and target.startswith("/images/create"):
            self.pulls += 1
            self.pulling.set()
            await self.release.wait()
            status, body = 200, {"status": "Downloaded newer image"}
        data = json.dumps(body).encode()
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def slow_engine() -> AsyncIterator[tuple[SlowPullEngine, str]]:
    """The stand-in engine and its `unix://` address (a short path: sockets allow ~100 bytes)."""
    directory = Path(tempfile.mkdtemp(prefix="hg-docker-"))
    engine = SlowPullEngine()
    server = await asyncio.start_unix_server(engine.handle, path=str(directory / "docker.sock"))
    try:
        yield engine, f"unix://{directory / 'docker.sock'}"
    finally:
        engine.release.set()
        server.close()
        await server.wait_closed()
        shutil.rmtree(directory, ignore_errors=True)


async def test_a_build_longer_than_its_lease_keeps_it(
    settings: Settings, db: Database, slow_engine: tuple[SlowPullEngine, str]
) -> None:
    """An image pull outlasting the build lease keeps it renewed: one builder, one pull."""
    engine, docker_host = slow_engine
    clock = FrozenClock(T0)
    fast = dataclasses.replace(settings, docker_host=docker_host, lease_renew_seconds=0.05)
    services = Services.build(fast, db, clock=clock)
    who = await principal(services)
    wid = await create_workflow(services, who, kind="CONTAINER", payload={"image": "local/slow:1"})
    lease = timedelta(seconds=fast.lease_seconds)
    async with serving(services, concurrency=1):
        await engine.pulling.wait()
        clock.advance(seconds=fast.lease_seconds + 1)

        async def renewed() -> bool:
            return (await workflow_row(services, wid)).build_lease_expires_at == clock.now() + lease

        await eventually(renewed)
        assert await services.engine.claim_build() is None
        engine.release.set()

        async def completed() -> bool:
            return (await workflow_row(services, wid)).build_status == BuildStatus.COMPLETED

        await eventually(completed)
    assert engine.pulls == 1


async def test_a_build_whose_builder_died_is_built_again(settings: Settings, db: Database) -> None:
    """A STARTED build whose builder vanished is claimed again once its lease ran out."""
    clock = FrozenClock(T0)
    services = Services.build(
        dataclasses.replace(settings, poll_interval_seconds=0.1), db, clock=clock
    )
    who = await principal(services)
    wid = await create_workflow(services, who, payload={"cmd": ["echo", "hi"]})
    assert await services.engine.claim_build() is not None  # and its builder is never seen again
    assert (await workflow_row(services, wid)).build_status == BuildStatus.STARTED
    clock.advance(seconds=services.settings.lease_seconds + 1)
    async with serving(services):

        async def completed() -> bool:
            return (await workflow_row(services, wid)).build_status == BuildStatus.COMPLETED

        await eventually(completed)
