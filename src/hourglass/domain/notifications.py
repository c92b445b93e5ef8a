"""Notifications: their kinds, what a user's preference lets through, the shape of their payload,
and the rules of the list and mark-read requests. Pure.

A notification is written once per (user, cause): the cause is a stable key of what happened
(`job:<id>:COMPLETED`, `build:<workflow>:<generation>:FAILED`…), so a transaction that runs
again, or a worker that retries, can never write it twice. Its `seq` numbers a user's
notifications in commit order (the live stream resumes after one), its `id` is a ULID.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from hourglass.domain.accounts import NotificationPreference
from hourglass.domain.common import format_ts, is_valid_id
from hourglass.errors import FieldError, ValidationError

LIST_LIMIT_DEFAULT: Final = 20
LIST_LIMIT_MAX: Final = 1000
MARK_MAX_IDS: Final = 1000


class NotificationKind(StrEnum):
    WEB_INFO = "WEB_INFO"
    WEB_SUCCESS = "WEB_SUCCESS"
    WEB_WARN = "WEB_WARN"
    WEB_ERROR = "WEB_ERROR"
    WEB_ALERT = "WEB_ALERT"


class EntityType(StrEnum):
    JOB = "JOB"
    WORKFLOW = "WORKFLOW"
    WEBHOOK = "WEBHOOK"


ALERT_KINDS: Final = frozenset({NotificationKind.WEB_ALERT, NotificationKind.WEB_ERROR})
_VISIBLE: Final[Mapping[NotificationPreference, frozenset[NotificationKind]]] = {
    NotificationPreference.ALL: frozenset(NotificationKind),
    NotificationPreference.ALERTS: ALERT_KINDS,
    NotificationPreference.NONE: frozenset(),
}


def visible_kinds(preference: NotificationPreference) -> frozenset[NotificationKind]:
    """The kinds a user with `preference` is shown (listed and streamed)."""
    return _VISIBLE[preference]


@dataclass(frozen=True, slots=True)
class Draft:
    """A notification about to be written: for whom, why (its unique cause), and what it says."""

    user_id: str
    cause: str
    kind: NotificationKind
    title: str
    message: str
    entity_type: EntityType
    entity_id: str
    action_url: str

    def payload_json(self) -> str:
        """The `payload` string the API returns (a JSON object, as the original API did)."""
        return json.dumps(
            {
                "title": self.title,
                "message": self.message,
                "entity_id": self.entity_id,
                "entity_type": self.entity_type.value,
                "action_url": self.action_url,
            },
            ensure_ascii=False,
        )


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification as stored."""

    id: str
    user_id: str
    seq: int
    kind: NotificationKind
    payload: str
    read_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "kind": self.kind.value,
            "payload": self.payload,
            "read_at": format_ts(self.read_at),
            "created_at": format_ts(self.created_at),
            "updated_at": format_ts(self.updated_at),
        }


def parse_unread(raw: str | None) -> bool:
    """`unread`: true (the default: unread only) or false (read ones too)."""
    if raw is None or raw == "":
        return True
    if raw in ("true", "false"):
        return raw == "true"
    raise ValidationError.field("unread", "must be true or false")


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return LIST_LIMIT_DEFAULT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= LIST_LIMIT_MAX:
        raise ValidationError.field("limit", f"must be a whole number from 1 to {LIST_LIMIT_MAX}")
    return int(raw)


def parse_ids(ids: object) -> list[str]:
    """The `ids` of a mark-read request: a non-empty list of notification ids (ULIDs)."""
    if ids is None:
        raise ValidationError.field("ids", "is required")
    if not isinstance(ids, list):
        raise ValidationError.field("ids", "must be a list of notification ids")
    if not ids:
        raise ValidationError.field("ids", "must not be empty")
    if len(ids) > MARK_MAX_IDS:
        raise ValidationError.field("ids", f"must hold at most {MARK_MAX_IDS} ids")
    errors = [
        FieldError(f"ids[{i}]", "is not a notification id")
        for i, value in enumerate(ids)
        if not isinstance(value, str) or not is_valid_id(value)
    ]
    if errors:
        raise ValidationError(errors)
    return sorted({value.upper() for value in ids})
