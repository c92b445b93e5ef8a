"""`GET /notifications/events`: new notifications live over SSE, resumable with Last-Event-ID."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from hourglass.domain.jobs import RunResult
from hourglass.live import RedisBus
from hourglass.services.container import Services
from hourglass.settings import Settings
from hourglass.store.db import Database
from tests.integration.logstream_helpers import Frame, client_for, collect
from tests.integration.notify_helpers import built, listed, run_job, set_preference
from tests.support import UserClient, redis_url, require, running_server


@asynccontextmanager
async def stream(user: UserClient, **headers: str) -> AsyncIterator[httpx.Response]:
    async with user.client.stream("GET", "/notifications/events", headers=headers) as response:
        yield response


def notes(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f.event == "notification"]


async def test_a_new_notification_arrives_live(services: Services, alice: UserClient) -> None:
    """After `connected`, a job's end arrives as `event: notification` with `id` = its seq."""
    await set_preference(alice, "ALL")
    wid = await built(services, alice)
    async with stream(alice) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        [retry, connected] = await collect(response, until=lambda f: f.event == "connected")
        assert retry.retry == "3000"
        assert connected.json()["status"] == "connected"
        job_id = await run_job(services, alice, wid)
        [frame] = notes(await collect(response, until=lambda f: f.event == "notification"))
    [listed_note] = [n for n in await listed(alice) if n["payload"]["entity_id"] == job_id]
    assert frame.json()["id"] == listed_note["id"]
    assert frame.id == str(listed_note["seq"])
    assert frame.json()["kind"] == "WEB_SUCCESS"


async def test_resume_after_last_event_id_skips_nothing_and_repeats_nothing(
    services: Services, alice: UserClient
) -> None:
    """Reconnecting with Last-Event-ID sends exactly the notifications written after it."""
    await set_preference(alice, "ALL")
    wid = await built(services, alice)
    async with stream(alice) as response:
        await collect(response, until=lambda f: f.event == "connected")
        await run_job(services, alice, wid)
        [seen] = notes(await collect(response, until=lambda f: f.event == "notification"))
    missed = [await run_job(services, alice, wid) for _ in range(3)]
    assert seen.id is not None
    async with stream(alice, **{"Last-Event-ID": seen.id}) as response:
        frames = await collect(
            response, until=lambda f: len(notes([f])) == 1 and _is(f, missed[-1])
        )
    got = notes(frames)
    assert [f.json()["id"] for f in got] == [
        n["id"] for n in reversed(await listed(alice)) if n["seq"] > int(seen.id)
    ]
    assert [int(f.id or 0) for f in got] == sorted(int(f.id or 0) for f in got)
    assert len(got) == 3


def _is(frame: Frame, job_id: str) -> bool:
    return job_id in frame.json()["payload"]


async def test_after_parameter_replays_from_a_seq(services: Services, alice: UserClient) -> None:
    """`?after=0` replays every notification the preference allows, oldest first."""
    wid = await built(services, alice)
    await run_job(services, alice, wid)  # a success: not an alert
    failed = await run_job(services, alice, wid, RunResult.workload_failure("boom", 1))
    async with alice.client.stream("GET", "/notifications/events?after=0") as response:
        frames = await collect(response, until=lambda f: f.event == "notification")
    [only] = notes(frames)
    assert failed in only.json()["payload"]


async def test_streams_are_per_user(services: Services, alice: UserClient, bob: UserClient) -> None:
    """Bob's stream carries Bob's notifications, never Alice's."""
    alices = await built(services, alice, name="alice's")
    bobs = await built(services, bob, name="bob's")
    async with stream(bob) as response:
        await collect(response, until=lambda f: f.event == "connected")
        await run_job(services, alice, alices, RunResult.workload_failure("hers", 1))
        mine = await run_job(services, bob, bobs, RunResult.workload_failure("his", 1))
        [frame] = notes(await collect(response, until=lambda f: f.event == "notification"))
    assert mine in frame.json()["payload"]


async def test_a_bad_resume_point_is_400(alice: UserClient) -> None:
    """A Last-Event-ID that is not a sequence number is 400 naming it."""
    response = await alice.get("/notifications/events", headers={"Last-Event-ID": "abc"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "Last-Event-ID"


async def test_a_notification_written_by_another_process_arrives_through_redis(
    alice: UserClient, services: Services, settings: Settings, database_url: str
) -> None:
    """A finish in one `Services` (its own RedisBus and pool, as a worker process has) wakes the
    stream served by another at once, not at its next keep-alive poll."""
    url = redis_url()
    require("Redis", url is not None, "HOURGLASS_TEST_REDIS_URL is not set")
    assert url is not None
    await set_preference(alice, "ALL")
    wid = await built(services, alice)
    worker_db, api_db = Database.connect(database_url), Database.connect(database_url)
    worker_bus, api_bus = RedisBus(url), RedisBus(url)
    worker_side = Services.build(settings, worker_db, bus=worker_bus)
    api_side = Services.build(settings, api_db, bus=api_bus)
    try:
        async with (
            running_server(api_side) as server,
            client_for(alice, server) as client,
            client.stream("GET", "/notifications/events") as response,
        ):
            await collect(response, lambda f: f.event == "connected")
            job_id = await run_job(worker_side, alice, wid)
            frames = await collect(response, lambda f: f.event == "notification", timeout=5)
        assert job_id in notes(frames)[0].json()["payload"]
    finally:
        for bus in (worker_bus, api_bus):
            await bus.close()
        for db in (worker_db, api_db):
            await db.close()
