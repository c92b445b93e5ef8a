"""The per-process auth cache never outlives what ended a session or a token: a logout, a
password change or a token deleted through one API process is refused at once by another
process sharing the database and Redis, and by the same process (services/auth_cache.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import base_env, free_port, started
from tests.support import UserClient, register

PASSWORD = "correct horse battery"


@pytest.fixture
def two_apis(tmp_path: Path, postgres_db: str, redis_server: str) -> Iterator[tuple[str, str]]:
    """Two `hourglass api` processes on one PostgreSQL database and one Redis."""
    urls = []
    with ExitStack() as stack:
        for name in ("a", "b"):
            port = free_port()
            env = base_env(
                HOURGLASS_PORT=str(port),
                HOURGLASS_DATA_DIR=str(tmp_path / name),
                HOURGLASS_DATABASE_URL=postgres_db,
                HOURGLASS_REDIS_URL=redis_server,
                HOURGLASS_ACCESS_LOG="false",
            )
            url = f"http://127.0.0.1:{port}"
            stack.enter_context(started(["api"], env, tmp_path / f"{name}.log", url))
            urls.append(url)
        yield urls[0], urls[1]


@pytest.fixture
async def user_on_a(two_apis: tuple[str, str]) -> AsyncIterator[UserClient]:
    client = await register(two_apis[0])
    yield client
    await client.client.aclose()


def same_session(user: UserClient, base_url: str) -> httpx.AsyncClient:
    """A client of another process presenting `user`'s session cookie (and CSRF header)."""
    client = httpx.AsyncClient(base_url=base_url, timeout=30, headers=user.client.headers)
    client.cookies.update(user.client.cookies)
    return client


async def warm(client: httpx.AsyncClient, times: int = 3) -> None:
    """Authenticated reads, so the process has the session (or token) in its cache."""
    for _ in range(times):
        assert (await client.get("/users")).status_code == 200


async def test_logout_in_one_process_is_refused_at_once_by_another(
    two_apis: tuple[str, str], user_on_a: UserClient
) -> None:
    """A session logged out through process A gets 401 from process B at once."""
    async with same_session(user_on_a, two_apis[1]) as on_b:
        await warm(on_b)
        assert (await user_on_a.post("/auth/logout")).status_code == 204
        assert (await on_b.get("/users")).status_code == 401


async def test_logout_is_refused_at_once_by_the_same_process(
    two_apis: tuple[str, str], user_on_a: UserClient
) -> None:
    """A copy of the cookie kept by the client gets 401 from the process that logged it out."""
    async with same_session(user_on_a, two_apis[0]) as copy:
        await warm(copy)
        assert (await user_on_a.post("/auth/logout")).status_code == 204
        assert (await copy.get("/users")).status_code == 401


async def test_password_change_ends_other_sessions_at_once_in_another_process(
    two_apis: tuple[str, str], user_on_a: UserClient
) -> None:
    """A password change through A ends the user's other session, cached by B, at once."""
    async with httpx.AsyncClient(base_url=two_apis[1], timeout=30) as on_b:
        login = await on_b.post(
            "/auth/login", json={"email": user_on_a.email, "password": PASSWORD}
        )
        assert login.status_code == 201, login.text
        await warm(on_b)
        change = await user_on_a.put(
            "/users", json={"current_password": PASSWORD, "new_password": "another horse battery"}
        )
        assert change.status_code == 204, change.text
        assert (await on_b.get("/users")).status_code == 401
        assert (await user_on_a.get("/users")).status_code == 200  # the changing session stays


async def test_deleted_token_is_refused_at_once_by_another_process(
    two_apis: tuple[str, str], user_on_a: UserClient
) -> None:
    """An API token deleted through A gets 401 from B, which had it cached, at once."""
    made = await user_on_a.post("/tokens", json={"name": "ci"})
    assert made.status_code == 201, made.text
    bearer = {"Authorization": f"Bearer {made.json()['token']}"}
    async with httpx.AsyncClient(base_url=two_apis[1], timeout=30, headers=bearer) as on_b:
        await warm(on_b)
        deleted = await user_on_a.delete(f"/tokens/{made.json()['id']}")
        assert deleted.status_code == 204
        assert (await on_b.get("/users")).status_code == 401


async def test_logout_in_the_embedded_process_is_refused_at_once(user: UserClient) -> None:
    """`hourglass up` (in-process bus): a logged-out session's copy gets 401 at once."""
    async with same_session(user, str(user.client.base_url)) as copy:
        await warm(copy)
        assert (await user.post("/auth/logout")).status_code == 204
        assert (await copy.get("/users")).status_code == 401
