"""Idempotency keys over real HTTP: replays, conflicts, per-user keys, expiry, and concurrent
requests carrying one key (exactly one effect, on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from hourglass.errors import PreconditionFailed
from hourglass.services.container import Services
from hourglass.services.idempotency import Reply
from hourglass.store.db import Database, Tx
from hourglass.store.schema import idempotency_keys
from tests.integration.workflow_helpers import (
    body,
    count_rows,
    count_workflows,
    create,
    fetch,
)
from tests.support import UserClient

KEY = {"Idempotency-Key": "create-nightly-1"}


async def test_same_key_and_body_replays_the_first_response(
    alice: UserClient, db: Database
) -> None:
    """A retried create returns the same status and id and creates nothing more."""
    first = await alice.post("/workflows", json=body(), headers=KEY)
    again = await alice.post("/workflows", json=body(), headers=KEY)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await count_workflows(db) == 1


async def test_key_order_and_spacing_of_the_body_do_not_matter(
    alice: UserClient, db: Database
) -> None:
    """The body is compared in a canonical form, not byte for byte."""
    import json

    sent = body()
    first = await alice.post("/workflows", json=sent, headers=KEY)
    reordered = json.dumps(dict(reversed(list(sent.items()))), indent=2)
    headers = {**KEY, "Content-Type": "application/json"}
    again = await alice.post("/workflows", content=reordered, headers=headers)
    assert again.json() == first.json()
    assert await count_workflows(db) == 1


async def test_same_key_with_another_body_is_409(alice: UserClient, db: Database) -> None:
    """Reusing a key with a different body is a conflict, and nothing is created."""
    assert (await alice.post("/workflows", json=body(), headers=KEY)).status_code == 201
    response = await alice.post("/workflows", json=body(name="other"), headers=KEY)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "different request body" in response.json()["detail"]
    assert await count_workflows(db) == 1


async def test_same_key_on_another_route_is_409(alice: UserClient) -> None:
    """A key used for a create cannot be used for an update."""
    response = await alice.post("/workflows", json=body(), headers=KEY)
    workflow_id = response.json()["id"]
    replaced = await alice.put(f"/workflows/{workflow_id}", json=body(), headers=KEY)
    assert replaced.status_code == 409
    assert "POST /workflows" in replaced.json()["detail"]


async def test_keys_are_per_user(alice: UserClient, bob: UserClient, db: Database) -> None:
    """Two users using the same key string do not interfere."""
    from_alice = await alice.post("/workflows", json=body(), headers=KEY)
    from_bob = await bob.post("/workflows", json=body(), headers=KEY)
    assert (from_alice.status_code, from_bob.status_code) == (201, 201)
    assert from_alice.json()["id"] != from_bob.json()["id"]
    assert await count_workflows(db) == 2


async def test_failed_request_does_not_consume_the_key(alice: UserClient, db: Database) -> None:
    """A 400 is not recorded: the corrected request succeeds under the same key."""
    bad = await alice.post("/workflows", json=body(interval=0), headers=KEY)
    assert bad.status_code == 400
    good = await alice.post("/workflows", json=body(), headers=KEY)
    assert good.status_code == 201
    assert await count_workflows(db) == 1


async def test_replayed_put_is_applied_once(alice: UserClient) -> None:
    """A retried PUT replays 204 without bumping the generation a second time."""
    workflow_id = await create(alice)
    new = body(payload={"endpoint": "https://example.org/"})
    path = f"/workflows/{workflow_id}"
    first = await alice.put(path, json=new, headers={"Idempotency-Key": "put-1"})
    again = await alice.put(path, json=new, headers={"Idempotency-Key": "put-1"})
    assert (first.status_code, again.status_code) == (204, 204)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == b""
    assert (await fetch(alice, workflow_id))["generation"] == 2


async def test_expired_key_is_forgotten(alice: UserClient, db: Database) -> None:
    """After 24 h a key may be used again, even with another body."""
    first = await alice.post("/workflows", json=body(), headers=KEY)
    async with db.write() as tx:
        await tx.execute(
            update(idempotency_keys).values(
                created_at=datetime.now(UTC) - timedelta(hours=24, seconds=1)
            )
        )
    again = await alice.post("/workflows", json=body(name="other"), headers=KEY)
    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]
    assert await count_workflows(db) == 2


async def test_prune_deletes_only_expired_keys(
    alice: UserClient, db: Database, services: Services
) -> None:
    """Pruning forgets keys older than the TTL and keeps the others."""
    await alice.post("/workflows", json=body(), headers=KEY)
    await alice.post("/workflows", json=body(), headers={"Idempotency-Key": "fresh"})
    async with db.write() as tx:
        await tx.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.key == KEY["Idempotency-Key"])
            .values(created_at=datetime.now(UTC) - timedelta(days=2))
        )
    assert await services.idempotency.prune() == 1
    assert await count_rows(db, idempotency_keys) == 1
    assert await count_rows(db, idempotency_keys, key="fresh") == 1


async def test_concurrent_creates_with_one_key_make_one_workflow(
    alice: UserClient, db: Database
) -> None:
    """Ten simultaneous creates carrying one key: one workflow, and all ten get its id."""
    sent = body()
    responses = await asyncio.gather(
        *(alice.post("/workflows", json=sent, headers=KEY) for _ in range(10))
    )
    assert [r.status_code for r in responses] == [201] * 10
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_workflows(db) == 1
    assert await count_rows(db, idempotency_keys) == 1


async def test_concurrent_creates_with_one_key_and_different_bodies(
    alice: UserClient, db: Database
) -> None:
    """Simultaneous creates with one key and different bodies: one wins, the rest are 409."""
    responses = await asyncio.gather(
        *(alice.post("/workflows", json=body(name=f"w{i}"), headers=KEY) for i in range(6))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 5
    assert await count_workflows(db) == 1


async def test_concurrent_puts_with_one_key_apply_once(alice: UserClient) -> None:
    """Simultaneous identical PUTs with one key bump the generation exactly once."""
    workflow_id = await create(alice)
    new = body(payload={"endpoint": "https://example.org/"})
    headers = {"Idempotency-Key": "put-once"}
    responses = await asyncio.gather(
        *(alice.put(f"/workflows/{workflow_id}", json=new, headers=headers) for _ in range(8))
    )
    assert [r.status_code for r in responses] == [204] * 8
    assert (await fetch(alice, workflow_id))["generation"] == 2


async def _hold(
    services: Services, user_id: str, gate: asyncio.Event, fail: bool, entered: asyncio.Event
) -> Reply:
    """A request whose effect (key reserved: `entered`) waits for `gate`, then ends."""

    async def effect(_tx: Tx) -> Reply:
        entered.set()
        await gate.wait()
        if fail:
            raise PreconditionFailed("the first request fails")
        return Reply(201, {"id": "first"})

    return await services.idempotency.run(
        user_id=user_id, key="k", method="POST", path="/x", body={}, effect=effect
    )


async def _second(services: Services, user_id: str, calls: list[str]) -> Reply:
    async def effect(_tx: Tx) -> Reply:
        calls.append("second")
        return Reply(201, {"id": "second"})

    return await services.idempotency.run(
        user_id=user_id, key="k", method="POST", path="/x", body={}, effect=effect
    )


async def test_a_racing_request_waits_for_the_first_and_replays_it(
    alice: UserClient, services: Services
) -> None:
    """While the first request with a key is in flight, a second one waits, then replays it."""
    gate, entered, calls = asyncio.Event(), asyncio.Event(), list[str]()
    first = asyncio.create_task(_hold(services, alice.user_id, gate, False, entered))
    await entered.wait()
    second = asyncio.create_task(_second(services, alice.user_id, calls))
    # the second request must still be waiting on the first one's key after a while
    await asyncio.sleep(0.2)
    assert not second.done()
    gate.set()
    assert (await first).body == {"id": "first"}
    replay = await second
    assert (replay.body, replay.replayed, calls) == ({"id": "first"}, True, [])


async def test_a_racing_request_runs_when_the_first_fails(
    alice: UserClient, services: Services
) -> None:
    """If the first request with a key fails, the waiting one applies its own effect."""
    gate, entered, calls = asyncio.Event(), asyncio.Event(), list[str]()
    first = asyncio.create_task(_hold(services, alice.user_id, gate, True, entered))
    await entered.wait()
    second = asyncio.create_task(_second(services, alice.user_id, calls))
    gate.set()
    with pytest.raises(PreconditionFailed):
        await first
    reply = await second
    assert (reply.body, reply.replayed, calls) == ({"id": "second"}, False, ["second"])
