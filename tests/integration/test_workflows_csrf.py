"""CSRF on the workflow and job routes: a cookie request that changes state without the
X-CSRF-Token header, or with one that does not match, is 403 and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from hourglass.store.db import Database
from hourglass.store.schema import jobs
from tests.integration.workflow_helpers import (
    body,
    count_rows,
    count_workflows,
    create,
    insert_job,
    job_row,
    key,
    set_workflow,
    workflow_row,
)
from tests.support import UserClient

# (method, path template, JSON body or None, needs an Idempotency-Key)
ROUTES: list[tuple[str, str, dict[str, Any] | None, bool]] = [
    ("POST", "/workflows", body(name="forged"), True),
    ("PUT", "/workflows/{wid}", body(name="forged"), True),
    ("PATCH", "/workflows/{wid}", None, False),
    ("DELETE", "/workflows/{wid}", None, False),
    ("POST", "/workflows/{wid}/jobs/schedule", None, True),
    ("POST", "/workflows/{wid}/jobs/{jid}/cancel", None, False),
]


async def _before(alice: UserClient, db: Database) -> tuple[str, str]:
    """A built, terminated workflow (so DELETE and schedule would otherwise work) and a job."""
    workflow_id = await create(alice, name="original")
    await set_workflow(db, workflow_id, build_status="COMPLETED")
    job_id = await insert_job(db, workflow_id, alice.user_id, "PENDING")
    return workflow_id, job_id


@pytest.mark.parametrize(("method", "path", "sent", "keyed"), ROUTES)
@pytest.mark.parametrize("header", [None, "not-the-csrf-token"])
async def test_workflow_routes_refuse_a_cookie_request_without_the_csrf_header(
    alice: UserClient,
    db: Database,
    method: str,
    path: str,
    sent: dict[str, Any] | None,
    keyed: bool,
    header: str | None,
) -> None:
    """Missing or mismatched X-CSRF-Token: 403 problem+json, and the workflow and job stay."""
    workflow_id, job_id = await _before(alice, db)
    if method == "DELETE":
        await alice.patch(f"/workflows/{workflow_id}")  # with CSRF: now deletable
    job_status = (await job_row(db, job_id)).status
    del alice.client.headers["X-CSRF-Token"]
    headers = {**(key() if keyed else {}), **({} if header is None else {"X-CSRF-Token": header})}
    url = path.format(wid=workflow_id, jid=job_id)
    response = await alice.request(method, url, json=sent, headers=headers)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    row = await workflow_row(db, workflow_id)
    assert (await count_workflows(db), row.name) == (1, "original")
    assert (row.terminated_at is None) is (method != "DELETE")
    assert await count_rows(db, jobs, workflow_id=workflow_id) == 1
    assert (await job_row(db, job_id)).status == job_status


async def test_the_same_requests_succeed_with_the_csrf_header(
    alice: UserClient, db: Database
) -> None:
    """The setup is sound: with the header, each of those routes does change state."""
    workflow_id, job_id = await _before(alice, db)
    assert (await alice.post(f"/workflows/{workflow_id}/jobs/{job_id}/cancel")).status_code == 202
    assert (
        await alice.post(f"/workflows/{workflow_id}/jobs/schedule", headers=key())
    ).status_code == 201
    assert (
        await alice.put(f"/workflows/{workflow_id}", json=body(name="renamed"), headers=key())
    ).status_code == 204
    assert (await alice.patch(f"/workflows/{workflow_id}")).status_code == 204
    assert (await alice.delete(f"/workflows/{workflow_id}")).status_code == 204
    assert (await alice.post("/workflows", json=body(), headers=key())).status_code == 201
