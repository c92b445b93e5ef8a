"""Helpers for engine tests: a user, built workflows and direct views of job rows."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select

from hourglass.domain.jobs import Job
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
