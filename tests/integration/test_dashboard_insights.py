"""The dashboard's notifications, analytics and webhooks pages over real HTTP (SQLite and
PostgreSQL): what they show equals what the API answers, marking read, errors on their fields,
another user's things are the 404 page, CSRF, nothing inline."""

from __future__ import annotations

import json
import re
from html import unescape

from hourglass.domain.jobs import RunResult
from hourglass.services.container import Services
from tests.integration.notify_helpers import built, listed, run_job, set_preference
from tests.integration.test_dashboard_http import HTMX, _Inline
from tests.integration.webhook_helpers import register_webhook
from tests.support import UserClient

URL = "https://hooks.example.com/hourglass"
FAILED = RunResult.workload_failure("exited with code 1", 1)


def data_value(html: str, element_id: str) -> str:
    """The `value` of the `<data id=…>` element: the raw figure a tile shows."""
    found = re.search(rf'<data id="{element_id}" class="tile-value" value="([^"]*)"', html)
    assert found is not None, element_id
    return found[1]


async def failed_jobs(services: Services, user: UserClient, count: int) -> tuple[str, list[str]]:
    """A workflow with `count` failed jobs (each one an unread WEB_ERROR notification)."""
    workflow_id = await built(services, user, name="fails", max_consecutive_job_failures_allowed=50)
    jobs = [await run_job(services, user, workflow_id, FAILED) for _ in range(count)]
    return workflow_id, jobs


async def test_new_pages_have_nothing_inline(services: Services, alice: UserClient) -> None:
    """Notifications, analytics and webhook pages hold no inline script, style or handler."""
    workflow_id, _ = await failed_jobs(services, alice, 1)
    hook = await register_webhook(alice, URL)
    for path in (
        "/ui/notifications",
        "/ui/notifications?unread=false",
        "/ui/analytics",
        f"/ui/analytics/{workflow_id}",
        "/ui/webhooks",
        f"/ui/webhooks/{hook['id']}",
    ):
        response = await alice.get(path)
        assert response.status_code == 200, path
        parser = _Inline()
        parser.feed(response.text)
        assert parser.found == [], (path, parser.found)


async def test_the_drawer_links_each_notification_to_its_page(
    services: Services, alice: UserClient
) -> None:
    """A failed job's notification links to the job's dashboard page (its action_url under /ui)."""
    workflow_id, (job_id,) = await failed_jobs(services, alice, 1)
    response = await alice.get("/ui/notifications", headers=HTMX)
    assert response.status_code == 200
    assert f'href="/ui/workflows/{workflow_id}/jobs/{job_id}"' in response.text
    assert "Job Execution Failed" in response.text


async def test_mark_one_read(services: Services, alice: UserClient) -> None:
    """ "Mark read" on one notification marks that one only."""
    await failed_jobs(services, alice, 2)
    newest, older = await listed(alice)
    response = await alice.put("/ui/notifications", data={"one": newest["id"]}, headers=HTMX)
    assert response.status_code == 200
    assert [n["id"] for n in await listed(alice)] == [older["id"]]


async def test_mark_selected_read(services: Services, alice: UserClient) -> None:
    """The checked notifications are marked read, the others stay unread."""
    await failed_jobs(services, alice, 3)
    first, second, third = await listed(alice)
    data = {"selected": "1", "ids": [first["id"], third["id"]]}
    response = await alice.put("/ui/notifications", data=data, headers=HTMX)
    assert response.status_code == 200
    assert [n["id"] for n in await listed(alice)] == [second["id"]]


async def test_mark_selected_with_nothing_chosen_says_so(
    services: Services, alice: UserClient
) -> None:
    """Nothing checked: the list comes back saying what to do; nothing is marked."""
    await failed_jobs(services, alice, 1)
    response = await alice.put("/ui/notifications", data={"selected": "1"}, headers=HTMX)
    assert response.status_code == 200
    assert "Select the notifications to mark read first." in response.text
    assert len(await listed(alice)) == 1


async def test_too_many_chosen_is_the_apis_refusal(services: Services, alice: UserClient) -> None:
    """More ids than the API takes at once: its rule is said, nothing is marked."""
    await failed_jobs(services, alice, 1)
    (one,) = await listed(alice)
    data = {"selected": "1", "ids": [one["id"]] * 1001}
    response = await alice.put("/ui/notifications", data=data, headers=HTMX)
    assert response.status_code == 200
    assert "must hold at most 1000 ids" in response.text
    assert len(await listed(alice)) == 1


async def test_mark_all_stops_at_the_newest_shown(services: Services, alice: UserClient) -> None:
    """ "Mark all read" marks every unread one up to the newest the list showed, not later ones."""
    workflow_id, _ = await failed_jobs(services, alice, 2)
    shown = (await listed(alice))[0]
    await run_job(services, alice, workflow_id, FAILED)  # arrives after the list was shown
    data = {"through": str(shown["seq"])}
    response = await alice.put("/ui/notifications", data=data, headers=HTMX)
    assert response.status_code == 200
    left = await listed(alice)
    assert len(left) == 1
    assert left[0]["seq"] > shown["seq"]


async def test_history_lists_read_ones(services: Services, alice: UserClient) -> None:
    """The history view shows read notifications as read; the unread view no longer does."""
    await failed_jobs(services, alice, 1)
    (one,) = await listed(alice)
    await alice.put("/ui/notifications", data={"one": one["id"]}, headers=HTMX)
    unread = await alice.get("/ui/notifications", headers=HTMX)
    history = await alice.get("/ui/notifications?unread=false", headers=HTMX)
    assert "You are all caught up." in unread.text
    assert 'class="notice read"' in history.text
    assert "Job Execution Failed" in history.text


async def test_another_users_notification_is_not_found(
    services: Services, alice: UserClient, bob: UserClient
) -> None:
    """Bob marking Alice's notification read is a 404; hers stays unread."""
    await failed_jobs(services, alice, 1)
    (one,) = await listed(alice)
    response = await bob.put("/ui/notifications", data={"one": one["id"]}, headers=HTMX)
    assert response.status_code == 404
    assert len(await listed(alice)) == 1


async def test_marking_read_needs_csrf(services: Services, alice: UserClient) -> None:
    """A mark-read form sent with the session cookie but no CSRF header is refused (403)."""
    await failed_jobs(services, alice, 1)
    (one,) = await listed(alice)
    headers = {**HTMX, "X-CSRF-Token": ""}
    response = await alice.put("/ui/notifications", data={"one": one["id"]}, headers=headers)
    assert response.status_code == 403
    assert len(await listed(alice)) == 1


async def test_the_drawer_says_what_the_preference_hides(alice: UserClient) -> None:
    """ALERTS names what is hidden; ALL says everything shows."""
    alerts = await alice.get("/ui/notifications", headers=HTMX)
    await set_preference(alice, "ALL")
    everything = await alice.get("/ui/notifications", headers=HTMX)
    assert "Hidden: completed and canceled jobs" in alerts.text
    assert "Your preference shows every notification." in everything.text


async def test_analytics_page_shows_the_api_totals(services: Services, alice: UserClient) -> None:
    """Each total tile holds the figure GET /analytics answers."""
    workflow_id, _ = await failed_jobs(services, alice, 2)
    await run_job(services, alice, workflow_id)
    api = (await alice.get("/analytics")).json()
    page = (await alice.get("/ui/analytics")).text
    tiles = {
        "total-workflows": "total_workflows",
        "total-jobs": "total_jobs",
        "total-joblogs": "total_joblogs",
        "total-duration": "total_job_execution_duration",
    }
    assert {tile: data_value(page, tile) for tile in tiles} == {
        tile: str(api[field]) for tile, field in tiles.items()
    }


async def test_workflow_analytics_equal_the_api(services: Services, alice: UserClient) -> None:
    """Success rate, p50, p95 and the charts' daily series are the API's for the same window."""
    workflow_id, _ = await failed_jobs(services, alice, 1)
    for _ in range(3):
        await run_job(services, alice, workflow_id)
    api = (await alice.get(f"/analytics/{workflow_id}?days=7")).json()
    page = (await alice.get(f"/ui/analytics/{workflow_id}?days=7")).text
    assert data_value(page, "a-success") == str(api["success_rate"]) == "0.75"
    assert data_value(page, "a-p50") == str(api["p50_ms"])
    assert data_value(page, "a-p95") == str(api["p95_ms"])
    assert data_value(page, "a-finished") == "4"
    found = re.search(r"data-series='([^']*)'", page)
    assert found is not None
    series = json.loads(unescape(found[1]))
    assert series["completed"] == [d["completed"] for d in api["daily"]]
    assert series["failed"] == [d["failed"] for d in api["daily"]]
    assert series["p95"] == [d["p95_ms"] for d in api["daily"]]


async def test_the_analytics_page_rows_equal_the_api(services: Services, alice: UserClient) -> None:
    """Each workflow's row shows the success rate, p50 and p95 GET /analytics/{wid} answers."""
    failing, _ = await failed_jobs(services, alice, 2)
    await run_job(services, alice, failing)
    passing = await built(services, alice, name="passes")
    await run_job(services, alice, passing)
    never = await built(services, alice, name="never ran")
    page = (await alice.get("/ui/analytics?days=7")).text
    for workflow_id in (failing, passing, never):
        api = (await alice.get(f"/analytics/{workflow_id}?days=7")).json()
        row = page.split(f'data-workflow="{workflow_id}"', 1)[1].split("</tr>", 1)[0]
        shown = dict(re.findall(r'data-field="(\w+)" value="([^"]*)"', row))
        assert shown == {k: figure(api[k]) for k in ("success_rate", "p50_ms", "p95_ms")}


def figure(value: object) -> str:
    return "" if value is None else str(value)


async def test_a_bad_window_is_said_by_the_selector(services: Services, alice: UserClient) -> None:
    """?days=0 answers the page with the API's message next to the days selector."""
    workflow_id = await built(services, alice)
    response = await alice.get(f"/ui/analytics/{workflow_id}?days=0")
    assert response.status_code == 200
    assert 'id="e-days">days: must be a whole number from 1 to 366' in response.text


async def test_a_deleted_workflows_analytics_still_show(
    services: Services, alice: UserClient
) -> None:
    """After the workflow is deleted its analytics page still shows its counted jobs."""
    workflow_id = await built(services, alice)
    await run_job(services, alice, workflow_id)
    assert (await alice.patch(f"/workflows/{workflow_id}")).status_code == 204
    assert (await alice.delete(f"/workflows/{workflow_id}")).status_code == 204
    page = (await alice.get(f"/ui/analytics/{workflow_id}")).text
    assert "A deleted workflow" in page
    assert data_value(page, "a-finished") == "1"


async def test_another_users_analytics_page_is_404(
    services: Services, alice: UserClient, bob: UserClient
) -> None:
    """Bob opening Alice's workflow analytics gets the dashboard's 404 page."""
    workflow_id = await built(services, alice)
    response = await bob.get(f"/ui/analytics/{workflow_id}")
    assert response.status_code == 404
    assert "Page not found" in response.text


WEBHOOK_FORM = {
    "url": URL,
    "events": ["job.failed", "workflow.terminated"],
    "description": "ops",
    "format": "standard",
}


async def test_a_new_webhooks_secret_is_shown_once(alice: UserClient) -> None:
    """The form's answer shows the whsec_ secret; the list shown afterwards never does."""
    response = await alice.post("/ui/webhooks", data=WEBHOOK_FORM, headers=HTMX)
    assert response.status_code == 200
    secret = re.search(
        r'id="new-secret" class="mono" readonly value="(whsec_[^"]+)"', response.text
    )
    assert secret is not None
    (hook,) = (await alice.get("/webhooks")).json()["webhooks"]
    assert (hook["url"], hook["events"], hook["description"]) == (
        URL,
        ["job.failed", "workflow.terminated"],
        "ops",
    )
    assert "whsec_" not in (await alice.get("/ui/webhooks")).text


async def test_a_refused_url_lands_on_the_url_field(alice: UserClient) -> None:
    """A metadata address is refused next to the URL field, the typed values kept; none saved."""
    data = {**WEBHOOK_FORM, "url": "http://169.254.169.254/latest"}
    response = await alice.post("/ui/webhooks", data=data, headers=HTMX)
    assert response.status_code == 200
    assert re.search(r'id="e-wh-url">refused by the outbound policy', response.text)
    assert 'value="http://169.254.169.254/latest"' in response.text
    assert (await alice.get("/webhooks")).json()["webhooks"] == []


async def test_no_event_lands_on_the_events_field(alice: UserClient) -> None:
    """A webhook without any event checked is refused next to the events."""
    data = {**WEBHOOK_FORM, "events": []}
    response = await alice.post("/ui/webhooks", data=data, headers=HTMX)
    assert 'id="e-wh-events">must be a non-empty list of' in response.text
    assert (await alice.get("/webhooks")).json()["webhooks"] == []


async def test_too_many_webhooks_is_said_above_the_button(alice: UserClient) -> None:
    """Past the 20 a user may have, the form says so (the API's 409 message)."""
    for n in range(20):
        await register_webhook(alice, f"{URL}/{n}")
    response = await alice.post("/ui/webhooks", data=WEBHOOK_FORM, headers=HTMX)
    assert response.status_code == 200
    assert "a user may have at most 20 webhooks" in response.text


async def test_editing_a_webhook_saves_every_field(alice: UserClient) -> None:
    """The edit form changes URL, events, description and format, then reloads the page."""
    hook = await register_webhook(alice, URL)
    data = {
        "url": f"{URL}/v2",
        "events": ["job.completed"],
        "description": "chat",
        "format": "slack",
    }
    response = await alice.patch(f"/ui/webhooks/{hook['id']}", data=data, headers=HTMX)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/ui/webhooks/{hook['id']}"
    now = (await alice.get(f"/webhooks/{hook['id']}")).json()
    assert (now["url"], now["events"], now["description"], now["format"]) == (
        f"{URL}/v2",
        ["job.completed"],
        "chat",
        "slack",
    )


async def test_an_edit_error_lands_on_its_field(alice: UserClient) -> None:
    """A bad URL in the edit form comes back on the URL field; the webhook is unchanged."""
    hook = await register_webhook(alice, URL)
    data = {**WEBHOOK_FORM, "url": "ftp://example.com/"}
    response = await alice.patch(f"/ui/webhooks/{hook['id']}", data=data, headers=HTMX)
    assert response.status_code == 200
    assert 'id="e-wh-url">must be an absolute http or https URL' in response.text
    assert (await alice.get(f"/webhooks/{hook['id']}")).json()["url"] == URL


async def test_turn_a_webhook_off_and_on(alice: UserClient) -> None:
    """The on/off button turns it off, then on again."""
    hook = await register_webhook(alice, URL)
    path = f"/ui/webhooks/{hook['id']}"
    off = await alice.patch(path, data={"enabled": "false"}, headers=HTMX)
    assert "Turn on" in off.text
    assert (await alice.get(f"/webhooks/{hook['id']}")).json()["enabled"] is False
    on = await alice.patch(path, data={"enabled": "true"}, headers=HTMX)
    assert "Turn off" in on.text
    assert (await alice.get(f"/webhooks/{hook['id']}")).json()["enabled"] is True


async def test_send_a_test_lists_its_delivery(alice: UserClient) -> None:
    """ "Send a test" queues a webhook.test delivery, which the answered list shows."""
    hook = await register_webhook(alice, URL)
    response = await alice.post(f"/ui/webhooks/{hook['id']}/test", headers=HTMX)
    assert response.status_code == 200
    assert "<code>webhook.test</code>" in response.text
    (delivery,) = (await alice.get(f"/webhooks/{hook['id']}/deliveries")).json()["deliveries"]
    assert delivery["event"] == "webhook.test"


async def test_delete_a_webhook(alice: UserClient) -> None:
    """Delete goes back to the list; the webhook is gone."""
    hook = await register_webhook(alice, URL)
    response = await alice.delete(f"/ui/webhooks/{hook['id']}", headers=HTMX)
    assert response.headers["HX-Redirect"] == "/ui/webhooks"
    assert (await alice.get(f"/webhooks/{hook['id']}")).status_code == 404


async def test_another_users_webhook_is_404_everywhere(alice: UserClient, bob: UserClient) -> None:
    """Bob reading, changing, testing or deleting Alice's webhook: 404, and it is untouched."""
    hook = await register_webhook(alice, URL)
    path = f"/ui/webhooks/{hook['id']}"
    answers = [
        await bob.get(path),
        await bob.patch(path, data={"enabled": "false"}, headers=HTMX),
        await bob.post(f"{path}/test", headers=HTMX),
        await bob.delete(path, headers=HTMX),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404, 404]
    assert (await alice.get(f"/webhooks/{hook['id']}")).json()["enabled"] is True
    assert (await alice.get(f"/webhooks/{hook['id']}/deliveries")).json()["deliveries"] == []
