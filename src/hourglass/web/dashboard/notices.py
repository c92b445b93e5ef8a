"""Notifications as the dashboard shows them: each one's title, message, tone and link (its
`action_url` as the dashboard's page), and what the user's preference hides. Pure."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from hourglass.domain.accounts import NotificationPreference
from hourglass.domain.notifications import Notification, NotificationKind

KIND_TONES: Final = {
    NotificationKind.WEB_SUCCESS: "ok",
    NotificationKind.WEB_ERROR: "bad",
    NotificationKind.WEB_ALERT: "bad",
    NotificationKind.WEB_WARN: "warn",
    NotificationKind.WEB_INFO: "info",
}

# the API paths a notification may point at; anything else gets no link (never another site)
_LINKABLE: Final = re.compile(
    r"/(?:workflows/[0-9A-Za-z]+(?:/jobs/[0-9A-Za-z]+)?|webhooks/[0-9A-Za-z]+)"
)

# what each preference leaves out, as the drawer says it (None: nothing is hidden)
HIDDEN: Final[dict[NotificationPreference, str | None]] = {
    NotificationPreference.ALL: None,
    NotificationPreference.ALERTS: (
        "Alerts only: failed jobs, failed builds, terminations after failures and disabled "
        "webhooks. Hidden: completed and canceled jobs, builds started or completed, "
        "workflows you terminated yourself."
    ),
    NotificationPreference.NONE: "Every notification is hidden: you chose to be told nothing.",
}


@dataclass(frozen=True, slots=True)
class Notice:
    id: str
    seq: int
    title: str
    message: str
    link: str | None
    tone: str
    read_at: datetime | None
    created_at: datetime


def dashboard_link(action_url: object) -> str | None:
    """The dashboard page of an API path (`/workflows/..` → `/ui/workflows/..`), or None."""
    if isinstance(action_url, str) and _LINKABLE.fullmatch(action_url):
        return "/ui" + action_url
    return None


def notice(notification: Notification) -> Notice:
    """A stored notification as a person reads it (a payload that is not an object still
    shows, as its kind)."""
    try:
        payload = json.loads(notification.payload)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        payload = {}
    title = payload.get("title")
    message = payload.get("message")
    return Notice(
        id=notification.id,
        seq=notification.seq,
        title=title if isinstance(title, str) and title else notification.kind.value,
        message=message if isinstance(message, str) else "",
        link=dashboard_link(payload.get("action_url")),
        tone=KIND_TONES[notification.kind],
        read_at=notification.read_at,
        created_at=notification.created_at,
    )
