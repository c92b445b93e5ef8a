"""Take the README's and docs/screenshots/' pictures of the dashboard, light and dark.

Starts its own `hourglass up` (embedded SQLite, a temporary data dir), fills it with a few
workflows, runs and webhooks through the API, then photographs each main page in Debian's
chromium-headless-shell: 1280 px wide in light and dark (the notifications drawer open over the
workflows list), and the workflows list and the drawer at 360 px.
Usage: `.venv/bin/python scripts/screenshots.py [--out docs/screenshots]`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.processes import base_env, free_port, started  # noqa: E402

CHROMIUM = "/usr/lib/chromium/chromium-headless-shell"
FINAL = {"COMPLETED", "FAILED", "CANCELED"}


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    def do_POST(self) -> None:  # a webhook's deliveries
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _wait(client: httpx.Client, path: str, done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(path).json()
        if done(body):
            return body
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {path}")


def _create(
    client: httpx.Client, name: str, kind: str, payload: dict[str, Any], **extra: Any
) -> str:
    body = {"name": name, "kind": kind, "payload": json.dumps(payload), "interval": 60, **extra}
    response = client.post("/workflows", json=body, headers={"Idempotency-Key": name})
    response.raise_for_status()
    workflow_id: str = response.json()["id"]
    return workflow_id


def _run(client: httpx.Client, workflow_id: str, times: int) -> str:
    _wait(client, f"/workflows/{workflow_id}", lambda w: w["build_status"] == "COMPLETED")
    job_id = ""
    for n in range(times):
        path = f"/workflows/{workflow_id}/jobs/schedule"
        job_id = client.post(path, headers={"Idempotency-Key": f"{workflow_id}-{n}"}).json()["id"]
        _wait(client, f"/workflows/{workflow_id}/jobs/{job_id}", lambda j: j["status"] in FINAL)
    return job_id


def seed(client: httpx.Client, endpoint: str) -> dict[str, str]:
    """A small, lived-in account: returns the paths of the pages to photograph."""
    script = (
        "import random,sys,time; n=random.randint(1,6); "
        "[print(f'step {i}: ok', flush=True) or time.sleep(0.05) for i in range(n*3)]; "
        "sys.exit(1 if n==6 else 0)"
    )
    nightly = _create(
        client,
        "nightly report",
        "COMMAND",
        {"cmd": ["python3", "-c", script]},
        interval=None,
        cron="0 2 * * 1-5",
    )
    job = _run(client, nightly, 14)
    _create(client, "status page", "HEARTBEAT", {"endpoint": endpoint, "timeout": "5s"}, interval=5)
    flaky = _create(
        client,
        "flaky export",
        "COMMAND",
        {"cmd": ["sh", "-c", "echo exporting; echo 'error: disk full' >&2; exit 2"]},
        interval=30,
    )
    failed = _run(client, flaky, 2)
    _create(
        client,
        "image build check",
        "CONTAINER",
        {"image": "local/busybox", "cmd": ["echo", "hi"]},
        interval=1440,
    )
    _create(client, "old cleanup", "COMMAND", {"cmd": ["true"]}, interval=10080)
    old = client.get("/workflows?query=old").json()["workflows"][0]["id"]
    client.patch(f"/workflows/{old}")
    client.post("/tokens", json={"name": "ci", "expires_in_days": 90})
    hook = _webhook(client, endpoint)
    return {
        "workflows": "/ui/workflows",
        "workflow": f"/ui/workflows/{nightly}",
        "job": f"/ui/workflows/{nightly}/jobs/{job}",
        "log-viewer": f"/ui/workflows/{flaky}/jobs/{failed}",  # opens at its first error
        "new-workflow": "/ui/workflows/new?kind=HEARTBEAT",
        "edit-workflow": f"/ui/workflows/{nightly}/edit",
        "account": "/ui/account",
        "analytics": "/ui/analytics",
        "workflow-analytics": f"/ui/analytics/{nightly}",
        "webhooks": "/ui/webhooks",
        "webhook": f"/ui/webhooks/{hook}",
    }


def _webhook(client: httpx.Client, endpoint: str) -> str:
    """A webhook to the local stand-in, with a delivered test; and a Slack one, turned off."""
    body = {"url": f"{endpoint}hooks/hourglass", "events": ["job.failed", "workflow.terminated"]}
    hook: str = client.post("/webhooks", json={**body, "description": "ops room"}).json()["id"]
    client.post(f"/webhooks/{hook}/test")
    _wait(
        client,
        f"/webhooks/{hook}/deliveries",
        lambda d: all(x["status"] == "delivered" for x in d["deliveries"]),
    )
    slack = {"url": "https://hooks.slack.com/services/T000/B000/XXXXXXXX", "format": "slack"}
    other = client.post("/webhooks", json={**slack, "events": ["job.failed"]}).json()["id"]
    client.patch(f"/webhooks/{other}", json={"enabled": False})
    return hook


def shoot(page: Page, path: str, target: Path) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    if path.startswith("/ui/analytics/") or re.fullmatch(r"/ui/workflows/[0-9A-Z]{26}", path):
        page.locator(".chart-box canvas").first.wait_for()  # a workflow's analytics charts
    page.screenshot(path=str(target), full_page=True, animations="disabled", caret="initial")


def shoot_drawer(page: Page, target: Path) -> None:
    """The notifications drawer, open over the workflows list."""
    page.goto("/ui/workflows")
    page.wait_for_load_state("networkidle")
    page.locator("#bell").click()
    page.locator("#notif-list").wait_for()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(target), animations="disabled", caret="initial")


def photograph(url: str, log: Path, *, endpoint: str, out: Path, env: dict[str, str]) -> None:
    with started(["up"], env, log, url), httpx.Client(base_url=url, timeout=30) as client:
        signed = client.post(
            "/auth/register", json={"email": "ada@example.com", "password": "correct horse battery"}
        )
        client.headers["X-CSRF-Token"] = signed.json()["csrf_token"]
        pages = seed(client, endpoint)
        cookies = [{"name": c.name, "value": c.value or "", "url": url} for c in client.cookies.jar]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            for scheme in ("light", "dark"):
                context = browser.new_context(
                    base_url=url, color_scheme=scheme, viewport={"width": 1280, "height": 800}
                )
                shoot(context.new_page(), "/ui/login", out / f"login-{scheme}.png")
                context.add_cookies(cookies)
                page = context.new_page()
                for name, path in pages.items():
                    shoot(page, path, out / f"{name}-{scheme}.png")
                shoot_drawer(page, out / f"notifications-{scheme}.png")
                context.close()
            phone = browser.new_context(
                base_url=url, viewport={"width": 360, "height": 780}, device_scale_factor=2
            )
            phone.add_cookies(cookies)
            shoot(phone.new_page(), "/ui/workflows", out / "workflows-360px.png")
            shoot_drawer(phone.new_page(), out / "notifications-360px.png")
            shoot(phone.new_page(), pages["log-viewer"], out / "log-viewer-360px.png")
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = base_env(
            HOURGLASS_PORT=str(port), HOURGLASS_DATA_DIR=tmp, HOURGLASS_ACCESS_LOG="false"
        )
        log = Path(tmp) / "up.log"
        try:
            photograph(
                url,
                log,
                endpoint=f"http://127.0.0.1:{httpd.server_address[1]}/",
                out=args.out,
                env=env,
            )
        except Exception:
            print(log.read_text(errors="replace")[-5000:], file=sys.stderr)
            raise
    httpd.shutdown()
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()
