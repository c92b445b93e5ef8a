"""The outbound address policy when a workflow is saved: refused literal hosts are a 400 naming
`payload.endpoint`, over real HTTP, on both store engines."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.integration.workflow_helpers import body, create, fields_of, key
from tests.support import UserClient, register

# a few of each class: the unit tests of domain/outbound.py go through every range and form
ALWAYS_REFUSED = ["http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/"]
PRIVATE = ["http://127.0.0.1:5432/", "http://localhost:6379/", "http://0x7f.1/"]


@pytest.fixture
async def wide_user(serve: Callable[..., Awaitable[str]]) -> AsyncIterator[UserClient]:
    """A user of an instance that listens beyond loopback (HOURGLASS_HOST=0.0.0.0)."""
    user = await register(await serve(host="0.0.0.0"))
    yield user
    await user.client.aclose()


@pytest.mark.parametrize("endpoint", ALWAYS_REFUSED + PRIVATE)
async def test_refused_literal_is_a_400_on_an_instance_reachable_by_others(
    wide_user: UserClient, endpoint: str
):
    """Creating a HEARTBEAT at a loopback, private or metadata literal is a 400."""
    sent = body(payload={"endpoint": endpoint})
    response = await wide_user.post("/workflows", json=sent, headers=key())
    assert fields_of(response) == ["payload.endpoint"]
    assert "refused by the outbound policy" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("endpoint", ALWAYS_REFUSED)
async def test_metadata_literal_is_a_400_even_on_a_loopback_only_instance(
    alice: UserClient, endpoint: str
):
    """Link-local and metadata addresses are refused even where private ones are allowed."""
    response = await alice.post(
        "/workflows", json=body(payload={"endpoint": endpoint}), headers=key()
    )
    assert fields_of(response) == ["payload.endpoint"]
    assert "never reachable" in response.json()["errors"][0]["message"]


async def test_private_literal_is_saved_on_a_loopback_only_instance(alice: UserClient):
    """The embedded single-user default keeps local endpoints working."""
    await create(alice, payload={"endpoint": "http://127.0.0.1:8080/health"})


async def test_update_to_a_refused_literal_is_a_400(wide_user: UserClient):
    """Replacing a workflow's endpoint with a refused literal is refused like a create."""
    workflow_id = await create(wide_user)
    sent = body(payload={"endpoint": "http://10.0.0.1/"})
    response = await wide_user.put(f"/workflows/{workflow_id}", json=sent, headers=key())
    assert fields_of(response) == ["payload.endpoint"]


async def test_allow_list_lets_a_named_literal_be_saved(serve: Callable[..., Awaitable[str]]):
    """HOURGLASS_OUTBOUND_ALLOW=10.0.0.0/8 lets a wide instance save http://10.1.2.3/."""
    user = await register(await serve(host="0.0.0.0", outbound_allow=("10.0.0.0/8",)))
    await create(user, payload={"endpoint": "http://10.1.2.3/"})
    await user.client.aclose()
