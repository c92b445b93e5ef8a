"""Register, login, logout, validate, cookies, CSRF and session lifetimes, over real HTTP."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from http.cookies import Morsel, SimpleCookie

import httpx
import pytest
from sqlalchemy import select

from hourglass.domain.common import FrozenClock, is_valid_id
from hourglass.services.container import Services
from hourglass.settings import Settings
from hourglass.store.db import Database
from hourglass.store.schema import sessions, users
from tests.support import UserClient, running_server

PASSWORD = "correct horse battery"
Serve = Callable[..., Awaitable[str]]


def set_cookies(response: httpx.Response) -> dict[str, Morsel[str]]:
    """The cookies a response sets, with their attributes."""
    found: dict[str, Morsel[str]] = {}
    for line in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(line)
        found.update(jar)
    return found


@pytest.fixture
async def anon(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no session."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


def credentials(email: str, password: str = PASSWORD) -> dict[str, str]:
    return {"email": email, "password": password}


async def sign_up(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Registers through `client` (which keeps the cookies); sets and returns the CSRF header."""
    response = await client.post("/auth/register", json=credentials(email, password))
    assert response.status_code == 201, response.text
    csrf: str = response.json()["csrf_token"]
    client.headers["X-CSRF-Token"] = csrf
    return csrf


def replay(base_url: str, session: str, csrf: str) -> httpx.AsyncClient:
    """A fresh client presenting a given session cookie and CSRF pair."""
    return httpx.AsyncClient(
        base_url=base_url,
        cookies={"session": session, "csrf": csrf},
        headers={"X-CSRF-Token": csrf},
        timeout=30,
    )


def field_names(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


# registration


async def test_register_answers_201_with_the_new_user(anon: httpx.AsyncClient) -> None:
    """Registering answers 201 with the user's id, email, creation time and CSRF token."""
    response = await anon.post("/auth/register", json=credentials("carol@example.com"))
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "created_at", "csrf_token"}
    assert is_valid_id(body["id"])
    assert body["email"] == "carol@example.com"
    assert body["created_at"].endswith("Z")
    assert body["csrf_token"] == anon.cookies["csrf"]


async def test_session_cookie_is_httponly_lax_root_and_not_secure_on_http(
    anon: httpx.AsyncClient,
) -> None:
    """The session cookie is HttpOnly, SameSite=Lax, Path=/, and not Secure by default."""
    response = await anon.post("/auth/register", json=credentials("carol@example.com"))
    cookie = set_cookies(response)["session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert not cookie["secure"]


async def test_csrf_cookie_is_readable_by_javascript(anon: httpx.AsyncClient) -> None:
    """The csrf cookie is not HttpOnly, so the dashboard can echo it; same scope as the session."""
    response = await anon.post("/auth/register", json=credentials("carol@example.com"))
    cookie = set_cookies(response)["csrf"]
    assert not cookie["httponly"]
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"


async def test_cookies_last_as_long_as_the_absolute_session_lifetime(
    anon: httpx.AsyncClient,
) -> None:
    """Both cookies carry Max-Age equal to the absolute session lifetime (7 days by default)."""
    response = await anon.post("/auth/register", json=credentials("carol@example.com"))
    cookies = set_cookies(response)
    assert cookies["session"]["max-age"] == str(7 * 24 * 3600)
    assert cookies["csrf"]["max-age"] == str(7 * 24 * 3600)


async def test_cookies_are_secure_when_the_server_is_configured_for_https(serve: Serve) -> None:
    """With `cookie_secure=True` both cookies are marked Secure."""
    url = await serve(cookie_secure=True)
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/auth/register", json=credentials("carol@example.com"))
    assert response.status_code == 201
    cookies = set_cookies(response)
    assert cookies["session"]["secure"] is True
    assert cookies["csrf"]["secure"] is True


async def test_session_token_has_at_least_32_bytes_of_entropy(alice: UserClient) -> None:
    """The session cookie is ≥ 43 URL-safe base64 characters (≥ 32 random bytes)."""
    assert len(alice.client.cookies["session"]) >= 43


async def test_email_is_trimmed_and_lower_cased(anon: httpx.AsyncClient) -> None:
    """` Carol@Example.COM ` registers as `carol@example.com`."""
    response = await anon.post("/auth/register", json=credentials("  Carol@Example.COM "))
    assert response.status_code == 201
    assert response.json()["email"] == "carol@example.com"
    users_me = await anon.get("/users")
    assert users_me.json()["email"] == "carol@example.com"


async def test_duplicate_email_is_409(alice: UserClient, anon: httpx.AsyncClient) -> None:
    """Registering an email that already has an account answers 409 problem+json."""
    response = await anon.post("/auth/register", json=credentials("alice@example.com"))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


async def test_duplicate_email_in_other_case_is_409(
    alice: UserClient, anon: httpx.AsyncClient
) -> None:
    """Emails are compared after normalisation: ` ALICE@example.com` is a duplicate."""
    response = await anon.post("/auth/register", json=credentials(" ALICE@example.com"))
    assert response.status_code == 409


@pytest.mark.parametrize("password", ["p" * 7, "p" * 129])
async def test_password_outside_8_to_128_characters_is_400(
    anon: httpx.AsyncClient, password: str
) -> None:
    """Too short or too long a password is 400 naming `password`; no account is made."""
    response = await anon.post("/auth/register", json=credentials("carol@example.com", password))
    assert response.status_code == 400
    assert field_names(response) == ["password"]
    assert "session" not in anon.cookies


@pytest.mark.parametrize("email", ["carol", "carol@example"])
async def test_invalid_email_is_400_naming_email(anon: httpx.AsyncClient, email: str) -> None:
    """An email without a local part, an @ and a dotted domain is 400 naming `email`."""
    response = await anon.post("/auth/register", json=credentials(email))
    assert response.status_code == 400
    assert field_names(response) == ["email"]


async def test_email_over_254_characters_is_400(anon: httpx.AsyncClient) -> None:
    """A 255-character email is refused naming `email`."""
    email = "a" * (255 - len("@example.com")) + "@example.com"
    response = await anon.post("/auth/register", json=credentials(email))
    assert response.status_code == 400
    assert field_names(response) == ["email"]


async def test_email_of_254_characters_is_accepted(anon: httpx.AsyncClient) -> None:
    """A 254-character email fits the column and the rule."""
    email = "a" * (254 - len("@example.com")) + "@example.com"
    response = await anon.post("/auth/register", json=credentials(email))
    assert response.status_code == 201
    assert response.json()["email"] == email


async def test_every_invalid_field_is_reported_at_once(anon: httpx.AsyncClient) -> None:
    """A bad email and a bad password are both listed in `errors`."""
    response = await anon.post("/auth/register", json=credentials("nope", "short"))
    assert response.status_code == 400
    assert sorted(field_names(response)) == ["email", "password"]


@pytest.mark.parametrize("missing", ["email", "password"])
async def test_missing_field_is_400_naming_it(anon: httpx.AsyncClient, missing: str) -> None:
    """Leaving out `email` or `password` is 400 naming the missing field."""
    body = credentials("carol@example.com")
    del body[missing]
    response = await anon.post("/auth/register", json=body)
    assert response.status_code == 400
    assert field_names(response) == [missing]


async def test_closed_sign_up_is_403(serve: Serve) -> None:
    """With `signup="closed"` registering is refused with 403 and a reason."""
    url = await serve(signup="closed")
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/auth/register", json=credentials("carol@example.com"))
    assert response.status_code == 403
    assert "sign-up is closed" in response.json()["detail"]
    assert "session" not in client.cookies


async def test_closed_sign_up_still_lets_existing_users_log_in(
    alice: UserClient, serve: Serve
) -> None:
    """Closing sign-up does not lock out the accounts that exist."""
    url = await serve(signup="closed")
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/auth/login", json=credentials(alice.email))
    assert response.status_code == 201


async def test_password_is_stored_as_argon2id(alice: UserClient, db: Database) -> None:
    """The stored password is an argon2id hash, never the password."""
    async with db.read() as conn:
        stored = (await conn.execute(select(users.c.password_hash))).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_login_upgrades_a_hash_to_the_servers_argon2id_cost(
    alice: UserClient, settings: Settings, db: Database
) -> None:
    """A production server (RFC 9106: t=3, 64 MiB, p=4) rehashes a cheaper hash at login."""
    async with (
        running_server(Services.build(settings, db)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        response = await client.post("/auth/login", json=credentials(alice.email))
    assert response.status_code == 201
    async with db.read() as conn:
        stored = (await conn.execute(select(users.c.password_hash))).scalar_one()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


async def test_only_a_sha256_of_the_session_token_is_stored(
    alice: UserClient, db: Database
) -> None:
    """The sessions table holds the SHA-256 of the cookie, and the cookie appears nowhere."""
    cookie = alice.client.cookies["session"]
    async with db.read() as conn:
        rows = (await conn.execute(select(sessions))).all()
    assert [row.token_hash for row in rows] == [hashlib.sha256(cookie.encode()).hexdigest()]
    assert all(cookie not in str(value) for row in rows for value in row)


# login


async def test_login_answers_201_and_opens_a_new_session(
    alice: UserClient, anon: httpx.AsyncClient
) -> None:
    """Logging in answers 201 with the user and sets a working session and CSRF cookie."""
    response = await anon.post("/auth/login", json=credentials(alice.email))
    assert response.status_code == 201
    assert response.json()["id"] == alice.user_id
    assert set(set_cookies(response)) == {"session", "csrf"}
    assert anon.cookies["session"] != alice.client.cookies["session"]
    assert (await anon.get("/users")).status_code == 200


async def test_login_normalises_the_email(alice: UserClient, anon: httpx.AsyncClient) -> None:
    """` ALICE@Example.com ` logs in as alice."""
    response = await anon.post("/auth/login", json=credentials(" ALICE@Example.com "))
    assert response.status_code == 201
    assert response.json()["id"] == alice.user_id


async def test_wrong_password_and_unknown_email_get_the_same_401(
    alice: UserClient, anon: httpx.AsyncClient
) -> None:
    """A wrong password and an unknown email are indistinguishable: same status, same body."""
    wrong = await anon.post("/auth/login", json=credentials(alice.email, "wrong password"))
    unknown = await anon.post("/auth/login", json=credentials("nobody@example.com"))
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.content == unknown.content
    assert wrong.headers["content-type"] == unknown.headers["content-type"]
    assert "session" not in anon.cookies


async def test_login_with_a_huge_email_is_401_not_an_error(anon: httpx.AsyncClient) -> None:
    """An absurdly long email is just a failed login (the rate-limit key stays bounded)."""
    response = await anon.post("/auth/login", json=credentials("a" * 5000 + "@example.com"))
    assert response.status_code == 401


async def test_login_with_a_wrong_type_is_400_naming_the_field(anon: httpx.AsyncClient) -> None:
    """A non-string password is 400 naming `password`, not a failed login."""
    response = await anon.post("/auth/login", json={"email": "a@example.com", "password": 12345678})
    assert response.status_code == 400
    assert field_names(response) == ["password"]


# logout


async def test_logout_is_204_and_the_old_cookie_then_gets_401(
    alice: UserClient, base_url: str
) -> None:
    """After logout the server-side session is gone: the same cookie is refused."""
    old_session = alice.client.cookies["session"]
    response = await alice.post("/auth/logout")
    assert response.status_code == 204
    async with replay(base_url, old_session, alice.csrf) as stale:
        assert (await stale.get("/users")).status_code == 401


async def test_logout_expires_both_cookies(alice: UserClient) -> None:
    """The logout response expires `session` and `csrf` (Max-Age=0, Path=/)."""
    response = await alice.post("/auth/logout")
    cookies = set_cookies(response)
    assert set(cookies) == {"session", "csrf"}
    for cookie in cookies.values():
        assert cookie["max-age"] == "0"
        assert cookie["path"] == "/"
    assert "session" not in alice.client.cookies


async def test_logout_ends_only_its_own_session(alice: UserClient, base_url: str) -> None:
    """Logging out one browser leaves the user's other sessions alone."""
    async with httpx.AsyncClient(base_url=base_url) as other:
        await other.post("/auth/login", json=credentials(alice.email))
        await alice.post("/auth/logout")
        assert (await other.get("/users")).status_code == 200


async def test_logout_without_a_session_is_401(anon: httpx.AsyncClient) -> None:
    """There is nothing to log out of without a session."""
    assert (await anon.post("/auth/logout")).status_code == 401


async def test_logout_without_csrf_is_403_and_keeps_the_session(alice: UserClient) -> None:
    """A forged logout (no CSRF header) is refused and the session survives."""
    response = await alice.post("/auth/logout", headers={"X-CSRF-Token": ""})
    assert response.status_code == 403
    assert (await alice.get("/users")).status_code == 200


# validate


async def test_validate_is_200_for_a_valid_session(alice: UserClient) -> None:
    """A valid session plus CSRF header validates, naming the user."""
    response = await alice.post("/auth/validate")
    assert response.status_code == 200
    assert response.json() == {"status": "valid", "user_id": alice.user_id, "via": "session"}


async def test_validate_without_a_session_is_401(anon: httpx.AsyncClient) -> None:
    """No session cookie is 401 problem+json with a WWW-Authenticate challenge."""
    response = await anon.post("/auth/validate")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "www-authenticate" in response.headers


async def test_validate_with_an_unknown_session_is_401(base_url: str) -> None:
    """A made-up session cookie is 401 (not 403), even with a matching CSRF pair."""
    async with replay(base_url, "made-up-session-token", "made-up") as client:
        assert (await client.post("/auth/validate")).status_code == 401


async def test_validate_without_csrf_is_403(alice: UserClient) -> None:
    """A valid session without the CSRF header does not validate."""
    response = await alice.post("/auth/validate", headers={"X-CSRF-Token": ""})
    assert response.status_code == 403


# CSRF on every state-changing cookie route

STATE_CHANGING: list[tuple[str, str, dict[str, object] | None]] = [
    ("POST", "/auth/logout", None),
    ("POST", "/auth/validate", None),
    ("PUT", "/users", {"notification_preference": "NONE"}),
    ("POST", "/tokens", {"name": "ci"}),
    ("DELETE", "/tokens/{token_id}", None),
]


async def _existing_token(user: UserClient) -> str:
    response = await user.post("/tokens", json={"name": "victim"})
    assert response.status_code == 201
    token_id: str = response.json()["id"]
    return token_id


@pytest.mark.parametrize(("method", "path", "body"), STATE_CHANGING)
@pytest.mark.parametrize("header", [None, "not-the-csrf-token"])
async def test_state_changing_cookie_requests_need_the_csrf_header(
    alice: UserClient, method: str, path: str, body: dict[str, object] | None, header: str | None
) -> None:
    """Every state-changing route refuses a cookie request whose X-CSRF-Token is missing/wrong."""
    path = path.format(token_id=await _existing_token(alice))
    del alice.client.headers["X-CSRF-Token"]
    headers = {} if header is None else {"X-CSRF-Token": header}
    response = await alice.request(method, path, json=body, headers=headers)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    alice.client.headers["X-CSRF-Token"] = alice.csrf
    tokens = (await alice.get("/tokens")).json()["tokens"]
    assert [t["name"] for t in tokens] == ["victim"]  # nothing was created or deleted
    assert (await alice.get("/users")).json()["notification_preference"] == "ALERTS"


@pytest.mark.parametrize("path", ["/users", "/tokens"])
async def test_reads_need_no_csrf_header(alice: UserClient, path: str) -> None:
    """GET with the session cookie alone works: CSRF guards state changes only."""
    del alice.client.headers["X-CSRF-Token"]
    assert (await alice.get(path)).status_code == 200


async def test_a_planted_csrf_cookie_is_refused(alice: UserClient) -> None:
    """A csrf cookie not issued with this session fails even when the header matches it."""
    alice.client.cookies.set("csrf", "planted-by-someone-else")
    response = await alice.post(
        "/auth/validate", headers={"X-CSRF-Token": "planted-by-someone-else"}
    )
    assert response.status_code == 403


async def test_another_sessions_csrf_token_is_refused(alice: UserClient, bob: UserClient) -> None:
    """Bob's CSRF pair does not unlock Alice's session."""
    alice.client.cookies.set("csrf", bob.csrf)
    response = await alice.post("/auth/validate", headers={"X-CSRF-Token": bob.csrf})
    assert response.status_code == 403


async def test_a_non_ascii_csrf_header_is_403_not_an_error(alice: UserClient) -> None:
    """Arbitrary bytes in X-CSRF-Token are simply a mismatch."""
    response = await alice.post("/auth/validate", headers={"X-CSRF-Token": b"\xe9\xff"})
    assert response.status_code == 403


# session lifetimes (frozen clock, no sleeps)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def frozen_client(serve: Serve, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    """A logged-in client of a server whose clock only moves when the test says so."""
    url = await serve(clock=clock)
    async with httpx.AsyncClient(base_url=url) as client:
        await sign_up(client, "carol@example.com")
        yield client


async def test_session_expires_after_the_idle_window(
    frozen_client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """Two idle hours (the default) after the last request the session is 401."""
    clock.advance(hours=2)
    assert (await frozen_client.get("/users")).status_code == 401


async def test_session_is_alive_just_before_the_idle_window_ends(
    frozen_client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """One second short of the idle window the session still works."""
    clock.advance(hours=2, seconds=-1)
    assert (await frozen_client.get("/users")).status_code == 200


async def test_activity_slides_the_idle_window(
    frozen_client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """A request every 100 minutes keeps the session alive well past two hours."""
    for _ in range(3):
        clock.advance(minutes=100)
        assert (await frozen_client.get("/users")).status_code == 200


async def test_use_keeps_a_session_with_the_shortest_idle_window_alive(
    serve: Serve, clock: FrozenClock
) -> None:
    """With HOURGLASS_SESSION_IDLE_SECONDS=60, a request every 50 s keeps the session alive."""
    url = await serve(clock=clock, session_idle_seconds=60)
    async with httpx.AsyncClient(base_url=url) as client:
        await sign_up(client, "carol@example.com")
        for _ in range(6):
            clock.advance(seconds=50)
            assert (await client.get("/users")).status_code == 200
        clock.advance(seconds=60)
        assert (await client.get("/users")).status_code == 401


async def test_session_ends_at_its_absolute_lifetime_despite_activity(
    serve: Serve, clock: FrozenClock
) -> None:
    """Activity never extends a session past its absolute lifetime (3 h here)."""
    url = await serve(clock=clock, session_absolute_seconds=3 * 3600)
    async with httpx.AsyncClient(base_url=url) as client:
        await sign_up(client, "carol@example.com")
        for _ in range(2):
            clock.advance(minutes=89)
            assert (await client.get("/users")).status_code == 200
        clock.advance(minutes=2)  # 180 minutes since login, 2 since the last request
        assert (await client.get("/users")).status_code == 401


async def test_expired_sessions_are_swept_from_the_store(
    serve: Serve, clock: FrozenClock, db: Database
) -> None:
    """A later login removes sessions that expired, so the table does not grow forever."""
    url = await serve(clock=clock)
    async with httpx.AsyncClient(base_url=url) as first, httpx.AsyncClient(base_url=url) as second:
        await sign_up(first, "carol@example.com")
        clock.advance(hours=3)
        await second.post("/auth/login", json=credentials("carol@example.com"))
    async with db.read() as conn:
        stored = (await conn.execute(select(sessions.c.token_hash))).scalars().all()
    assert stored == [hashlib.sha256(second.cookies["session"].encode()).hexdigest()]
