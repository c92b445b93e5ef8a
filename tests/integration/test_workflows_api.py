"""The workflow routes over real HTTP: create and get each kind, secrets, ownership, the gate on
COMMAND, and the status of every route on success and on error."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from hourglass.services.container import Services
from hourglass.settings import Settings
from hourglass.store.db import Database
from tests.integration.workflow_helpers import (
    PAYLOADS,
    body,
    create,
    fetch,
    fields_of,
    key,
    put,
    workflow_row,
)
from tests.support import UserClient, register, running_server

FIELDS = {
    "id",
    "name",
    "kind",
    "payload",
    "interval",
    "cron",
    "build_status",
    "build_reason",
    "generation",
    "consecutive_job_failures_count",
    "max_consecutive_job_failures_allowed",
    "log_retention",
    "log_retention_days",
    "next_run_at",
    "created_at",
    "updated_at",
    "terminated_at",
}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
GHOST = "01JGXYZ5V8T3K9Q2M4N6P7R8S0"


@pytest.mark.parametrize("kind", ["HEARTBEAT", "CONTAINER", "COMMAND"])
async def test_each_kind_is_created_and_fetched(alice: UserClient, kind: str) -> None:
    """Each kind is created (201 with an id) and read back with every field of the contract."""
    response = await alice.post("/workflows", json=body(kind), headers=key())
    assert response.status_code == 201
    assert set(response.json()) == {"id"}
    workflow = await fetch(alice, response.json()["id"])
    assert set(workflow) == FIELDS
    assert workflow["kind"] == kind
    assert workflow["build_status"] == "QUEUED"
    assert workflow["generation"] == 1
    assert workflow["consecutive_job_failures_count"] == 0
    assert workflow["terminated_at"] is None
    assert TIMESTAMP.match(workflow["created_at"])
    assert TIMESTAMP.match(workflow["updated_at"])


async def test_defaults_are_filled_in(alice: UserClient) -> None:
    """A minimal body gets the documented defaults, zero/false/null fields included."""
    workflow_id = await create(alice)
    workflow = await fetch(alice, workflow_id)
    assert workflow["interval"] == 5
    assert workflow["cron"] is None
    assert workflow["max_consecutive_job_failures_allowed"] == 3
    assert workflow["log_retention"] is True
    assert workflow["log_retention_days"] == 30
    assert workflow["next_run_at"] is None
    assert json.loads(workflow["payload"]) == {
        "endpoint": "https://example.com/health",
        "method": "GET",
        "expected_status_code": 200,
        "timeout": "10s",
    }


async def test_explicit_fields_are_kept(alice: UserClient) -> None:
    """Cron, failure threshold and retention as given are what GET returns."""
    workflow_id = await create(
        alice,
        cron="*/15 * * * *",
        interval=None,
        max_consecutive_job_failures_allowed=7,
        log_retention=False,
        log_retention_days=None,
    )
    workflow = await fetch(alice, workflow_id)
    assert (workflow["interval"], workflow["cron"]) == (None, "*/15 * * * *")
    assert workflow["max_consecutive_job_failures_allowed"] == 7
    assert workflow["log_retention"] is False
    assert workflow["log_retention_days"] is None


async def test_payload_is_returned_as_a_json_string(alice: UserClient) -> None:
    """`payload` is a string holding the JSON object, as it was sent."""
    workflow_id = await create(alice, "CONTAINER")
    payload = (await fetch(alice, workflow_id))["payload"]
    assert isinstance(payload, str)
    assert json.loads(payload)["image"] == "alpine:3.20"


@pytest.mark.parametrize("kind", ["CONTAINER", "COMMAND"])
async def test_secrets_are_masked_in_get_and_list(alice: UserClient, kind: str) -> None:
    """Secret values never leave the server: GET and the list show "***"."""
    workflow_id = await create(alice, kind)
    secret = next(iter(PAYLOADS[kind]["secrets"].values()))
    single = await alice.get(f"/workflows/{workflow_id}")
    listed = await alice.get("/workflows")
    for text in (single.text, listed.text):
        assert secret not in text
    assert set(json.loads(single.json()["payload"])["secrets"].values()) == {"***"}
    assert set(json.loads(listed.json()["workflows"][0]["payload"])["secrets"].values()) == {"***"}


async def test_masked_secret_sent_back_keeps_the_stored_value(
    alice: UserClient, db: Database
) -> None:
    """A GET -> PUT round trip with "***" keeps the secret; a new value replaces it."""
    workflow_id = await create(alice, "COMMAND")
    got = await fetch(alice, workflow_id)
    assert await put(alice, workflow_id, kind="COMMAND", payload=got["payload"]) == 204
    row = await workflow_row(db, workflow_id)
    assert json.loads(row.payload)["secrets"] == {"API_KEY": "hunter2"}
    payload = {**json.loads(got["payload"]), "secrets": {"API_KEY": "new"}}
    assert await put(alice, workflow_id, kind="COMMAND", payload=payload) == 204
    row = await workflow_row(db, workflow_id)
    assert json.loads(row.payload)["secrets"] == {"API_KEY": "new"}


async def test_masked_secret_without_a_stored_one_is_refused(alice: UserClient) -> None:
    """ "***" for a secret the workflow does not have is a 400 naming that secret."""
    payload = {**PAYLOADS["COMMAND"], "secrets": {"OTHER": "***"}}
    response = await alice.post("/workflows", json=body("COMMAND", payload=payload), headers=key())
    assert fields_of(response) == ["payload.secrets.OTHER"]


@pytest.fixture
async def no_command_user(settings: Settings, db: Database) -> AsyncIterator[UserClient]:
    """A user of a server whose settings refuse the COMMAND kind."""
    services = Services.build(dataclasses.replace(settings, allow_command_kind=False), db)
    async with running_server(services) as url:
        user = await register(url, "carol@example.com")
        try:
            yield user
        finally:
            await user.client.aclose()


async def test_command_kind_is_refused_when_disabled(no_command_user: UserClient) -> None:
    """With COMMAND disabled, creating one is a 400 on `kind` that says why."""
    response = await no_command_user.post("/workflows", json=body("COMMAND"), headers=key())
    assert fields_of(response) == ["kind"]
    assert "disabled" in response.json()["detail"]


async def test_other_kinds_work_when_command_is_disabled(no_command_user: UserClient) -> None:
    """The gate on COMMAND leaves HEARTBEAT and CONTAINER alone."""
    for kind in ("HEARTBEAT", "CONTAINER"):
        response = await no_command_user.post("/workflows", json=body(kind), headers=key())
        assert response.status_code == 201


async def test_missing_idempotency_key_is_400(alice: UserClient) -> None:
    """POST and PUT without an Idempotency-Key are 400 naming the header."""
    response = await alice.post("/workflows", json=body())
    assert fields_of(response) == ["Idempotency-Key"]
    workflow_id = await create(alice)
    response = await alice.put(f"/workflows/{workflow_id}", json=body())
    assert fields_of(response) == ["Idempotency-Key"]


async def test_unauthenticated_requests_are_401(base_url: str) -> None:
    """Every workflow route needs a session or a token."""
    async with httpx.AsyncClient(base_url=base_url) as anonymous:
        for method, path in [
            ("GET", "/workflows"),
            ("POST", "/workflows"),
            ("GET", f"/workflows/{GHOST}"),
            ("PUT", f"/workflows/{GHOST}"),
            ("PATCH", f"/workflows/{GHOST}"),
            ("DELETE", f"/workflows/{GHOST}"),
        ]:
            response = await anonymous.request(method, path, json=body(), headers=key())
            assert response.status_code == 401, (method, path)


async def test_missing_csrf_header_is_403(alice: UserClient) -> None:
    """A cookie-authenticated create without X-CSRF-Token is refused."""
    headers = {**key(), "X-CSRF-Token": ""}
    response = await alice.post("/workflows", json=body(), headers=headers)
    assert response.status_code == 403


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_someone_elses_workflow_is_404(
    alice: UserClient, bob: UserClient, method: str
) -> None:
    """Bob cannot see, change, terminate or delete Alice's workflow: 404, never 403."""
    workflow_id = await create(alice)
    if method == "DELETE":
        assert (await alice.patch(f"/workflows/{workflow_id}")).status_code == 204
    response = await bob.request(method, f"/workflows/{workflow_id}", json=body(), headers=key())
    assert response.status_code == 404
    assert (await fetch(alice, workflow_id))["name"] == "heartbeat workflow"


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("workflow_id", [GHOST, "not-an-id", "0" * 27, "ILOU" * 6 + "00"])
async def test_unknown_or_malformed_id_is_404(
    alice: UserClient, method: str, workflow_id: str
) -> None:
    """An id that does not exist, or is not a ULID at all, is 404 on every route."""
    response = await alice.request(method, f"/workflows/{workflow_id}", json=body(), headers=key())
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_someone_elses_workflows_are_not_listed(alice: UserClient, bob: UserClient) -> None:
    """The list only ever shows the caller's own workflows."""
    await create(alice)
    mine = await create(bob)
    listed = (await bob.get("/workflows")).json()["workflows"]
    assert [w["id"] for w in listed] == [mine]


async def test_responses_are_not_cacheable_by_shared_caches(alice: UserClient) -> None:
    """Authenticated workflow responses are private or no-store."""
    workflow_id = await create(alice)
    for path in ("/workflows", f"/workflows/{workflow_id}"):
        cache_control = (await alice.get(path)).headers["cache-control"]
        assert "public" not in cache_control
        assert "no-store" in cache_control or "private" in cache_control


async def test_bearer_token_needs_no_csrf(alice: UserClient, base_url: str) -> None:
    """A personal API token creates and reads workflows without any cookie or CSRF header."""
    token = (await alice.post("/tokens", json={"name": "ci"})).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as script:
        response = await script.post("/workflows", json=body(), headers=key())
        assert response.status_code == 201
        assert (await script.get(f"/workflows/{response.json()['id']}")).status_code == 200


async def test_openapi_describes_the_workflow_routes(alice: UserClient) -> None:
    """/openapi.json lists every workflow route with its method."""
    paths = (await alice.get("/openapi.json")).json()["paths"]
    assert set(paths["/workflows"]) == {"get", "post"}
    assert set(paths["/workflows/{workflow_id}"]) == {"get", "put", "patch", "delete"}
