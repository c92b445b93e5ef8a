"""`GET /workflows`: newest first, keyset cursors bound to their filters, and every filter."""

from __future__ import annotations

from typing import Any

import pytest

from hourglass.store.db import Database
from tests.integration.workflow_helpers import PAYLOADS, create, fields_of, set_workflow
from tests.support import UserClient


async def ids(user: UserClient, **params: Any) -> list[str]:
    """The ids of one page of the list with `params`."""
    response = await user.get("/workflows", params=params)
    assert response.status_code == 200, response.text
    return [w["id"] for w in response.json()["workflows"]]


async def all_pages(user: UserClient, **params: Any) -> list[str]:
    """Every id the list returns, following cursors to the end."""
    found: list[str] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = (await user.get("/workflows", params=query)).json()
        found += [w["id"] for w in page["workflows"]]
        cursor = page["cursor"]
        if cursor is None:
            return found


async def test_empty_list(alice: UserClient) -> None:
    """No workflows: an empty list and a null cursor."""
    response = await alice.get("/workflows")
    assert response.status_code == 200
    assert response.json() == {"workflows": [], "cursor": None}


async def test_newest_first(alice: UserClient) -> None:
    """The most recently created workflow comes first."""
    made = [await create(alice, name=f"w{i}") for i in range(3)]
    assert await ids(alice) == made[::-1]


async def test_default_page_is_twenty(alice: UserClient) -> None:
    """Without a limit a page has 20 workflows; the cursor leads to the rest."""
    for i in range(21):
        await create(alice, name=f"w{i}")
    first = (await alice.get("/workflows")).json()
    assert len(first["workflows"]) == 20
    assert first["cursor"] is not None
    second = (await alice.get("/workflows", params={"cursor": first["cursor"]})).json()
    assert len(second["workflows"]) == 1
    assert second["cursor"] is None


async def test_cursor_is_null_on_a_full_last_page(alice: UserClient) -> None:
    """When the rows end exactly at a page boundary the last page still has a null cursor."""
    for i in range(4):
        await create(alice, name=f"w{i}")
    first = (await alice.get("/workflows", params={"limit": 2})).json()
    second = (await alice.get("/workflows", params={"limit": 2, "cursor": first["cursor"]})).json()
    assert len(second["workflows"]) == 2
    assert second["cursor"] is None


async def test_paging_under_inserts_returns_every_row_once(alice: UserClient) -> None:
    """Rows created while paging never make a page repeat or skip an older row."""
    originals = [await create(alice, name=f"old {i}") for i in range(12)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = (await alice.get("/workflows", params=params)).json()
        seen += [w["id"] for w in page["workflows"]]
        cursor = page["cursor"]
        if cursor is None:
            break
        for i in range(2):
            await create(alice, name=f"new {i}")
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in originals] == originals[::-1]


async def test_limit_bounds(alice: UserClient) -> None:
    """limit 1 and 1000 are fine; 0, 1001 and non-numbers are a 400 naming `limit`."""
    await create(alice)
    for good in ("1", "1000"):
        assert (await alice.get("/workflows", params={"limit": good})).status_code == 200
    for bad in ("0", "1001", "ten", "-5", "1e3"):
        assert fields_of(await alice.get("/workflows", params={"limit": bad})) == ["limit"]


async def test_cursor_is_bound_to_its_filters(alice: UserClient) -> None:
    """A cursor made with some filters is a 400 naming `cursor` when used with others."""
    for i in range(3):
        await create(alice, name=f"w{i}")
    page = (await alice.get("/workflows", params={"limit": 1, "kind": "HEARTBEAT"})).json()
    reused = await alice.get("/workflows", params={"cursor": page["cursor"], "kind": "CONTAINER"})
    assert fields_of(reused) == ["cursor"]
    same = await alice.get(
        "/workflows", params={"cursor": page["cursor"], "kind": "HEARTBEAT", "limit": 5}
    )
    assert same.status_code == 200


async def test_cursor_of_another_user_is_refused(alice: UserClient, bob: UserClient) -> None:
    """A cursor only works for the user it was made for."""
    for i in range(2):
        await create(alice, name=f"w{i}")
    page = (await alice.get("/workflows", params={"limit": 1})).json()
    assert fields_of(await bob.get("/workflows", params={"cursor": page["cursor"]})) == ["cursor"]


@pytest.mark.parametrize("cursor", ["garbage", "eyJwIjoxfQ", "!!!", "e30"])
async def test_malformed_cursor_is_400(alice: UserClient, cursor: str) -> None:
    """A cursor that was not made by the server is a 400 naming `cursor`."""
    assert fields_of(await alice.get("/workflows", params={"cursor": cursor})) == ["cursor"]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("kind", "LAMBDA"),
        ("build_status", "done"),
        ("terminated", "maybe"),
        ("interval_min", "x"),
        ("interval_max", "-1"),
    ],
)
async def test_invalid_filter_is_400_naming_it(alice: UserClient, param: str, value: str) -> None:
    """An unknown enum value or a malformed number is a 400 naming the parameter."""
    assert fields_of(await alice.get("/workflows", params={param: value})) == [param]


@pytest.fixture
async def catalogue(alice: UserClient, db: Database) -> dict[str, str]:
    """A mix of workflows: kinds, schedules, build statuses, one terminated."""
    made = {
        "nightly": await create(alice, name="Nightly Backup", interval=None, cron="0 3 * * *"),
        "ping": await create(alice, name="ping api", interval=1),
        "percent": await create(alice, name="100% up", interval=60),
        "hundred": await create(alice, name="100 up", interval=60),
        "under": await create(alice, "CONTAINER", name="a_b", interval=1440),
        "plain": await create(alice, "CONTAINER", name="axb", interval=5),
        "cmd": await create(alice, "COMMAND", name="Backup files", payload=PAYLOADS["COMMAND"]),
    }
    await set_workflow(db, made["ping"], build_status="COMPLETED")
    await set_workflow(db, made["under"], build_status="FAILED")
    assert (await alice.patch(f"/workflows/{made['plain']}")).status_code == 204
    return made


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kind": "CONTAINER"}, {"under", "plain"}),
        ({"kind": "COMMAND"}, {"cmd"}),
        ({"build_status": "COMPLETED"}, {"ping"}),
        ({"build_status": "FAILED"}, {"under"}),
        ({"terminated": "true"}, {"plain"}),
        ({"terminated": "false"}, {"nightly", "ping", "percent", "hundred", "under", "cmd"}),
        ({"interval_min": "60"}, {"percent", "hundred", "under"}),
        ({"interval_max": "5"}, {"ping", "plain", "cmd"}),
        ({"interval_min": "5", "interval_max": "60"}, {"percent", "hundred", "plain", "cmd"}),
        ({"query": "backup"}, {"nightly", "cmd"}),
        ({"query": "BACKUP"}, {"nightly", "cmd"}),
        ({"query": "%"}, {"percent"}),
        ({"query": "100%"}, {"percent"}),
        ({"query": "_"}, {"under"}),
        ({"query": "a_b"}, {"under"}),
        ({"query": "nothing like it"}, set()),
        ({"kind": "HEARTBEAT", "query": "up", "interval_min": "10"}, {"percent", "hundred"}),
        ({"kind": "CONTAINER", "terminated": "false"}, {"under"}),
        ({"query": "backup", "kind": "COMMAND", "build_status": "QUEUED"}, {"cmd"}),
        ({"query": "backup", "interval_min": "1"}, {"cmd"}),
    ],
)
async def test_filters(
    alice: UserClient, catalogue: dict[str, str], params: dict[str, str], expected: set[str]
) -> None:
    """Each filter, and any combination of them, returns exactly the matching workflows."""
    names = {v: k for k, v in catalogue.items()}
    assert {names[i] for i in await ids(alice, **params)} == expected


async def test_filtered_paging_returns_every_match_once(
    alice: UserClient, catalogue: dict[str, str]
) -> None:
    """Paging through a filtered list one row at a time yields every match exactly once."""
    found = await all_pages(alice, limit=1, terminated="false")
    assert len(found) == len(set(found)) == 6
    assert found == sorted(found, reverse=True)
