"""Page behaviours that need a browser but no particular database (SQLite only): the theme
toggle, the live list that keeps its filters, the schedule preview, keyboard-only use."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import api, start_server
from tests.support import TemplateDatabases

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, templates: TemplateDatabases) -> Iterator[str]:
    yield from start_server(tmp_path_factory.mktemp("pages"), templates, "sqlite")


def test_theme_toggle_cycles_and_is_remembered(signed_in: Page) -> None:
    """The toggle goes system -> light -> dark, and the choice survives a reload."""
    signed_in.goto("/ui/workflows")
    html = signed_in.locator("html")
    toggle = signed_in.get_by_role("button", name=re.compile("^Theme: system"))
    toggle.click()
    expect(html).to_have_attribute("data-theme", "light")
    signed_in.get_by_role("button", name=re.compile("^Theme: light")).click()
    expect(html).to_have_attribute("data-theme", "dark")
    signed_in.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    background = signed_in.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 17, 21)"


def test_list_updates_live_and_keeps_its_filters(
    signed_in: Page, server: str, user: dict[str, Any]
) -> None:
    """A workflow created elsewhere appears in the open, filtered list without a reload."""
    signed_in.goto("/ui/workflows?query=nightly")
    expect(signed_in.get_by_role("heading", name="No workflows yet")).to_have_count(0)
    with api(server, user) as client:
        for name in ("nightly backup", "hourly sync"):
            body = {
                "name": name,
                "kind": "COMMAND",
                "payload": json.dumps({"cmd": ["true"]}),
                "interval": 60,
            }
            created = client.post("/workflows", json=body, headers={"Idempotency-Key": name})
            assert created.status_code == 201, created.text
    rows = signed_in.locator("#workflow-list tbody tr")
    expect(rows).to_have_count(1, timeout=12_000)
    expect(rows).to_contain_text("nightly backup")
    expect(signed_in.locator("input[name=query]")).to_have_value("nightly")
    expect(signed_in).to_have_url(re.compile(r"\?query=nightly$"))


def test_filters_go_into_the_url(signed_in: Page) -> None:
    """Choosing a filter updates the list and the address: a reload shows the same, and the
    back button the list before it."""
    signed_in.goto("/ui/workflows")
    signed_in.get_by_label("Kind").select_option("HEARTBEAT")
    expect(signed_in).to_have_url(re.compile(r"kind=HEARTBEAT"))
    signed_in.reload()
    expect(signed_in.get_by_label("Kind")).to_have_value("HEARTBEAT")
    signed_in.go_back()
    expect(signed_in).to_have_url(re.compile(r"/ui/workflows$"))
    expect(signed_in.get_by_label("Kind")).to_have_value("")


def test_schedule_preview_follows_typing(signed_in: Page) -> None:
    """Choosing cron and typing an expression previews it in words; a bad one says why."""
    signed_in.goto("/ui/workflows/new?kind=COMMAND")
    signed_in.get_by_label("Cron expression (UTC)").check()
    signed_in.fill("#f-cron", "0 2 * * 1-5")
    preview = signed_in.locator("#schedule-preview")
    expect(preview).to_contain_text("At 02:00, monday through friday (UTC)")
    expect(preview.locator("li")).to_have_count(5)
    signed_in.fill("#f-cron", "0 2 * *")
    expect(preview).to_contain_text("must have 5 fields")


def test_a_workflow_can_be_made_with_the_keyboard_alone(signed_in: Page) -> None:
    """Tab, type and Enter are enough to add argv rows and create a workflow."""
    signed_in.goto("/ui/workflows/new?kind=COMMAND")
    signed_in.locator("#f-name").focus()
    signed_in.keyboard.type("typed")
    signed_in.keyboard.press("Tab")  # "Add an argument"
    signed_in.keyboard.press("Enter")  # adds a row and focuses it
    signed_in.keyboard.type("true")
    signed_in.locator("#f-name").press("Enter")  # submits the form
    expect(signed_in).to_have_url(re.compile(r"/ui/workflows/[0-9A-Z]{26}$"))
    expect(signed_in.get_by_role("heading", name="typed")).to_be_visible()
