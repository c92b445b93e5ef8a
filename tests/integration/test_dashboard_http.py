"""The dashboard over real HTTP (SQLite and PostgreSQL): sessions, CSRF, security headers,
assets, forms that answer with their errors, secrets kept, 404 pages, server policies."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from html.parser import HTMLParser

import httpx

from hourglass.services.accounts import Principal
from hourglass.services.container import Services
from hourglass.store.db import Database
from hourglass.store.schema import jobs
from tests.integration.workflow_helpers import count_workflows, create, insert_job
from tests.support import UserClient, register

HTMX = {"HX-Request": "true"}


class _Inline(HTMLParser):
    """Finds what a strict CSP would block: inline scripts, style attributes, on* handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style>")
        self.found += [f"{tag}[{n}]" for n in names if n == "style" or n.startswith("on")]


async def test_root_sends_a_browser_to_the_dashboard(base_url: str) -> None:
    """GET / with Accept: text/html is a 303 to /ui/; an API client gets a 404 problem."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        browser = await client.get("/", headers={"Accept": "text/html,*/*"})
        api = await client.get("/", headers={"Accept": "application/json"})
    assert (browser.status_code, browser.headers["location"]) == (303, "/ui/")
    assert (api.status_code, api.headers["content-type"]) == (404, "application/problem+json")


async def test_pages_without_a_session_go_to_sign_in(base_url: str) -> None:
    """A page asked for without a session redirects to sign-in, remembering the page."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get("/ui/workflows?kind=COMMAND")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=%2Fui%2Fworkflows%3Fkind%3DCOMMAND"


async def test_pages_have_a_strict_csp_and_nothing_inline(alice: UserClient, db: Database) -> None:
    """Every page sends script-src 'self' and holds no inline script, style or handler."""
    workflow_id = await create(alice, "COMMAND")
    job_id = await insert_job(db, workflow_id, alice.user_id, "COMPLETED")
    paths = [
        "/ui/workflows",
        "/ui/workflows/new",
        "/ui/workflows/new?kind=HEARTBEAT",
        "/ui/workflows/new?kind=CONTAINER",
        "/ui/workflows/new?kind=COMMAND",
        f"/ui/workflows/{workflow_id}",
        f"/ui/workflows/{workflow_id}/edit",
        f"/ui/workflows/{workflow_id}/jobs/{job_id}",
        "/ui/account",
        "/ui/nowhere",
    ]
    for path in paths:
        response = await alice.get(path)
        assert response.status_code == (404 if path == "/ui/nowhere" else 200), path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "unsafe" not in response.headers["content-security-policy"]
        parser = _Inline()
        parser.feed(response.text)
        assert parser.found == [], (path, parser.found)


async def test_assets_are_versioned_immutable_and_gzipped(base_url: str) -> None:
    """A page's asset URLs carry a version; they are cached a year and sent gzipped."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        page = await client.get("/ui/login")
        url = re.search(r'src="(/ui/static/[0-9a-f]{12}/vendor/htmx\.min\.js)"', page.text)
        assert url is not None
        response = await client.get(url[1], headers={"Accept-Encoding": "gzip"})
        stale = await client.get(url[1].replace("/static/", "/static/x"))
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert b"htmx" in response.content  # httpx undid the gzip
    assert stale.status_code == 404


async def test_unknown_asset_version_is_not_found(base_url: str) -> None:
    """An asset under another version is a 404 (never a stale or mismatched file)."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get("/ui/static/000000000000/js/app.js")
    assert response.status_code == 404


async def test_state_change_without_csrf_is_refused(alice: UserClient, db: Database) -> None:
    """A dashboard form posted with the session cookie but no CSRF header is 403."""
    headers = {"X-CSRF-Token": ""}
    data = {"kind": "COMMAND", "name": "x", "cmd": "true", "interval": "5", "idempotency_key": "k"}
    response = await alice.post("/ui/workflows", data=data, headers=headers)
    assert response.status_code == 403
    assert await count_workflows(db) == 0


async def test_form_errors_come_back_on_their_fields(alice: UserClient, db: Database) -> None:
    """A form with mistakes answers the form again, each API error on its field; nothing saved."""
    data = {
        "kind": "COMMAND",
        "name": " ",
        "interval": "0",
        "idempotency_key": "k2",
        "max_failures": "3",
    }
    response = await alice.post("/ui/workflows", data=data, headers=HTMX)
    assert response.status_code == 200
    for field in ("f-name", "f-interval", "f-cmd"):
        assert f'id="e-{field}"' in response.text, field
    assert "3 problems: nothing was saved." in response.text
    assert await count_workflows(db) == 0


async def test_a_saved_form_redirects_to_the_workflow(alice: UserClient) -> None:
    """A valid form creates the workflow and sends the browser to its page."""
    data = {
        "kind": "COMMAND",
        "name": "ok",
        "cmd": ["echo", "hi"],
        "interval": "5",
        "max_failures": "3",
        "keep_logs": "on",
        "idempotency_key": "k3",
    }
    response = await alice.post("/ui/workflows", data=data, headers=HTMX)
    assert response.status_code == 204
    workflow_id = response.headers["HX-Redirect"].rsplit("/", 1)[1]
    api = (await alice.get(f"/workflows/{workflow_id}")).json()
    assert (api["name"], api["interval"], api["payload"]) == (
        "ok",
        5,
        '{"cmd":["echo","hi"],"timeout":"30m"}',
    )


async def test_secrets_keep_their_value_when_the_form_sends_the_mask(
    alice: UserClient, services: Services
) -> None:
    """The edit form shows secrets as ***; saved unchanged, the stored secret stays."""
    workflow_id = await create(alice, "COMMAND", payload={"cmd": ["true"], "secrets": {"T": "s3"}})
    form = await alice.get(f"/ui/workflows/{workflow_id}/edit")
    assert 'name="secret_value" value="***"' in form.text
    assert "s3" not in form.text
    data = {
        "name": "renamed",
        "cmd": "true",
        "secret_name": "T",
        "secret_value": "***",
        "interval": "5",
        "max_failures": "3",
        "keep_logs": "on",
        "idempotency_key": "k4",
    }
    response = await alice.put(f"/ui/workflows/{workflow_id}", data=data, headers=HTMX)
    assert response.status_code == 204
    stored = await services.workflows.get(Principal(alice.user_id, "session"), workflow_id)
    assert (stored.name, stored.payload["secrets"]) == ("renamed", {"T": "s3"})


async def test_another_users_workflow_is_the_404_page(alice: UserClient, bob: UserClient) -> None:
    """Bob opening Alice's workflow gets the dashboard's 404 page, not its existence."""
    workflow_id = await create(alice, "COMMAND")
    response = await bob.get(f"/ui/workflows/{workflow_id}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Page not found" in response.text


async def test_last_run_of_each_workflow(
    alice: UserClient, services: Services, db: Database
) -> None:
    """The list's "last run" is each workflow's newest started job; waiting jobs are not runs."""
    ran, never = await create(alice, "COMMAND"), await create(alice, "COMMAND")
    done = await insert_job(db, ran, alice.user_id, "COMPLETED", "MANUAL")
    await insert_job(db, ran, alice.user_id, "PENDING")
    async with db.write() as tx:
        await tx.execute(
            jobs.update().where(jobs.c.id == done).values(started_at=datetime.now(UTC))
        )
    last = await services.runs.last_runs(Principal(alice.user_id, "session"), [ran, never])
    assert {w: j.id for w, j in last.items()} == {ran: done}
    assert await services.runs.last_runs(Principal("someone-else", "session"), [ran]) == {}


async def test_closed_sign_up_says_so(serve: Callable[..., Awaitable[str]]) -> None:
    """With sign-up closed, the sign-up page and the sign-in page say so."""
    url = await serve(signup="closed")
    async with httpx.AsyncClient(base_url=url) as client:
        signup = await client.get("/ui/signup")
        login = await client.get("/ui/login")
        posted = await client.post("/ui/signup", data={"email": "a@b.c", "password": "x" * 9})
    assert "Sign-up is closed on this server" in signup.text
    assert "Sign-up is closed on this server" in login.text
    assert "sign-up is closed on this server" in posted.text.lower()


async def test_command_kind_is_hidden_when_refused(serve: Callable[..., Awaitable[str]]) -> None:
    """With COMMAND refused, no page offers it and its form is not served."""
    url = await serve(allow_command_kind=False)
    user = await register(url)
    try:
        choose = await user.get("/ui/workflows/new")
        asked = await user.get("/ui/workflows/new?kind=COMMAND")
        empty = await user.get("/ui/workflows")
    finally:
        await user.client.aclose()
    assert "kind=COMMAND" not in choose.text + empty.text
    assert "The COMMAND kind is disabled on this server" in asked.text
    assert 'name="cmd"' not in asked.text
