"""A new user's tour of the dashboard in a real Chromium, against `hourglass up` on SQLite and
on PostgreSQL: sign up, create a workflow of each kind and see it build, run one and open the
job, cancel a running one, edit with a mistake then fix it, terminate, delete, make and revoke
an API token, sign out. Every test also checks: no console error, no request without CSRF."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PASSWORD, Watch, api, new_page, sign_up, start_server
from tests.support import TemplateDatabases

pytestmark = pytest.mark.browser

WORKFLOW_URL = re.compile(r"/ui/workflows/[0-9A-Z]{26}$")
JOB_URL = re.compile(r"/ui/workflows/[0-9A-Z]{26}/jobs/[0-9A-Z]{26}$")
BUILT = 20_000  # ms: a build, then the page's next poll


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    templates: TemplateDatabases,
) -> Iterator[str]:
    yield from start_server(tmp_path_factory.mktemp("tour"), templates, request.param)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A stand-in for the user's web service: a local HTTP server answering 200."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/health"
    httpd.shutdown()


def create(page: Page, kind: str, name: str, fill: Callable[[Page], None]) -> str:
    """Create a workflow through its form; returns its id (the page is the workflow's)."""
    page.goto(f"/ui/workflows/new?kind={kind}")
    page.fill("#f-name", name)
    fill(page)
    page.get_by_role("button", name="Create workflow").click()
    page.wait_for_url(WORKFLOW_URL)
    return page.url.rsplit("/", 1)[1]


def argv(*args: str) -> Callable[[Page], None]:
    def fill(page: Page) -> None:
        for arg in args:
            page.click("[data-add-row=cmd]")
            page.locator("#rows-cmd input").last.fill(arg)

    return fill


def run_now(page: Page) -> None:
    """Press Run now once the build allows it; the page becomes the new job's."""
    run = page.get_by_role("button", name="Run now")
    expect(run).to_be_enabled(timeout=BUILT)
    run.click()
    page.wait_for_url(JOB_URL)


def state(page: Page) -> Any:
    return page.locator("#workflow-live .summary .badge")


def test_sign_up_from_the_front_door(chromium: Browser, server: str, watch: Watch) -> None:
    """A visitor at / lands on sign-in, signs up, and sees the empty list's next step."""
    page = new_page(chromium, server, watch)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/ui/login"))
    page.get_by_role("link", name="Create an account").click()
    page.fill("#f-email", "new.person@example.com")
    page.fill("#f-password", PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/ui/workflows$"))
    expect(page.get_by_role("heading", name="No workflows yet")).to_be_visible()
    page.context.close()


def test_each_kind_is_created_and_built(signed_in: Page, endpoint: str) -> None:
    """HEARTBEAT and COMMAND workflows build to active; CONTAINER's build ends either way."""

    def heartbeat(page: Page) -> None:
        page.fill("#f-endpoint", endpoint)

    create(signed_in, "HEARTBEAT", "site up", heartbeat)
    expect(state(signed_in)).to_have_text("active", timeout=BUILT)
    create(signed_in, "COMMAND", "say hello", argv("echo", "hello"))
    expect(state(signed_in)).to_have_text("active", timeout=BUILT)

    def container(page: Page) -> None:
        page.fill("#f-image", "local/busybox")
        argv("echo", "hi")(page)

    create(signed_in, "CONTAINER", "boxed", container)
    expect(state(signed_in)).to_have_text(re.compile("^(active|build failed)$"), timeout=BUILT)
    signed_in.goto("/ui/workflows")
    expect(signed_in.locator("#workflow-list tbody tr")).to_have_count(3)


def test_run_now_and_open_the_job(signed_in: Page) -> None:
    """Run now opens the job, which completes with exit code 0 and shows its output."""
    create(signed_in, "COMMAND", "greeter", argv("echo", "hello from the tour"))
    run_now(signed_in)
    expect(signed_in.locator("#job-live .badge")).to_have_text("completed", timeout=BUILT)
    expect(signed_in.locator("#log-lines")).to_contain_text("hello from the tour")
    expect(signed_in.locator("#attempts")).to_contain_text("exited with code 0")
    signed_in.get_by_role("link", name="greeter").click()
    expect(signed_in.locator("#jobs tbody tr")).to_have_count(1)
    expect(signed_in.locator(".strip rect")).to_have_count(1)


def test_cancel_a_running_job(signed_in: Page) -> None:
    """A running job's Cancel stops it: the page shows it canceled."""
    create(signed_in, "COMMAND", "sleeper", argv("sleep", "120"))
    run_now(signed_in)
    expect(signed_in.locator("#job-live .badge")).to_have_text("running", timeout=BUILT)
    signed_in.get_by_role("button", name="Cancel job").click()
    expect(signed_in.locator("#job-live .badge")).to_have_text("canceled", timeout=BUILT)
    expect(signed_in.locator("#toasts")).to_contain_text("Cancel requested")


def test_edit_with_a_mistake_then_fix_it(signed_in: Page) -> None:
    """An invalid interval is refused next to its field; fixed, the edit is saved."""
    workflow_id = create(signed_in, "COMMAND", "editable", argv("true"))
    signed_in.get_by_role("link", name="Edit").click()
    signed_in.fill("#f-interval", "0")
    signed_in.get_by_role("button", name="Save").click()
    expect(signed_in.locator("#e-f-interval")).to_contain_text("between 1 and 10080")
    expect(signed_in.locator("#f-interval")).to_have_attribute("aria-invalid", "true")
    expect(signed_in.locator(".form-summary")).to_contain_text("nothing was saved")
    signed_in.fill("#f-interval", "15")
    signed_in.get_by_role("button", name="Save").click()
    signed_in.wait_for_url(re.compile(f"/ui/workflows/{workflow_id}$"))
    expect(signed_in.locator(".facts").last).to_contain_text("every 15 minutes")
    expect(signed_in.locator("#toasts")).to_contain_text("Workflow saved")


def test_terminate_then_delete(signed_in: Page) -> None:
    """Terminate and delete each ask for the typed name; the workflow ends up gone."""
    create(signed_in, "COMMAND", "short-lived", argv("true"))
    signed_in.get_by_role("button", name="Terminate…").click()
    confirm = signed_in.get_by_role("dialog").get_by_role("button", name="Terminate")
    expect(confirm).to_be_disabled()
    signed_in.fill("#confirm-name", "short-lived")
    confirm.click()
    expect(state(signed_in)).to_have_text("terminated")
    signed_in.get_by_role("button", name="Delete…").click()
    signed_in.fill("#confirm-name", "short-lived")
    signed_in.get_by_role("dialog").get_by_role("button", name="Delete").click()
    signed_in.wait_for_url(re.compile(r"/ui/workflows$"))
    expect(signed_in.locator("#toasts")).to_contain_text("Deleted “short-lived”")
    expect(signed_in.get_by_role("heading", name="No workflows yet")).to_be_visible()


def test_create_and_revoke_a_token(signed_in: Page, server: str) -> None:
    """A new token's secret is shown once and works; revoked, it no longer does."""
    signed_in.goto("/ui/account")
    signed_in.fill("#f-token-name", "ci")
    signed_in.get_by_role("button", name="Create token").click()
    secret = signed_in.locator("#new-token").input_value()
    assert secret.startswith("hg_")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{server}/workflows", headers=bearer).status_code == 200
    signed_in.get_by_role("button", name="Revoke ci").click()
    expect(signed_in.locator("#tokens")).to_contain_text("No tokens yet.")
    assert httpx.get(f"{server}/workflows", headers=bearer).status_code == 401


def test_sign_out(signed_in: Page) -> None:
    """Sign out ends the session: the dashboard asks to sign in again."""
    signed_in.goto("/ui/workflows")
    signed_in.get_by_role("button", name="Sign out").click()
    expect(signed_in).to_have_url(re.compile(r"/ui/login"))
    signed_in.goto("/ui/account")
    expect(signed_in).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Faccount"))


def test_another_users_pages_are_404(
    chromium: Browser, server: str, watch: Watch, user: dict[str, Any]
) -> None:
    """Someone else's workflow and job pages are the dashboard's 404 page."""
    owner = sign_up(server)
    with api(server, owner) as client:
        created = client.post(
            "/workflows",
            json={
                "name": "private",
                "kind": "COMMAND",
                "payload": '{"cmd":["true"]}',
                "interval": 60,
            },
            headers={"Idempotency-Key": "k1"},
        )
    workflow_id = created.json()["id"]
    page = new_page(chromium, server, watch)
    page.context.add_cookies(user["cookies"])
    for path in (
        f"/ui/workflows/{workflow_id}",
        f"/ui/workflows/{workflow_id}/edit",
        f"/ui/workflows/{workflow_id}/jobs/{workflow_id}",
    ):
        watch.expected_failures.add(server + path)
        response = page.goto(path)
        assert response is not None
        assert response.status == 404
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.context.close()


def test_pages_fit_a_360px_screen(
    chromium: Browser, server: str, watch: Watch, user: dict[str, Any]
) -> None:
    """At 360 px wide no page scrolls sideways."""
    page = new_page(chromium, server, watch, viewport={"width": 360, "height": 740})
    page.context.add_cookies(user["cookies"])
    workflow_id = create(page, "COMMAND", "a rather long workflow name for a phone", argv("true"))
    for path in (
        "/ui/workflows",
        f"/ui/workflows/{workflow_id}",
        f"/ui/workflows/{workflow_id}/edit",
        "/ui/account",
        "/ui/workflows/new",
    ):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} is {width}px wide"
    page.context.close()
