"""Login rate limiting: per email and per client address, in the database, shared by processes.

Clients connect from distinct loopback addresses (127.0.0.x), so the server sees them as
different machines. The server's clock is frozen: the window passes when the test says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from hourglass.domain.common import FrozenClock
from hourglass.settings import Settings
from hourglass.store.db import Database
from tests.conftest import build_services
from tests.support import running_server

PASSWORD = "correct horse battery"
WINDOW = 15 * 60
Serve = Callable[..., Awaitable[str]]
Connect = Callable[[str, str], httpx.AsyncClient]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """`connect(base_url, "127.0.0.5")`: a client whose requests come from that address."""
    async with contextlib.AsyncExitStack() as stack:

        def factory(base_url: str, address: str) -> httpx.AsyncClient:
            transport = httpx.AsyncHTTPTransport(local_address=address)
            client = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30)
            stack.push_async_callback(client.aclose)
            return client

        yield factory


@pytest.fixture
async def url(serve: Serve, clock: FrozenClock, connect: Connect) -> str:
    """A server allowing 3 failed logins per 15 minutes, where carol@example.com exists."""
    base_url = await serve(clock=clock, login_rate_limit=3)
    response = await connect(base_url, "127.0.0.1").post("/auth/register", json=creds())
    assert response.status_code == 201
    return base_url


def creds(email: str = "carol@example.com", password: str = PASSWORD) -> dict[str, str]:
    return {"email": email, "password": password}


WRONG = creds(password="wrong password")


async def fail(client: httpx.AsyncClient, times: int, body: dict[str, str] = WRONG) -> None:
    for _ in range(times):
        response = await client.post("/auth/login", json=body)
        assert response.status_code == 401, response.text


async def test_the_attempt_after_the_limit_is_429_with_retry_after(
    url: str, connect: Connect
) -> None:
    """Three failures are 401; the fourth attempt is 429 problem+json with Retry-After."""
    client = connect(url, "127.0.0.2")
    await fail(client, 3)
    response = await client.post("/auth/login", json=WRONG)
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["retry-after"]) <= WINDOW


async def test_a_limited_email_refuses_even_the_right_password(url: str, connect: Connect) -> None:
    """While limited, the right password is 429 too (so guessing learns nothing)."""
    client = connect(url, "127.0.0.2")
    await fail(client, 3)
    assert (await client.post("/auth/login", json=creds())).status_code == 429


async def test_retry_after_is_exactly_the_wait(
    url: str, connect: Connect, clock: FrozenClock
) -> None:
    """Retry-After counts down to the moment the limiting failure leaves the window."""
    client = connect(url, "127.0.0.2")
    for _ in range(3):
        await fail(client, 1)
        clock.advance(60)
    limited = await client.post("/auth/login", json=creds())
    retry_after = int(limited.headers["retry-after"])
    assert retry_after == WINDOW - 3 * 60
    clock.advance(retry_after - 1)
    assert (await client.post("/auth/login", json=creds())).status_code == 429
    clock.advance(1)
    assert (await client.post("/auth/login", json=creds())).status_code == 201


async def test_limited_attempts_do_not_extend_the_lockout(
    url: str, connect: Connect, clock: FrozenClock
) -> None:
    """Hammering a limited login does not push the end of the window back."""
    client = connect(url, "127.0.0.2")
    await fail(client, 3)
    for _ in range(5):
        clock.advance(WINDOW / 6)
        assert (await client.post("/auth/login", json=WRONG)).status_code == 429
    clock.advance(WINDOW / 6)
    assert (await client.post("/auth/login", json=creds())).status_code == 201


async def test_failures_count_per_email_across_addresses(url: str, connect: Connect) -> None:
    """Three addresses failing on one email lock that email everywhere, and only that email."""
    for address in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        await fail(connect(url, address), 1)
    fresh = connect(url, "127.0.0.5")
    assert (await fresh.post("/auth/login", json=creds())).status_code == 429
    other_email = await fresh.post("/auth/login", json=creds("dave@example.com"))
    assert other_email.status_code == 401


async def test_failures_count_per_address_across_emails(url: str, connect: Connect) -> None:
    """One address failing on three emails is limited for any email; other addresses are not."""
    noisy = connect(url, "127.0.0.2")
    for email in ("x@example.com", "y@example.com", "z@example.com"):
        await fail(noisy, 1, creds(email))
    assert (await noisy.post("/auth/login", json=creds())).status_code == 429
    assert (await connect(url, "127.0.0.3").post("/auth/login", json=creds())).status_code == 201


async def test_successful_logins_never_count(url: str, connect: Connect) -> None:
    """Any number of successes leaves the failure budget whole."""
    client = connect(url, "127.0.0.2")
    for _ in range(5):
        assert (await client.post("/auth/login", json=creds())).status_code == 201
    await fail(client, 3)


async def test_a_success_resets_the_emails_failures(url: str, connect: Connect) -> None:
    """Logging in successfully forgets the email's earlier failures."""
    await fail(connect(url, "127.0.0.2"), 2)
    assert (await connect(url, "127.0.0.3").post("/auth/login", json=creds())).status_code == 201
    await fail(connect(url, "127.0.0.4"), 2)
    assert (await connect(url, "127.0.0.5").post("/auth/login", json=creds())).status_code == 201


async def test_unknown_and_known_emails_are_limited_alike(url: str, connect: Connect) -> None:
    """A limited unknown email answers exactly like a limited known one (no enumeration)."""
    known, unknown = connect(url, "127.0.0.2"), connect(url, "127.0.0.3")
    await fail(known, 3)
    await fail(unknown, 3, creds("nobody@example.com"))
    a = await known.post("/auth/login", json=WRONG)
    b = await unknown.post("/auth/login", json=creds("nobody@example.com"))
    assert a.status_code == b.status_code == 429
    assert a.content == b.content


async def test_parallel_failures_cannot_exceed_the_limit(url: str, connect: Connect) -> None:
    """Ten simultaneous wrong guesses: exactly three are checked, seven are 429."""
    client = connect(url, "127.0.0.2")
    responses = await asyncio.gather(*(client.post("/auth/login", json=WRONG) for _ in range(10)))
    assert sorted(r.status_code for r in responses) == [401] * 3 + [429] * 7


async def test_the_default_limit_is_ten_failures_per_fifteen_minutes(
    serve: Serve, connect: Connect
) -> None:
    """Out of the box the eleventh failed attempt within 15 minutes is 429."""
    client = connect(await serve(), "127.0.0.2")
    await fail(client, 10, creds("nobody@example.com"))
    response = await client.post("/auth/login", json=creds("nobody@example.com"))
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) <= WINDOW


# shared by every API process on one database


@pytest.fixture
async def second_db(database_url: str) -> AsyncIterator[Database]:
    """Another engine on the same database, as a second API process would have."""
    database = Database.connect(database_url)
    try:
        yield database
    finally:
        await database.close()


async def test_failures_on_one_process_count_on_another(
    url: str, serve: Serve, clock: FrozenClock, second_db: Database, connect: Connect
) -> None:
    """Failures seen by one API process lock the email on another process too."""
    other = await serve(clock=clock, login_rate_limit=3, db=second_db)
    await fail(connect(url, "127.0.0.2"), 2)
    await fail(connect(other, "127.0.0.3"), 1)
    assert (await connect(url, "127.0.0.4").post("/auth/login", json=creds())).status_code == 429
    assert (await connect(other, "127.0.0.5").post("/auth/login", json=creds())).status_code == 429


async def test_parallel_failures_across_processes_cannot_exceed_the_limit(
    url: str, serve: Serve, clock: FrozenClock, second_db: Database, connect: Connect
) -> None:
    """Simultaneous guesses spread over two processes still get exactly three tries."""
    other = await serve(clock=clock, login_rate_limit=3, db=second_db)
    clients = [connect(base, f"127.0.0.{2 + i}") for i, base in enumerate([url, other] * 4)]
    responses = await asyncio.gather(*(c.post("/auth/login", json=WRONG) for c in clients))
    assert sorted(r.status_code for r in responses) == [401] * 3 + [429] * 5


# client addresses behind (or pretending to be) a reverse proxy


@pytest.fixture
async def production_server(
    settings: Settings, db: Database, clock: FrozenClock
) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Starts the API as `hourglass api` serves it (`cli.server_config`), on a loopback port,
    with the given settings changed."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(**overrides: object) -> str:
            changed = dataclasses.replace(settings, login_rate_limit=3, **overrides)
            return await stack.enter_async_context(
                running_server(build_services(changed, db, clock))
            )

        yield start


async def guess(client: httpx.AsyncClient, n: int, forwarded_for: str) -> int:
    """One wrong password for a fresh email (only the address bucket can fill up)."""
    response = await client.post(
        "/auth/login",
        json=creds(f"nobody{n}@example.com", "wrong password"),
        headers={"X-Forwarded-For": forwarded_for},
    )
    return response.status_code


async def test_a_forged_forwarded_for_from_loopback_does_not_dodge_the_limit(
    production_server: Callable[..., Awaitable[str]], connect: Connect
) -> None:
    """By default X-Forwarded-For is ignored, even from 127.0.0.1: rotating it still hits 429."""
    client = connect(await production_server(), "127.0.0.1")
    statuses = [await guess(client, n, f"203.0.113.{n}") for n in range(4)]
    assert statuses == [401, 401, 401, 429]


async def test_a_trusted_proxy_forwards_the_client_address(
    production_server: Callable[..., Awaitable[str]], connect: Connect
) -> None:
    """From a proxy in HOURGLASS_TRUSTED_PROXIES, each forwarded client has its own budget."""
    client = connect(await production_server(trusted_proxies=("127.0.0.1",)), "127.0.0.1")
    assert [await guess(client, n, f"203.0.113.{n}") for n in range(4)] == [401] * 4
    assert [await guess(client, 10 + n, "203.0.113.77") for n in range(4)] == [401] * 3 + [429]


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    production_server: Callable[..., Awaitable[str]], connect: Connect
) -> None:
    """A peer that is not a trusted proxy cannot pick its address with X-Forwarded-For."""
    base_url = await production_server(trusted_proxies=("127.0.0.1",))
    client = connect(base_url, "127.0.0.9")
    statuses = [await guess(client, n, f"203.0.113.{n}") for n in range(4)]
    assert statuses == [401, 401, 401, 429]


# a password change proves the current password like a login


async def logged_in(client: httpx.AsyncClient) -> httpx.AsyncClient:
    response = await client.post("/auth/login", json=creds())
    assert response.status_code == 201
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return client


def change(current: str) -> dict[str, str]:
    return {"current_password": current, "new_password": "a brand new secret"}


async def test_wrong_current_passwords_are_limited_like_failed_logins(
    url: str, connect: Connect
) -> None:
    """PUT /users with a wrong current_password: 400 up to the limit, then 429 with Retry-After."""
    client = await logged_in(connect(url, "127.0.0.2"))
    for _ in range(3):
        response = await client.put("/users", json=change("wrong password"))
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["field"] == "current_password"
    limited = await client.put("/users", json=change(PASSWORD))
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= WINDOW


async def test_wrong_current_passwords_count_against_the_login_too(
    url: str, connect: Connect
) -> None:
    """Guesses through PUT /users and through /auth/login share one budget per email."""
    client = await logged_in(connect(url, "127.0.0.2"))
    for _ in range(2):
        assert (await client.put("/users", json=change("wrong password"))).status_code == 400
    await fail(connect(url, "127.0.0.3"), 1)
    login = await connect(url, "127.0.0.4").post("/auth/login", json=creds())
    assert login.status_code == 429


async def test_a_right_current_password_does_not_count(url: str, connect: Connect) -> None:
    """A successful change takes its attempt back: the budget stays whole."""
    client = await logged_in(connect(url, "127.0.0.2"))
    for _ in range(4):
        response = await client.put("/users", json=change(PASSWORD))
        assert response.status_code == 204, response.text
        response = await client.put(
            "/users", json={"current_password": "a brand new secret", "new_password": PASSWORD}
        )
        assert response.status_code == 204, response.text
