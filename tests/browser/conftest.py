"""Browser tests: a real `hourglass up` process and Debian's Chromium driven by Playwright.

One server process and one browser per test module (module-scoped fixtures: CI time matters);
each test gets a fresh browser context, usually signed in as a new user. Every test also checks,
at its end, that no page logged a console error and that no state-changing request left
without the CSRF header. Locally the tests skip when Chromium is missing; under CI they fail.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    sync_playwright,
)

from tests.e2e.processes import base_env, free_port, started
from tests.support import TemplateDatabases, postgres_admin_url, require

CHROMIUM = os.environ.get("HOURGLASS_TEST_CHROMIUM", "/usr/lib/chromium/chromium-headless-shell")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
NO_SESSION_YET = ("/ui/login", "/ui/signup")  # like /auth/login and /auth/register
PASSWORD = "correct horse battery"
T = TypeVar("T")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One headless Chromium per module (Debian's; never a downloaded one)."""
    require("Chromium", Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


def in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from sync code that may sit inside Playwright's event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def start_server(
    tmp: Path, templates: TemplateDatabases, engine: str, **settings: str
) -> Iterator[str]:
    """`hourglass up` on SQLite (its default) or on a fresh PostgreSQL database."""
    port = free_port()
    env = base_env(
        HOURGLASS_PORT=str(port),
        HOURGLASS_DATA_DIR=str(tmp / "data"),
        HOURGLASS_POLL_INTERVAL_SECONDS="0.5",
        HOURGLASS_ACCESS_LOG="false",
        **settings,
    )
    database = None
    if engine == "postgres":
        require(
            "PostgreSQL", postgres_admin_url() is not None, "HOURGLASS_TEST_POSTGRES_URL not set"
        )
        database = in_thread(templates.postgres_url())
        env["HOURGLASS_DATABASE_URL"] = database
    url = f"http://127.0.0.1:{port}"
    try:
        with started(["up"], env, tmp / "up.log", url):
            yield url
    finally:
        if database is not None:
            in_thread(TemplateDatabases.drop_postgres(database))


@dataclass
class Watch:
    """What a test's pages did that they must not: console errors, requests without CSRF."""

    base_url: str
    console: list[str] = field(default_factory=list)
    unprotected: list[str] = field(default_factory=list)
    # documents a test loads expecting an error status, which Chromium logs as a console error
    expected_failures: set[str] = field(default_factory=set)

    def attach(self, context: BrowserContext) -> None:
        context.on("page", self._page)
        context.on("request", self._request)

    def _page(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.console.append(f"uncaught: {e}"))

    def _console(self, message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        expected = url in self.expected_failures and message.text.startswith("Failed to load")
        if message.type == "error" and not expected:
            self.console.append(f"{message.text} ({url})")

    def _request(self, request: Request) -> None:
        if request.method not in UNSAFE or not request.url.startswith(self.base_url):
            return
        path = request.url[len(self.base_url) :].split("?")[0]
        if path not in NO_SESSION_YET and not request.headers.get("x-csrf-token"):
            self.unprotected.append(f"{request.method} {path}")


def sign_up(base_url: str, email: str | None = None) -> dict[str, Any]:
    """A new user, registered over the API; returns its email and cookies."""
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    response = httpx.post(
        f"{base_url}/auth/register", json={"email": email, "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 201, response.text
    cookies = [
        {"name": c.name, "value": c.value or "", "url": base_url} for c in response.cookies.jar
    ]
    return {"email": email, "cookies": cookies, "csrf": response.json()["csrf_token"]}


def api(base_url: str, user: dict[str, Any]) -> httpx.Client:
    """An API client acting as `user` (its session cookie and CSRF header)."""
    jar = {c["name"]: c["value"] for c in user["cookies"]}
    return httpx.Client(
        base_url=base_url, cookies=jar, headers={"X-CSRF-Token": user["csrf"]}, timeout=30
    )


def new_page(browser: Browser, base_url: str, watch: Watch, **options: Any) -> Page:
    context = browser.new_context(base_url=base_url, **options)
    context.set_default_timeout(15000)
    watch.attach(context)
    return context.new_page()


# Each module defines `server` (its own `hourglass up`); these use that module's server.


@pytest.fixture
def watch(server: str) -> Iterator[Watch]:
    """Fails the test if its pages logged a console error or sent an unsafe request without
    CSRF."""
    watch = Watch(server)
    yield watch
    assert watch.console == [], f"console errors: {watch.console}"
    assert watch.unprotected == [], f"requests without CSRF: {watch.unprotected}"


@pytest.fixture
def user(server: str) -> dict[str, Any]:
    return sign_up(server)


@pytest.fixture
def signed_in(chromium: Browser, server: str, watch: Watch, user: dict[str, Any]) -> Iterator[Page]:
    """A page of a fresh browser context, signed in as a new user."""
    page = new_page(chromium, server, watch)
    page.context.add_cookies(user["cookies"])
    yield page
    page.context.close()


def poll_json(
    client: httpx.Client, path: str, done: Callable[[Any], bool], timeout: float = 60
) -> dict[str, Any]:
    """GET `path` until `done(body)` (a build or a job ending), or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(path).json()
        if done(body):
            return body
        assert time.monotonic() < deadline, f"{path} never got there: {body}"
        time.sleep(0.1)
