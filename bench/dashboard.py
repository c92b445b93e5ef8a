"""Benchmark of the web dashboard, printing JSON.

- server: time to answer the workflows page of a user with 1,000 workflows (first page, and
  filtered by a name search), a job's page, the analytics page (the figures of 25 workflows
  over 30 days), a workflow's analytics (90 days), the notifications list (of ~2,000: the
  user's preference is ALL, so every build's notices show) and the webhooks page, p50/p95 over
  loopback HTTP with keep-alive (the client-side time, so an upper bound of the server's render
  time); target < 50 ms;
- browser: navigation -> first contentful paint of each page in Chromium (Debian's
  chromium-headless-shell), the first visit (cold cache) and p50 of the next ones; target
  < 300 ms;
- assets: every JS + CSS file the dashboard serves, gzipped, in bytes; target < 100 KB.

Runs a real `hourglass up` (embedded SQLite) and, when `HOURGLASS_BENCH_POSTGRES_URL` (or
`HOURGLASS_TEST_POSTGRES_URL`) is set, the server figures on PostgreSQL too.
Usage: `.venv/bin/python bench/dashboard.py [--workflows 1000] [--samples 200]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from playwright.sync_api import sync_playwright
from tests.e2e.processes import base_env, free_port, started
from tests.support import UserClient, register

from benchkit import admin_postgres_url, postgres_database
from hourglass.web.dashboard.assets import Assets

CHROMIUM = "/usr/lib/chromium/chromium-headless-shell"
STATIC = Path(__file__).resolve().parent.parent / "src/hourglass/web/dashboard/static"
FINAL = {"COMPLETED", "FAILED", "CANCELED"}


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
        "samples": len(ordered),
    }


async def seed(user: UserClient, count: int) -> tuple[str, str]:
    """`count` HEARTBEAT workflows (weekly, so nothing runs), plus one COMMAND run once; every
    notification shown (preference ALL), and a webhook."""
    semaphore = asyncio.Semaphore(16)
    response = await user.put("/users", json={"notification_preference": "ALL"})
    assert response.status_code == 204, response.text
    hook = {"url": "https://hooks.example.test/hourglass", "events": ["job.failed"]}
    assert (await user.post("/webhooks", json=hook)).status_code == 201

    async def one(index: int) -> None:
        body = {
            "name": f"site {index:04d}",
            "kind": "HEARTBEAT",
            "payload": json.dumps({"endpoint": f"https://example.test/{index}"}),
            "interval": 10080,
        }
        async with semaphore:
            response = await user.post(
                "/workflows", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
            )
            assert response.status_code == 201, response.text

    await asyncio.gather(*(one(i) for i in range(count - 1)))
    body = {
        "name": "printer",
        "kind": "COMMAND",
        "payload": json.dumps({"cmd": ["sh", "-c", "seq 1 500"]}),
        "interval": 10080,
    }
    created = await user.post("/workflows", json=body, headers={"Idempotency-Key": "printer"})
    workflow_id = created.json()["id"]
    while (await user.get(f"/workflows/{workflow_id}")).json()["build_status"] != "COMPLETED":
        await asyncio.sleep(0.1)
    run = await user.post(
        f"/workflows/{workflow_id}/jobs/schedule", headers={"Idempotency-Key": "run"}
    )
    job_id = run.json()["id"]
    while (await user.get(f"/workflows/{workflow_id}/jobs/{job_id}")).json()["status"] not in FINAL:
        await asyncio.sleep(0.1)
    return workflow_id, job_id


async def server_times(user: UserClient, paths: dict[str, str], samples: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name, path in paths.items():
        for _ in range(10):  # warm-up
            assert (await user.get(path)).status_code == 200
        timings = []
        for _ in range(samples):
            began = time.perf_counter()
            response = await user.get(path)
            timings.append(time.perf_counter() - began)
            assert response.status_code == 200
        figures[name] = percentiles(timings)
    return figures


def paint_times(base_url: str, cookies: httpx.Cookies, paths: dict[str, str]) -> dict[str, Any]:
    """Navigation -> first contentful paint per page: the first visit and p50 of 9 more."""
    figures: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        for name, path in paths.items():
            context = browser.new_context(base_url=base_url)
            if name != "login":
                context.add_cookies(
                    [{"name": c.name, "value": c.value or "", "url": base_url} for c in cookies.jar]
                )
            page = context.new_page()
            visits = []
            for _ in range(10):
                page.goto(path)
                visits.append(
                    page.evaluate(
                        "new Promise(done => new PerformanceObserver((list, observer) => {"
                        " const entry = list.getEntriesByName('first-contentful-paint')[0];"
                        " if (entry) { observer.disconnect(); done(entry.startTime); }"
                        "}).observe({type: 'paint', buffered: true}))"
                    )
                )
            figures[name] = {
                "first_visit_ms": round(visits[0], 1),
                "p50_ms": round(statistics.median(visits[1:]), 1),
            }
            context.close()
        browser.close()
    return figures


def run(database_url: str | None, args: argparse.Namespace, browser: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = base_env(
            HOURGLASS_PORT=str(port),
            HOURGLASS_DATA_DIR=str(Path(tmp) / "data"),
            HOURGLASS_ACCESS_LOG="false",
            HOURGLASS_LOG_LEVEL="warning",
        )
        if database_url:
            env["HOURGLASS_DATABASE_URL"] = database_url
        url = f"http://127.0.0.1:{port}"
        with started(["up"], env, Path(tmp) / "up.log", url):

            async def measure() -> tuple[dict[str, Any], dict[str, str], httpx.Cookies]:
                user = await register(url)
                try:
                    workflow_id, job_id = await seed(user, args.workflows)
                    paths = {
                        "workflows": "/ui/workflows",
                        "workflows_search": "/ui/workflows?query=site+09",
                        "workflow": f"/ui/workflows/{workflow_id}",
                        "job": f"/ui/workflows/{workflow_id}/jobs/{job_id}",
                        "analytics": "/ui/analytics",
                        "workflow_analytics": f"/ui/analytics/{workflow_id}?days=90",
                        "notifications": "/ui/notifications",
                        "webhooks": "/ui/webhooks",
                    }
                    times = await server_times(user, paths, args.samples)
                    return times, paths, user.client.cookies
                finally:
                    await user.client.aclose()

            times, paths, cookies = asyncio.run(measure())
            result: dict[str, Any] = {"server": times}
            if browser:
                pages = {
                    "login": "/ui/login",
                    **paths,
                    "new_workflow": "/ui/workflows/new?kind=COMMAND",
                    "account": "/ui/account",
                }
                result["first_contentful_paint"] = paint_times(url, cookies, pages)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    assets = Assets(STATIC)
    report: dict[str, Any] = {
        "workflows": args.workflows,
        "assets": {
            "js_css_gzipped_bytes": assets.gzipped_bytes(".js", ".css"),
            "target_bytes": 100 * 1024,
        },
        "targets_ms": {"server_p50_p95": 50, "first_contentful_paint": 300},
        "sqlite": run(None, args, browser=True),
    }
    admin = admin_postgres_url()
    if admin:

        async def on_postgres() -> dict[str, Any]:
            async with postgres_database(admin) as pg_url:
                return await asyncio.to_thread(run, pg_url, args, False)

        report["postgres"] = asyncio.run(on_postgres())
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
