"""What the dashboard says about notifications, analytics and webhooks: links mapped to its
pages, payloads it cannot read, figures in words, the charts' series, masked webhook URLs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hourglass.domain.notifications import Notification, NotificationKind
from hourglass.errors import FieldError, ValidationError
from hourglass.web.dashboard import figures, notices
from hourglass.web.dashboard.pages_webhooks import field_errors, short_url

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WID = "01HZZZZZZZZZZZZZZZZZZZZZZZ"


@pytest.mark.parametrize(
    ("action_url", "link"),
    [
        (f"/workflows/{WID}", f"/ui/workflows/{WID}"),
        (f"/workflows/{WID}/jobs/{WID}", f"/ui/workflows/{WID}/jobs/{WID}"),
        (f"/webhooks/{WID}", f"/ui/webhooks/{WID}"),
        ("//evil.example.com/workflows/x", None),
        ("https://evil.example.com/", None),
        (f"/workflows/{WID}/../../account", None),
        ("/tokens", None),
        (None, None),
    ],
)
def test_action_urls_map_to_dashboard_pages_only(action_url: object, link: str | None) -> None:
    """An API path becomes its /ui/ page; anything else (another site, other paths) no link."""
    assert notices.dashboard_link(action_url) == link


def _notification(
    payload: str, kind: NotificationKind = NotificationKind.WEB_ERROR
) -> Notification:
    return Notification("01H", "u", 7, kind, payload, None, T0, T0)


def test_a_notification_reads_its_payload() -> None:
    """Title, message, link and the kind's tone come from the payload."""
    payload = (
        '{"title":"Job Execution Failed","message":"A job of workflow “x” failed",'
        f'"entity_id":"j","entity_type":"JOB","action_url":"/workflows/{WID}"}}'
    )
    shown = notices.notice(_notification(payload))
    assert (shown.title, shown.message, shown.link, shown.tone, shown.seq) == (
        "Job Execution Failed",
        "A job of workflow “x” failed",
        f"/ui/workflows/{WID}",
        "bad",
        7,
    )


@pytest.mark.parametrize("payload", ["not json", "[1, 2]", '{"title": 3, "message": null}'])
def test_an_unreadable_payload_still_shows_as_its_kind(payload: str) -> None:
    """A payload that is not the expected object shows the kind as the title, no link."""
    shown = notices.notice(_notification(payload, NotificationKind.WEB_SUCCESS))
    assert (shown.title, shown.message, shown.link, shown.tone) == ("WEB_SUCCESS", "", None, "ok")


@pytest.mark.parametrize(
    ("rate", "text"),
    [(None, "—"), (1.0, "100 %"), (0.75, "75 %"), (0.9231, "92.3 %"), (0.0, "0 %")],
)
def test_percent(rate: float | None, text: str) -> None:
    """Rates in words: one decimal when it has one, a dash without a rate."""
    assert figures.percent(rate) == text


def test_millis_in_words() -> None:
    """Milliseconds read like the rest of the dashboard's durations."""
    assert [figures.millis(v) for v in (None, 850, 12300, 242000)] == [
        "—",
        "850 ms",
        "12.3 s",
        "4 min 2 s",
    ]


def test_series_are_the_daily_columns() -> None:
    """Each day's midnight (UTC, Unix seconds), its runs by status, its rate and percentiles."""
    report = {
        "daily": [
            {
                "date": "2026-03-01",
                "completed": 3,
                "failed": 1,
                "canceled": 0,
                "p50_ms": 20,
                "p95_ms": 90,
                "log_lines": 4,
            },
            {
                "date": "2026-03-02",
                "completed": 0,
                "failed": 0,
                "canceled": 2,
                "p50_ms": None,
                "p95_ms": None,
                "log_lines": 0,
            },
        ]
    }
    assert figures.series(report) == {
        "x": [1772323200, 1772409600],
        "completed": [3, 0],
        "failed": [1, 0],
        "canceled": [0, 2],
        "rate": [0.75, None],
        "p50": [20, None],
        "p95": [90, None],
    }


def test_day_options_include_the_asked_window() -> None:
    """7/30/90, plus the window the URL asked for when it is another one."""
    assert figures.day_options(30) == [7, 30, 90]
    assert figures.day_options(None) == [7, 30, 90]
    assert figures.day_options(14) == [7, 14, 30, 90]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.com/h", "https://hooks.example.com/h"),
        (
            "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX",
            "https://hooks.slack.com/services/T0…",
        ),
        ("http://127.0.0.1:9000/a?token=abcdefghijkl", "http://127.0.0.1:9000/a?token=abc…"),
    ],
)
def test_webhook_urls_are_shown_with_their_path_cut(url: str, shown: str) -> None:
    """A long path (a Slack URL's credential) is cut short in lists and titles."""
    assert short_url(url) == shown


def test_api_errors_go_to_the_form_fields() -> None:
    """`events[2]` belongs to the events; a field the form lacks goes above the form."""
    error = ValidationError(
        [
            FieldError("url", "is required"),
            FieldError("events[2]", "must be one of …"),
            FieldError("body", "nothing to change"),
        ]
    )
    assert field_errors(error) == {
        "url": ["is required"],
        "events": ["must be one of …"],
        "form": ["nothing to change"],
    }
