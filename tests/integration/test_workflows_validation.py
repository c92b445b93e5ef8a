"""Bad input to the workflow routes over real HTTP: always a 400 naming the field, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.workflow_helpers import PAYLOADS, Raw, body, create, fields_of, key
from tests.support import UserClient

HB = PAYLOADS["HEARTBEAT"]

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("interval as a string", {"interval": "5"}, "interval"),
    ("interval as a float", {"interval": 5.5}, "interval"),
    ("interval zero", {"interval": 0}, "interval"),
    ("interval over a week", {"interval": 10081}, "interval"),
    ("interval absurd", {"interval": 10**30}, "interval"),
    ("both interval and cron", {"cron": "* * * * *"}, "interval"),
    ("neither interval nor cron", {"interval": None}, "interval"),
    ("cron with three fields", {"interval": None, "cron": "* * *"}, "cron"),
    ("cron nonsense", {"interval": None, "cron": "61 * * * *"}, "cron"),
    ("payload as an object", {"payload": Raw({})}, "payload"),
    ("payload not JSON", {"payload": "not json"}, "payload"),
    ("payload a JSON list", {"payload": "[1, 2]"}, "payload"),
    ("payload deeply nested", {"payload": "[" * 100_000 + "]" * 100_000}, "payload"),
    ("unknown kind", {"kind": "LAMBDA"}, "kind"),
    ("kind lower case", {"kind": "heartbeat"}, "kind"),
    ("name empty", {"name": "   "}, "name"),
    ("name of one megabyte", {"name": "x" * 1_000_000}, "name"),
    ("name as a list", {"name": ["a"]}, "name"),
    (
        "failures zero",
        {"max_consecutive_job_failures_allowed": 0},
        "max_consecutive_job_failures_allowed",
    ),
    (
        "failures as text",
        {"max_consecutive_job_failures_allowed": "3"},
        "max_consecutive_job_failures_allowed",
    ),
    ("retention as text", {"log_retention": "yes"}, "log_retention"),
    ("retention days zero", {"log_retention_days": 0}, "log_retention_days"),
    ("endpoint missing", {"payload": {}}, "payload.endpoint"),
    ("endpoint relative", {"payload": {"endpoint": "/health"}}, "payload.endpoint"),
    (
        "endpoint bad port",
        {"payload": {"endpoint": "http://example.com:99999/"}},
        "payload.endpoint",
    ),
    ("negative timeout", {"payload": {**HB, "timeout": "-5s"}}, "payload.timeout"),
    ("timeout over max", {"payload": {**HB, "timeout": "6m"}}, "payload.timeout"),
    ("timeout 25h", {"payload": {**HB, "timeout": "25h"}}, "payload.timeout"),
    (
        "status code 42",
        {"payload": {**HB, "expected_status_code": 42}},
        "payload.expected_status_code",
    ),
    ("method DELETE", {"payload": {**HB, "method": "DELETE"}}, "payload.method"),
    ("header bad name", {"payload": {**HB, "headers": {"a b": "c"}}}, "payload.headers.a b"),
    (
        "header list item",
        {"payload": {**HB, "headers": {"X-N": ["a", 5]}}},
        "payload.headers.X-N[1]",
    ),
    ("unknown payload field", {"payload": {**HB, "timout": "5s"}}, "payload.timout"),
]

CONTAINER_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("image missing", {}, "payload.image"),
    ("cpus zero", {"image": "a", "cpus": 0}, "payload.cpus"),
    ("memory bad", {"image": "a", "memory": "lots"}, "payload.memory"),
    ("env value number", {"image": "a", "env": {"A": 1}}, "payload.env.A"),
]

COMMAND_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("cmd missing", {}, "payload.cmd"),
    ("cmd empty", {"cmd": []}, "payload.cmd"),
    ("cmd item number", {"cmd": ["echo", 1]}, "payload.cmd[1]"),
]


@pytest.mark.parametrize(("overrides", "field"), [pytest.param(o, f, id=i) for i, o, f in CASES])
async def test_invalid_create_body_is_400_naming_the_field(
    alice: UserClient, overrides: dict[str, Any], field: str
) -> None:
    """Wrong types, absurd values and malformed payloads are a 400 naming the field."""
    response = await alice.post("/workflows", json=body(**overrides), headers=key())
    assert field in fields_of(response)


@pytest.mark.parametrize(
    ("kind", "payload", "field"),
    [pytest.param("CONTAINER", p, f, id=i) for i, p, f in CONTAINER_CASES]
    + [pytest.param("COMMAND", p, f, id=i) for i, p, f in COMMAND_CASES],
)
async def test_invalid_payload_of_each_kind_is_400(
    alice: UserClient, kind: str, payload: dict[str, Any], field: str
) -> None:
    """Each kind's payload rules are enforced with the field path named."""
    response = await alice.post("/workflows", json=body(kind, payload=payload), headers=key())
    assert field in fields_of(response)


@pytest.mark.parametrize("field", ["name", "kind", "payload"])
async def test_missing_required_field_is_400(alice: UserClient, field: str) -> None:
    """Leaving out name, kind or payload is a 400 naming it."""
    sent = body()
    del sent[field]
    response = await alice.post("/workflows", json=sent, headers=key())
    assert field in fields_of(response)


@pytest.mark.parametrize("raw", [b"{", b"not json", b'{"name": "a",}', b"\xff\xfe", b"[" * 50_000])
async def test_malformed_json_body_is_400(alice: UserClient, raw: bytes) -> None:
    """A body that is not JSON is a 400 (problem+json), never a 500."""
    headers = {**key(), "Content-Type": "application/json"}
    response = await alice.post("/workflows", content=raw, headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("raw", [b"[]", b"42", b'"a string"', b"null"])
async def test_body_that_is_not_an_object_is_400(alice: UserClient, raw: bytes) -> None:
    """A JSON body that is not an object is a 400."""
    headers = {**key(), "Content-Type": "application/json"}
    response = await alice.post("/workflows", content=raw, headers=headers)
    assert response.status_code == 400


async def test_several_problems_are_reported_together(alice: UserClient) -> None:
    """Every invalid field is listed, not only the first."""
    sent = body(name="", interval=0, payload={"endpoint": "nope", "timeout": "1d"})
    response = await alice.post("/workflows", json=sent, headers=key())
    assert set(fields_of(response)) == {"name", "interval", "payload.endpoint", "payload.timeout"}


async def test_body_over_the_limit_is_413(alice: UserClient) -> None:
    """A body larger than the limit is refused with 413 before it is parsed."""
    response = await alice.post("/workflows", json=body(name="x" * 1_100_000), headers=key())
    assert response.status_code == 413


async def test_invalid_put_body_is_400_and_changes_nothing(alice: UserClient) -> None:
    """A PUT with a bad field is a 400 naming it, and the workflow stays as it was."""
    workflow_id = await create(alice)
    response = await alice.put(
        f"/workflows/{workflow_id}", json=body(interval=10081), headers=key()
    )
    assert fields_of(response) == ["interval"]
    got = (await alice.get(f"/workflows/{workflow_id}")).json()
    assert got["interval"] == 5


@pytest.mark.parametrize("key_value", ["x" * 256, ""])
async def test_unusable_idempotency_key_is_400(alice: UserClient, key_value: str) -> None:
    """An empty or over-long Idempotency-Key is a 400 naming the header."""
    response = await alice.post("/workflows", json=body(), headers={"Idempotency-Key": key_value})
    assert fields_of(response) == ["Idempotency-Key"]


async def test_valid_edge_values_are_accepted(alice: UserClient) -> None:
    """Boundaries are inclusive: interval 1 and 10080, 100 failures, 3650 days, 200-char name."""
    for overrides in (
        {"interval": 1},
        {"interval": 10080},
        {"max_consecutive_job_failures_allowed": 100},
        {"log_retention_days": 3650},
        {"name": "n" * 200},
        {"payload": {**HB, "timeout": "5m", "expected_status_code": 599}},
        {"payload": {**HB, "headers": {"X-A": ["1", "2"], "X-B": "3"}, "method": "post"}},
    ):
        response = await alice.post("/workflows", json=body(**overrides), headers=key())
        assert response.status_code == 201, (overrides, response.text)
    last = (await alice.get(f"/workflows/{response.json()['id']}")).json()
    assert json.loads(last["payload"])["method"] == "POST"
