"""Helpers for the workflow API tests: request bodies of each kind, creation, direct row access."""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from hourglass.domain.common import new_id
from hourglass.store.db import Database
from hourglass.store.schema import jobs, log_chunks, workflows
from tests.support import UserClient

HEARTBEAT_PAYLOAD: dict[str, Any] = {"endpoint": "https://example.com/health"}
CONTAINER_PAYLOAD: dict[str, Any] = {
    "image": "alpine:3.20",
    "cmd": ["echo", "hi"],
    "env": {"MODE": "test"},
    "secrets": {"TOKEN": "s3cr3t"},
    "cpus": 0.5,
    "memory": "512m",
}
COMMAND_PAYLOAD: dict[str, Any] = {
    "cmd": ["echo", "hello"],
    "env": {"A": "1"},
    "secrets": {"API_KEY": "hunter2"},
    "working_dir": "/tmp",
}
_SLOTS = itertools.count()  # distinct slots: (workflow_id, slot_at) is unique
PAYLOADS = {
    "HEARTBEAT": HEARTBEAT_PAYLOAD,
    "CONTAINER": CONTAINER_PAYLOAD,
    "COMMAND": COMMAND_PAYLOAD,
}


@dataclass(frozen=True)
class Raw:
    """A body value sent as is (not JSON-encoded into a string, as `payload` dicts are)."""

    value: Any


def body(kind: str = "HEARTBEAT", **overrides: Any) -> dict[str, Any]:
    """A valid create body of `kind` (interval 5 minutes); a `payload` dict is sent as a string."""
    result: dict[str, Any] = {
        "name": f"{str(kind).lower()} workflow",
        "kind": kind,
        "payload": PAYLOADS.get(kind, HEARTBEAT_PAYLOAD),
        "interval": 5,
    }
    result.update(overrides)
    if isinstance(result.get("payload"), dict):
        result["payload"] = json.dumps(result["payload"])
    return {k: v.value if isinstance(v, Raw) else v for k, v in result.items()}


def key() -> dict[str, str]:
    """A fresh Idempotency-Key header."""
    return {"Idempotency-Key": uuid.uuid4().hex}


async def create(user: UserClient, kind: str = "HEARTBEAT", **overrides: Any) -> str:
    """Create a workflow over HTTP and return its id."""
    response = await user.post("/workflows", json=body(kind, **overrides), headers=key())
    assert response.status_code == 201, response.text
    workflow_id: str = response.json()["id"]
    return workflow_id


async def put(user: UserClient, workflow_id: str, **fields: Any) -> int:
    """PUT a full body (defaults of `body()` plus `fields`); returns the status."""
    response = await user.put(f"/workflows/{workflow_id}", json=body(**fields), headers=key())
    assert response.status_code in (204, 400, 404, 409, 412), response.text
    return response.status_code


async def fetch(user: UserClient, workflow_id: str) -> dict[str, Any]:
    response = await user.get(f"/workflows/{workflow_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def fields_of(response: Any) -> list[str]:
    """The field names of a problem+json validation error."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [error["field"] for error in response.json().get("errors", [])]


async def count_workflows(db: Database) -> int:
    async with db.read() as tx:
        return int((await tx.execute(select(func.count()).select_from(workflows))).scalar_one())


async def set_workflow(db: Database, workflow_id: str, **values: Any) -> None:
    async with db.write() as tx:
        await tx.execute(workflows.update().where(workflows.c.id == workflow_id).values(**values))


async def workflow_row(db: Database, workflow_id: str) -> Any:
    async with db.read() as tx:
        return (await tx.execute(select(workflows).where(workflows.c.id == workflow_id))).one()


async def insert_job(
    db: Database,
    workflow_id: str,
    user_id: str,
    status: str,
    trigger: str = "AUTOMATIC",
    *,
    with_logs: bool = False,
) -> str:
    """A job row written straight into the store (the engine that makes them is not under test)."""
    job_id = new_id()
    now = datetime.now(UTC)
    async with db.write() as tx:
        await tx.execute(
            jobs.insert().values(
                id=job_id,
                workflow_id=workflow_id,
                user_id=user_id,
                status=status,
                trigger=trigger,
                slot_at=now + timedelta(minutes=next(_SLOTS)) if trigger == "AUTOMATIC" else None,
                generation=1,
                scheduled_at=now,
                available_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        if with_logs:
            await tx.execute(
                log_chunks.insert().values(
                    job_id=job_id, first_seq=1, last_seq=1, byte_offset=0, text=b"hi\n", meta=b""
                )
            )
    return job_id


async def job_row(db: Database, job_id: str) -> Any:
    async with db.read() as tx:
        return (await tx.execute(select(jobs).where(jobs.c.id == job_id))).first()


async def count_rows(db: Database, table: Any, **where: Any) -> int:
    stmt = select(func.count()).select_from(table)
    for name, value in where.items():
        stmt = stmt.where(table.c[name] == value)
    async with db.read() as tx:
        return int((await tx.execute(stmt)).scalar_one())
