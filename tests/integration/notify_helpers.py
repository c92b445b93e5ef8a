"""Helpers for the notification, analytics and webhook tests: workflows made over HTTP, jobs run
to a chosen end through the real engine, and the caller's notifications as the API lists them."""

from __future__ import annotations

import json
import uuid
from typing import Any

from hourglass.domain.jobs import RunResult
from hourglass.services.container import Services
from tests.integration.engine_helpers import build_all
from tests.integration.workflow_helpers import create
from tests.support import UserClient


async def built(services: Services, user: UserClient, name: str = "nightly", **fields: Any) -> str:
    """A COMMAND workflow of `user`, created over HTTP and built."""
    fields.setdefault("payload", {"cmd": ["true"]})
    workflow_id = await create(user, "COMMAND", name=name, **fields)
    await build_all(services)
    return workflow_id


async def schedule(services: Services, user: UserClient, workflow_id: str) -> str:
    reply = await services.jobs.schedule(
        user.user_id, workflow_id, idempotency_key=uuid.uuid4().hex
    )
    job_id: str = reply.body["id"]
    return job_id


async def run_job(
    services: Services, user: UserClient, workflow_id: str, result: RunResult | None = None
) -> str:
    """Schedule a MANUAL job and end it with `result` (success by default) through the engine."""
    job_id = await schedule(services, user, workflow_id)
    claim = await services.engine.claim_job("test-worker")
    assert claim is not None
    assert claim.job.id == job_id
    await services.engine.finish(claim, result or RunResult.success())
    return job_id


async def set_preference(user: UserClient, preference: str) -> None:
    response = await user.put("/users", json={"notification_preference": preference})
    assert response.status_code == 204, response.text


async def listed(user: UserClient, **params: Any) -> list[dict[str, Any]]:
    """Every notification the list shows (all pages), newest first, payloads decoded."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await user.get("/notifications", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        found += [{**n, "payload": json.loads(n["payload"])} for n in body["notifications"]]
        cursor = body["cursor"]
        if cursor is None:
            return found


def titles(notifications: list[dict[str, Any]]) -> list[str]:
    return [n["payload"]["title"] for n in notifications]
