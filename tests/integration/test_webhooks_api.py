"""The webhook routes: create (secret shown once), list, read, change, delete, validation, the
outbound policy's check of saved URLs, isolation between users."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable

from hourglass.services.container import Services
from tests.integration.webhook_helpers import register_webhook
from tests.support import UserClient, register

URL = "https://hooks.example.com/hourglass"
Serve = Callable[..., Awaitable[str]]


async def test_create_shows_the_secret_once(alice: UserClient) -> None:
    """201 with every field and a `whsec_` secret of 32 random bytes; reads never show it."""
    created = await register_webhook(alice, URL, description="ops", format="slack")
    secret = created.pop("secret")
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert created["url"] == URL
    assert created["events"] == ["job.failed"]
    assert (created["format"], created["description"], created["enabled"]) == ("slack", "ops", True)
    assert (created["failure_count"], created["failing_since"], created["disabled_at"]) == (
        0,
        None,
        None,
    )
    one = (await alice.get(f"/webhooks/{created['id']}")).json()
    assert one == created
    assert (await alice.get("/webhooks")).json() == {"webhooks": [created]}


async def test_patch_changes_only_what_it_names(alice: UserClient) -> None:
    """PATCH keeps absent fields, dedupes events, answers the webhook as it is now."""
    created = await register_webhook(alice, URL)
    body = {"events": ["job.completed", "workflow.terminated", "job.completed"]}
    response = await alice.patch(f"/webhooks/{created['id']}", json=body)
    assert response.status_code == 200
    changed = response.json()
    assert changed["events"] == ["job.completed", "workflow.terminated"]
    assert (changed["url"], changed["format"]) == (URL, "standard")
    off = await alice.patch(f"/webhooks/{created['id']}", json={"enabled": False})
    assert off.json()["enabled"] is False
    nothing = await alice.patch(f"/webhooks/{created['id']}", json={})
    assert nothing.status_code == 400


async def test_delete_removes_it(alice: UserClient) -> None:
    """DELETE → 204; then the webhook and its deliveries are 404."""
    created = await register_webhook(alice, URL)
    assert (await alice.delete(f"/webhooks/{created['id']}")).status_code == 204
    assert (await alice.get(f"/webhooks/{created['id']}")).status_code == 404
    assert (await alice.get(f"/webhooks/{created['id']}/deliveries")).status_code == 404


BAD_BODIES: list[tuple[dict[str, object], str]] = [
    ({"events": ["job.failed"]}, "url"),
    ({"url": "ftp://example.com/x", "events": ["job.failed"]}, "url"),
    ({"url": "https://", "events": ["job.failed"]}, "url"),
    ({"url": "https://example.com:99999/", "events": ["job.failed"]}, "url"),
    ({"url": "http://[example.com/x", "events": ["job.failed"]}, "url"),  # was a 500
    ({"url": URL + "\n", "events": ["job.failed"]}, "url"),
    ({"url": URL}, "events"),
    ({"url": URL, "events": []}, "events"),
    ({"url": URL, "events": ["job.failed", "job.exploded"]}, "events[1]"),
    ({"url": URL, "events": ["job.failed"], "format": "teams"}, "format"),
    ({"url": URL, "events": ["job.failed"], "description": 7}, "description"),
    ({"url": URL, "events": ["job.failed"], "description": "x" * 501}, "description"),
]


async def test_bad_bodies_are_400_naming_the_field(alice: UserClient) -> None:
    """Each invalid field is a 400 problem that names it; nothing is created."""
    for body, field in BAD_BODIES:
        response = await alice.post("/webhooks", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["errors"][0]["field"] == field, body
    assert (await alice.get("/webhooks")).json() == {"webhooks": []}


REFUSED_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://2130706433/hook",
    "http://[::1]/hook",
    "http://10.0.0.5/hook",
    "http://169.254.169.254/latest/meta-data",
]


async def test_addresses_the_policy_refuses_are_400(serve: Serve) -> None:
    """On an instance that may reach no private address, a URL whose host is such a literal is
    400 on `url`, on create and on PATCH."""
    base = await serve(host="0.0.0.0", outbound_allow=None, allow_command_kind=False)
    user = await register(base.replace("0.0.0.0", "127.0.0.1"))
    try:
        kept = await register_webhook(user, URL)
        for url in REFUSED_URLS:
            response = await user.post("/webhooks", json={"url": url, "events": ["job.failed"]})
            assert response.status_code == 400, url
            error = response.json()["errors"][0]
            assert error["field"] == "url"
            assert "refused by the outbound policy" in error["message"]
            patched = await user.patch(f"/webhooks/{kept['id']}", json={"url": url})
            assert patched.status_code == 400, url
    finally:
        await user.client.aclose()


async def test_a_loopback_instance_may_save_loopback_urls(alice: UserClient) -> None:
    """The default policy of a loopback-only instance allows its private addresses."""
    created = await register_webhook(alice, "http://127.0.0.1:9/hook")
    assert created["url"] == "http://127.0.0.1:9/hook"


async def test_users_never_reach_each_others_webhooks(alice: UserClient, bob: UserClient) -> None:
    """Bob's reads, changes, deletes and tests of Alice's webhook are 404; his list is empty."""
    hers = (await register_webhook(alice, URL))["id"]
    for method, path, body in [
        ("GET", f"/webhooks/{hers}", None),
        ("PATCH", f"/webhooks/{hers}", {"enabled": False}),
        ("DELETE", f"/webhooks/{hers}", None),
        ("GET", f"/webhooks/{hers}/deliveries", None),
        ("POST", f"/webhooks/{hers}/test", None),
        ("GET", "/webhooks/not-an-id", None),
    ]:
        response = await bob.request(method, path, json=body)
        assert response.status_code == 404, (method, path)
    assert (await bob.get("/webhooks")).json() == {"webhooks": []}
    assert (await alice.get(f"/webhooks/{hers}")).json()["enabled"] is True


async def test_a_user_may_have_twenty(alice: UserClient, services: Services) -> None:
    """The 21st webhook of a user is 409."""
    del services
    for _ in range(20):
        await register_webhook(alice, URL)
    response = await alice.post("/webhooks", json={"url": URL, "events": ["job.failed"]})
    assert response.status_code == 409


async def test_state_changes_need_csrf(alice: UserClient) -> None:
    """POST without the CSRF header (cookie session) is 403."""
    response = await alice.post(
        "/webhooks", json={"url": URL, "events": ["job.failed"]}, headers={"X-CSRF-Token": ""}
    )
    assert response.status_code == 403
