"""Forged cursors and out-of-range sequence numbers over real HTTP, on both engines: every one the
store cannot hold is a 400 naming the parameter (never a 500, never a different answer per
engine), and the largest BIGINT, 2^63 - 1, is a valid position past any stored line."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from hourglass.domain.cursors import encode_cursor
from hourglass.services.container import Services
from tests.integration.log_helpers import numbered, written_log
from tests.integration.logstream_helpers import collect, events_url
from tests.integration.webhook_helpers import register_webhook
from tests.integration.workflow_helpers import create, insert_job
from tests.support import UserClient

MAX = 2**63 - 1
NESTED = base64.urlsafe_b64encode(b"[" * 3000).decode().rstrip("=")
NESTED_P = base64.urlsafe_b64encode(b'{"p":' + b"[" * 3000 + b"]" * 3000 + b',"f":"x"}').decode()


def forged(cursor: str, position: Any) -> str:
    """`cursor` (a real one) with its position replaced: the fingerprint is no secret."""
    data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw = json.dumps({"p": position, "f": data["f"]}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def assert_400(response: Any, field: str) -> None:
    assert response.status_code == 400, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def listings(alice: UserClient, services: Services) -> dict[str, tuple[str, str]]:
    """Every keyset listing: its path and a real cursor of it."""
    wid = await create(alice)
    await create(alice)
    for _ in range(2):
        await insert_job(services.db, wid, alice.user_id, "COMPLETED")
    got = await written_log(alice, services, numbered(5))
    logs = f"/workflows/{got.job.workflow_id}/jobs/{got.job.id}/logs"
    hook = await register_webhook(alice, "https://hooks.example.com/x")
    deliveries = f"/webhooks/{hook['id']}/deliveries"
    paths = {
        "workflows": "/workflows",
        "jobs": f"/workflows/{wid}/jobs",
        "logs": logs,
        "search": f"{logs}/search?q=line",
    }
    out = {}
    for name, path in paths.items():
        response = await alice.get(path, params={"limit": 1})
        assert response.status_code == 200, response.text
        cursor = response.json()["cursor"]
        assert cursor, name
        out[name] = (path, cursor)
    out["notifications"] = (
        "/notifications",
        encode_cursor(1, {"user": alice.user_id, "unread": True}),
    )
    out["deliveries"] = (deliveries, encode_cursor(hook["id"], {"webhook": hook["id"]}))
    return out


async def test_deeply_nested_cursors_are_400(alice: UserClient, services: Services) -> None:
    """A cursor decoding to 3,000 nested arrays (alone or as the position) is a 400 on `cursor`
    for every listing, not a RecursionError."""
    for _name, (path, _) in (await listings(alice, services)).items():
        for cursor in (NESTED, NESTED_P):
            response = await alice.get(path, params={"cursor": cursor})
            assert_400(response, "cursor")


@pytest.mark.parametrize(
    "position", [2**63, -(2**63) - 1, 10**40, [2**64], {"a": 2**63}, 1.5, True, "\x00", None]
)
async def test_positions_the_store_cannot_hold_are_400(
    alice: UserClient, services: Services, position: Any
) -> None:
    """A well-formed cursor whose position is past BIGINT, of the wrong type or with a NUL is a
    400 on `cursor` for every listing (None: the first page)."""
    for name, (path, cursor) in (await listings(alice, services)).items():
        response = await alice.get(path, params={"cursor": forged(cursor, position)})
        if position is None:
            assert response.status_code == 200, (name, response.text)
        else:
            assert_400(response, "cursor")


async def test_the_largest_bigint_is_a_valid_log_position(
    alice: UserClient, services: Services
) -> None:
    """2^63 - 1 as a log cursor position, `after` or `before`: 200 on both engines (an empty
    page past the log's end, or the whole log before it); 2^63 is a 400 naming the parameter."""
    found = await listings(alice, services)
    logs, cursor = found["logs"]
    search, search_cursor = found["search"]
    asc = await alice.get(logs, params={"after": str(MAX), "order": "asc"})
    assert (asc.status_code, asc.json()["logs"]) == (200, [])
    desc = await alice.get(logs, params={"after": str(MAX)})
    assert (desc.status_code, desc.json()["logs"]) == (200, [])
    before = await alice.get(logs, params={"before": str(MAX)})
    assert before.status_code == 200
    assert [line["sequence_num"] for line in before.json()["logs"]] == [5, 4, 3, 2, 1]
    resumed = await alice.get(logs, params={"cursor": forged(cursor, MAX), "limit": 1})
    assert [line["sequence_num"] for line in resumed.json()["logs"]] == [5]
    searched = await alice.get(search, params={"cursor": forged(search_cursor, MAX)})
    assert searched.status_code == 200, searched.text
    for field in ("after", "before"):
        assert_400(await alice.get(logs, params={field: str(2**63)}), field)
        assert_400(await alice.get(logs, params={field: "-1"}), field)


async def test_sse_resume_points_past_bigint_are_400_and_the_largest_is_valid(
    alice: UserClient, services: Services
) -> None:
    """`Last-Event-ID`/`after` of 2^63 are a 400 naming the one given; 2^63 - 1 streams (no
    line is after it) to the end, without an error frame."""
    got = await written_log(alice, services, numbered(5))
    url = events_url(got.job.workflow_id, got.job.id)
    assert_400(await alice.get(url, headers={"Last-Event-ID": str(2**63)}), "Last-Event-ID")
    assert_400(await alice.get(url, params={"after": str(2**63)}), "after")
    async with alice.client.stream("GET", url, headers={"Last-Event-ID": str(MAX)}) as response:
        assert response.status_code == 200
        frames = await collect(response)
    assert [f.event for f in frames if f.event not in (None, "connected")] == ["end"]
    assert_400(
        await alice.get("/notifications/events", headers={"Last-Event-ID": str(2**63)}),
        "Last-Event-ID",
    )
