"""Text no engine can store (NUL, lone surrogates) and control characters where names belong are
400 problem+json naming the field on every route family, on SQLite and PostgreSQL alike: never a
500, and never stored on one engine while the other refuses it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hourglass.store.db import Database
from hourglass.store.schema import api_tokens, users, workflows
from tests.integration.workflow_helpers import body, create, key
from tests.support import UserClient

# JSON spells these as \u escapes, so they arrive intact (httpx's own encoder would refuse them)
SURROGATE = "\ud800"
NUL = "\x00"
CONTROL = "\x1b"


@pytest.fixture
async def anon(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


async def send(
    client: httpx.AsyncClient | UserClient,
    method: str,
    url: str,
    value: Any,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    content = json.dumps(value)  # ensure_ascii: "\ud800" travels as the escape \ud800
    all_headers = {"content-type": "application/json", **(headers or {})}
    return await client.request(method, url, content=content, headers=all_headers)


def named(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in response.json()["errors"]]


async def count(db: Database, table: Any) -> int:
    async with db.read() as tx:
        return int((await tx.execute(select(func.count()).select_from(table))).scalar_one())


# accounts


@pytest.mark.parametrize("bad", [SURROGATE, NUL, CONTROL])
async def test_register_refuses_bad_text_in_the_email(
    anon: httpx.AsyncClient, db: Database, bad: str
) -> None:
    """Sign-up with NUL, a lone surrogate or a control character in the email is 400 on `email`."""
    response = await send(
        anon, "POST", "/auth/register", {"email": f"a{bad}b@example.com", "password": "p" * 10}
    )
    assert named(response) == ["email"]
    assert await count(db, users) == 0


@pytest.mark.parametrize("bad", [SURROGATE, NUL])
async def test_register_refuses_bad_text_in_the_password(
    anon: httpx.AsyncClient, db: Database, bad: str
) -> None:
    """A password with NUL or a lone surrogate is 400 on `password`."""
    response = await send(
        anon, "POST", "/auth/register", {"email": "a@example.com", "password": f"correct{bad}horse"}
    )
    assert named(response) == ["password"]
    assert await count(db, users) == 0


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": f"alice{SURROGATE}@example.com", "password": "correct horse battery"},
        {"email": f"alice{NUL}@example.com", "password": "correct horse battery"},
        {"email": f"alice{CONTROL}@example.com", "password": "correct horse battery"},
        {"email": "alice@example.com", "password": f"correct horse{SURROGATE}"},
        {"email": "alice@example.com", "password": f"correct horse{NUL}"},
    ],
)
async def test_login_with_bad_text_is_400_or_401_never_500(
    anon: httpx.AsyncClient, alice: UserClient, credentials: dict[str, str]
) -> None:
    """A login carrying text no account can hold is refused as a client error."""
    response = await send(anon, "POST", "/auth/login", credentials)
    assert response.status_code in (400, 401), response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_unknown_top_level_key_with_bad_text_is_400(anon: httpx.AsyncClient) -> None:
    """Even a key the route ignores is checked: it is named in the 400."""
    value = {"email": "a@example.com", "password": "p" * 10, f"x{NUL}": 1}
    assert named(await send(anon, "POST", "/auth/register", value)) == ["x\\x00"]


@pytest.mark.parametrize("bad", [SURROGATE, NUL, CONTROL])
async def test_token_names_with_bad_text_are_400(alice: UserClient, db: Database, bad: str) -> None:
    """A token name with NUL, a lone surrogate or a control character is 400 on `name`."""
    assert named(await send(alice, "POST", "/tokens", {"name": f"ci{bad}"})) == ["name"]
    assert await count(db, api_tokens) == 0


@pytest.mark.parametrize("field", ["current_password", "new_password"])
@pytest.mark.parametrize("bad", [SURROGATE, NUL])
async def test_password_changes_with_bad_text_are_400(
    alice: UserClient, field: str, bad: str
) -> None:
    """PUT /users with NUL or a lone surrogate in either password is 400 naming it."""
    passwords = {"current_password": alice.password, "new_password": "another horse"}
    passwords[field] = f"{passwords[field]}{bad}"
    assert named(await send(alice, "PUT", "/users", passwords)) == [field]


# characters that make a listing or a terminal show other text than what is stored

# C1 controls (NEL, CSI), the bidi embeddings/overrides/isolates, line and paragraph separators
SPOOFING = ["\x85", "\x9b", "\u202a", "\u202e", "\u2066", "\u2069", "\u2028", "\u2029"]


async def test_register_refuses_spoofing_characters_in_the_email(
    anon: httpx.AsyncClient, db: Database
) -> None:
    """Each C1 control, bidi control or line separator in an email is 400 on `email`."""
    for bad in SPOOFING:
        value = {"email": f"a{bad}b@example.com", "password": "p" * 10}
        assert named(await send(anon, "POST", "/auth/register", value)) == ["email"], repr(bad)
    assert await count(db, users) == 0


async def test_login_refuses_spoofing_characters_in_the_email(
    anon: httpx.AsyncClient, alice: UserClient
) -> None:
    """A login whose email holds one is 400 on `email` (no account can have it)."""
    for bad in SPOOFING:
        value = {"email": f"alice{bad}@example.com", "password": alice.password}
        assert named(await send(anon, "POST", "/auth/login", value)) == ["email"], repr(bad)


async def test_token_names_refuse_spoofing_characters(alice: UserClient, db: Database) -> None:
    """Each one in a token name is 400 on `name`, and the message says which."""
    for bad in SPOOFING:
        response = await send(alice, "POST", "/tokens", {"name": f"ci{bad}gpj.exe"})
        assert named(response) == ["name"], repr(bad)
        assert f"U+{ord(bad):04X}" in response.json()["errors"][0]["message"]
    assert await count(db, api_tokens) == 0


async def test_workflow_names_refuse_spoofing_characters(alice: UserClient, db: Database) -> None:
    """Each one in a workflow name is 400 on `name`, on create and on replace."""
    workflow_id = await create(alice, name="unchanged")
    for bad in SPOOFING:
        name = f"backup{bad}gpj.exe"
        assert named(await send(alice, "POST", "/workflows", body(name=name), key())) == ["name"]
        replaced = await send(alice, "PUT", f"/workflows/{workflow_id}", body(name=name), key())
        assert named(replaced) == ["name"], repr(bad)
    assert await count(db, workflows) == 1


async def test_names_keep_other_non_ascii_text(alice: UserClient) -> None:
    """Letters, emoji and right-to-left scripts themselves stay welcome in names."""
    workflow_id = await create(alice, name="nightly ✓ סיכום 🌙")
    assert (await alice.get(f"/workflows/{workflow_id}")).json()["name"] == "nightly ✓ סיכום 🌙"


# workflows


def workflow_cases() -> list[Any]:
    env = {"cmd": ["env"], "env": {"HOME": f"/h{SURROGATE}"}}
    return [
        pytest.param({"name": f"n{SURROGATE}"}, "name", id="name-surrogate"),
        pytest.param({"name": f"n{NUL}"}, "name", id="name-nul"),
        pytest.param({"name": f"n{CONTROL}"}, "name", id="name-control"),
        pytest.param({"name": "n", "kind": f"HEARTBEAT{NUL}"}, "kind", id="kind-nul"),
        pytest.param({"cron": f"* * * * *{NUL}", "interval": None}, "cron", id="cron-nul"),
        pytest.param(
            {"payload": {"endpoint": f"https://x{SURROGATE}.com"}},
            "payload.endpoint",
            id="endpoint-surrogate",
        ),
        pytest.param(
            {"payload": {"endpoint": f"https://x.com/{NUL}"}}, "payload.endpoint", id="endpoint-nul"
        ),
        pytest.param({"kind": "COMMAND", "payload": env}, "payload.env.HOME", id="env-surrogate"),
        pytest.param(
            {"kind": "COMMAND", "payload": {"cmd": ["ls"], "env": {"A": NUL}}},
            "payload.env.A",
            id="env-nul",
        ),
    ]


@pytest.mark.parametrize(("overrides", "field"), workflow_cases())
async def test_workflow_create_refuses_bad_text(
    alice: UserClient, db: Database, overrides: dict[str, Any], field: str
) -> None:
    """POST /workflows with bad text in a field or inside the payload is 400 naming it."""
    response = await send(alice, "POST", "/workflows", body(**overrides), key())
    assert named(response) == [field]
    assert await count(db, workflows) == 0


@pytest.mark.parametrize(("overrides", "field"), workflow_cases())
async def test_workflow_replace_refuses_bad_text(
    alice: UserClient, overrides: dict[str, Any], field: str
) -> None:
    """PUT /workflows/{id} with bad text is 400 naming it, and the workflow is unchanged."""
    workflow_id = await create(alice, name="unchanged")
    response = await send(alice, "PUT", f"/workflows/{workflow_id}", body(**overrides), key())
    assert named(response) == [field]
    assert (await alice.get(f"/workflows/{workflow_id}")).json()["name"] == "unchanged"


@pytest.mark.parametrize("bad", ["%00", "a%00b", "%1B", "%0A"])
async def test_list_query_with_nul_or_control_characters_is_400(
    alice: UserClient, bad: str
) -> None:
    """GET /workflows?query= with NUL or a control character is 400 naming `query`."""
    assert named(await alice.get(f"/workflows?query={bad}")) == ["query"]


async def test_list_query_with_invalid_utf8_is_not_an_error(alice: UserClient) -> None:
    """Undecodable bytes in the query string become U+FFFD, which is ordinary text."""
    await create(alice, name="plain")
    response = await alice.get("/workflows?query=%ED%A0%80")
    assert response.status_code == 200
    assert response.json()["workflows"] == []
