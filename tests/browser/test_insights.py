"""The bell, the notifications drawer, analytics and webhooks in a real Chromium, against
`hourglass up` on SQLite and on PostgreSQL: a failing job rings the bell without a reload and
the drawer links to it; mark one, selected and all read, history; the analytics shown equal the
API's; a webhook made in the page receives its test delivery, signed; 360 px wide works. Every
test also checks: no console error, no request without CSRF."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from standardwebhooks import Webhook as Verifier

from tests.browser.conftest import Watch, api, new_page, poll_json, start_server
from tests.support import TemplateDatabases

pytestmark = pytest.mark.browser

FINAL = {"COMPLETED", "FAILED", "CANCELED"}
LIVE = 15_000  # ms: a job runs, its notification is streamed


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    templates: TemplateDatabases,
) -> Iterator[str]:
    yield from start_server(tmp_path_factory.mktemp("insights"), templates, request.param)


@dataclass
class Receiver:
    """A stand-in for a webhook endpoint: records each POST, answers 200."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait(self, count: int, timeout: float = 15) -> list[tuple[dict[str, str], bytes]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with found.arrived:
                found.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                found.arrived.notify_all()
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    found.url = f"http://127.0.0.1:{httpd.server_address[1]}/hooks/hourglass"
    yield found
    httpd.shutdown()


def workflow(client: httpx.Client, name: str, cmd: list[str]) -> str:
    """A built COMMAND workflow (hourly, many failures allowed: only our runs count)."""
    body = {
        "name": name,
        "kind": "COMMAND",
        "payload": json.dumps({"cmd": cmd}),
        "interval": 60,
        "max_consecutive_job_failures_allowed": 50,
    }
    created = client.post("/workflows", json=body, headers={"Idempotency-Key": name})
    assert created.status_code == 201, created.text
    workflow_id: str = created.json()["id"]
    poll_json(client, f"/workflows/{workflow_id}", lambda w: w["build_status"] == "COMPLETED")
    return workflow_id


def run(client: httpx.Client, workflow_id: str) -> str:
    """Run it now and wait for the job to end; its id."""
    path = f"/workflows/{workflow_id}/jobs/schedule"
    started = client.post(path, headers={"Idempotency-Key": f"{time.monotonic_ns()}"})
    assert started.status_code == 201, started.text
    job_id: str = started.json()["id"]
    poll_json(client, f"/workflows/{workflow_id}/jobs/{job_id}", lambda j: j["status"] in FINAL)
    return job_id


def bell(page: Page) -> Any:
    return page.locator("#bell-count")


def test_a_failing_job_rings_the_bell_live(
    signed_in: Page, server: str, user: dict[str, Any]
) -> None:
    """The count goes up without a reload; the drawer links to the job, which reads it."""
    signed_in.goto("/ui/workflows")
    expect(signed_in.locator("#bell")).to_have_attribute("aria-label", "Notifications: none unread")
    signed_in.evaluate("window.stillThisPage = true")
    with api(server, user) as client:
        workflow_id = workflow(client, "always fails", ["false"])
        job_id = run(client, workflow_id)
    expect(bell(signed_in)).to_have_text("1", timeout=LIVE)
    assert signed_in.evaluate("window.stillThisPage") is True
    signed_in.locator("#bell").click()
    link = signed_in.get_by_role("dialog").get_by_role("link", name="Job Execution Failed")
    expect(link).to_have_attribute("href", f"/ui/workflows/{workflow_id}/jobs/{job_id}")
    link.click()
    signed_in.wait_for_url(re.compile(f"/jobs/{job_id}$"))
    expect(signed_in.locator("#bell")).to_have_attribute("aria-label", "Notifications: none unread")


def test_mark_one_selected_all_read_then_history(
    signed_in: Page, server: str, user: dict[str, Any]
) -> None:
    """Each way of marking read lowers the count; the history still lists them, read."""
    signed_in.goto("/ui/account")
    with api(server, user) as client:
        workflow_id = workflow(client, "fails thrice", ["false"])
        for _ in range(4):
            run(client, workflow_id)
    expect(bell(signed_in)).to_have_text("4", timeout=LIVE)
    signed_in.locator("#bell").click()
    drawer = signed_in.get_by_role("dialog")
    expect(drawer.locator(".notice")).to_have_count(4)
    drawer.get_by_role("button", name="Mark “Job Execution Failed” read").first.click()
    expect(bell(signed_in)).to_have_text("3")
    expect(drawer.locator(".notice")).to_have_count(3)
    drawer.get_by_role("checkbox").nth(0).check()
    drawer.get_by_role("checkbox").nth(2).check()
    drawer.get_by_role("button", name="Mark selected read").click()
    expect(bell(signed_in)).to_have_text("1")
    drawer.get_by_role("button", name="Mark all read").click()
    expect(bell(signed_in)).to_be_hidden()
    expect(drawer).to_contain_text("You are all caught up.")
    drawer.get_by_role("link", name="History", exact=True).click()
    expect(drawer.locator(".notice.read")).to_have_count(4)
    expect(drawer).to_contain_text("Hidden: completed and canceled jobs")


def tiles(page: Page, ids: list[str]) -> dict[str, str]:
    """The raw figures (`<data value>`) of the tiles named by `ids`."""
    return {i: page.locator(f"#{i}").get_attribute("value") or "" for i in ids}


def figure(value: Any) -> str:
    return "" if value is None else str(value)


def test_analytics_equal_the_api(
    signed_in: Page, server: str, user: dict[str, Any], tmp_path: Path
) -> None:
    """Totals, and a workflow's success rate, p50, p95 over 30 and 7 days, are the API's; its
    three charts are drawn, on the analytics page and in the workflow page's slot."""
    marker = tmp_path / "pass-once"  # each run passes (and removes it) if it is there
    with api(server, user) as client:
        workflow_id = workflow(client, "half and half", ["sh", "-c", 'rm "$0"', str(marker)])
        for passes in (True, False, True):
            if passes:
                marker.touch()
            run(client, workflow_id)
        totals = client.get("/analytics").json()
        month = client.get(f"/analytics/{workflow_id}?days=30").json()
        week = client.get(f"/analytics/{workflow_id}?days=7").json()
    assert (month["jobs_by_status"]["COMPLETED"], month["jobs_by_status"]["FAILED"]) == (2, 1)
    signed_in.goto("/ui/analytics")
    shown = {
        "total-workflows": "total_workflows",
        "total-jobs": "total_jobs",
        "total-duration": "total_job_execution_duration",
        "total-joblogs": "total_joblogs",
    }
    assert tiles(signed_in, list(shown)) == {n: figure(totals[f]) for n, f in shown.items()}
    signed_in.get_by_role("link", name="half and half").click()
    ids = ["a-success", "a-p50", "a-p95"]
    expected = {"a-success": "success_rate", "a-p50": "p50_ms", "a-p95": "p95_ms"}
    assert tiles(signed_in, ids) == {i: figure(month[f]) for i, f in expected.items()}
    expect(signed_in.locator("#a-success")).to_have_text("66.7 %")
    expect(signed_in.locator("#wf-analytics .chart-box canvas")).to_have_count(3)
    signed_in.locator(".segmented label", has_text="7 days").click()
    expect(signed_in).to_have_url(re.compile(r"\?days=7$"))
    expect(signed_in.locator("#wf-analytics h2")).to_contain_text("last 7 days")
    assert tiles(signed_in, ids) == {i: figure(week[f]) for i, f in expected.items()}
    expect(signed_in.locator("#wf-analytics .chart-box canvas")).to_have_count(3)
    signed_in.goto(f"/ui/workflows/{workflow_id}")
    slot = signed_in.locator("#analytics-slot")
    expect(slot.locator(".chart-box canvas")).to_have_count(3)
    assert tiles(signed_in, ids) == {i: figure(month[f]) for i, f in expected.items()}


def test_a_webhook_made_in_the_page_receives_a_signed_test(
    signed_in: Page, receiver: Receiver
) -> None:
    """A refused URL is said on its field; the saved webhook's test arrives, signed with the
    secret the page showed once, and its delivery shows as delivered."""
    signed_in.goto("/ui/webhooks")
    signed_in.get_by_label("URL").fill("http://169.254.169.254/latest/meta-data")
    signed_in.get_by_role("button", name="Add webhook").click()
    expect(signed_in.locator("#e-wh-url")).to_contain_text("refused by the outbound policy")
    expect(signed_in.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    signed_in.get_by_label("URL").fill(receiver.url)
    signed_in.get_by_label("Description").fill("ops room")
    signed_in.get_by_role("button", name="Add webhook").click()
    secret = signed_in.locator("#new-secret").input_value()
    assert secret.startswith("whsec_")
    before = len(receiver.received)
    signed_in.get_by_role("link", name="Open the webhook").click()
    expect(signed_in.get_by_role("heading", name="ops room")).to_be_visible()
    signed_in.get_by_role("button", name="Send a test").click()
    expect(signed_in.locator("#toasts")).to_contain_text("Test delivery queued")
    headers, body = receiver.wait(before + 1)[before]
    assert Verifier(secret).verify(body, headers)["type"] == "webhook.test"
    expect(signed_in.locator("#deliveries tbody tr")).to_contain_text("delivered")
    expect(signed_in.locator("#deliveries tbody tr")).to_contain_text("HTTP 200")


def test_new_pages_fit_a_360px_screen(
    chromium: Browser, server: str, watch: Watch, user: dict[str, Any]
) -> None:
    """At 360 px wide no new page scrolls sideways, and the drawer fits the screen."""
    with api(server, user) as client:
        workflow_id = workflow(client, "a rather long workflow name for a phone", ["false"])
        run(client, workflow_id)
        body = {
            "url": "https://hooks.example.com/a/long/path/that/goes/on",
            "events": ["job.failed"],
        }
        hook = client.post("/webhooks", json=body).json()
        client.post(f"/webhooks/{hook['id']}/test")
    page = new_page(chromium, server, watch, viewport={"width": 360, "height": 740})
    page.context.add_cookies(user["cookies"])
    for path in (
        "/ui/notifications",
        "/ui/analytics",
        f"/ui/analytics/{workflow_id}",
        "/ui/webhooks",
        f"/ui/webhooks/{hook['id']}",
    ):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} is {width}px wide"
    page.goto("/ui/workflows")
    page.locator("#bell").click()
    drawer = page.get_by_role("dialog")
    expect(drawer.locator(".notice")).to_have_count(1)
    box = drawer.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 360
    assert drawer.evaluate("d => d.scrollWidth <= d.clientWidth")
    page.context.close()
