"""The worker with real kinds and the real log writer: running, stopping and draining."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest

from hourglass.domain.jobs import JobStatus
from hourglass.runtime.kinds import ContainerKind, kinds_for
from hourglass.runtime.kinds.container import HOST_LABEL, OWNER_LABEL, container_config
from hourglass.runtime.kinds.docker_api import DockerClient
from hourglass.runtime.worker import Worker
from hourglass.services.container import Services
from hourglass.settings import Settings
from hourglass.store.db import Database
from tests.integration.engine_helpers import built_workflow, eventually, job, jobs_of, principal
from tests.integration.test_kinds_container import IMAGE, container_with_marker, engine, engine_get

__all__ = ["engine"]  # the Docker Engine fixture, shared with the kind's own tests


@pytest.fixture
def services(settings: Settings, db: Database) -> Services:
    fast = dataclasses.replace(settings, shutdown_grace_seconds=0.5, kill_grace_seconds=0.5)
    return Services.build(fast, db)


def make_worker(services: Services) -> Worker:
    return Worker(
        services.engine,
        kinds_for(services.settings),
        services.logs.outputs,
        concurrency=2,
        owner="test-worker",
    )


async def wait_status(services: Services, workflow_id: str, wanted: set[JobStatus]) -> None:
    """Wait on the job's status wake-ups (not a sleep) until it reaches one of `wanted`."""
    [job] = await jobs_of(services, workflow_id)
    async with services.bus.subscribe(job.id) as feed:
        async with asyncio.timeout(30):
            while (await jobs_of(services, workflow_id))[0].status not in wanted:
                await feed.wait(1.0)


async def test_worker_runs_a_manual_job_to_completion(services: Services) -> None:
    """A running worker picks up a manual job at once and completes it with exit code 0."""
    who = await principal(services)
    wid = await built_workflow(services, who, payload={"cmd": ["echo", "hello"]})
    stop = asyncio.Event()
    task = asyncio.create_task(make_worker(services).run(stop))
    await services.jobs.schedule(who.user_id, wid, idempotency_key="a")
    await wait_status(services, wid, {JobStatus.COMPLETED, JobStatus.FAILED})
    stop.set()
    await task
    [job] = await jobs_of(services, wid)
    assert (job.status, job.exit_code, job.attempts) == (JobStatus.COMPLETED, 0, 1)


async def test_shutdown_lets_a_short_job_finish(services: Services) -> None:
    """On stop, a job that ends within the grace period finishes normally."""
    who = await principal(services)
    wid = await built_workflow(services, who, payload={"cmd": ["sh", "-c", "sleep 0.2"]})
    stop = asyncio.Event()
    task = asyncio.create_task(make_worker(services).run(stop))
    await services.jobs.schedule(who.user_id, wid, idempotency_key="a")
    await wait_status(services, wid, {JobStatus.RUNNING})
    stop.set()
    await task
    [job] = await jobs_of(services, wid)
    assert job.status == JobStatus.COMPLETED


async def test_shutdown_releases_a_long_job_for_another_worker(services: Services) -> None:
    """Past the grace period a running job is stopped and re-queued for another worker."""
    who = await principal(services)
    wid = await built_workflow(services, who, payload={"cmd": ["sleep", "300"]})
    stop = asyncio.Event()
    task = asyncio.create_task(make_worker(services).run(stop))
    await services.jobs.schedule(who.user_id, wid, idempotency_key="a")
    await wait_status(services, wid, {JobStatus.RUNNING})
    stop.set()
    async with asyncio.timeout(15):
        await task
    [job] = await jobs_of(services, wid)
    assert (job.status, job.attempts, job.lease_token) == (JobStatus.QUEUED, 1, None)
    assert job.failure_reason == "system failure: worker shut down (attempt 1 of 3)"


async def test_cancel_stops_a_running_command_at_once(services: Services) -> None:
    """Canceling a running `sleep 300` kills it well before any lease renewal."""
    who = await principal(services)
    wid = await built_workflow(services, who, payload={"cmd": ["sleep", "300"]})
    stop = asyncio.Event()
    task = asyncio.create_task(make_worker(services).run(stop))
    job_id = (await services.jobs.schedule(who.user_id, wid, idempotency_key="a")).body["id"]
    await wait_status(services, wid, {JobStatus.RUNNING})
    await services.jobs.cancel(who.user_id, wid, job_id)
    await wait_status(services, wid, {JobStatus.CANCELED})
    stop.set()
    await task
    [job] = await jobs_of(services, wid)
    assert job.status == JobStatus.CANCELED


async def test_an_idle_worker_recovers_a_dead_workers_job(settings: Settings, db: Database) -> None:
    """With no scheduler running, an idle worker retries a job whose worker died (attempt 2)."""
    quick = dataclasses.replace(settings, lease_seconds=0.4, lease_renew_seconds=0.1)
    services = Services.build(quick, db)
    who = await principal(services)
    wid = await built_workflow(services, who, payload={"cmd": ["echo", "again"]})
    await services.jobs.schedule(who.user_id, wid, idempotency_key="a")
    assert await services.engine.claim_job("dead-worker") is not None  # and never heard of again
    stop = asyncio.Event()
    task = asyncio.create_task(make_worker(services).run(stop))
    await wait_status(services, wid, {JobStatus.COMPLETED, JobStatus.FAILED})
    stop.set()
    await task
    [job] = await jobs_of(services, wid)
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2)


@pytest.mark.docker
async def test_cancel_stops_a_running_container_job(services: Services, engine: str) -> None:
    """Canceling a running CONTAINER job through the worker stops and removes its container."""
    services = Services.build(
        dataclasses.replace(services.settings, docker_host=engine), services.db
    )
    who = await principal(services)
    marker = uuid.uuid4().hex
    payload = {
        "image": IMAGE,
        "cmd": ["sh", "-c", "echo ready; sleep 1000"],
        "env": {"MARKER": marker},
    }
    wid = await built_workflow(services, who, kind="CONTAINER", payload=payload)
    stop = asyncio.Event()
    task = asyncio.create_task(make_worker(services).run(stop))
    job_id = (await services.jobs.schedule(who.user_id, wid, idempotency_key="a")).body["id"]

    async def ready() -> bool:  # the start line and "ready" are stored
        return (await job(services, job_id)).log_lines >= 2

    await eventually(ready)
    container = await container_with_marker(marker)
    await services.jobs.cancel(who.user_id, wid, job_id)
    await wait_status(services, wid, {JobStatus.CANCELED, JobStatus.COMPLETED, JobStatus.FAILED})
    stop.set()
    await task
    assert (await job(services, job_id)).status == JobStatus.CANCELED
    assert (await engine_get(f"/containers/{container}/json")).status_code == 404


@pytest.mark.docker
async def test_a_starting_worker_removes_containers_its_dead_predecessor_left(
    services: Services, engine: str
) -> None:
    """A container left running by a killed worker of this host is removed when a worker starts."""
    kind = ContainerKind(engine)
    labels = {HOST_LABEL: kind.host, OWNER_LABEL: "999999999:1"}  # no such process
    async with DockerClient(engine) as docker:
        orphan = await docker.create(
            container_config({"image": IMAGE, "cmd": ["sleep", "1000"]}, labels)
        )
        await docker.start(orphan)
        services = Services.build(
            dataclasses.replace(services.settings, docker_host=engine), services.db
        )
        stop = asyncio.Event()
        task = asyncio.create_task(make_worker(services).run(stop))
        try:

            async def removed() -> bool:
                return (await engine_get(f"/containers/{orphan}/json")).status_code == 404

            await eventually(removed)
        finally:
            stop.set()
            await task
            await docker.remove(orphan)
