"""The process's metrics: what a worker, the engine and the scheduler record shows on `/metrics`
of the same process (one registry per process)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import UTC, datetime

import httpx
from sqlalchemy import update

from hourglass.domain.common import FrozenClock
from hourglass.domain.jobs import JobStatus
from hourglass.services.container import Services
from hourglass.services.metrics import Metrics, watch_loop_lag
from hourglass.settings import Settings
from hourglass.store.db import Database
from hourglass.store.schema import jobs
from tests.integration.engine_helpers import (
    built_workflow,
    eventually,
    principal,
    serving,
    wait_job,
)


def value(text: str, sample: str) -> float:
    """The value of one sample line (`name{labels}`) of Prometheus text; 0 if absent."""
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def scrape(base_url: str) -> str:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text


async def test_a_job_run_by_a_worker_shows_on_metrics(services: Services, base_url: str) -> None:
    """A worker's job counts as finished (kind, status), with its duration, start delay and
    the output lines it ingested; nothing is left running."""
    who = await principal(services)
    wid = await built_workflow(services, who, payload={"cmd": ["printf", "a\\nb\\nc\\n"]})
    async with serving(services):
        reply = await services.jobs.schedule(who.user_id, wid, idempotency_key="k")
        await wait_job(services, reply.body["id"], {JobStatus.COMPLETED})
    text = await scrape(base_url)
    finished = 'hourglass_jobs_finished_total{kind="COMMAND",status="COMPLETED"}'
    assert value(text, finished) == 1
    assert value(text, 'hourglass_job_duration_seconds_count{kind="COMMAND"}') == 1
    assert value(text, "hourglass_job_start_delay_seconds_count") == 1
    assert value(text, 'hourglass_log_lines_ingested_total{stream="stdout"}') == 3
    assert value(text, 'hourglass_log_bytes_ingested_total{stream="stdout"}') == 6
    assert value(text, "hourglass_running_jobs") == 0
    assert value(text, 'hourglass_jobs{status="COMPLETED"}') == 1


async def test_cancels_in_the_api_count_as_finished(services: Services, base_url: str) -> None:
    """A waiting job canceled through the API process counts there, by kind and status."""
    who = await principal(services)
    wid = await built_workflow(services, who)
    reply = await services.jobs.schedule(who.user_id, wid, idempotency_key="k")
    await services.jobs.cancel(who.user_id, wid, reply.body["id"])
    text = await scrape(base_url)
    assert value(text, 'hourglass_jobs_finished_total{kind="COMMAND",status="CANCELED"}') == 1
    assert value(text, 'hourglass_job_duration_seconds_count{kind="COMMAND"}') == 0


async def test_recovering_a_dead_workers_job_is_counted(settings: Settings, db: Database) -> None:
    """Recovering an expired lease adds to `hourglass_lease_recoveries_total`."""
    clock = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
    services = Services.build(settings, db, clock=clock)
    who = await principal(services)
    wid = await built_workflow(services, who)
    await services.jobs.schedule(who.user_id, wid, idempotency_key="k")
    assert await services.engine.claim_job("dead") is not None
    clock.advance(seconds=settings.lease_seconds + 1)
    assert await services.engine.recover_expired() == 1
    text = services.metrics.render().decode()
    assert value(text, "hourglass_lease_recoveries_total") == 1


async def test_loop_lag_is_measured_until_stopped() -> None:
    """The lag watcher records one observation per period and ends when told to stop."""
    metrics = Metrics()
    stop = asyncio.Event()
    ticks = iter([0.0, 0.7, 0.7, 1.2])  # a 0.2 s late wake-up, then an on-time one

    def clock() -> float:
        try:
            return next(ticks)
        except StopIteration:
            stop.set()
            return 9.0

    await asyncio.wait_for(watch_loop_lag(metrics, stop, every=0.0, clock=clock), 5)
    text = metrics.render().decode()
    assert value(text, "hourglass_event_loop_lag_seconds_count") == 2
    assert 0.6 < value(text, "hourglass_event_loop_lag_seconds_sum") < 1.3


async def test_a_lease_taken_away_counts_as_an_expiry(settings: Settings, db: Database) -> None:
    """A worker whose lease the store no longer holds stops the run and counts the loss."""
    quick = dataclasses.replace(
        settings, lease_seconds=2.0, lease_renew_seconds=0.1, poll_interval_seconds=0.1
    )
    services = Services.build(quick, db)
    who = await principal(services)
    wid = await built_workflow(services, who, payload={"cmd": ["sleep", "300"]})
    async with serving(services, concurrency=1):
        job_id = (await services.jobs.schedule(who.user_id, wid, idempotency_key="k")).body["id"]
        await wait_job(services, job_id, {JobStatus.RUNNING})
        async with services.db.write() as tx:  # another worker's recovery took it over
            await tx.execute(update(jobs).where(jobs.c.id == job_id).values(lease_token="x" * 32))

        async def counted() -> bool:
            text = services.metrics.render().decode()
            return value(text, "hourglass_lease_expiries_total") == 1

        await eventually(counted)
        assert value(services.metrics.render().decode(), "hourglass_running_jobs") == 0
