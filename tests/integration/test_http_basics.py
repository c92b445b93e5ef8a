"""The HTTP layer every route shares: request ids, access log, body limit, problem+json, probes.

Behaviours that never reach the store run on SQLite only (`ONE_ENGINE`); everything that
touches the store runs on both engines.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from hourglass.domain.common import is_valid_id
from hourglass.services.container import Services
from hourglass.store.db import Database
from hourglass.web.app import create_app
from tests.support import (
    TemplateDatabases,
    UserClient,
    postgres_admin_url,
    register,
    running_server,
)

Serve = Callable[..., Awaitable[str]]
ONE_ENGINE = pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)


@pytest.fixture
async def anon(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


def login_body(padding: int = 0) -> bytes:
    return json.dumps({"email": "a@example.com", "password": "p" * (8 + padding)}).encode()


def is_problem(response: httpx.Response, status: int) -> bool:
    body = response.json()
    return (
        response.status_code == status
        and response.headers["content-type"] == "application/problem+json"
        and {"type", "title", "status", "detail"} <= set(body)
        and body["status"] == status
    )


# request ids and the access log


@ONE_ENGINE
async def test_every_response_carries_a_fresh_request_id(anon: httpx.AsyncClient) -> None:
    """Each response has its own X-Request-ID, a ULID, errors included."""
    ok, missing = await anon.get("/healthz"), await anon.get("/no/such/route")
    ids = [ok.headers["x-request-id"], missing.headers["x-request-id"]]
    assert all(is_valid_id(i) for i in ids)
    assert ids[0] != ids[1]


@ONE_ENGINE
async def test_a_safe_incoming_request_id_is_kept(anon: httpx.AsyncClient) -> None:
    """A caller's X-Request-ID (letters, digits, `._:-`) is echoed, to correlate logs."""
    response = await anon.get("/healthz", headers={"X-Request-ID": "edge-proxy:abc.123"})
    assert response.headers["x-request-id"] == "edge-proxy:abc.123"


@ONE_ENGINE
@pytest.mark.parametrize("incoming", ["has spaces", "x" * 129])
async def test_an_unsafe_incoming_request_id_is_replaced(
    anon: httpx.AsyncClient, incoming: str
) -> None:
    """An X-Request-ID that could corrupt a log line is replaced by our own."""
    response = await anon.get("/healthz", headers={"X-Request-ID": incoming})
    assert is_valid_id(response.headers["x-request-id"])


async def _access_lines(caplog: pytest.LogCaptureFixture, count: int) -> list[dict[str, object]]:
    # the line is written as the response completes, which can be just after the client has it
    for _ in range(1000):
        records = [r for r in caplog.records if r.name == "hourglass.access"]
        if len(records) >= count:
            return [json.loads(r.getMessage()) for r in records]
        await asyncio.sleep(0)
    raise AssertionError(f"expected {count} access-log lines, got {len(records)}")


@ONE_ENGINE
async def test_each_request_logs_one_structured_access_line(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    """One JSON line per request: id, method, path, status, bytes, duration and client."""
    caplog.set_level(logging.INFO, logger="hourglass.access")
    async with httpx.AsyncClient(base_url=await serve(access_log=True)) as client:
        response = await client.get("/no/such/route")
    [line] = await _access_lines(caplog, 1)
    assert line["event"] == "request"
    assert line["request_id"] == response.headers["x-request-id"]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/no/such/route", 404)
    assert line["bytes"] == len(response.content)
    assert isinstance(line["duration_ms"], float)
    assert line["client"] == "127.0.0.1"


@ONE_ENGINE
async def test_the_access_log_can_be_turned_off(
    anon: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """With `access_log=False` (the test default) nothing is logged per request."""
    caplog.set_level(logging.INFO, logger="hourglass.access")
    await anon.get("/healthz")
    await anon.get("/healthz")  # by now the first request's line would be there
    assert [r for r in caplog.records if r.name == "hourglass.access"] == []


# unexpected errors


class Boom(Exception):
    """What the test route raises: an error no handler knows."""


def with_a_crashing_route(services: Services) -> FastAPI:
    """The real app plus one route that raises."""
    app = create_app(services)

    async def boom() -> None:
        raise Boom("kaput")

    app.add_api_route("/boom", boom)
    return app


@ONE_ENGINE
async def test_a_crash_is_a_500_problem_with_the_request_id(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected error answers 500 problem+json carrying X-Request-ID, also in the body."""
    caplog.set_level(logging.ERROR, logger="hourglass.web")
    async with (
        running_server(services, with_a_crashing_route(services)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        response = await client.get("/boom", headers={"X-Request-ID": "trace-42"})
    assert is_problem(response, 500)
    assert response.headers["x-request-id"] == "trace-42"
    assert response.json()["request_id"] == "trace-42"
    assert response.headers["cache-control"] == "no-store"
    [record] = [r for r in caplog.records if r.name == "hourglass.web"]
    assert "trace-42" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is Boom


@ONE_ENGINE
async def test_a_crash_is_logged_in_the_access_log_with_its_real_bytes(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """The access line of a 500 has its status, request id and the bytes actually sent."""
    caplog.set_level(logging.INFO, logger="hourglass.access")
    logged = dataclasses.replace(
        services, settings=dataclasses.replace(services.settings, access_log=True)
    )
    async with (
        running_server(logged, with_a_crashing_route(logged)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        response = await client.get("/boom")
    [line] = await _access_lines(caplog, 1)
    assert (line["status"], line["request_id"]) == (500, response.headers["x-request-id"])
    assert line["bytes"] == len(response.content) > 0


# request bodies


@ONE_ENGINE
async def test_a_declared_oversized_body_is_413(serve: Serve) -> None:
    """A Content-Length over the limit is refused with 413 problem+json before parsing."""
    async with httpx.AsyncClient(base_url=await serve(max_body_bytes=1024)) as client:
        response = await client.post(
            "/auth/login", content=login_body(2000), headers={"content-type": "application/json"}
        )
    assert is_problem(response, 413)


@ONE_ENGINE
async def test_a_body_of_exactly_the_limit_is_accepted(serve: Serve) -> None:
    """The limit is inclusive: a 1024-byte body under a 1024-byte limit is processed."""
    body = login_body()
    body = login_body(1024 - len(body))
    assert len(body) == 1024
    async with httpx.AsyncClient(base_url=await serve(max_body_bytes=1024)) as client:
        response = await client.post(
            "/auth/login", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 401


@ONE_ENGINE
async def test_the_default_limit_is_one_mebibyte(anon: httpx.AsyncClient) -> None:
    """Out of the box, 1 MiB + 1 byte is 413."""
    response = await anon.post(
        "/auth/login",
        content=b" " * (1024 * 1024 + 1),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


@ONE_ENGINE
async def test_a_chunked_oversized_body_is_413(serve: Serve) -> None:
    """A body without Content-Length is cut off with 413 once it passes the limit."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * 512

    async with httpx.AsyncClient(base_url=await serve(max_body_bytes=1024)) as client:
        response = await client.post(
            "/auth/login", content=chunks(), headers={"content-type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert is_problem(response, 413)


@ONE_ENGINE
async def test_malformed_json_is_400_naming_body(anon: httpx.AsyncClient) -> None:
    """A body that is not JSON is 400 problem+json with the error on `body`."""
    response = await anon.post(
        "/auth/login", content=b'{"email": "a@', headers={"content-type": "application/json"}
    )
    assert is_problem(response, 400)
    assert [e["field"] for e in response.json()["errors"]] == ["body"]


@ONE_ENGINE
@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[" * 100_000, "nested too deeply"),
        (b'{"email": "a@x.com", "password": "\xff\xfe\xfd\xfc"}', "must be UTF-8"),
        (b'{"email": "a@x.com", "password": NaN}', "malformed JSON"),
        (b"", "malformed JSON"),
    ],
)
async def test_unreadable_json_is_400_naming_body(
    anon: httpx.AsyncClient, raw: bytes, message: str
) -> None:
    """Too deep, not UTF-8, NaN or empty: the same 400 problem+json with `errors` on `body`."""
    response = await anon.post(
        "/auth/login", content=raw, headers={"content-type": "application/json"}
    )
    assert is_problem(response, 400)
    assert response.json()["errors"] == [{"field": "body", "message": message}]


@ONE_ENGINE
@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        ("utf-8-sig", "must be UTF-8 without a byte order mark"),
        ("utf-16", "must be UTF-8 without a byte order mark"),
        ("utf-16-le", "malformed JSON"),
        ("utf-16-be", "malformed JSON"),
        ("utf-32", "must be UTF-8 without a byte order mark"),
    ],
)
async def test_a_body_in_another_encoding_is_400_naming_body(
    anon: httpx.AsyncClient, encoding: str, message: str
) -> None:
    """Only UTF-8 without a BOM is read: UTF-16, UTF-32 or a BOM is 400 on `body`."""
    raw = json.dumps({"email": "a@example.com", "password": "correct horse"}).encode(encoding)
    response = await anon.post(
        "/auth/login", content=raw, headers={"content-type": "application/json"}
    )
    assert is_problem(response, 400)
    assert response.json()["errors"] == [{"field": "body", "message": message}]


@ONE_ENGINE
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_not_sent_as_json_is_400_naming_body(
    anon: httpx.AsyncClient, content_type: str | None
) -> None:
    """A JSON body needs a JSON Content-Type (so a cross-site form cannot post one)."""
    headers = {"content-type": content_type} if content_type else {}
    response = await anon.post("/auth/login", content=login_body(), headers=headers)
    assert is_problem(response, 400)
    assert [e["field"] for e in response.json()["errors"]] == ["body"]


@ONE_ENGINE
async def test_a_json_suffix_content_type_is_accepted(anon: httpx.AsyncClient) -> None:
    """`application/merge-patch+json; charset=utf-8` counts as JSON too."""
    response = await anon.post(
        "/auth/login",
        content=login_body(),
        headers={"content-type": "application/merge-patch+json; charset=utf-8"},
    )
    assert response.status_code == 401


@ONE_ENGINE
async def test_a_json_body_that_is_not_an_object_is_400(anon: httpx.AsyncClient) -> None:
    """A JSON array where an object belongs is 400, not 500."""
    response = await anon.post("/auth/login", json=["a@example.com", "password"])
    assert is_problem(response, 400)


@ONE_ENGINE
@pytest.mark.parametrize("email", [5, None, ["a@example.com"]])
async def test_wrong_types_are_400_naming_the_field(anon: httpx.AsyncClient, email: object) -> None:
    """A non-string email is 400 naming `email` (strings are never coerced)."""
    response = await anon.post("/auth/register", json={"email": email, "password": "p" * 10})
    assert is_problem(response, 400)
    assert [e["field"] for e in response.json()["errors"]] == ["email"]


# routing and documentation


@ONE_ENGINE
async def test_an_unknown_route_is_404_problem_json(anon: httpx.AsyncClient) -> None:
    """Paths that do not exist answer 404 problem+json."""
    assert is_problem(await anon.get("/no/such/route"), 404)


@ONE_ENGINE
async def test_a_wrong_method_is_405_problem_json(anon: httpx.AsyncClient) -> None:
    """A known path with an unsupported method answers 405 problem+json."""
    assert is_problem(await anon.delete("/users"), 405)


CONTRACT_ROUTES = {
    "/auth/register": {"post"},
    "/auth/login": {"post"},
    "/auth/logout": {"post"},
    "/auth/validate": {"post"},
    "/users": {"get", "put"},
    "/tokens": {"get", "post"},
    "/tokens/{token_id}": {"delete"},
    "/workflows": {"get", "post"},
    "/workflows/{workflow_id}": {"get", "put", "patch", "delete"},
    "/workflows/{workflow_id}/jobs": {"get"},
    "/workflows/{workflow_id}/jobs/schedule": {"post"},
    "/workflows/{workflow_id}/jobs/{job_id}": {"get"},
    "/workflows/{workflow_id}/jobs/{job_id}/cancel": {"post"},
    "/healthz": {"get"},
    "/readyz": {"get"},
}
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


@pytest.fixture
async def openapi(anon: httpx.AsyncClient) -> dict[str, Any]:
    response = await anon.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(p, m, op) for p, ops in openapi["paths"].items() for m, op in ops.items()]


@ONE_ENGINE
async def test_openapi_lists_every_route_of_the_contract(openapi: dict[str, Any]) -> None:
    """/openapi.json describes each route and method of the contract implemented so far."""
    for path, methods in CONTRACT_ROUTES.items():
        assert methods <= set(openapi["paths"].get(path, {})), path


@ONE_ENGINE
async def test_openapi_never_advertises_422(openapi: dict[str, Any]) -> None:
    """No operation lists 422 and FastAPI's validation-error schemas are gone (invalid is 400)."""
    for path, method, operation in operations(openapi):
        assert "422" not in operation["responses"], (method, path)
    assert not {"HTTPValidationError", "ValidationError"} & set(openapi["components"]["schemas"])


@ONE_ENGINE
async def test_openapi_errors_are_problem_json(openapi: dict[str, Any]) -> None:
    """Every documented error response is application/problem+json of the Problem schema."""
    problem = openapi["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert "errors" in problem["properties"]
    for path, method, operation in operations(openapi):
        for status, response in operation["responses"].items():
            if int(status) >= 400 and (path, status) != ("/readyz", "503"):
                assert response["content"] == PROBLEM, (method, path, status)


@ONE_ENGINE
@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("post", "/auth/register", {400, 403, 409, 413, 503}),
        ("post", "/auth/login", {400, 401, 413, 429, 503}),
        ("post", "/auth/logout", {401, 403}),
        ("put", "/users", {400, 401, 403, 413}),
        ("delete", "/tokens/{token_id}", {401, 403, 404}),
        ("get", "/workflows", {400, 401, 503}),
        ("post", "/workflows", {400, 401, 403, 409, 413, 503}),
        ("get", "/workflows/{workflow_id}", {401, 404}),
        ("put", "/workflows/{workflow_id}", {400, 401, 403, 404, 409, 413}),
        ("patch", "/workflows/{workflow_id}", {401, 403, 404}),
        ("delete", "/workflows/{workflow_id}", {401, 403, 404, 412}),
        ("post", "/workflows/{workflow_id}/jobs/schedule", {400, 401, 403, 404, 409, 412}),
        ("post", "/workflows/{workflow_id}/jobs/{job_id}/cancel", {401, 403, 404, 409}),
        ("get", "/readyz", {503}),
    ],
)
async def test_openapi_lists_the_errors_each_route_can_answer(
    openapi: dict[str, Any], method: str, path: str, statuses: set[int]
) -> None:
    """Each operation documents the error statuses of the contract it can answer."""
    documented = {int(s) for s in openapi["paths"][path][method]["responses"]}
    assert statuses <= documented


@ONE_ENGINE
async def test_openapi_shows_retry_after_on_429(openapi: dict[str, Any]) -> None:
    """The login's 429 documents its Retry-After header."""
    response = openapi["paths"]["/auth/login"]["post"]["responses"]["429"]
    assert "Retry-After" in response["headers"]


@ONE_ENGINE
async def test_openapi_declares_cookie_csrf_and_bearer_security(openapi: dict[str, Any]) -> None:
    """Session cookie, CSRF header and Bearer token are security schemes, used per operation."""
    schemes = openapi["components"]["securitySchemes"]
    assert schemes["sessionCookie"] == {
        **schemes["sessionCookie"],
        "in": "cookie",
        "name": "session",
    }
    assert schemes["csrfHeader"]["in"] == "header"
    assert schemes["csrfHeader"]["name"] == "X-CSRF-Token"
    assert (schemes["bearerToken"]["type"], schemes["bearerToken"]["scheme"]) == ("http", "bearer")
    paths = openapi["paths"]
    assert paths["/workflows"]["get"]["security"] == [{"sessionCookie": []}, {"bearerToken": []}]
    assert paths["/workflows"]["post"]["security"] == [
        {"sessionCookie": [], "csrfHeader": []},
        {"bearerToken": []},
    ]
    for path, method in [("/auth/login", "post"), ("/auth/register", "post"), ("/healthz", "get")]:
        assert "security" not in paths[path][method], path
        assert "401" not in paths[path][method]["responses"] or path == "/auth/login"


@ONE_ENGINE
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/workflows"),
        ("put", "/workflows/{workflow_id}"),
        ("post", "/workflows/{workflow_id}/jobs/schedule"),
    ],
)
async def test_openapi_marks_the_idempotency_key_required(
    openapi: dict[str, Any], method: str, path: str
) -> None:
    """Idempotency-Key is a required header where the contract requires it."""
    [header] = [
        p for p in openapi["paths"][path][method]["parameters"] if p["name"] == "Idempotency-Key"
    ]
    assert header["in"] == "header"
    assert header["required"] is True
    assert header["schema"]["type"] == "string"


@ONE_ENGINE
@pytest.mark.parametrize(
    ("method", "path", "model", "required"),
    [
        ("post", "/auth/register", "Credentials", {"email", "password"}),
        ("post", "/auth/login", "Credentials", {"email", "password"}),
        ("put", "/users", "UserUpdate", set()),
        ("post", "/tokens", "TokenCreate", {"name"}),
        ("post", "/workflows", "WorkflowCreate", {"name", "kind", "payload"}),
        ("put", "/workflows/{workflow_id}", "WorkflowReplace", {"name", "payload"}),
    ],
)
async def test_openapi_documents_each_json_body(
    openapi: dict[str, Any], method: str, path: str, model: str, required: set[str]
) -> None:
    """Each JSON body is documented as required, with its schema and its required fields."""
    body = openapi["paths"][path][method]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {
        "$ref": f"#/components/schemas/{model}"
    }
    schema = openapi["components"]["schemas"][model]
    assert set(schema.get("required", [])) == required


@ONE_ENGINE
async def test_docs_are_served(anon: httpx.AsyncClient) -> None:
    """/docs is an HTML page."""
    response = await anon.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


async def test_no_response_is_cacheable_by_shared_caches(
    alice: UserClient, anon: httpx.AsyncClient
) -> None:
    """Every response says private or no-store; none says public."""
    responses = [
        await alice.get("/users"),
        await alice.get("/tokens"),
        await alice.post("/tokens", json={"name": "ci"}),
        await alice.post("/auth/validate"),
        await anon.post("/auth/login", json={"email": alice.email, "password": alice.password}),
        await anon.get("/no/such/route"),
        await anon.get("/healthz"),
        await anon.get("/openapi.json"),
    ]
    for response in responses:
        cache_control = response.headers.get("cache-control", "")
        assert "public" not in cache_control, response.url
        assert "private" in cache_control or "no-store" in cache_control, response.url


# probes


class TcpProxy:
    """A real TCP hop in front of PostgreSQL that a test can cut, like a server going away."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        self._tasks.update(pipes)
        await asyncio.gather(*pipes)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.close()

    async def cut(self) -> None:
        """Stop listening and drop every open connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in self._writers:
            writer.transport.abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def fragile_store(
    engine_name: str, database_url: str, templates: TemplateDatabases, tmp_path: Path
) -> AsyncIterator[tuple[Database, Callable[[], Awaitable[None]]]]:
    """A migrated store and a way to make it vanish for real (no mocks).

    SQLite: its directory is deleted once the pool is closed. PostgreSQL: it is reached
    through a TCP proxy, which is then shut.
    """
    if engine_name == "sqlite":
        directory = tmp_path / "fragile"
        directory.mkdir()
        db = Database.connect(await templates.sqlite_url(directory))

        async def vanish() -> None:
            await db.close()
            shutil.rmtree(directory)

        yield db, vanish
        await db.close()
        return
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    db = Database.connect(
        url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    )
    yield db, proxy.cut
    await db.close()
    await proxy.cut()


async def test_healthz_is_200(anon: httpx.AsyncClient) -> None:
    """/healthz answers 200 without authentication."""
    response = await anon.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_is_200_while_the_store_answers(anon: httpx.AsyncClient) -> None:
    """/readyz answers 200 without authentication when the store is reachable."""
    response = await anon.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_is_503_when_the_store_is_gone(
    serve: Serve, fragile_store: tuple[Database, Callable[[], Awaitable[None]]]
) -> None:
    """Once the store is unreachable /readyz answers 503, while /healthz stays 200."""
    db, vanish = fragile_store
    async with httpx.AsyncClient(base_url=await serve(db=db)) as client:
        assert (await client.get("/readyz")).status_code == 200
        await vanish()
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/healthz")).status_code == 200


async def test_requests_are_503_problem_json_when_the_store_is_gone(
    serve: Serve, fragile_store: tuple[Database, Callable[[], Awaitable[None]]]
) -> None:
    """A request that needs the store answers 503 problem+json, never 500."""
    db, vanish = fragile_store
    user = await register(await serve(db=db))
    try:
        await vanish()
        response = await user.get("/users")
    finally:
        await user.client.aclose()
    assert is_problem(response, 503)


@pytest.mark.parametrize("engine_name", ["postgres"], indirect=True)
async def test_readyz_is_503_when_the_postgres_database_is_dropped(
    serve: Serve, database_url: str
) -> None:
    """A PostgreSQL database dropped under a running server makes /readyz 503, not 500."""
    admin_url = postgres_admin_url()
    assert admin_url is not None
    db = Database.connect(database_url)
    try:
        async with httpx.AsyncClient(base_url=await serve(db=db)) as client:
            assert (await client.get("/readyz")).status_code == 200
            admin = await asyncpg.connect(admin_url)
            try:
                name = make_url(database_url).database
                await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            finally:
                await admin.close()
            assert (await client.get("/readyz")).status_code == 503
    finally:
        await db.close()
