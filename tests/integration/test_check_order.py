"""Which error wins when a request has several things wrong: 401 → CSRF 403 → 404 unknown id →
400 `Idempotency-Key` → 400 body → 409 key reused with another body (docs/api.md); a bad query
parameter is a 400 after the 404 too, on every route under a workflow, job or webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from hourglass.services.container import Services
from tests.integration.log_helpers import numbered, written_log
from tests.integration.webhook_helpers import register_webhook
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


# every route under someone else's workflow (or webhook): 404 before any parameter, key or body

BAD_QUERIES = {
    "limit": "-1",
    "cursor": "garbage!",
    "status": "BOGUS",
    "trigger": "BOGUS",
    "order": "sideways",
    "after": "-1",
    "before": "x",
    "stream": "both",
    "q": "(",
    "regex": "maybe",
    "format": "xml",
    "days": "0",
}


async def bobs_things(bob: UserClient, services: Services) -> dict[str, str]:
    got = await written_log(bob, services, numbered(3))
    hook = await register_webhook(bob, "https://hooks.example.com/bob")
    return {"wid": got.job.workflow_id, "jid": got.job.id, "hid": hook["id"]}


ROUTES = [
    ("GET", "/workflows/{wid}"),
    ("PUT", "/workflows/{wid}"),
    ("PATCH", "/workflows/{wid}"),
    ("DELETE", "/workflows/{wid}"),
    ("GET", "/workflows/{wid}/jobs"),
    ("POST", "/workflows/{wid}/jobs/schedule"),
    ("GET", "/workflows/{wid}/jobs/{jid}"),
    ("POST", "/workflows/{wid}/jobs/{jid}/cancel"),
    ("GET", "/workflows/{wid}/jobs/{jid}/logs"),
    ("GET", "/workflows/{wid}/jobs/{jid}/logs/search"),
    ("GET", "/workflows/{wid}/jobs/{jid}/logs/raw"),
    ("HEAD", "/workflows/{wid}/jobs/{jid}/logs/raw"),
    ("GET", "/workflows/{wid}/jobs/{jid}/logs/summary"),
    ("GET", "/workflows/{wid}/jobs/{jid}/events"),
    ("GET", "/analytics/{wid}"),
    ("GET", "/webhooks/{hid}"),
    ("PATCH", "/webhooks/{hid}"),
    ("DELETE", "/webhooks/{hid}"),
    ("GET", "/webhooks/{hid}/deliveries"),
    ("POST", "/webhooks/{hid}/test"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_someone_elses_resource_is_404_before_any_400(
    alice: UserClient, bob: UserClient, services: Services, method: str, path: str
) -> None:
    """Alice on Bob's workflow, job or webhook: 404 with every query parameter wrong, a bad
    `Last-Event-ID`, no Idempotency-Key and a malformed body; the 400s are Bob's alone."""
    url = path.format(**await bobs_things(bob, services))
    headers = {**JSON, "Last-Event-ID": "x"}
    response = await alice.client.request(
        method, url, params=BAD_QUERIES, content=MALFORMED, headers=headers
    )
    assert response.status_code == 404, response.text
    assert response.headers.get("content-type", "").startswith("application/problem+json") or (
        method == "HEAD"
    )


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/workflows/{wid}/jobs", {"limit": "-1"}, "limit"),
        ("/workflows/{wid}/jobs", {"limit": "abc"}, "limit"),
        ("/workflows/{wid}/jobs", {"status": "BOGUS"}, "status"),
        ("/workflows/{wid}/jobs", {"trigger": "BOGUS"}, "trigger"),
        ("/workflows/{wid}/jobs", {"cursor": "garbage!"}, "cursor"),
        ("/webhooks/{hid}/deliveries", {"limit": "0"}, "limit"),
    ],
)
async def test_on_ones_own_resource_a_bad_parameter_is_still_400(
    bob: UserClient, services: Services, path: str, params: dict[str, str], field: str
) -> None:
    """Moving the checks after the ownership check keeps them: Bob's bad parameter is a 400."""
    url = path.format(**await bobs_things(bob, services))
    assert status_and_fields(await bob.get(url, params=params)) == (400, [field])


async def test_scheduling_ones_own_workflow_without_a_key_is_400(
    bob: UserClient, services: Services
) -> None:
    """The schedule route still requires Idempotency-Key once the workflow is found."""
    wid = (await bobs_things(bob, services))["wid"]
    response = await bob.post(f"/workflows/{wid}/jobs/schedule")
    assert status_and_fields(response) == (400, ["Idempotency-Key"])


async def test_patching_ones_own_webhook_with_a_malformed_body_is_400(
    bob: UserClient, services: Services
) -> None:
    """Bob's own webhook with a malformed body: the body's 400 (the 404 check passed)."""
    hid = (await bobs_things(bob, services))["hid"]
    response = await bob.client.patch(f"/webhooks/{hid}", content=MALFORMED, headers=JSON)
    assert response.status_code == 400
