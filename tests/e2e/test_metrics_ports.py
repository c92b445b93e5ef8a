"""Metrics of every process: `hourglass worker` and `hourglass scheduler` serve `/metrics` on
`--metrics-port`; under `hourglass up` the API's `/metrics` covers the worker's jobs too."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from hourglass.domain.jobs import JobStatus
from hourglass.services.container import Services
from hourglass.settings import Settings
from hourglass.store.db import Database
from tests.conftest import build_services
from tests.e2e.processes import base_env, free_port, started
from tests.integration.engine_helpers import (
    build_all,
    create_workflow,
    eventually,
    principal,
    wait_job,
    workflow_row,
)
from tests.support import UserClient

FINISHED = 'hourglass_jobs_finished_total{kind="COMMAND",status="COMPLETED"}'


def value(text: str, sample: str) -> float:
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def scrape_until(port: int, done: Callable[[str], bool], timeout: float = 10) -> str:
    """`/metrics` of the process on `port`, read again until `done` accepts it (bounded)."""
    async with httpx.AsyncClient() as client, asyncio.timeout(timeout):
        while not done(text := (await client.get(f"http://127.0.0.1:{port}/metrics")).text):
            await asyncio.sleep(0.05)
    return text


async def _build_is(services: Services, workflow_id: str, status: str) -> bool:
    return bool((await workflow_row(services, workflow_id)).build_status == status)


async def test_worker_and_scheduler_serve_metrics_on_their_port(
    tmp_path: Path, postgres_db: str, redis_server: str
) -> None:
    """The worker that ran a job reports it on its port; the scheduler's port answers too, and
    both measure their event loop's lag."""
    ports = {"worker": free_port(), "scheduler": free_port()}
    env = base_env(
        HOURGLASS_DATABASE_URL=postgres_db,
        HOURGLASS_REDIS_URL=redis_server,
        HOURGLASS_DATA_DIR=str(tmp_path),
        HOURGLASS_POLL_INTERVAL_SECONDS="0.2",
    )
    db = Database.connect(postgres_db)
    services = build_services(Settings(database_url=postgres_db, redis_url=None), db)
    try:
        with (
            started(
                ["worker", "--metrics-port", str(ports["worker"])],
                env,
                tmp_path / "worker.log",
                f"http://127.0.0.1:{ports['worker']}",
            ),
            started(
                ["scheduler", "--metrics-port", str(ports["scheduler"])],
                env,
                tmp_path / "scheduler.log",
                f"http://127.0.0.1:{ports['scheduler']}",
            ),
        ):
            who = await principal(services)
            wid = await create_workflow(services, who)
            # the worker process builds too: whichever claims the build first, wait for its end
            await build_all(services)
            await eventually(
                lambda: _build_is(services, wid, "COMPLETED"),
            )
            reply = await services.jobs.schedule(who.user_id, wid, idempotency_key="k")
            await wait_job(services, reply.body["id"], {JobStatus.COMPLETED})
            # the worker counts a job right after its finish commits: read until it has
            worker = await scrape_until(ports["worker"], lambda t: value(t, FINISHED) == 1)
            async with httpx.AsyncClient() as client:
                scheduler = await client.get(f"http://127.0.0.1:{ports['scheduler']}/metrics")
    finally:
        await db.close()
    assert value(worker, FINISHED) == 1
    assert scheduler.status_code == 200
    assert value(scheduler.text, FINISHED) == 0
    assert value(scheduler.text, 'hourglass_jobs{status="COMPLETED"}') == 1  # read from the store
    for text in (worker, scheduler.text):
        assert value(text, "hourglass_event_loop_lag_seconds_count") >= 1


async def test_up_reports_every_component_on_the_api_port(embedded: str, user: UserClient) -> None:
    """Under `hourglass up`, the API's /metrics counts the jobs its worker slots finished."""
    body = {"name": "m", "kind": "COMMAND", "payload": '{"cmd": ["true"]}', "interval": 60}
    created = await user.post("/workflows", json=body, headers={"Idempotency-Key": "w"})
    wid = created.json()["id"]
    while (await user.get(f"/workflows/{wid}")).json()["build_status"] != "COMPLETED":
        await asyncio.sleep(0.05)
    run = await user.post(
        f"/workflows/{wid}/jobs/schedule", headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    job_url = f"/workflows/{wid}/jobs/{run.json()['id']}"
    while (await user.get(job_url)).json()["status"] != "COMPLETED":
        await asyncio.sleep(0.05)
    port = int(embedded.rsplit(":", 1)[1])
    text = await scrape_until(port, lambda t: value(t, FINISHED) == 1)
    assert value(text, "hourglass_job_start_delay_seconds_count") == 1
    assert 'route="/workflows/{workflow_id}"' in text
