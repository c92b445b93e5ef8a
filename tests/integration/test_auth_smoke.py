"""The accounts spine over real HTTP: register, session cookie, CSRF."""

from __future__ import annotations

from tests.support import UserClient


async def test_register_sets_session_and_csrf_cookies(alice: UserClient) -> None:
    """Registering logs the user in with an HttpOnly session cookie and a readable csrf cookie."""
    assert alice.client.cookies.get("session")
    assert alice.client.cookies.get("csrf") == alice.csrf
    response = await alice.get("/users")
    assert response.status_code == 200
    assert response.json()["email"] == "alice@example.com"


async def test_state_change_without_csrf_header_is_403(alice: UserClient) -> None:
    """A cookie-authenticated POST without X-CSRF-Token is refused."""
    response = await alice.post("/auth/validate", headers={"X-CSRF-Token": ""})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
