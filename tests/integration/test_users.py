"""`GET/PUT /users`: the caller's record, notification preference and password change."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from hourglass.domain.common import FrozenClock
from tests.support import UserClient, register

NEW_PASSWORD = "a brand new passphrase"
Serve = Callable[..., Awaitable[str]]


@pytest.fixture
async def anon(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no session."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/auth/login", json={"email": email, "password": password})


def field_names(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


def password_change(current: str, new: str = NEW_PASSWORD) -> dict[str, str]:
    return {"current_password": current, "new_password": new}


async def test_get_users_returns_the_callers_record(alice: UserClient) -> None:
    """GET /users answers every field of the caller, none dropped, timestamps in RFC 3339 Z."""
    response = await alice.get("/users")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "email", "notification_preference", "created_at", "updated_at"}
    assert body["id"] == alice.user_id
    assert body["email"] == "alice@example.com"
    assert body["notification_preference"] == "ALERTS"
    assert body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith("Z")


async def test_each_user_sees_only_themselves(alice: UserClient, bob: UserClient) -> None:
    """Bob's GET /users is Bob's record."""
    assert (await bob.get("/users")).json()["id"] == bob.user_id


@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_users_without_a_session_is_401(anon: httpx.AsyncClient, method: str) -> None:
    """Both routes need a session or token."""
    response = await anon.request(method, "/users", json={"notification_preference": "NONE"})
    assert response.status_code == 401


async def test_put_sets_the_notification_preference(alice: UserClient) -> None:
    """PUT /users with each preference answers 204 (no body) and GET then shows it."""
    for preference in ("ALERTS", "NONE", "ALL"):
        response = await alice.put("/users", json={"notification_preference": preference})
        assert response.status_code == 204
        assert response.content == b""
        assert (await alice.get("/users")).json()["notification_preference"] == preference


async def test_put_moves_updated_at(serve: Serve) -> None:
    """An update stamps `updated_at` with the server's clock; `created_at` stays."""
    clock = FrozenClock()
    user = await register(await serve(clock=clock))
    try:
        before = (await user.get("/users")).json()
        clock.advance(minutes=5)
        await user.put("/users", json={"notification_preference": "NONE"})
        after = (await user.get("/users")).json()
    finally:
        await user.client.aclose()
    assert after["created_at"] == before["created_at"]
    assert after["updated_at"] == "2026-01-01T00:05:00.000000Z"


async def test_unknown_preference_is_400_naming_it(alice: UserClient) -> None:
    """A preference outside ALL/ALERTS/NONE is 400 naming `notification_preference`."""
    response = await alice.put("/users", json={"notification_preference": "SOME"})
    assert response.status_code == 400
    assert field_names(response) == ["notification_preference"]


async def test_preference_of_the_wrong_type_is_400_naming_it(alice: UserClient) -> None:
    """A number where the preference string belongs is 400 naming the field."""
    response = await alice.put("/users", json={"notification_preference": 1})
    assert response.status_code == 400
    assert field_names(response) == ["notification_preference"]


async def test_an_empty_update_is_400(alice: UserClient) -> None:
    """PUT /users with nothing to change is a client error, not a silent success."""
    response = await alice.put("/users", json={})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_password_change_with_wrong_current_password_is_400(alice: UserClient) -> None:
    """A wrong current password is 400 naming `current_password`; the password is unchanged."""
    response = await alice.put("/users", json=password_change("not my password"))
    assert response.status_code == 400
    assert field_names(response) == ["current_password"]
    assert (await login(alice.client, alice.email, alice.password)).status_code == 201


async def test_new_password_must_follow_the_password_rule(alice: UserClient) -> None:
    """A too-short new password is 400 naming `new_password`."""
    response = await alice.put("/users", json=password_change(alice.password, "short"))
    assert response.status_code == 400
    assert field_names(response) == ["new_password"]


@pytest.mark.parametrize(
    ("sent", "named"), [("new_password", "current_password"), ("current_password", "new_password")]
)
async def test_half_a_password_pair_is_400_naming_the_missing_half(
    alice: UserClient, sent: str, named: str
) -> None:
    """`current_password` and `new_password` go together."""
    response = await alice.put("/users", json={sent: NEW_PASSWORD})
    assert response.status_code == 400
    assert field_names(response) == [named]


async def test_password_change_ends_other_sessions_and_keeps_this_one(
    alice: UserClient, base_url: str
) -> None:
    """After a password change the caller stays logged in; every other session is 401."""
    async with httpx.AsyncClient(base_url=base_url) as other:
        assert (await login(other, alice.email, alice.password)).status_code == 201
        response = await alice.put("/users", json=password_change(alice.password))
        assert response.status_code == 204
        assert (await other.get("/users")).status_code == 401
    assert (await alice.get("/users")).status_code == 200


async def test_new_password_logs_in_and_old_one_does_not(
    alice: UserClient, anon: httpx.AsyncClient
) -> None:
    """Once changed, only the new password works."""
    await alice.put("/users", json=password_change(alice.password))
    assert (await login(anon, alice.email, alice.password)).status_code == 401
    assert (await login(anon, alice.email, NEW_PASSWORD)).status_code == 201


async def test_password_change_keeps_api_tokens(alice: UserClient, anon: httpx.AsyncClient) -> None:
    """Personal API tokens survive a password change (revoke them with DELETE /tokens/{id})."""
    secret = (await alice.post("/tokens", json={"name": "ci"})).json()["token"]
    await alice.put("/users", json=password_change(alice.password))
    response = await anon.get("/users", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200


async def test_password_change_by_token_ends_every_session(
    alice: UserClient, anon: httpx.AsyncClient
) -> None:
    """Changed through an API token there is no current session to keep: all sessions end."""
    secret = (await alice.post("/tokens", json={"name": "ci"})).json()["token"]
    response = await anon.put(
        "/users",
        json=password_change(alice.password),
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 204
    assert (await alice.get("/users")).status_code == 401


async def test_an_invalid_field_fails_the_whole_update(
    alice: UserClient, anon: httpx.AsyncClient
) -> None:
    """A bad preference next to a valid password change changes nothing at all."""
    response = await alice.put(
        "/users", json={"notification_preference": "SOME", **password_change(alice.password)}
    )
    assert response.status_code == 400
    assert (await login(anon, alice.email, alice.password)).status_code == 201
