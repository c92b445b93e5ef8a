"""`GET /workflows/{wid}/jobs/{jid}/events` (Server-Sent Events) over real HTTP: headers and frame
order, resume points, replay then `end`, the backlog→live hand-off under concurrent writes, status
events, keep-alives, errors after the headers, disconnects, and live lines across processes."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from hourglass.domain.jobs import RunResult
from hourglass.domain.logs.chunks import ChunkBuilder
from hourglass.domain.logs.lines import LineBatch, Stream
from hourglass.live import RedisBus, Wakeup
from hourglass.services.container import Services
from hourglass.services.engine import CANCEL_SIGNAL
from hourglass.settings import Settings
from hourglass.store.db import Database
from hourglass.store.logs import writes as log_writes
from hourglass.store.schema import jobs, sessions
from tests.integration.log_helpers import (
    built_workflow,
    claim,
    finish,
    numbered,
    running_job,
    schedule,
    stored_lines,
    worker,
    written_log,
)
from tests.integration.logstream_helpers import (
    FAILURE,
    CountingFetch,
    Frame,
    client_for,
    collect,
    events_url,
    eventually,
    log_seqs,
    log_server,
    sse_frames,
)
from tests.support import UserClient, redis_url, require

GHOST = "01JGXYZ5V8T3K9Q2M4N6P7R8S0"


async def replay(user: UserClient, url: str, **kwargs: Any) -> tuple[httpx.Response, list[Frame]]:
    async with user.client.stream("GET", url, **kwargs) as response:
        if response.status_code != 200:
            await response.aread()
            return response, []
        return response, await collect(response)


# headers and frames


async def test_a_finished_job_replays_its_log_then_ends(
    alice: UserClient, services: Services
) -> None:
    """Headers, `retry`, `connected`, every line as id/log/data in order, then `end`, closed."""
    got = await written_log(alice, services, numbered(120), chunk_lines=25)
    async with alice.client.stream("GET", events_url(got.job.workflow_id, got.job.id)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert "content-encoding" not in response.headers
        frames = [frame async for frame in sse_frames(response)]  # until the server closes
    assert frames[0].retry == "3000"
    assert (frames[1].event, frames[1].json()) == (
        "connected",
        {"status": "connected", "job_status": "COMPLETED"},
    )
    assert log_seqs(frames) == list(range(1, 121))
    assert frames[-1].event == "end"
    assert frames[-1].json() == {
        "status": "stream_ended",
        "job_status": "COMPLETED",
        "total_lines": 120,
    }


async def test_a_log_frame_carries_the_line_object(alice: UserClient, services: Services) -> None:
    """`data:` of a log frame is the API's line JSON, equal to what the store holds."""
    messages = [("stdout", 'say "hi" \\ ✓'), ("stderr", "\x1b[1mbold\x1b[0m\ttab")]
    got = await written_log(alice, services, messages)
    _, frames = await replay(alice, events_url(got.job.workflow_id, got.job.id))
    stored = await stored_lines(services, got.job.id)
    logs = [f for f in frames if f.event == "log"]
    assert [f.json() for f in logs] == [line.record(got.job.id) for line in stored]


@pytest.mark.parametrize(
    ("headers", "params", "first"),
    [
        ({"Last-Event-ID": "40"}, {}, 41),
        ({}, {"after": "75"}, 76),
        ({"Last-Event-ID": "10"}, {"after": "75"}, 11),
        ({"Last-Event-ID": "100"}, {}, None),
        ({"Last-Event-ID": ""}, {}, 1),
    ],
)
async def test_the_stream_resumes_after_the_given_sequence_number(
    alice: UserClient,
    services: Services,
    headers: dict[str, str],
    params: dict[str, str],
    first: int | None,
) -> None:
    """`Last-Event-ID`, else `?after=`, is the last line already seen; mid-chunk resumes work."""
    got = await written_log(alice, services, numbered(100), chunk_lines=30)
    url = events_url(got.job.workflow_id, got.job.id)
    _, frames = await replay(alice, url, headers=headers, params=params)
    assert log_seqs(frames) == ([] if first is None else list(range(first, 101)))
    assert frames[-1].json()["total_lines"] == 100


@pytest.mark.parametrize(
    ("headers", "params", "field"),
    [({"Last-Event-ID": "abc"}, {}, "Last-Event-ID"), ({}, {"after": "-1"}, "after")],
)
async def test_an_invalid_resume_point_is_400(
    alice: UserClient,
    services: Services,
    headers: dict[str, str],
    params: dict[str, str],
    field: str,
) -> None:
    """A resume point that is not a sequence number is 400 naming it."""
    got = await written_log(alice, services, numbered(3))
    response = await alice.get(
        events_url(got.job.workflow_id, got.job.id), headers=headers, params=params
    )
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_preconditions_come_before_the_stream(
    alice: UserClient, bob: UserClient, services: Services, base_url: str
) -> None:
    """401 without or with an expired session, 404 for another user or bad ids, 412 if expired."""
    got = await written_log(alice, services, numbered(3))
    url = events_url(got.job.workflow_id, got.job.id)
    async with httpx.AsyncClient(base_url=base_url) as anonymous:
        assert (await anonymous.get(url)).status_code == 401
    assert (await bob.get(url, params={"after": "x"})).status_code == 404
    assert (await alice.get(events_url("nope", "nope"))).status_code == 404
    assert (await alice.get(events_url(GHOST, GHOST))).status_code == 404
    async with services.db.write() as tx:
        await tx.execute(update(jobs).where(jobs.c.id == got.job.id).values(log_state="expired"))
    assert (await alice.get(url)).status_code == 412
    async with services.db.write() as tx:
        await tx.execute(update(sessions).values(expires_at=datetime.now(UTC) - timedelta(hours=1)))
    assert (await alice.get(url)).status_code == 401


# live


async def test_backlog_to_live_hand_off_under_concurrent_writes(
    alice: UserClient, services: Services
) -> None:
    """Clients joining while a writer appends receive 1..N exactly once each, then `end`."""
    got = await running_job(alice, services)
    out = await services.logs.outputs.open(got.job, got.spec, got.token)
    url = events_url(got.job.workflow_id, got.job.id)
    total, joins = 2000, (0, 150, 400, 800, 1200, 1700)
    reached = {n: asyncio.Event() for n in joins}
    joined = [asyncio.Event() for _ in joins]

    async def write() -> None:
        for i in range(1, total + 1):
            await out.write("stderr" if i % 7 == 0 else "stdout", f"line {i}\n".encode())
            if i in reached:
                await out.flush()
                reached[i].set()
                await asyncio.wait_for(joined[joins.index(i)].wait(), 10)  # mid-write joins
            if i % 25 == 0:
                await out.flush()
                await asyncio.sleep(0)
        await finish(services, got, await out.close())

    async def follow(n: int, index: int) -> list[Frame]:
        if n:
            await reached[n].wait()
        async with alice.client.stream("GET", url) as response:
            frames = await collect(response, lambda f: f.event == "connected")
            joined[index].set()
            return frames + await collect(response)

    reached[0].set()
    writer = asyncio.create_task(write())
    results = await asyncio.gather(*(follow(n, i) for i, n in enumerate(joins)))
    await writer
    for frames in results:
        assert frames[1].json()["job_status"] == "RUNNING"  # joined while the job was writing
        assert log_seqs(frames) == list(range(1, total + 1))
        assert frames[-1].json()["total_lines"] == total


async def test_a_waiting_job_streams_once_it_runs(alice: UserClient, services: Services) -> None:
    """A QUEUED job's stream waits, announces RUNNING, streams the real command live, then ends."""
    script = "import time\nfor i in range(300):\n    print(i, flush=True)\n    time.sleep(0.001)"
    workflow_id = await built_workflow(alice, services, {"cmd": ["python3", "-c", script]})
    job_id = await schedule(alice, workflow_id)
    async with alice.client.stream("GET", events_url(workflow_id, job_id)) as response:
        frames = await collect(response, lambda f: f.event == "connected")
        assert frames[-1].json()["job_status"] in ("PENDING", "QUEUED")
        got = await claim(services, job_id)
        runner = asyncio.create_task(worker(services).run_claim(got))
        frames += await collect(response)
        await runner
    statuses = [f.json()["job_status"] for f in frames if f.event == "status"]
    assert statuses == ["RUNNING", "COMPLETED"]
    stored = await stored_lines(services, job_id)
    assert log_seqs(frames) == [line.sequence_num for line in stored]
    messages = [f.json()["message"] for f in frames if f.event == "log"]
    assert [m for m in messages if m.isdigit()] == [str(i) for i in range(300)]
    assert frames[-1].json() == {
        "status": "stream_ended",
        "job_status": "COMPLETED",
        "total_lines": len(stored),
    }


async def test_status_events_ignore_cancel_requests(alice: UserClient, services: Services) -> None:
    """A CANCEL_REQUESTED wake-up sends no status event; the final status is sent before `end`."""
    got = await running_job(alice, services)
    out = await services.logs.outputs.open(got.job, got.spec, got.token)
    async with alice.client.stream("GET", events_url(got.job.workflow_id, got.job.id)) as response:
        frames = await collect(response, lambda f: f.event == "connected")
        await services.bus.publish(Wakeup(got.job.id, status=CANCEL_SIGNAL))
        await out.write("stdout", b"after the cancel request\n")
        await out.flush()
        frames += await collect(response, lambda f: f.event == "log")
        await finish(services, got, await out.close())
        frames += await collect(response)
    assert [f.event for f in frames] == [None, "connected", "log", "status", "end"]
    assert frames[3].json() == {"job_status": "COMPLETED"}


async def test_keep_alives_while_idle_each_reread_the_store(
    alice: UserClient, services: Services
) -> None:
    """With nothing to send, `: keep-alive` comments come one after another; a line stored with
    no wake-up (as if it was lost) still arrives, read by the poll that goes with a keep-alive."""
    got = await running_job(alice, services)
    async with (
        log_server(services, keepalive_seconds=0.2) as (url, _),
        client_for(alice, url) as client,
        client.stream("GET", events_url(got.job.workflow_id, got.job.id)) as response,
    ):
        frames = await collect(response, lambda f: f.event == "connected")
        frames += await collect(response, lambda f: bool(f.comments))
        frames += await collect(response, lambda f: bool(f.comments))
        assert [f.comments for f in frames if f.comments] == [["keep-alive"], ["keep-alive"]]
        builder = ChunkBuilder()
        chunks = builder.add(LineBatch(Stream.STDOUT, b"unannounced\n", 1, 0))
        async with services.db.write() as tx:  # stored, but nobody is woken up
            assert await log_writes.insert_chunks(
                services.db, tx, got.job.id, chunks + [c for c in [builder.flush()] if c], None
            )
        later = await collect(response, lambda f: f.event == "log")
    assert later[-1].json()["message"] == "unannounced"
    assert [f.comments for f in later[:-1]] in ([], [["keep-alive"]])  # nothing else came


async def test_a_disconnect_stops_the_server_side_work(
    alice: UserClient, services: Services
) -> None:
    """When the client leaves, its bus subscription and shared tail go at once, and no task
    of the stream is left reading the store or waiting on the bus."""
    got = await running_job(alice, services)
    baseline = services.bus.subscriber_count()
    async with log_server(services, keepalive_seconds=0.1) as (url, reads):
        async with (
            client_for(alice, url) as client,
            client.stream("GET", events_url(got.job.workflow_id, got.job.id)) as response,
        ):
            await collect(response, lambda f: f.event == "connected")
            assert services.bus.subscriber_count() == baseline + 1
            assert len(reads.tails) == 1
        await eventually(lambda: services.bus.subscriber_count() == baseline)
        assert len(reads.tails) == 0
        streaming = [
            t for t in asyncio.all_tasks() if "events" in repr(t.get_coro()) or "_pump" in repr(t)
        ]
        assert streaming == []


async def test_a_store_failure_after_the_headers_is_an_error_event(
    alice: UserClient, services: Services
) -> None:
    """The store failing mid-backlog: the lines read so far, `event: error`, then the end."""
    got = await written_log(alice, services, numbered(60), chunk_lines=10)
    fetch = CountingFetch(fail_at=3)
    async with (
        log_server(services, batch_chunks=1, fetch=fetch) as (url, _),
        client_for(alice, url) as client,
        client.stream("GET", events_url(got.job.workflow_id, got.job.id)) as response,
    ):
        frames = [frame async for frame in sse_frames(response)]  # until the server closes
    assert log_seqs(frames) == list(range(1, 21))
    assert (frames[-1].event, frames[-1].json()) == ("error", {"error": FAILURE})


async def test_retention_off_still_streams_a_running_job(
    alice: UserClient, services: Services
) -> None:
    """With log_retention=false the stream still delivers the lines live while the job runs."""
    got = await running_job(alice, services, log_retention=False)
    out = await services.logs.outputs.open(got.job, got.spec, got.token)
    async with alice.client.stream("GET", events_url(got.job.workflow_id, got.job.id)) as response:
        assert response.status_code == 200
        await collect(response, lambda f: f.event == "connected")
        await out.write("stdout", b"one\ntwo\n")
        await out.flush()
        frames = await collect(response, lambda f: f.id == "2")
    assert [f.json()["message"] for f in frames if f.event == "log"] == ["one", "two"]
    await out.close()


async def test_a_finished_job_that_kept_no_logs_is_412(
    alice: UserClient, services: Services
) -> None:
    """Once a job of a workflow with log_retention=false has ended (its lines deleted, log_state
    `disabled`), its stream answers 412 like the retained-log routes, before any frame."""
    got = await written_log(alice, services, numbered(3), log_retention=False)
    job = (await alice.get(f"/workflows/{got.job.workflow_id}/jobs/{got.job.id}")).json()
    assert (job["status"], job["log_state"]) == ("COMPLETED", "disabled")
    response = await alice.get(events_url(got.job.workflow_id, got.job.id))
    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"


# across processes


async def test_lines_reach_a_client_of_another_process_live_through_redis(
    alice: UserClient, services: Services, settings: Settings, database_url: str
) -> None:
    """A writer with its own RedisBus and an SSE server with another (same store, different
    `Services`, as two processes would have): lines arrive live, before the job ends."""
    url = redis_url()
    require("Redis", url is not None, "HOURGLASS_TEST_REDIS_URL is not set")
    assert url is not None
    writer_db, reader_db = Database.connect(database_url), Database.connect(database_url)
    writer_bus, reader_bus = RedisBus(url), RedisBus(url)
    writer_side = Services.build(settings, writer_db, bus=writer_bus)
    reader_side = Services.build(dataclasses.replace(settings), reader_db, bus=reader_bus)
    try:
        got = await running_job(alice, services)
        out = await writer_side.logs.outputs.open(got.job, got.spec, got.token)
        async with (
            log_server(reader_side) as (server, _),
            client_for(alice, server) as client,
            client.stream("GET", events_url(got.job.workflow_id, got.job.id)) as response,
        ):
            frames = await collect(response, lambda f: f.event == "connected")
            for batch in range(3):
                await out.write("stdout", f"batch {batch}\n".encode())
                await out.flush()
                frames += await collect(response, lambda f: f.event == "log", timeout=5)
            assert reader_bus.subscriber_count() == 1
            await writer_side.engine.finish(got, RunResult.success(0), await out.close())
            frames += await collect(response, timeout=10)
        messages = [f.json()["message"] for f in frames if f.event == "log"]
        assert messages == ["batch 0", "batch 1", "batch 2"]
        assert [f.event for f in frames[-2:]] == ["status", "end"]
    finally:
        for bus in (writer_bus, reader_bus):
            await bus.close()
        for db in (writer_db, reader_db):
            await db.close()


async def test_redis_subscribe_returns_only_once_confirmed() -> None:
    """A wake-up published right after `subscribe` returns is never lost (no subscribe race)."""
    url = redis_url()
    require("Redis", url is not None, "HOURGLASS_TEST_REDIS_URL is not set")
    assert url is not None
    publisher, subscriber = RedisBus(url), RedisBus(url)
    try:
        for i in range(20):
            job_id = f"race-{i}-{datetime.now(UTC).timestamp()}"
            async with subscriber.subscribe(job_id) as sub:
                await publisher.publish(Wakeup(job_id, last_seq=i + 1))
                assert await sub.wait(2)
                assert sub.last_seq == i + 1
    finally:
        await publisher.close()
        await subscriber.close()
