"""Webhook deliveries to a real local HTTP receiver: Standard Webhooks signatures, retries after
500s and timeouts, no redirects, the outbound policy at connect time, the Slack format, and a
webhook turned off after a run of failures."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from hourglass.domain.common import FrozenClock
from hourglass.domain.jobs import RunResult
from hourglass.domain.outbound import OutboundPolicy
from hourglass.domain.webhooks import Attempt
from hourglass.runtime.outbound import outbound_client
from hourglass.services.container import Services
from hourglass.settings import Settings
from hourglass.store.db import Database
from hourglass.store.schema import webhook_deliveries
from tests.conftest import build_services
from tests.integration.engine_helpers import principal
from tests.integration.notify_helpers import built, listed, run_job
from tests.integration.outbound_helpers import Names
from tests.integration.webhook_helpers import (
    deliveries,
    quick,
    receiving,
    register_webhook,
    sending,
    settled,
)
from tests.support import UserClient


@pytest.fixture
def fast(services: Services) -> Services:
    """The test's services with retries 50 ms apart and a 0.5 s request timeout."""
    settings = dataclasses.replace(services.settings, webhook_timeout_seconds=0.5)
    return quick(dataclasses.replace(services, settings=settings))


async def test_a_failed_job_is_delivered_signed(fast: Services, alice: UserClient) -> None:
    """The receiver gets `job.failed` with the job as the API shows it plus links, and the
    signature verifies with the `standardwebhooks` package."""
    async with receiving() as receiver:
        hook = await register_webhook(alice, f"{receiver.url}/hook")
        wid = await built(fast, alice, name="nightly backup")
        async with sending(fast):
            job_id = await run_job(fast, alice, wid, RunResult.workload_failure("exit 3", 3))
            [got] = await receiver.wait_for(1)
    event = got.verified(hook["secret"])
    assert got.path == "/hook"
    assert event["type"] == "job.failed"
    data = event["data"]
    api_job = (await alice.get(f"/workflows/{wid}/jobs/{job_id}")).json()
    assert {k: data[k] for k in api_job} == api_job
    assert data["workflow_name"] == "nightly backup"
    assert data["dashboard_url"].endswith(f"/ui/workflows/{wid}/jobs/{job_id}")
    assert data["log_url"].endswith(f"/workflows/{wid}/jobs/{job_id}/logs/raw")
    assert got.headers["webhook-id"]
    assert got.headers["content-type"] == "application/json"
    [delivery] = await settled(alice, hook["id"])
    assert delivery["id"] == got.headers["webhook-id"]
    assert (delivery["event"], delivery["status"], delivery["attempts"]) == (
        "job.failed",
        "delivered",
        1,
    )
    assert delivery["status_code"] == 200


async def test_only_subscribed_events_are_delivered(fast: Services, alice: UserClient) -> None:
    """A webhook for `job.failed` hears nothing of a completed job, a build or another user."""
    async with receiving() as receiver:
        hook = await register_webhook(alice, receiver.url)
        wid = await built(fast, alice)
        async with sending(fast):
            await run_job(fast, alice, wid)
            failed = await run_job(fast, alice, wid, RunResult.workload_failure("boom", 1))
            [got] = await receiver.wait_for(1)
            await settled(alice, hook["id"])
    assert got.json()["data"]["id"] == failed
    assert len(receiver.received) == 1


async def test_workflow_events_carry_the_workflow(fast: Services, alice: UserClient) -> None:
    """`workflow.terminated` carries the workflow as the API shows it (secrets masked)."""
    async with receiving() as receiver:
        hook = await register_webhook(alice, receiver.url, events=["workflow.terminated"])
        wid = await built(fast, alice, payload={"cmd": ["true"], "secrets": {"TOKEN": "s3cr3t"}})
        async with sending(fast):
            assert (await alice.patch(f"/workflows/{wid}")).status_code == 204
            [got] = await receiver.wait_for(1)
    event = got.verified(hook["secret"])
    assert event["type"] == "workflow.terminated"
    api_workflow = (await alice.get(f"/workflows/{wid}")).json()
    assert {k: event["data"][k] for k in api_workflow} == api_workflow
    assert "s3cr3t" not in got.body.decode()


async def test_500s_are_retried_with_the_same_id(fast: Services, alice: UserClient) -> None:
    """Two 500s, then a 200: three attempts, one webhook-id, each signature valid."""
    async with receiving([500, 500]) as receiver:
        hook = await register_webhook(alice, receiver.url)
        wid = await built(fast, alice)
        async with sending(fast):
            await run_job(fast, alice, wid, RunResult.workload_failure("boom", 1))
            tries = await receiver.wait_for(3)
            [delivery] = await settled(alice, hook["id"])
    assert len({t.headers["webhook-id"] for t in tries}) == 1
    for attempt in tries:
        attempt.verified(hook["secret"])
    assert [t.body for t in tries] == [tries[0].body] * 3
    assert (delivery["status"], delivery["attempts"], delivery["status_code"]) == (
        "delivered",
        3,
        200,
    )
    assert (await alice.get(f"/webhooks/{hook['id']}")).json()["failure_count"] == 0


async def test_a_timeout_is_a_failed_attempt_then_retried(
    fast: Services, alice: UserClient
) -> None:
    """A receiver slower than the timeout fails the attempt ("timed out"); the retry lands."""
    async with receiving([("sleep", 3.0)]) as receiver:
        hook = await register_webhook(alice, receiver.url)
        wid = await built(fast, alice)
        async with sending(fast):
            await run_job(fast, alice, wid, RunResult.workload_failure("boom", 1))
            await receiver.wait_for(2)
            [delivery] = await settled(alice, hook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)
    metrics = fast.metrics.render().decode()
    assert 'hourglass_webhook_deliveries_total{result="failed"} 1.0' in metrics
    assert 'hourglass_webhook_deliveries_total{result="delivered"} 1.0' in metrics


async def test_redirects_are_not_followed(fast: Services, alice: UserClient) -> None:
    """A 302 is a failed attempt ("redirects are not followed"); its target gets nothing."""
    async with receiving() as target, receiving([("redirect", f"{target.url}/x")] * 9) as hook_at:
        hook = await register_webhook(alice, hook_at.url)
        wid = await built(fast, alice)
        async with sending(fast):
            await run_job(fast, alice, wid, RunResult.workload_failure("boom", 1))
            await hook_at.wait_for(2)
            [delivery] = await deliveries(alice, hook["id"])
    assert delivery["status_code"] == 302
    assert "redirects are not followed" in delivery["error"]
    assert target.received == []


async def test_the_policy_refuses_a_name_that_resolves_to_a_private_address(
    fast: Services, alice: UserClient
) -> None:
    """A saved name that resolves to loopback is refused at connect time under a strict policy:
    the attempt fails with the policy's message and nothing reaches the receiver."""
    async with receiving() as receiver:
        port = receiver.url.rsplit(":", 1)[1]
        hook = await register_webhook(alice, f"http://hooks.internal.test:{port}/")
        wid = await built(fast, alice)
        resolver = Names({"hooks.internal.test": ["127.0.0.1"]})
        strict = outbound_client(OutboundPolicy(), timeout=0.5, resolver=resolver)
        async with sending(fast, client=strict):
            await run_job(fast, alice, wid, RunResult.workload_failure("boom", 1))
            await _attempted(alice, hook["id"])
            [delivery] = await deliveries(alice, hook["id"])
    assert delivery["error"] == "refused by the outbound policy"
    assert delivery["status_code"] is None
    assert receiver.received == []


async def _attempted(user: UserClient, webhook_id: str) -> None:
    async with asyncio.timeout(10):
        while not any(d["attempted_at"] for d in await deliveries(user, webhook_id)):
            await asyncio.sleep(0.02)


async def test_slack_format_sends_text_with_a_link(fast: Services, alice: UserClient) -> None:
    """`format: slack` posts `{"text"}` naming the workflow, the reason and a link."""
    async with receiving() as receiver:
        await register_webhook(alice, receiver.url, format="slack")
        wid = await built(fast, alice, name="db <backup> & co")
        async with sending(fast):
            job_id = await run_job(fast, alice, wid, RunResult.workload_failure("exit 3", 3))
            [got] = await receiver.wait_for(1)
    body = json.loads(got.body)
    assert set(body) == {"text"}
    text = body["text"]
    assert "*db &lt;backup&gt; &amp; co*" in text
    assert "failed: exit 3" in text
    assert f"/ui/workflows/{wid}/jobs/{job_id}|open in Hourglass>" in text
    assert got.headers["webhook-signature"].startswith("v1,")


async def test_a_run_of_failures_disables_the_webhook_and_alerts(
    fast: Services, alice: UserClient
) -> None:
    """After `webhook_disable_after_failures` failed attempts the webhook is off, its pending
    deliveries failed, and its owner has a WEB_ALERT; enabling it again clears the record."""
    settings = dataclasses.replace(
        fast.settings, webhook_disable_after_failures=3, webhook_disable_after_seconds=0
    )
    strict = quick(dataclasses.replace(fast, settings=settings))
    async with receiving([500] * 50) as receiver:
        hook = await register_webhook(alice, receiver.url)
        wid = await built(strict, alice)
        async with sending(strict):
            await run_job(strict, alice, wid, RunResult.workload_failure("boom", 1))
            [delivery] = await settled(alice, hook["id"])
    off = (await alice.get(f"/webhooks/{hook['id']}")).json()
    assert (off["enabled"], off["failure_count"]) == (False, 3)
    assert off["disabled_at"] is not None
    assert (delivery["status"], delivery["attempts"]) == ("failed", 3)
    assert delivery["error"] == "webhook disabled after 3 failed attempts in a row"
    assert len(receiver.received) == 3
    alerts = [n for n in await listed(alice) if n["payload"]["entity_type"] == "WEBHOOK"]
    assert [(a["kind"], a["payload"]["title"]) for a in alerts] == [
        ("WEB_ALERT", "Webhook Disabled")
    ]
    assert alerts[0]["payload"]["action_url"] == f"/webhooks/{hook['id']}"
    assert "to 127.0.0.1 was disabled after 3 failed attempts" in alerts[0]["payload"]["message"]
    again = (await alice.patch(f"/webhooks/{hook['id']}", json={"enabled": True})).json()
    assert (again["enabled"], again["failure_count"], again["disabled_at"]) == (True, 0, None)


async def test_a_test_delivery_is_sent(fast: Services, alice: UserClient) -> None:
    """POST …/test → 202 with the queued delivery; the receiver gets a signed `webhook.test`."""
    async with receiving() as receiver:
        hook = await register_webhook(alice, receiver.url)
        async with sending(fast):
            response = await alice.post(f"/webhooks/{hook['id']}/test")
            assert response.status_code == 202
            queued = response.json()
            assert (queued["event"], queued["status"], queued["attempts"]) == (
                "webhook.test",
                "pending",
                0,
            )
            [got] = await receiver.wait_for(1)
    assert got.verified(hook["secret"])["type"] == "webhook.test"
    assert got.headers["webhook-id"] == queued["id"]


async def test_a_job_end_enqueues_one_delivery_per_webhook(
    fast: Services, alice: UserClient
) -> None:
    """The outbox gets one row per (webhook, event), written with the job's end; none for an
    event nobody subscribed to or a disabled webhook."""
    await register_webhook(alice, "https://a.example.com/", events=["job.failed", "job.completed"])
    await register_webhook(alice, "https://b.example.com/", events=["job.failed"])
    off = await register_webhook(alice, "https://c.example.com/")
    await alice.patch(f"/webhooks/{off['id']}", json={"enabled": False})
    wid = await built(fast, alice)
    await run_job(fast, alice, wid, RunResult.workload_failure("boom", 1))
    await run_job(fast, alice, wid)
    async with fast.db.read() as tx:
        count = (await tx.execute(select(func.count()).select_from(webhook_deliveries))).scalar()
    assert count == 3


async def test_housekeeping_deletes_old_finished_deliveries(
    settings: Settings, db: Database
) -> None:
    """Past the retention, finished deliveries are deleted; a pending one is kept."""
    clock = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
    services = build_services(settings, db, clock)
    who = await principal(services)
    hook, _ = await services.webhooks.create(
        who.user_id, {"url": "https://hooks.example.com/", "events": ["job.failed"]}
    )
    sent = await services.webhooks.test(who.user_id, hook.id)
    [claimed] = await services.webhooks.claim(10)
    attempt = Attempt(at=clock.now(), status_code=200, error=None, duration_ms=5, ok=True)
    assert await services.webhooks.record(claimed, attempt)
    clock.advance(days=settings.notification_retention_days + 1)
    waiting = await services.webhooks.test(who.user_id, hook.id)
    assert services.webhooks.sweep in services.housekeeping()
    assert await services.webhooks.sweep() == 1
    page = await services.webhooks.deliveries(who.user_id, hook.id, cursor=None, limit=None)
    assert [d.id for d in page.deliveries] == [waiting.id]
    assert sent.id != waiting.id
