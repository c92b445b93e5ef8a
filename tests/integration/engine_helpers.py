"""Helpers for engine tests: a user, built workflows, direct views of job rows, and real
database triggers that make the store refuse (or count) chosen updates of job rows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy import select, text

from hourglass.domain.jobs import Job, JobStatus
from hourglass.runtime.kinds import kinds_for
from hourglass.runtime.worker import Worker
from hourglass.services.accounts import Principal
from hourglass.services.container import Services
from hourglass.store.jobs import to_job
from hourglass.store.schema import jobs, workflows


async def principal(services: Services) -> Principal:
    new = await services.accounts.register(f"u{uuid.uuid4().hex[:8]}@example.com", "password123")
    return Principal(new.user.id, "session")


async def create_workflow(
    services: Services,
    who: Principal,
    *,
    kind: str = "COMMAND",
    payload: dict[str, Any] | None = None,
    interval: int | None = 1,
    cron: str | None = None,
    **extra: Any,
) -> str:
    body: dict[str, Any] = {
        "name": "engine test",
        "kind": kind,
        "payload": json.dumps(payload or {"cmd": ["echo", "hello"]}),
        **extra,
    }
    if cron is not None:
        body["cron"] = cron
    else:
        body["interval"] = interval
    reply = await services.workflows.create(who, body, idempotency_key=uuid.uuid4().hex)
    workflow_id: str = reply.body["id"]
    return workflow_id


async def build_all(services: Services, *, error: str | None = None) -> int:
    """Run every queued build to its end (COMPLETED, or FAILED with `error`)."""
    built = 0
    while (task := await services.engine.claim_build()) is not None:
        await services.engine.finish_build(task, error)
        built += 1
    return built


async def built_workflow(services: Services, who: Principal, **kwargs: Any) -> str:
    workflow_id = await create_workflow(services, who, **kwargs)
    await build_all(services)
    return workflow_id


async def jobs_of(services: Services, workflow_id: str) -> list[Job]:
    async with services.db.read() as tx:
        rows = await tx.execute(
            select(jobs).where(jobs.c.workflow_id == workflow_id).order_by(jobs.c.id)
        )
        return [to_job(r) for r in rows]


async def workflow_row(services: Services, workflow_id: str) -> Any:
    async with services.db.read() as tx:
        return (await tx.execute(select(workflows).where(workflows.c.id == workflow_id))).one()


RENEWAL = (
    "OLD.status = 'RUNNING' AND NEW.status = 'RUNNING' AND NEW.lease_token IS NOT NULL"
    " AND NEW.lease_token = OLD.lease_token"
)
"""Trigger condition matching a lease renewal of a job row (nothing else keeps the token)."""


async def fail_job_updates(
    services: Services, when: str, *, times: int | None = None, columns: str | None = None
) -> None:
    """Make the real database refuse job updates matching `when` (a trigger condition on OLD and
    NEW), only those that set `columns` if given: PostgreSQL answers "connection failure"
    (SQLSTATE 08006, the first `times` times only); SQLite aborts the statement every time (it
    has no state that survives the abort)."""
    event = f"UPDATE OF {columns}" if columns else "UPDATE"
    if services.db.is_postgres:
        limit = "true" if times is None else f"nextval('hg_test_failures') <= {times}"
        statements = [
            "CREATE SEQUENCE hg_test_failures",
            "CREATE FUNCTION hg_test_fail() RETURNS trigger AS $$ BEGIN"
            f" IF {limit} THEN RAISE EXCEPTION 'simulated outage' USING ERRCODE = '08006';"
            " END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER hg_test_fail BEFORE {event} ON jobs FOR EACH ROW WHEN ({when})"
            " EXECUTE FUNCTION hg_test_fail()",
        ]
    else:
        statements = [
            f"CREATE TRIGGER hg_test_fail BEFORE {event} ON jobs WHEN {when}"
            " BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"
        ]
    async with services.db.write() as tx:
        for statement in statements:
            await tx.exec_driver_sql(statement)


async def count_renewals(services: Services) -> None:
    """From now on, record each lease renewal of any job in table `hg_test_renewals`."""
    insert = "INSERT INTO hg_test_renewals VALUES (NEW.id);"
    if services.db.is_postgres:
        statements = [
            "CREATE TABLE hg_test_renewals (job_id text)",
            f"CREATE FUNCTION hg_test_count() RETURNS trigger AS $$ BEGIN {insert}"
            " RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER hg_test_count AFTER UPDATE OF lease_expires_at ON jobs FOR EACH ROW"
            f" WHEN ({RENEWAL}) EXECUTE FUNCTION hg_test_count()",
        ]
    else:
        statements = [
            "CREATE TABLE hg_test_renewals (job_id text)",
            f"CREATE TRIGGER hg_test_count AFTER UPDATE OF lease_expires_at ON jobs WHEN {RENEWAL}"
            f" BEGIN {insert} END",
        ]
    async with services.db.write() as tx:
        for statement in statements:
            await tx.exec_driver_sql(statement)


async def renewals_of(services: Services, job_id: str) -> int:
    async with services.db.read() as tx:
        result = await tx.execute(
            text("SELECT count(*) FROM hg_test_renewals WHERE job_id = :id"), {"id": job_id}
        )
        return int(result.scalar_one())


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    """Re-check a condition on the store until it holds (bounded): for state no wake-up
    announces (a lease renewal, a build's end), never a fixed wait standing in for one."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def job(services: Services, job_id: str) -> Job:
    async with services.db.read() as tx:
        row = (await tx.execute(select(jobs).where(jobs.c.id == job_id))).one()
        return to_job(row)


async def wait_job(
    services: Services, job_id: str, wanted: set[JobStatus], timeout: float = 30.0
) -> Job:
    """Wait on the job's status wake-ups (re-reading the store at least every second, for a bus
    that lost one) until it reaches one of `wanted`; returns it."""
    async with services.bus.subscribe(job_id) as feed, asyncio.timeout(timeout):
        while (current := await job(services, job_id)).status not in wanted:
            await feed.wait(1.0)
    return current


def make_worker(services: Services, *, concurrency: int = 2) -> Worker:
    return Worker(
        services.engine,
        kinds_for(services.settings),
        services.logs.outputs,
        concurrency=concurrency,
        owner="test-worker",
    )


@contextlib.asynccontextmanager
async def serving(services: Services, *, concurrency: int = 2) -> AsyncIterator[asyncio.Task[None]]:
    """A real worker running until the block ends (then stopped and awaited: it must not have
    died meanwhile, or its error is raised here)."""
    stop = asyncio.Event()
    task = asyncio.create_task(make_worker(services, concurrency=concurrency).run(stop))
    try:
        yield task
    finally:
        stop.set()
        await task
