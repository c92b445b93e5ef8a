"""No webhook delivery is lost when the worker process sending it is killed (SIGKILL): its lease
runs out and another worker process delivers it (at least once: the receiver may see it twice,
with one `webhook-id`)."""

from __future__ import annotations

from pathlib import Path

from hourglass.domain.jobs import RunResult
from hourglass.services.container import Services
from tests.e2e.processes import Process, base_env
from tests.integration.engine_helpers import built_workflow, eventually, principal
from tests.integration.webhook_helpers import receiving


async def test_a_delivery_survives_the_sigkill_of_its_sender(
    services: Services, database_url: str, redis_server: str, tmp_path: Path
) -> None:
    """Worker A is killed while its POST is in flight; worker B delivers the same message."""
    env = base_env(
        HOURGLASS_DATABASE_URL=database_url,
        HOURGLASS_REDIS_URL=redis_server,
        HOURGLASS_DATA_DIR=str(tmp_path / "data"),
        HOURGLASS_POLL_INTERVAL_SECONDS="0.2",
        HOURGLASS_WEBHOOK_TIMEOUT_SECONDS="2",  # a claim holds a delivery for 4 s
    )
    who = await principal(services)
    wid = await built_workflow(services, who)
    async with receiving(["hold"]) as receiver:
        hook, secret = await services.webhooks.create(
            who.user_id, {"url": f"{receiver.url}/hook", "events": ["job.failed"]}
        )
        first = Process(["worker"], env, tmp_path / "a.log")
        try:
            await services.jobs.schedule(who.user_id, wid, idempotency_key="k")
            claim = await services.engine.claim_job("test")
            assert claim is not None
            await services.engine.finish(claim, RunResult.workload_failure("boom", 1))
            [held] = await receiver.wait_for(1, timeout=60)  # a worker process starts first
            first.kill()
        finally:
            first.kill()
            first.stop()
        with_b = Process(["worker"], env, tmp_path / "b.log")
        try:
            _, again = await receiver.wait_for(2, timeout=60)

            async def delivered() -> bool:
                page = await services.webhooks.deliveries(
                    who.user_id, hook.id, cursor=None, limit=None
                )
                return page.deliveries[0].status.value == "delivered"

            await eventually(delivered)
        finally:
            with_b.stop()
    assert held.headers["webhook-id"] == again.headers["webhook-id"]
    assert again.verified(secret)["type"] == "job.failed"
    page = await services.webhooks.deliveries(who.user_id, hook.id, cursor=None, limit=None)
    [delivery] = page.deliveries
    assert delivery.attempts == 2
