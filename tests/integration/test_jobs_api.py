"""The jobs routes over real HTTP: list, get, manual schedule, cancel — and their errors."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from hourglass.services.container import Services
from tests.integration.engine_helpers import build_all
from tests.support import UserClient

FIELDS = {
    "id",
    "workflow_id",
    "status",
    "trigger",
    "attempts",
    "exit_code",
    "failure_reason",
    "scheduled_at",
    "started_at",
    "completed_at",
    "created_at",
    "updated_at",
    "log_state",
    "log_lines",
    "log_bytes",
}
MISSING = "01JGXYZ5V8T3K9Q2M4N6P7R8S0"


async def new_workflow(user: UserClient, services: Services, *, build: bool = True) -> str:
    body = {
        "name": "jobs api",
        "kind": "COMMAND",
        "payload": json.dumps({"cmd": ["echo", "hi"]}),
        "interval": 60,
    }
    response = await user.post(
        "/workflows", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert response.status_code == 201, response.text
    if build:
        await build_all(services)
    workflow_id: str = response.json()["id"]
    return workflow_id


async def schedule(user: UserClient, workflow_id: str, key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key or uuid.uuid4().hex}
    return await user.post(f"/workflows/{workflow_id}/jobs/schedule", headers=headers)


async def test_schedule_creates_a_queued_manual_job(alice: UserClient, services: Services) -> None:
    """A manual run is 201 with its id; the job has every field, zero values included."""
    workflow_id = await new_workflow(alice, services)
    response = await schedule(alice, workflow_id)
    assert response.status_code == 201
    job = (await alice.get(f"/workflows/{workflow_id}/jobs/{response.json()['id']}")).json()
    assert set(job) == FIELDS
    assert (job["status"], job["trigger"], job["attempts"], job["log_lines"]) == (
        "QUEUED",
        "MANUAL",
        0,
        0,
    )


async def test_schedule_replays_the_same_key(alice: UserClient, services: Services) -> None:
    """The same Idempotency-Key returns the first job again, marked as a replay."""
    workflow_id = await new_workflow(alice, services)
    first = await schedule(alice, workflow_id, "same")
    again = await schedule(alice, workflow_id, "same")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    listed = (await alice.get(f"/workflows/{workflow_id}/jobs")).json()["jobs"]
    assert len(listed) == 1


async def test_schedule_needs_an_idempotency_key(alice: UserClient, services: Services) -> None:
    """Without Idempotency-Key the schedule call is 400 naming the header."""
    workflow_id = await new_workflow(alice, services)
    response = await alice.post(f"/workflows/{workflow_id}/jobs/schedule")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_schedule_of_an_unbuilt_workflow_is_412(
    alice: UserClient, services: Services
) -> None:
    """A workflow whose build is not COMPLETED cannot be run."""
    workflow_id = await new_workflow(alice, services, build=False)
    assert (await schedule(alice, workflow_id)).status_code == 412


async def test_schedule_of_a_terminated_workflow_is_412(
    alice: UserClient, services: Services
) -> None:
    """A terminated workflow cannot be run."""
    workflow_id = await new_workflow(alice, services)
    assert (await alice.patch(f"/workflows/{workflow_id}")).status_code == 204
    assert (await schedule(alice, workflow_id)).status_code == 412


async def test_another_users_jobs_are_404_everywhere(
    alice: UserClient, bob: UserClient, services: Services
) -> None:
    """Bob gets 404 for Alice's workflow and job on every jobs route."""
    workflow_id = await new_workflow(alice, services)
    job_id = (await schedule(alice, workflow_id)).json()["id"]
    base = f"/workflows/{workflow_id}/jobs"
    assert (await bob.get(base)).status_code == 404
    assert (await bob.get(f"{base}/{job_id}")).status_code == 404
    assert (await schedule(bob, workflow_id)).status_code == 404
    assert (await bob.post(f"{base}/{job_id}/cancel")).status_code == 404


@pytest.mark.parametrize("path", [f"/workflows/{MISSING}/jobs", "/workflows/nope/jobs/nope"])
async def test_unknown_or_malformed_ids_are_404(alice: UserClient, path: str) -> None:
    """Unknown and malformed ids are 404, never 400 or 500."""
    assert (await alice.get(path)).status_code == 404


async def test_list_is_newest_first_and_pages_with_cursors(
    alice: UserClient, services: Services
) -> None:
    """Cursor paging returns every job once, newest first; the last page has cursor null."""
    workflow_id = await new_workflow(alice, services)
    ids = [(await schedule(alice, workflow_id)).json()["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await alice.get(f"/workflows/{workflow_id}/jobs", params=params)).json()
        seen += [job["id"] for job in page["jobs"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


async def test_list_filters_by_status_and_trigger(alice: UserClient, services: Services) -> None:
    """`status` and `trigger` filter the list; a cursor made with other filters is 400."""
    workflow_id = await new_workflow(alice, services)
    first = (await schedule(alice, workflow_id)).json()["id"]
    for _ in range(2):
        await schedule(alice, workflow_id)
    base = f"/workflows/{workflow_id}/jobs"
    queued = (await alice.get(base, params={"status": "QUEUED"})).json()["jobs"]
    assert [job["id"] for job in queued] == [first]
    pending = (await alice.get(base, params={"status": "PENDING", "limit": 1})).json()
    assert len(pending["jobs"]) == 1
    assert (await alice.get(base, params={"trigger": "AUTOMATIC"})).json()["jobs"] == []
    reused = await alice.get(base, params={"status": "QUEUED", "cursor": pending["cursor"]})
    assert reused.status_code == 400
    assert reused.json()["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"status": "DONE"}, "status"), ({"trigger": "x"}, "trigger"), ({"limit": 0}, "limit")],
)
async def test_list_rejects_bad_parameters(
    alice: UserClient, services: Services, params: dict[str, Any], field: str
) -> None:
    """Bad filters and limits are 400 naming the parameter."""
    workflow_id = await new_workflow(alice, services)
    response = await alice.get(f"/workflows/{workflow_id}/jobs", params=params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


async def test_cancel_waiting_job_then_again_is_409(alice: UserClient, services: Services) -> None:
    """Cancel is 202 and the job is CANCELED; canceling a final job is 409."""
    workflow_id = await new_workflow(alice, services)
    job_id = (await schedule(alice, workflow_id)).json()["id"]
    path = f"/workflows/{workflow_id}/jobs/{job_id}/cancel"
    first = await alice.post(path)
    assert first.status_code == 202
    assert first.json()["status"] == "CANCELED"
    assert (await alice.post(path)).status_code == 409


async def test_cancel_needs_csrf_with_a_session(alice: UserClient, services: Services) -> None:
    """A cookie-authenticated cancel without the CSRF header is 403."""
    workflow_id = await new_workflow(alice, services)
    job_id = (await schedule(alice, workflow_id)).json()["id"]
    response = await alice.post(
        f"/workflows/{workflow_id}/jobs/{job_id}/cancel", headers={"X-CSRF-Token": ""}
    )
    assert response.status_code == 403
