"""Webhooks: what a user may register, how a delivery is signed and shaped, and how failed ones
are retried and when a webhook is turned off. Pure: time, randomness and the address check of
the outbound policy come in as parameters.

Deliveries follow the Standard Webhooks spec (https://www.standardwebhooks.com): headers
`webhook-id` (the delivery's id, the same on every retry), `webhook-timestamp` (the attempt's
Unix time) and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed
by the bytes of the secret (`whsec_` + base64 of 32 random bytes). The `slack` format sends a
Slack incoming-webhook body (`{"text": …}`) instead of the standard one, signed the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlsplit

from hourglass.domain.common import format_ts, text_problem
from hourglass.domain.events import TEST_EVENT, WebhookEvent
from hourglass.domain.outbound import OutboundPolicy, host_refusal
from hourglass.errors import FieldError, ValidationError

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)
URL_MAX: Final = 2048
DESCRIPTION_MAX: Final = 500
PER_USER_MAX: Final = 20
USER_AGENT: Final = "Hourglass-Webhooks/1"


class WebhookFormat(StrEnum):
    STANDARD = "standard"
    SLACK = "slack"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    user_id: str
    url: str
    description: str
    events: tuple[WebhookEvent, ...]
    format: WebhookFormat
    secret: str
    enabled: bool
    failure_count: int
    failing_since: datetime | None
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        """As the API shows it: everything but the secret."""
        return {
            "id": self.id,
            "url": self.url,
            "description": self.description,
            "events": [e.value for e in self.events],
            "format": self.format.value,
            "enabled": self.enabled,
            "failure_count": self.failure_count,
            "failing_since": format_ts(self.failing_since),
            "disabled_at": format_ts(self.disabled_at),
            "created_at": format_ts(self.created_at),
            "updated_at": format_ts(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class WebhookSpec:
    """What the user decides about a webhook, checked."""

    url: str
    events: tuple[WebhookEvent, ...]
    description: str
    format: WebhookFormat


def new_secret(random_bytes: bytes) -> str:
    if len(random_bytes) != 32:
        raise ValueError("a webhook secret is 32 random bytes")
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode()


# --- the outbox ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row, as the deliveries list shows it."""

    id: str
    webhook_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    last_duration_ms: int | None
    last_attempt_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a sender holds: what to send, where, and its lease token."""

    id: str
    webhook_id: str
    user_id: str
    url: str
    format: WebhookFormat
    secret: str
    event_type: str
    payload: str
    attempts: int  # counting the one about to be made
    token: str


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt went."""

    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    ok: bool


# --- request bodies ------------------------------------------------------------------------------


def url_problem(url: str, policy: OutboundPolicy) -> str | None:
    """Why a webhook URL cannot be saved, or None: not an absolute http(s) URL, or its host is
    an address the outbound policy refuses (the same check as a HEARTBEAT endpoint's; a name
    is checked again, address by address, at every delivery)."""
    try:
        parts = urlsplit(url)  # raises ValueError for a bracketed host that is not IPv6
    except ValueError:
        return "is not a valid URL"
    try:
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError:
        return "has an invalid port"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http or https URL"
    return host_refusal(parts.hostname, policy)


def _url(value: object, policy: OutboundPolicy) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError.field("url", "is required: an absolute http or https URL")
    url = value
    if len(url) > URL_MAX:
        raise ValidationError.field("url", f"must be at most {URL_MAX} characters")
    problem = text_problem(url, controls=True) or url_problem(url, policy)
    if problem is None and url != url.strip():
        problem = "must not start or end with spaces"
    if problem is not None:
        raise ValidationError.field("url", problem)
    return url


def _events(value: object) -> tuple[WebhookEvent, ...]:
    allowed = ", ".join(e.value for e in WebhookEvent)
    if not isinstance(value, list) or not value:
        raise ValidationError.field("events", f"must be a non-empty list of: {allowed}")
    chosen: list[WebhookEvent] = []
    errors: list[FieldError] = []
    for i, item in enumerate(value):
        try:
            event = WebhookEvent(item) if isinstance(item, str) else None
        except ValueError:
            event = None
        if event is None:
            errors.append(FieldError(f"events[{i}]", f"must be one of {allowed}"))
        elif event not in chosen:
            chosen.append(event)
    if errors:
        raise ValidationError(errors)
    return tuple(chosen)


def _description(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError.field("description", "must be a string")
    if len(value) > DESCRIPTION_MAX:
        raise ValidationError.field("description", f"must be at most {DESCRIPTION_MAX} characters")
    return value


def _format(value: object) -> WebhookFormat:
    if value is None:
        return WebhookFormat.STANDARD
    for known in WebhookFormat:
        if value == known.value:
            return known
    names = " or ".join(f.value for f in WebhookFormat)
    raise ValidationError.field("format", f"must be {names}")


_FIELDS: Final = {"url", "events", "description", "format"}


def spec_for_create(body: Mapping[str, Any], policy: OutboundPolicy) -> WebhookSpec:
    return WebhookSpec(
        url=_url(body.get("url"), policy),
        events=_events(body.get("events")),
        description=_description(body.get("description")),
        format=_format(body.get("format")),
    )


def spec_for_patch(
    body: Mapping[str, Any], current: Webhook, policy: OutboundPolicy
) -> tuple[WebhookSpec, bool | None]:
    """The webhook after a PATCH (absent fields keep their value), and `enabled` if given."""
    if not (_FIELDS | {"enabled"}) & set(body):
        raise ValidationError.field(
            "body", "nothing to change: send url, events, description, format or enabled"
        )
    enabled = body.get("enabled")
    if "enabled" in body and not isinstance(enabled, bool):
        raise ValidationError.field("enabled", "must be true or false")
    spec = WebhookSpec(
        url=_url(body["url"], policy) if "url" in body else current.url,
        events=_events(body["events"]) if "events" in body else current.events,
        description=_description(body["description"])
        if "description" in body
        else current.description,
        format=_format(body["format"]) if "format" in body else current.format,
    )
    return spec, enabled


# --- what is sent ----------------------------------------------------------------------------


def standard_body(event_type: str, at: datetime, data: Mapping[str, Any]) -> str:
    """The Standard Webhooks body `{"type","timestamp","data"}`, as sent on every attempt."""
    return json.dumps(
        {"type": event_type, "timestamp": format_ts(at), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one attempt."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def request_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_SLACK_JOB: Final = {
    WebhookEvent.JOB_COMPLETED: ":white_check_mark: A job of *{name}* completed",
    WebhookEvent.JOB_FAILED: ":x: A job of *{name}* failed",
    WebhookEvent.JOB_CANCELED: ":black_square_for_stop: A job of *{name}* was canceled",
    WebhookEvent.BUILD_FAILED: ":warning: The build of *{name}* failed",
    WebhookEvent.TERMINATED: ":octagonal_sign: Workflow *{name}* was terminated",
}


def slack_body(standard: str) -> str:
    """The Slack incoming-webhook body (`{"text"}` with a link) for a standard body."""
    event = json.loads(standard)
    kind, data = event["type"], event["data"]
    if kind == TEST_EVENT:
        return json.dumps({"text": "Hourglass test delivery: this webhook works."})
    name = _slack_escape(str(data.get("workflow_name") or data.get("name") or "?"))
    text = _SLACK_JOB[WebhookEvent(kind)].format(name=name)
    reason = data.get("failure_reason") or data.get("build_reason")
    if reason and kind in (WebhookEvent.JOB_FAILED, WebhookEvent.BUILD_FAILED):
        text += f": {_slack_escape(str(reason)[:300])}"
    links = [f"<{data['dashboard_url']}|open in Hourglass>"]
    if data.get("log_url"):
        links.append(f"<{data['log_url']}|log>")
    return json.dumps({"text": f"{text} · {' · '.join(links)}"}, ensure_ascii=False)


# --- retries and giving up ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Retries of a failed delivery: exponential backoff with jitter, for about a day.

    Attempt n (1-based) that fails waits `base * factor**(n-1)`, capped, times a random factor in
    [1 - jitter, 1 + jitter). With the defaults: 10 s, 30 s, 1.5 min, 4.5 min, 13.5 min, 40 min,
    2 h, then every 3 h: the 15th attempt comes about 24 h after the first, and is the last.
    """

    max_attempts: int = 15
    base_seconds: float = 10.0
    factor: float = 3.0
    cap_seconds: float = 3 * 3600.0
    jitter: float = 0.2

    def delay(self, attempt: int, rand: float) -> float | None:
        """Seconds before the next attempt after failed `attempt`, or None: give up."""
        if attempt >= self.max_attempts:
            return None
        try:
            raw = self.base_seconds * self.factor ** (attempt - 1)
        except OverflowError:
            raw = math.inf
        return min(raw, self.cap_seconds) * (1 - self.jitter + 2 * self.jitter * rand)


DEFAULT_DELIVERY_POLICY: Final = DeliveryPolicy()


def should_disable(
    failures: int, failing_since: datetime | None, now: datetime, *, after: int, span: timedelta
) -> bool:
    """A webhook is turned off once `after` attempts in a row failed over at least `span`: a
    receiver down for a day, not one restarting while a burst of events came."""
    return failures >= after and failing_since is not None and now - failing_since >= span


def describe_failure(status_code: int | None, error: str | None) -> str:
    if error:
        return error
    return f"HTTP {status_code}"
