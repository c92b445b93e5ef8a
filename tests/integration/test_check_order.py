"""Which error wins when a request has several things wrong: 401 → CSRF 403 → 404 unknown id →
400 `Idempotency-Key` → 400 body → 409 key reused with another body (docs/api.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.workflow_helpers import body, create, key
from tests.support import UserClient

GHOST = "01JGXYZ5V8T3K9Q2M4N6P7R8S0"
JSON = {"content-type": "application/json"}
MALFORMED = b'{"name": '


@pytest.fixture
async def anon(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture
async def no_csrf(base_url: str, alice: UserClient) -> AsyncIterator[httpx.AsyncClient]:
    """Alice's session cookie, without the X-CSRF-Token header."""
    async with httpx.AsyncClient(
        base_url=base_url, cookies=alice.client.cookies, timeout=30
    ) as client:
        yield client


def status_and_fields(response: httpx.Response) -> tuple[int, list[str]]:
    errors = response.json().get("errors", [])
    return response.status_code, [e["field"] for e in errors]


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/workflows"), ("PUT", f"/workflows/{GHOST}")]
)
async def test_without_credentials_a_malformed_body_is_still_401(
    anon: httpx.AsyncClient, method: str, path: str
) -> None:
    """Authentication is checked before the body is even read."""
    response = await anon.request(method, path, content=MALFORMED, headers={**JSON, **key()})
    assert response.status_code == 401


async def test_without_csrf_an_unknown_id_and_a_bad_body_is_403(
    no_csrf: httpx.AsyncClient,
) -> None:
    """A cookie session without its CSRF header is 403 before the id or the body count."""
    response = await no_csrf.put(f"/workflows/{GHOST}", json={"name": 5}, headers=key())
    assert response.status_code == 403


@pytest.mark.parametrize("workflow_id", ["not-an-id", GHOST])
async def test_an_unknown_id_wins_over_a_bad_body(alice: UserClient, workflow_id: str) -> None:
    """PUT to a malformed or unknown id is 404 whatever the body and the key."""
    response = await alice.put(f"/workflows/{workflow_id}", json={"name": 5})
    assert response.status_code == 404
    response = await alice.put(f"/workflows/{workflow_id}", content=MALFORMED, headers=JSON)
    assert response.status_code == 404


async def test_someone_elses_workflow_is_404_whatever_the_body(
    alice: UserClient, bob: UserClient
) -> None:
    """Bob's workflow is 404 to Alice even with a bad body: its existence is not leaked."""
    workflow_id = await create(bob)
    response = await alice.put(f"/workflows/{workflow_id}", json={"name": 5}, headers=key())
    assert response.status_code == 404


@pytest.mark.parametrize("target", ["create", "replace"])
async def test_a_missing_key_wins_over_a_bad_body(alice: UserClient, target: str) -> None:
    """Without Idempotency-Key the 400 names the header, even when the body is wrong too."""
    path = f"/workflows/{await create(alice)}" if target == "replace" else "/workflows"
    method = "PUT" if target == "replace" else "POST"
    response = await alice.request(method, path, json={"name": 5})
    assert status_and_fields(response) == (400, ["Idempotency-Key"])


@pytest.mark.parametrize("target", ["create", "replace"])
@pytest.mark.parametrize(
    ("changed", "field"),
    [
        ({"name": 5}, "name"),
        ({"interval": 0}, "interval"),
        ({"payload": {"endpoint": "nope"}}, "payload.endpoint"),
    ],
)
async def test_a_reused_key_with_a_changed_invalid_body_is_400(
    alice: UserClient, target: str, changed: dict[str, object], field: str
) -> None:
    """The body's 400 (types and rules) comes before the 409 of a reused key."""
    path = f"/workflows/{await create(alice)}" if target == "replace" else "/workflows"
    method = "PUT" if target == "replace" else "POST"
    reused = key()
    assert (await alice.request(method, path, json=body(), headers=reused)).status_code < 300
    response = await alice.request(method, path, json=body(**changed), headers=reused)
    assert status_and_fields(response) == (400, [field])


@pytest.mark.parametrize("target", ["create", "replace"])
async def test_a_reused_key_with_a_changed_valid_body_is_409(
    alice: UserClient, target: str
) -> None:
    """A valid body that differs from the key's first one is 409; the same body replays."""
    path = f"/workflows/{await create(alice)}" if target == "replace" else "/workflows"
    method = "PUT" if target == "replace" else "POST"
    reused = key()
    first = await alice.request(method, path, json=body(), headers=reused)
    other = await alice.request(method, path, json=body(name="other"), headers=reused)
    again = await alice.request(method, path, json=body(), headers=reused)
    assert other.status_code == 409
    assert (again.status_code, again.headers["idempotent-replayed"]) == (first.status_code, "true")
