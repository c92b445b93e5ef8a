"""Personal API tokens: shown once, stored hashed, Bearer auth without CSRF, expiry, revocation."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hourglass.domain.common import FrozenClock, is_valid_id
from hourglass.store.db import Database
from hourglass.store.schema import api_tokens
from tests.support import UserClient, register

Serve = Callable[..., Awaitable[str]]


@pytest.fixture
async def anon(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no session and no cookies, as a script would be."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def create(user: UserClient, **body: Any) -> dict[str, Any]:
    response = await user.post("/tokens", json={"name": "ci", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def field_names(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


async def test_create_answers_201_with_the_secret(alice: UserClient) -> None:
    """POST /tokens answers 201 with id, name, token, created_at and expires_at."""
    response = await alice.post("/tokens", json={"name": "deploy bot"})
    assert response.status_code == 201
    body = response.json()
    assert {"id", "name", "token", "created_at", "expires_at"} <= set(body)
    assert is_valid_id(body["id"])
    assert body["name"] == "deploy bot"
    assert len(body["token"]) >= 43


async def test_a_token_without_lifetime_never_expires(alice: UserClient) -> None:
    """Without `expires_in_days`, `expires_at` is present and null."""
    assert (await create(alice))["expires_at"] is None


async def test_expires_at_is_the_given_days_after_creation(serve: Serve) -> None:
    """`expires_in_days: 30` expires exactly 30 days after `created_at`."""
    user = await register(await serve(clock=FrozenClock()))
    try:
        body = await create(user, expires_in_days=30)
    finally:
        await user.client.aclose()
    assert body["created_at"] == "2026-01-01T00:00:00.000000Z"
    assert body["expires_at"] == "2026-01-31T00:00:00.000000Z"


async def test_list_shows_tokens_without_their_secrets(alice: UserClient) -> None:
    """GET /tokens lists the caller's tokens, newest first, and never a secret."""
    first = await create(alice, name="first")
    second = await create(alice, name="second")
    response = await alice.get("/tokens")
    assert response.status_code == 200
    listed = response.json()["tokens"]
    assert [t["id"] for t in listed] == [second["id"], first["id"]]
    assert all("token" not in t for t in listed)
    assert first["token"] not in response.text
    assert second["token"] not in response.text


async def test_list_shows_only_the_callers_tokens(alice: UserClient, bob: UserClient) -> None:
    """Bob does not see Alice's tokens."""
    await create(alice)
    assert (await bob.get("/tokens")).json() == {"tokens": []}


async def test_only_a_sha256_of_the_secret_is_stored(alice: UserClient, db: Database) -> None:
    """The api_tokens table holds the SHA-256 of the secret and not the secret."""
    secret = (await create(alice))["token"]
    async with db.read() as conn:
        row = (await conn.execute(select(api_tokens))).one()
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(value) for value in row)


async def test_bearer_token_authenticates(alice: UserClient, anon: httpx.AsyncClient) -> None:
    """`Authorization: Bearer <token>` is the user, with no cookie at all."""
    secret = (await create(alice))["token"]
    response = await anon.get("/users", headers=bearer(secret))
    assert response.status_code == 200
    assert response.json()["id"] == alice.user_id


async def test_bearer_requests_need_no_csrf(alice: UserClient, anon: httpx.AsyncClient) -> None:
    """State-changing requests with a Bearer token pass without X-CSRF-Token."""
    secret = (await create(alice))["token"]
    put = await anon.put("/users", json={"notification_preference": "NONE"}, headers=bearer(secret))
    assert put.status_code == 204
    validate = await anon.post("/auth/validate", headers=bearer(secret))
    assert validate.json()["via"] == "token"


async def test_use_is_recorded_in_last_used_at(alice: UserClient, anon: httpx.AsyncClient) -> None:
    """A token's `last_used_at` is null until it is used, then set."""
    secret = (await create(alice))["token"]
    assert (await alice.get("/tokens")).json()["tokens"][0]["last_used_at"] is None
    await anon.get("/users", headers=bearer(secret))
    assert (await alice.get("/tokens")).json()["tokens"][0]["last_used_at"] is not None


async def test_an_unknown_bearer_token_is_401(anon: httpx.AsyncClient) -> None:
    """A made-up token is 401 problem+json."""
    response = await anon.get("/users", headers=bearer("hg_made_up"))
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_bad_bearer_token_is_401_even_with_a_valid_cookie(alice: UserClient) -> None:
    """A presented token decides: a wrong one does not fall back to the session cookie."""
    assert (await alice.get("/users", headers=bearer("hg_made_up"))).status_code == 401


async def test_an_expired_token_is_401(serve: Serve) -> None:
    """A token stops working once its `expires_in_days` have passed."""
    clock = FrozenClock()
    url = await serve(clock=clock)
    user = await register(url)
    try:
        secret = (await create(user, expires_in_days=1))["token"]
        async with httpx.AsyncClient(base_url=url) as script:
            clock.advance(hours=23, minutes=59)
            assert (await script.get("/users", headers=bearer(secret))).status_code == 200
            clock.advance(minutes=1)
            assert (await script.get("/users", headers=bearer(secret))).status_code == 401
    finally:
        await user.client.aclose()


async def test_delete_revokes_the_token_at_once(alice: UserClient, anon: httpx.AsyncClient) -> None:
    """DELETE /tokens/{id} answers 204; the token is gone from the list and is then 401."""
    created = await create(alice)
    assert (await anon.get("/users", headers=bearer(created["token"]))).status_code == 200
    response = await alice.delete(f"/tokens/{created['id']}")
    assert response.status_code == 204
    assert (await alice.get("/tokens")).json() == {"tokens": []}
    assert (await anon.get("/users", headers=bearer(created["token"]))).status_code == 401


async def test_deleting_someone_elses_token_is_404_and_keeps_it(
    alice: UserClient, bob: UserClient, anon: httpx.AsyncClient
) -> None:
    """Bob cannot revoke (or learn of) Alice's token: 404, and the token still works."""
    created = await create(alice)
    assert (await bob.delete(f"/tokens/{created['id']}")).status_code == 404
    assert (await anon.get("/users", headers=bearer(created["token"]))).status_code == 200


@pytest.mark.parametrize("token_id", ["not-a-ulid", "01JGXYZ5V8T3K9Q2M4N6P7R8S0"])
async def test_deleting_a_malformed_or_unknown_id_is_404(alice: UserClient, token_id: str) -> None:
    """Malformed and unknown ids are both plain 404 problem+json."""
    response = await alice.delete(f"/tokens/{token_id}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("days", [0, 3651, 10**30])
async def test_expires_in_days_out_of_range_is_400(alice: UserClient, days: int) -> None:
    """`expires_in_days` must be 1 to 3650; anything else is 400 naming it."""
    response = await alice.post("/tokens", json={"name": "ci", "expires_in_days": days})
    assert response.status_code == 400
    assert field_names(response) == ["expires_in_days"]


@pytest.mark.parametrize("days", ["30", 1.5])
async def test_expires_in_days_of_the_wrong_type_is_400(alice: UserClient, days: object) -> None:
    """Strings, fractions and booleans are not a number of days."""
    response = await alice.post("/tokens", json={"name": "ci", "expires_in_days": days})
    assert response.status_code == 400
    assert field_names(response) == ["expires_in_days"]


@pytest.mark.parametrize("body", [{}, {"name": "   "}, {"name": "n" * 101}])
async def test_a_token_needs_a_name_of_1_to_100_characters(
    alice: UserClient, body: dict[str, str]
) -> None:
    """A missing, blank or over-long name is 400 naming `name`."""
    response = await alice.post("/tokens", json=body)
    assert response.status_code == 400
    assert field_names(response) == ["name"]


@pytest.mark.parametrize(("method", "path"), [("GET", "/tokens"), ("POST", "/tokens")])
async def test_tokens_without_authentication_is_401(
    anon: httpx.AsyncClient, method: str, path: str
) -> None:
    """Listing or creating tokens needs a session or token."""
    response = await anon.request(method, path, json={"name": "ci"})
    assert response.status_code == 401
