"""Replacing (PUT), terminating (PATCH) and deleting (DELETE) a workflow, and what each does to
the workflow's jobs. Job rows are written straight into the store: the engine is not under test."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hourglass.store.db import Database
from hourglass.store.schema import jobs, log_chunks
from tests.integration.workflow_helpers import (
    PAYLOADS,
    count_rows,
    create,
    fetch,
    insert_job,
    job_row,
    put,
    set_workflow,
)
from tests.support import UserClient

EARLIER = datetime(2025, 6, 1, tzinfo=UTC)


async def test_put_replaces_the_definition(alice: UserClient) -> None:
    """PUT is a full replacement: name, schedule and threshold take the new values."""
    workflow_id = await create(alice)
    status = await put(
        alice,
        workflow_id,
        name="renamed",
        interval=None,
        cron="0 3 * * *",
        max_consecutive_job_failures_allowed=9,
    )
    assert status == 204
    got = await fetch(alice, workflow_id)
    assert (got["name"], got["interval"], got["cron"]) == ("renamed", None, "0 3 * * *")
    assert got["max_consecutive_job_failures_allowed"] == 9


async def test_put_reactivates_a_terminated_workflow(alice: UserClient) -> None:
    """A terminated workflow is active again after a PUT."""
    workflow_id = await create(alice)
    assert (await alice.patch(f"/workflows/{workflow_id}")).status_code == 204
    assert (await fetch(alice, workflow_id))["terminated_at"] is not None
    assert await put(alice, workflow_id) == 204
    assert (await fetch(alice, workflow_id))["terminated_at"] is None


async def test_put_resets_the_failure_count(alice: UserClient, db: Database) -> None:
    """The consecutive-failure count starts again from zero after a PUT."""
    workflow_id = await create(alice)
    await set_workflow(db, workflow_id, consecutive_job_failures_count=2)
    assert (await fetch(alice, workflow_id))["consecutive_job_failures_count"] == 2
    assert await put(alice, workflow_id) == 204
    assert (await fetch(alice, workflow_id))["consecutive_job_failures_count"] == 0


async def test_put_with_the_same_payload_keeps_the_build(alice: UserClient, db: Database) -> None:
    """Same payload (other name): same generation, the completed build stays completed."""
    workflow_id = await create(alice)
    await set_workflow(db, workflow_id, build_status="COMPLETED")
    assert await put(alice, workflow_id, name="other name") == 204
    got = await fetch(alice, workflow_id)
    assert (got["generation"], got["build_status"]) == (1, "COMPLETED")


async def test_put_with_a_new_payload_rebuilds(alice: UserClient, db: Database) -> None:
    """A changed payload bumps the generation and queues a new build."""
    workflow_id = await create(alice)
    await set_workflow(db, workflow_id, build_status="COMPLETED")
    assert await put(alice, workflow_id, payload={"endpoint": "https://example.org/"}) == 204
    got = await fetch(alice, workflow_id)
    assert (got["generation"], got["build_status"]) == (2, "QUEUED")
    assert json.loads(got["payload"])["endpoint"] == "https://example.org/"


async def test_put_can_change_the_kind(alice: UserClient) -> None:
    """Sending another kind with its payload converts the workflow and rebuilds it."""
    workflow_id = await create(alice)
    assert await put(alice, workflow_id, kind="CONTAINER", payload=PAYLOADS["CONTAINER"]) == 204
    got = await fetch(alice, workflow_id)
    assert (got["kind"], got["generation"]) == ("CONTAINER", 2)


async def test_put_with_a_new_schedule_cancels_pending_automatic_jobs(
    alice: UserClient, db: Database
) -> None:
    """A new schedule cancels waiting automatic jobs, keeps manual ones and clears next_run_at."""
    workflow_id = await create(alice)
    await set_workflow(db, workflow_id, next_run_at=EARLIER)
    pending = await insert_job(db, workflow_id, alice.user_id, "PENDING")
    queued = await insert_job(db, workflow_id, alice.user_id, "QUEUED")
    manual = await insert_job(db, workflow_id, alice.user_id, "PENDING", "MANUAL")
    done = await insert_job(db, workflow_id, alice.user_id, "COMPLETED")
    assert await put(alice, workflow_id, interval=60) == 204
    assert (await job_row(db, pending)).status == "CANCELED"
    assert (await job_row(db, queued)).status == "CANCELED"
    assert (await job_row(db, manual)).status == "PENDING"
    assert (await job_row(db, done)).status == "COMPLETED"
    assert (await fetch(alice, workflow_id))["next_run_at"] is None


async def test_put_with_the_same_schedule_keeps_pending_jobs(
    alice: UserClient, db: Database
) -> None:
    """Without a schedule change, pending automatic jobs and the next run are left alone."""
    workflow_id = await create(alice)
    await set_workflow(db, workflow_id, next_run_at=EARLIER)
    pending = await insert_job(db, workflow_id, alice.user_id, "PENDING")
    assert await put(alice, workflow_id, name="renamed") == 204
    assert (await job_row(db, pending)).status == "PENDING"
    assert (await fetch(alice, workflow_id))["next_run_at"] == "2025-06-01T00:00:00.000000Z"


async def test_put_keeps_retention_unless_given(alice: UserClient) -> None:
    """log_retention and log_retention_days left out of a PUT keep their values."""
    workflow_id = await create(alice, log_retention=False, log_retention_days=7)
    assert await put(alice, workflow_id) == 204
    got = await fetch(alice, workflow_id)
    assert (got["log_retention"], got["log_retention_days"]) == (False, 7)
    assert await put(alice, workflow_id, log_retention=True, log_retention_days=None) == 204
    got = await fetch(alice, workflow_id)
    assert (got["log_retention"], got["log_retention_days"]) == (True, None)


async def test_patch_terminates_and_is_idempotent(alice: UserClient) -> None:
    """PATCH sets terminated_at; a second PATCH is 204 and keeps the first time."""
    workflow_id = await create(alice)
    assert (await alice.patch(f"/workflows/{workflow_id}")).status_code == 204
    first = await fetch(alice, workflow_id)
    assert first["terminated_at"] is not None
    assert (await alice.patch(f"/workflows/{workflow_id}")).status_code == 204
    second = await fetch(alice, workflow_id)
    assert second["terminated_at"] == first["terminated_at"]
    assert second["updated_at"] == first["updated_at"]


async def test_patch_cancels_waiting_jobs_and_stops_running_ones(
    alice: UserClient, db: Database
) -> None:
    """Terminating cancels PENDING jobs of any trigger and asks RUNNING ones to stop."""
    workflow_id = await create(alice)
    await set_workflow(db, workflow_id, next_run_at=EARLIER)
    pending = await insert_job(db, workflow_id, alice.user_id, "PENDING")
    manual = await insert_job(db, workflow_id, alice.user_id, "PENDING", "MANUAL")
    running = await insert_job(db, workflow_id, alice.user_id, "RUNNING")
    assert (await alice.patch(f"/workflows/{workflow_id}")).status_code == 204
    assert (await job_row(db, pending)).status == "CANCELED"
    assert (await job_row(db, manual)).status == "CANCELED"
    row = await job_row(db, running)
    assert row.status == "RUNNING"
    assert row.cancel_requested_at is not None
    assert (await fetch(alice, workflow_id))["next_run_at"] is None


async def test_patch_cancels_a_queued_job(alice: UserClient, db: Database) -> None:
    """A QUEUED job of a terminated workflow never runs."""
    workflow_id = await create(alice)
    queued = await insert_job(db, workflow_id, alice.user_id, "QUEUED")
    assert (await alice.patch(f"/workflows/{workflow_id}")).status_code == 204
    assert (await job_row(db, queued)).status == "CANCELED"


async def test_delete_of_an_active_workflow_is_412(alice: UserClient) -> None:
    """A workflow must be terminated before it can be deleted."""
    workflow_id = await create(alice)
    response = await alice.delete(f"/workflows/{workflow_id}")
    assert response.status_code == 412
    assert "terminate" in response.json()["detail"]
    assert (await alice.get(f"/workflows/{workflow_id}")).status_code == 200


async def test_delete_with_a_running_job_is_412(alice: UserClient, db: Database) -> None:
    """A terminated workflow whose job still runs cannot be deleted yet."""
    workflow_id = await create(alice)
    assert (await alice.patch(f"/workflows/{workflow_id}")).status_code == 204
    await insert_job(db, workflow_id, alice.user_id, "RUNNING")
    response = await alice.delete(f"/workflows/{workflow_id}")
    assert response.status_code == 412
    assert "running" in response.json()["detail"]


async def test_delete_removes_the_workflow_its_jobs_and_their_logs(
    alice: UserClient, db: Database
) -> None:
    """DELETE of a terminated workflow is 204 and takes its jobs and log chunks with it."""
    workflow_id = await create(alice)
    kept_id = await create(alice)
    await insert_job(db, workflow_id, alice.user_id, "COMPLETED", with_logs=True)
    await insert_job(db, workflow_id, alice.user_id, "FAILED", with_logs=True)
    kept_job = await insert_job(db, kept_id, alice.user_id, "COMPLETED", with_logs=True)
    assert (await alice.patch(f"/workflows/{workflow_id}")).status_code == 204
    assert (await alice.delete(f"/workflows/{workflow_id}")).status_code == 204
    assert (await alice.get(f"/workflows/{workflow_id}")).status_code == 404
    assert await count_rows(db, jobs, workflow_id=workflow_id) == 0
    assert await count_rows(db, log_chunks) == 1
    assert await count_rows(db, log_chunks, job_id=kept_job) == 1


async def test_delete_twice_is_404(alice: UserClient) -> None:
    """Once deleted, the workflow is gone for every route."""
    workflow_id = await create(alice)
    await alice.patch(f"/workflows/{workflow_id}")
    assert (await alice.delete(f"/workflows/{workflow_id}")).status_code == 204
    assert (await alice.delete(f"/workflows/{workflow_id}")).status_code == 404
    assert (await alice.patch(f"/workflows/{workflow_id}")).status_code == 404
