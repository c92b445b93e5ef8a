"""`/openapi.json` tells the truth (issue 7 item 16): every method of a path is in a 405's
`Allow`, `/metrics` is text, `HEAD …/logs/raw` and its headers are described, and every rule
the server enforces on a parameter or a body is in the schema, checked on the document and over
real HTTP."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hourglass.domain.outbound import OutboundPolicy
from hourglass.domain.webhooks import url_problem
from hourglass.services.container import Services
from hourglass.web.routes.webhooks import WebhookCreate
from tests.integration.log_helpers import numbered, written_log
from tests.integration.logstream_helpers import raw_url
from tests.support import UserClient

ONE_ENGINE = pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
GHOST = "01JGXYZ5V8T3K9Q2M4N6P7R8S0"
LOGS = "/workflows/{workflow_id}/jobs/{job_id}/logs"
STREAMS = "^(stdout|stderr|system)(,(stdout|stderr|system))*$"


@pytest.fixture
async def anon(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture
async def openapi(anon: httpx.AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = (await anon.get("/openapi.json")).json()
    return document


def parameter(openapi: dict[str, Any], method: str, path: str, name: str) -> dict[str, Any]:
    [found] = [p for p in openapi["paths"][path][method]["parameters"] if p["name"] == name]
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", GHOST, path)


# 405 and Allow


@ONE_ENGINE
async def test_a_405_allows_every_documented_method_of_the_path(
    anon: httpx.AsyncClient, openapi: dict[str, Any]
) -> None:
    """For every documented path, a method it lacks is 405 whose Allow is exactly its methods."""
    for path, operations in openapi["paths"].items():
        response = await anon.request("TRACE", concrete(path))
        assert response.status_code == 405, path
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert allowed == {m.upper() for m in operations}, path


@ONE_ENGINE
async def test_allow_names_the_methods_of_routes_declared_one_per_method(
    anon: httpx.AsyncClient,
) -> None:
    """`/workflows/{id}` has four routes: a 405 there names all four, not the first one only."""
    response = await anon.post(f"/workflows/{GHOST}")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH, PUT"
    raw = await anon.put(f"/workflows/{GHOST}/jobs/{GHOST}/logs/raw")
    assert raw.headers["allow"] == "GET, HEAD"
    # a literal segment is its own path, though `{job_id}` would match it too
    schedule = await anon.put(f"/workflows/{GHOST}/jobs/schedule")
    assert schedule.headers["allow"] == "POST"


# /metrics


@ONE_ENGINE
async def test_metrics_is_described_and_served_as_plain_text(
    anon: httpx.AsyncClient, openapi: dict[str, Any]
) -> None:
    """`/metrics` is documented as text/plain only (Prometheus exposition), as it is served."""
    content = openapi["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"text/plain"}
    response = await anon.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")


# HEAD …/logs/raw and its headers


@ONE_ENGINE
async def test_head_on_the_raw_log_is_documented_with_its_headers(openapi: dict[str, Any]) -> None:
    """HEAD is an operation of `…/logs/raw`, and both methods document the response headers,
    206/304/416 and the request headers they honour."""
    raw = openapi["paths"][f"{LOGS}/raw"]
    assert set(raw) == {"get", "head"}
    for operation in raw.values():
        responses = operation["responses"]
        assert {"200", "206", "304", "400", "401", "404", "412", "416"} <= set(responses)
        assert {"Content-Length", "ETag", "Last-Modified", "Accept-Ranges"} <= set(
            responses["200"]["headers"]
        )
        assert "Content-Disposition" in responses["200"]["headers"]
        assert "Content-Range" in responses["206"]["headers"]
        assert "Content-Range" in responses["416"]["headers"]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert {"Range", "If-Range", "If-None-Match", "If-Modified-Since"} <= headers


async def test_head_answers_the_documented_headers_without_a_body(
    alice: UserClient, services: Services, openapi: dict[str, Any]
) -> None:
    """HEAD on a finished job's log: 200 with every header the document lists for txt."""
    got = await written_log(alice, services, numbered(20))
    url = raw_url(got.job.workflow_id, got.job.id)
    response = await alice.request("HEAD", url, headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.content == b""
    documented = openapi["paths"][f"{LOGS}/raw"]["head"]["responses"]["200"]["headers"]
    sent = {name.lower() for name in response.headers}
    assert {name.lower() for name in documented} - {"content-encoding"} <= sent
    ranged = await alice.request("HEAD", url, headers={"Range": "bytes=0-4", **IDENTITY})
    assert ranged.status_code == 206
    assert ranged.headers["content-range"].startswith("bytes 0-4/")


IDENTITY = {"Accept-Encoding": "identity"}


# parameters


@ONE_ENGINE
async def test_query_parameters_state_the_rules_the_services_apply(
    openapi: dict[str, Any],
) -> None:
    """Limits, orders, flags, streams, sequence numbers, enums and days carry their rules."""
    limit = parameter(openapi, "get", "/workflows", "limit")["schema"]
    assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, 1000)
    assert parameter(openapi, "get", LOGS, "limit")["schema"]["default"] == 100
    assert parameter(openapi, "get", LOGS, "order")["schema"]["enum"] == ["desc", "asc"]
    after = parameter(openapi, "get", LOGS, "after")["schema"]
    assert (after["minimum"], after["maximum"]) == (0, 2**63 - 1)
    for path in (
        LOGS,
        f"{LOGS}/search",
        f"{LOGS}/raw",
        "/workflows/{workflow_id}/jobs/{job_id}/events",
    ):
        if path.endswith("/events"):
            continue
        stream = parameter(openapi, "get", path, "stream")
        assert stream["schema"] == {"type": "string", "pattern": STREAMS}, path
        assert stream["description"], path
    assert parameter(openapi, "get", f"{LOGS}/raw", "format")["schema"]["enum"] == [
        "txt",
        "jsonl",
        "json",
    ]
    assert parameter(openapi, "get", f"{LOGS}/search", "regex")["schema"]["enum"] == [
        "true",
        "false",
    ]
    days = parameter(openapi, "get", "/analytics/{workflow_id}", "days")["schema"]
    assert (days["minimum"], days["maximum"]) == (1, 366)
    status = parameter(openapi, "get", "/workflows/{workflow_id}/jobs", "status")["schema"]
    assert "CANCELED" in status["enum"]
    query = parameter(openapi, "get", "/workflows", "query")["schema"]
    assert query["maxLength"] == 200


@ONE_ENGINE
async def test_an_empty_query_parameter_is_documented_as_absent(
    alice: UserClient, openapi: dict[str, Any]
) -> None:
    """`?limit=` is the default where the server takes it so (allowEmptyValue), and is a 400
    where it is not."""
    assert parameter(openapi, "get", "/workflows", "limit")["allowEmptyValue"] is True
    assert (await alice.get("/workflows?limit=&cursor=&kind=")).status_code == 200
    jobs = "/workflows/{workflow_id}/jobs"
    assert "allowEmptyValue" not in parameter(openapi, "get", jobs, "status")


@ONE_ENGINE
async def test_headers_and_path_ids_state_their_rules(openapi: dict[str, Any]) -> None:
    """Idempotency-Key is 1-255 printable ASCII, Last-Event-ID a sequence number, ids ULIDs."""
    key = parameter(openapi, "post", "/workflows", "Idempotency-Key")
    assert key["required"] is True
    assert (key["schema"]["minLength"], key["schema"]["maxLength"]) == (1, 255)
    assert re.fullmatch(key["schema"]["pattern"], "a-key_1")
    assert not re.fullmatch(key["schema"]["pattern"], "   ")
    events = "/workflows/{workflow_id}/jobs/{job_id}/events"
    resume = parameter(openapi, "get", events, "Last-Event-ID")["schema"]["anyOf"]
    assert resume[0]["type"] == "integer"
    assert re.fullmatch(resume[1]["pattern"], "  ")  # blank counts as absent
    workflow_id = parameter(openapi, "get", "/workflows/{workflow_id}", "workflow_id")["schema"]
    assert re.fullmatch(workflow_id["pattern"], GHOST)
    assert not re.fullmatch(workflow_id["pattern"], "not-an-id")


@ONE_ENGINE
async def test_the_limits_of_the_schema_are_the_servers(alice: UserClient) -> None:
    """The largest `limit` the schema allows is accepted, the next one is a 400 naming it."""
    for path in ("/workflows", "/notifications"):
        assert (await alice.get(path, params={"limit": 1000})).status_code == 200, path
        refused = await alice.get(path, params={"limit": 1001})
        assert refused.status_code == 400, path
        assert refused.json()["errors"][0]["field"] == "limit"


async def test_a_bad_after_is_400_even_beside_last_event_id(alice: UserClient) -> None:
    """Both resume points are checked: `?after=` out of range is 400 though the header wins."""
    response = await alice.get(
        "/notifications/events",
        params={"after": str(2**63)},
        headers={"Last-Event-ID": "0"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "after"


async def test_a_bad_after_on_a_job_stream_is_400_beside_last_event_id(
    alice: UserClient, services: Services
) -> None:
    """The job events stream checks `after` beside `Last-Event-ID` too."""
    got = await written_log(alice, services, numbered(3))
    url = f"/workflows/{got.job.workflow_id}/jobs/{got.job.id}/events"
    response = await alice.get(url, params={"after": "x"}, headers={"Last-Event-ID": "1"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "after"


# bodies


@ONE_ENGINE
async def test_bodies_state_their_rules(openapi: dict[str, Any]) -> None:
    """Lengths, ranges, enums and the either/or rules of bodies are in their schemas."""
    schemas = openapi["components"]["schemas"]
    credentials = schemas["Credentials"]["properties"]
    assert credentials["email"]["maxLength"] == 254
    assert (credentials["password"]["minLength"], credentials["password"]["maxLength"]) == (8, 128)
    token = schemas["TokenCreate"]["properties"]
    assert (token["name"]["minLength"], token["name"]["maxLength"]) == (1, 100)
    assert token["expires_in_days"]["maximum"] == 3650
    workflow = schemas["WorkflowCreate"]
    assert workflow["properties"]["kind"]["enum"] == ["HEARTBEAT", "CONTAINER", "COMMAND"]
    assert workflow["properties"]["interval"]["maximum"] == 10080
    assert [b["required"] for b in workflow["anyOf"]] == [["interval"], ["cron"]]
    assert len(schemas["UserUpdate"]["anyOf"]) == 2
    hook = schemas["WebhookCreate"]
    assert set(hook["required"]) == {"url", "events"}
    assert hook["properties"]["events"]["minItems"] == 1
    assert schemas["MarkRead"]["properties"]["ids"]["maxItems"] == 1000


@ONE_ENGINE
async def test_a_whole_number_written_with_a_fraction_is_an_integer(alice: UserClient) -> None:
    """JSON Schema's integer includes 3650.0: the server takes it; 3650.5 is still a 400."""
    accepted = await alice.post("/tokens", json={"name": "ci", "expires_in_days": 3650.0})
    assert accepted.status_code == 201, accepted.text
    refused = await alice.post("/tokens", json={"name": "ci", "expires_in_days": 3650.5})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "expires_in_days"
    workflow = {
        "name": "fraction",
        "kind": "HEARTBEAT",
        "payload": '{"endpoint": "http://127.0.0.1:9/"}',
        "interval": 5.0,
    }
    created = await alice.post(
        "/workflows", json=workflow, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert created.status_code == 201, created.text


# links


@ONE_ENGINE
async def test_what_a_post_creates_links_to_where_its_id_goes(openapi: dict[str, Any]) -> None:
    """The 201 of POST /workflows, …/schedule, /webhooks and /tokens link their `id` onwards."""
    paths = openapi["paths"]
    links = paths["/workflows"]["post"]["responses"]["201"]["links"]
    get_workflow = paths["/workflows/{workflow_id}"]["get"]["operationId"]
    assert links[get_workflow]["parameters"] == {"workflow_id": "$response.body#/id"}
    schedule = "/workflows/{workflow_id}/jobs/schedule"
    job_links = paths[schedule]["post"]["responses"]["201"]["links"]
    get_log = paths[f"{LOGS}/raw"]["get"]["operationId"]
    assert job_links[get_log]["parameters"] == {
        "workflow_id": "$request.path.workflow_id",
        "job_id": "$response.body#/id",
    }
    assert paths["/webhooks"]["post"]["responses"]["201"]["links"]
    assert paths["/tokens"]["post"]["responses"]["201"]["links"]


URLS = [
    "https://hooks.example.com/hourglass",
    "http://a/",
    "HTTP://Hooks.Example.com:8080/x?y=1#z",
    "https://user:secret@hooks.example.com",
    "https://",
    "https:///x",
    "https://hooks.example.com/ ",
    " https://hooks.example.com/",
    "http://[example.com/x",
    "http://u[@hooks.example.com/",  # found by schemathesis: a bracket in the user part
    "https://hooks.example.com:99999/",
    "https://hooks.example.com:port/",
    "ftp://hooks.example.com/",
    "hooks.example.com",
]


@pytest.mark.parametrize("url", URLS)
def test_the_webhook_url_pattern_is_the_domains_rule(url: str) -> None:
    """A URL matches the schema's pattern exactly when `url_problem` takes it (names only: a
    literal address is the outbound policy's to judge)."""
    pattern = WebhookCreate.model_json_schema()["properties"]["url"]["pattern"]
    taken = url_problem(url, OutboundPolicy()) is None and url == url.strip()
    assert bool(re.search(pattern, url)) == taken


@ONE_ENGINE
async def test_the_edges_of_body_rules_are_the_servers(alice: UserClient) -> None:
    """At the schema's bounds a body is accepted; one past them it is a 400 naming the field."""
    for body, field in [
        ({"name": "n" * 100}, None),
        ({"name": "n" * 101}, "name"),
        ({"name": "n", "expires_in_days": 3650}, None),
        ({"name": "n", "expires_in_days": 3651}, "expires_in_days"),
        ({"name": "n", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "   "}, "name"),
    ]:
        response = await alice.post("/tokens", json=body)
        if field is None:
            assert response.status_code == 201, (body, response.text)
        else:
            assert response.status_code == 400, body
            assert response.json()["errors"][0]["field"] == field
