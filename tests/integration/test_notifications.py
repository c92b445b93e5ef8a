"""Notifications: written once per cause in the transaction of the event (whatever retries),
listed by preference with keyset paging, marked read, isolated per user, kept for a while."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hourglass.domain.common import FrozenClock
from hourglass.domain.jobs import RunResult
from hourglass.errors import StoreUnavailable
from hourglass.services.container import Services
from hourglass.settings import Settings
from hourglass.store.db import Database
from hourglass.store.schema import notifications
from tests.conftest import build_services
from tests.integration.engine_helpers import (
    build_all,
    built_workflow,
    fail_job_updates,
    principal,
)
from tests.integration.notify_helpers import (
    built,
    listed,
    run_job,
    schedule,
    set_preference,
    titles,
)
from tests.integration.workflow_helpers import create
from tests.support import UserClient

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


async def causes(db: Database, user_id: str) -> Counter[str]:
    async with db.read() as tx:
        rows = await tx.execute(
            select(notifications.c.cause).where(notifications.c.user_id == user_id)
        )
        return Counter(r[0] for r in rows)


async def test_each_job_end_notifies_once_with_its_title_kind_and_link(
    services: Services, alice: UserClient
) -> None:
    """Completed, failed and canceled jobs each leave one notification that names the workflow."""
    await set_preference(alice, "ALL")
    wid = await built(services, alice, name="nightly backup")
    done = await run_job(services, alice, wid)
    failed = await run_job(
        services, alice, wid, RunResult.workload_failure("exited with code 3", 3)
    )
    waiting = await schedule(services, alice, wid)
    assert (await alice.post(f"/workflows/{wid}/jobs/{waiting}/cancel")).status_code == 202
    shown = await listed(alice)
    jobs = [n for n in shown if n["payload"]["entity_type"] == "JOB"]
    assert [(n["kind"], n["payload"]["title"], n["payload"]["entity_id"]) for n in jobs] == [
        ("WEB_INFO", "Job Canceled", waiting),
        ("WEB_ERROR", "Job Execution Failed", failed),
        ("WEB_SUCCESS", "Job Execution Completed", done),
    ]
    for n in jobs:
        assert "nightly backup" in n["payload"]["message"]
        assert n["payload"]["action_url"] == f"/workflows/{wid}/jobs/{n['payload']['entity_id']}"
    assert "exited with code 3" in jobs[1]["payload"]["message"]
    assert set(jobs[0]) == {"id", "seq", "kind", "payload", "read_at", "created_at", "updated_at"}
    assert all(count == 1 for count in (await causes(services.db, alice.user_id)).values())


async def test_builds_and_terminations_notify(services: Services, alice: UserClient) -> None:
    """Build started/completed, a threshold termination (alert) and an owner's (info) notify."""
    await set_preference(alice, "ALL")
    wid = await built(services, alice, name="flaky", max_consecutive_job_failures_allowed=1)
    await run_job(services, alice, wid, RunResult.workload_failure("boom", 1))
    other = await built(services, alice, name="manual")
    assert (await alice.patch(f"/workflows/{other}")).status_code == 204
    assert (await alice.patch(f"/workflows/{other}")).status_code == 204  # idempotent: no second
    by_entity = [
        (n["payload"]["entity_id"], n["kind"], n["payload"]["title"])
        for n in reversed(await listed(alice))
        if n["payload"]["entity_type"] == "WORKFLOW"
    ]
    assert by_entity == [
        (wid, "WEB_INFO", "Workflow Build Started"),
        (wid, "WEB_SUCCESS", "Workflow Build Completed"),
        (wid, "WEB_ALERT", "Workflow Terminated"),
        (other, "WEB_INFO", "Workflow Build Started"),
        (other, "WEB_SUCCESS", "Workflow Build Completed"),
        (other, "WEB_INFO", "Workflow Terminated"),
    ]


async def test_a_failed_build_alerts(services: Services, alice: UserClient) -> None:
    """A FAILED build is a WEB_ALERT that quotes the reason."""
    await create(alice, "COMMAND", name="broken", payload={"cmd": ["nope"]})
    await build_all(services, error="program not found: nope")
    [alert] = await listed(alice)  # ALERTS, the default preference
    assert (alert["kind"], alert["payload"]["title"]) == ("WEB_ALERT", "Workflow Build Failed")
    assert "program not found: nope" in alert["payload"]["message"]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def frozen(settings: Settings, db: Database, clock: FrozenClock) -> Services:
    return build_services(settings, db, clock)


async def test_a_job_retried_after_its_worker_died_notifies_once(
    frozen: Services, clock: FrozenClock
) -> None:
    """Worker A dies holding the job; B retries and finishes it; A's late finish and B's repeated
    finish change nothing: one notification, counted once."""
    who = await principal(frozen)
    wid = await built_workflow(frozen, who)
    reply = await frozen.jobs.schedule(who.user_id, wid, idempotency_key="run")
    first = await frozen.engine.claim_job("worker-a")
    assert first is not None
    clock.advance(seconds=frozen.settings.lease_seconds + 1)
    assert await frozen.engine.recover_expired() == 1  # a system failure: retried, not final
    clock.advance(seconds=120)
    second = await frozen.engine.claim_job("worker-b")
    assert second is not None
    assert second.job.attempts == 2
    assert (await frozen.engine.finish(second, RunResult.success())) is not None
    assert await frozen.engine.finish(second, RunResult.success()) is None
    assert await frozen.engine.finish(first, RunResult.success()) is None
    job_id = reply.body["id"]
    assert (await causes(frozen.db, who.user_id))[f"job:{job_id}:COMPLETED"] == 1
    assert [c for c in await causes(frozen.db, who.user_id) if c.startswith("job:")] == [
        f"job:{job_id}:COMPLETED"
    ]


async def test_a_finish_that_rolls_back_writes_no_notification(
    frozen: Services, clock: FrozenClock
) -> None:
    """A finish whose transaction fails leaves neither the status nor the notification; the
    retry writes both once."""
    who = await principal(frozen)
    wid = await built_workflow(frozen, who)
    await frozen.jobs.schedule(who.user_id, wid, idempotency_key="run")
    claim = await frozen.engine.claim_job("worker")
    assert claim is not None
    await fail_job_updates(frozen, "NEW.status = 'COMPLETED'", times=1, columns="status")
    with pytest.raises((StoreUnavailable, IntegrityError)):  # PostgreSQL's outage, SQLite's abort
        await frozen.engine.finish(claim, RunResult.success())
    assert not any(c.startswith("job:") for c in await causes(frozen.db, who.user_id))
    if frozen.db.is_postgres:  # SQLite's trigger refuses every time
        assert await frozen.engine.finish(claim, RunResult.success()) is not None
        jobs_notified = [c for c in await causes(frozen.db, who.user_id) if c.startswith("job:")]
        assert jobs_notified == [f"job:{claim.job.id}:COMPLETED"]


async def test_preference_filters_the_list(services: Services, alice: UserClient) -> None:
    """ALERTS (the default) lists WEB_ALERT and WEB_ERROR only; ALL lists all; NONE none."""
    assert (await alice.get("/users")).json()["notification_preference"] == "ALERTS"
    wid = await built(services, alice)
    await run_job(services, alice, wid)
    await run_job(services, alice, wid, RunResult.workload_failure("boom", 1))
    assert [n["kind"] for n in await listed(alice)] == ["WEB_ERROR"]
    await set_preference(alice, "ALL")
    assert Counter(n["kind"] for n in await listed(alice)) == {
        "WEB_ERROR": 1,
        "WEB_SUCCESS": 2,  # the job and the build
        "WEB_INFO": 1,
    }
    await set_preference(alice, "NONE")
    assert await listed(alice) == []


async def test_pages_go_newest_first_with_a_cursor(services: Services, alice: UserClient) -> None:
    """`limit` pages through every notification once, newest first; the last cursor is null."""
    await set_preference(alice, "ALL")
    wid = await built(services, alice)
    for _ in range(3):
        await run_job(services, alice, wid)
    everything = await listed(alice)
    assert len(everything) == 5
    seqs = [n["seq"] for n in everything]
    assert seqs == sorted(seqs, reverse=True)
    paged = await listed(alice, limit=2)
    assert [n["id"] for n in paged] == [n["id"] for n in everything]
    first = (await alice.get("/notifications", params={"limit": 2})).json()
    other_filter = await alice.get(
        "/notifications", params={"cursor": first["cursor"], "unread": "false"}
    )
    assert other_filter.status_code == 400
    assert other_filter.json()["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"unread": "maybe"}, "unread")],
)
async def test_bad_list_parameters_are_400(
    alice: UserClient, params: dict[str, str], field: str
) -> None:
    """A bad `limit` or `unread` is 400 naming it."""
    response = await alice.get("/notifications", params=params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


async def test_put_marks_read_and_history_keeps_them(services: Services, alice: UserClient) -> None:
    """PUT ids → 204; the unread list drops them, `unread=false` shows them with `read_at`."""
    await set_preference(alice, "ALL")
    wid = await built(services, alice)
    await run_job(services, alice, wid)
    before = await listed(alice)
    job_note = before[0]
    response = await alice.put("/notifications", json={"ids": [job_note["id"].lower()]})
    assert (response.status_code, response.content) == (204, b"")
    assert job_note["id"] not in [n["id"] for n in await listed(alice)]
    history = {n["id"]: n for n in await listed(alice, unread="false")}
    assert history[job_note["id"]]["read_at"] is not None
    again = await alice.put("/notifications", json={"ids": [job_note["id"]]})
    assert again.status_code == 204  # already read: still theirs
    assert (await listed(alice, unread="false"))[0]["read_at"] == history[job_note["id"]]["read_at"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "ids"),
        ({"ids": []}, "ids"),
        ({"ids": "01JGXYZ5V8T3K9Q2M4N6P7R8S0"}, "ids"),
        ({"ids": ["01JGXYZ5V8T3K9Q2M4N6P7R8S0", "nope"]}, "ids[1]"),
        ({"ids": [7]}, "ids[0]"),
    ],
)
async def test_put_refuses_missing_empty_and_malformed_ids(
    alice: UserClient, body: dict[str, object], field: str
) -> None:
    """Missing, empty, non-list or malformed ids are 400 naming the field."""
    response = await alice.put("/notifications", json=body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


async def test_users_see_and_mark_only_their_own(
    services: Services, alice: UserClient, bob: UserClient
) -> None:
    """Bob lists none of Alice's notifications; marking hers is 404 and leaves them unread."""
    wid = await built(services, alice)
    await run_job(services, alice, wid, RunResult.workload_failure("boom", 1))
    [hers] = await listed(alice)
    assert await listed(bob, unread="false") == []
    response = await bob.put("/notifications", json={"ids": [hers["id"]]})
    assert response.status_code == 404
    assert (await listed(alice))[0]["read_at"] is None
    mixed = await alice.put(
        "/notifications", json={"ids": [hers["id"], "01JGXYZ5V8T3K9Q2M4N6P7R8S0"]}
    )
    assert mixed.status_code == 204  # some of them are hers: those are marked


async def test_put_needs_csrf_and_auth(alice: UserClient, base_url: str) -> None:
    """PUT with the session cookie but no CSRF header is 403; without a session it is 401."""
    response = await alice.put("/notifications", json={"ids": []}, headers={"X-CSRF-Token": ""})
    assert response.status_code == 403
    async with httpx.AsyncClient(base_url=base_url) as anonymous:
        assert (await anonymous.get("/notifications")).status_code == 401
        assert (await anonymous.get("/notifications/events")).status_code == 401


async def test_housekeeping_deletes_notifications_past_retention(
    frozen: Services, clock: FrozenClock
) -> None:
    """The scheduler's housekeeping deletes notifications older than the retention setting."""
    who = await principal(frozen)
    await built_workflow(frozen, who)  # build started + completed: two notifications
    clock.advance(days=frozen.settings.notification_retention_days - 1)
    wid = await built_workflow(frozen, who)
    assert wid
    clock.advance(days=2)
    assert frozen.notifications.sweep in frozen.housekeeping()
    assert await frozen.notifications.sweep() == 2
    left = await causes(frozen.db, who.user_id)
    assert sorted(left) == sorted(c for c in left if wid in c)
    assert len(left) == 2


async def test_payload_is_a_json_string_of_the_five_fields(
    services: Services, alice: UserClient
) -> None:
    """`payload` is a JSON object as a string with title, message, entity_id/type, action_url."""
    wid = await built(services, alice)
    await run_job(services, alice, wid, RunResult.workload_failure("boom", 1))
    raw = (await alice.get("/notifications")).json()["notifications"][0]
    assert isinstance(raw["payload"], str)
    assert set(json.loads(raw["payload"])) == {
        "title",
        "message",
        "entity_id",
        "entity_type",
        "action_url",
    }
    assert raw["read_at"] is None
    assert raw["created_at"].endswith("Z")
    assert titles(await listed(alice)) == ["Job Execution Failed"]
