"""Analytics equal what the jobs list says, counted once per job in the finishing transaction,
readable after the workflow is deleted; the daily series and percentiles follow the clock."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hourglass.domain.common import FrozenClock
from hourglass.domain.jobs import RunResult
from hourglass.services.container import Services
from hourglass.settings import Settings
from hourglass.store.db import Database
from tests.conftest import build_services
from tests.integration.notify_helpers import built, schedule
from tests.support import UserClient, register, running_server

T0 = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)


@dataclasses.dataclass
class World:
    services: Services
    clock: FrozenClock
    user: UserClient
    url: str


@pytest.fixture
async def world(settings: Settings, db: Database) -> AsyncIterator[World]:
    """A real server on a frozen clock (sessions outlast the days the tests move through)."""
    clock = FrozenClock(T0)
    long_sessions = dataclasses.replace(
        settings, session_idle_seconds=10**8, session_absolute_seconds=10**8
    )
    services = build_services(long_sessions, db, clock)
    async with running_server(services) as url:
        user = await register(url)
        try:
            yield World(services, clock, user, url)
        finally:
            await user.client.aclose()


async def run(w: World, workflow_id: str, seconds: float, result: RunResult, lines: int = 0) -> str:
    """A MANUAL job that runs `seconds` on the frozen clock, prints `lines`, ends with `result`."""
    job_id = await schedule(w.services, w.user, workflow_id)
    claim = await w.services.engine.claim_job("worker")
    assert claim is not None
    assert claim.job.id == job_id
    out = await w.services.logs.outputs.open(claim.job, claim.spec, claim.token)
    await out.write("stdout", b"".join(b"line %d\n" % i for i in range(lines)))
    w.clock.advance(seconds=seconds)
    await w.services.engine.finish(claim, result, await out.close("the end"))
    return job_id


async def retried(w: World, workflow_id: str) -> str:
    """A job whose first attempt is a system failure and whose second completes."""
    job_id = await schedule(w.services, w.user, workflow_id)
    first = await w.services.engine.claim_job("worker")
    assert first is not None
    w.clock.advance(seconds=1)
    await w.services.engine.finish(first, RunResult.system_failure("worker lost"))
    w.clock.advance(seconds=120)  # past the retry backoff
    second = await w.services.engine.claim_job("worker")
    assert second is not None
    assert second.job.attempts == 2
    w.clock.advance(seconds=4)
    await w.services.engine.finish(second, RunResult.success())
    return job_id


async def jobs_listed(user: UserClient, workflow_id: str) -> list[dict[str, Any]]:
    response = await user.get(f"/workflows/{workflow_id}/jobs", params={"limit": 1000})
    assert response.status_code == 200
    jobs: list[dict[str, Any]] = response.json()["jobs"]
    return jobs


def _ms(job: dict[str, Any]) -> int | None:
    if job["started_at"] is None or job["completed_at"] is None:
        return None
    start, end = (datetime.fromisoformat(job[k]) for k in ("started_at", "completed_at"))
    return int((end - start) / timedelta(milliseconds=1))


def nearest_rank(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


async def a_mixed_history(w: World) -> str:
    """Completed, failed, retried, canceled (waiting and running) jobs over two days, and one
    job still QUEUED."""
    wid = await built(w.services, w.user, name="mixed")
    await run(w, wid, 2.0, RunResult.success(), lines=3)
    await run(w, wid, 5.25, RunResult.success(), lines=10)
    await run(w, wid, 1.0, RunResult.workload_failure("exited with code 2", 2), lines=1)
    await retried(w, wid)
    waiting = await schedule(w.services, w.user, wid)
    assert (await w.user.post(f"/workflows/{wid}/jobs/{waiting}/cancel")).status_code == 202
    w.clock.advance(days=1)
    running = await schedule(w.services, w.user, wid)
    claim = await w.services.engine.claim_job("worker")
    assert claim is not None
    assert claim.job.id == running
    assert (await w.user.post(f"/workflows/{wid}/jobs/{running}/cancel")).status_code == 202
    w.clock.advance(seconds=3)
    await w.services.engine.finish(claim, RunResult.canceled("canceled by request"))
    await run(w, wid, 7.5, RunResult.success(), lines=2)
    await schedule(w.services, w.user, wid)  # stays QUEUED
    return wid


async def test_workflow_analytics_equal_the_jobs_list(world: World) -> None:
    """Totals, jobs by status, success rate and percentiles agree with the jobs list."""
    wid = await a_mixed_history(world)
    jobs = await jobs_listed(world.user, wid)
    finished = [j for j in jobs if j["status"] in ("COMPLETED", "FAILED", "CANCELED")]
    response = await world.user.get(f"/analytics/{wid}", params={"days": 7})
    assert response.status_code == 200
    body = response.json()
    durations = [ms for j in finished if (ms := _ms(j)) is not None]
    assert body["workflow_id"] == wid
    assert body["total_jobs"] == len(finished) == 7
    assert body["total_joblogs"] == sum(j["log_lines"] for j in finished)
    assert body["total_job_execution_duration_ms"] == sum(durations)
    assert body["total_job_execution_duration"] == round(sum(durations) / 1000, 3)
    assert body["jobs_by_status"] == {
        s: Counter(j["status"] for j in jobs)[s]
        for s in ("PENDING", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELED")
    }
    statuses = Counter(j["status"] for j in finished)
    completed, failed = statuses["COMPLETED"], statuses["FAILED"]
    assert body["success_rate"] == round(completed / (completed + failed), 4)
    for key, q in (("p50_ms", 0.5), ("p95_ms", 0.95)):
        exact = nearest_rank(durations, q)
        assert abs(body[key] - exact) <= exact * 0.045, (key, body[key], exact)


async def test_the_daily_series_has_every_day_of_the_window(world: World) -> None:
    """`days=3` gives three dates, oldest first, zeros on a day without jobs."""
    await a_mixed_history(world)
    wid = (await world.user.get("/workflows")).json()["workflows"][0]["id"]
    body = (await world.user.get(f"/analytics/{wid}", params={"days": 3})).json()
    day0, day1 = T0.date(), T0.date() + timedelta(days=1)
    assert [d["date"] for d in body["daily"]] == [
        (day1 - timedelta(days=2)).isoformat(),
        day0.isoformat(),
        day1.isoformat(),
    ]
    empty, first, second = body["daily"]
    assert (empty["completed"], empty["failed"], empty["canceled"]) == (0, 0, 0)
    assert (empty["p50_ms"], empty["log_lines"]) == (None, 0)
    assert (first["completed"], first["failed"], first["canceled"]) == (3, 1, 1)
    assert (second["completed"], second["failed"], second["canceled"]) == (1, 0, 1)
    one_day = (await world.user.get(f"/analytics/{wid}", params={"days": 1})).json()
    assert one_day["jobs_by_status"]["COMPLETED"] == 1  # the window: today only
    assert one_day["total_jobs"] == 7  # the compatible totals: all time


async def test_figures_outlive_the_workflow(world: World) -> None:
    """After terminate + delete, the workflow's analytics and the user's totals still answer."""
    wid = await built(world.services, world.user, name="short-lived")
    await run(world, wid, 2.0, RunResult.success(), lines=4)
    before = (await world.user.get(f"/analytics/{wid}")).json()
    assert (await world.user.patch(f"/workflows/{wid}")).status_code == 204
    assert (await world.user.delete(f"/workflows/{wid}")).status_code == 204
    after = (await world.user.get(f"/analytics/{wid}")).json()
    assert after == before
    summary = (await world.user.get("/analytics")).json()
    assert summary == {
        "total_workflows": 0,
        "total_jobs": 1,
        "total_joblogs": before["total_joblogs"],
        "total_job_execution_duration": 2.0,
        "total_job_execution_duration_ms": 2000,
    }


async def test_user_totals_cover_every_workflow(world: World) -> None:
    """`GET /analytics` sums every workflow of the caller and counts those they have."""
    first = await built(world.services, world.user, name="one")
    second = await built(world.services, world.user, name="two")
    await run(world, first, 1.5, RunResult.success(), lines=2)
    await run(world, second, 2.5, RunResult.workload_failure("boom", 1), lines=5)
    summary = (await world.user.get("/analytics")).json()
    per = [(await world.user.get(f"/analytics/{w}")).json() for w in (first, second)]
    assert summary["total_workflows"] == 2
    assert summary["total_jobs"] == 2
    assert summary["total_joblogs"] == sum(p["total_joblogs"] for p in per)
    assert summary["total_job_execution_duration_ms"] == 4000


async def test_another_users_or_unknown_workflow_is_404(world: World) -> None:
    """Someone else's, unknown and malformed ids are 404, even with a bad `days`."""
    wid = await built(world.services, world.user)
    await run(world, wid, 1.0, RunResult.success())
    other = await register(world.url)
    try:
        for path in (f"/analytics/{wid}", "/analytics/01JGXYZ5V8T3K9Q2M4N6P7R8S0", "/analytics/x"):
            response = await other.get(path, params={"days": "0"})
            assert response.status_code == 404, path
        assert (await other.get("/analytics")).json()["total_jobs"] == 0
    finally:
        await other.client.aclose()
    bad = await world.user.get(f"/analytics/{wid}", params={"days": "0"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "days"
