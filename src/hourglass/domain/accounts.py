"""Account rules: email and password validation, notification preferences, token hashing."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hourglass.errors import FieldError, ValidationError

EMAIL_MAX = 254
PASSWORD_MIN = 8
PASSWORD_MAX = 128
TOKEN_NAME_MAX = 100
TOKEN_MAX_DAYS = 3650

# deliberately loose: one @, something on both sides, a dot in the domain, no spaces
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class NotificationPreference(StrEnum):
    ALL = "ALL"
    ALERTS = "ALERTS"
    NONE = "NONE"


def normalize_email(raw: str) -> str:
    """Trimmed, lower-cased and checked; raises `ValidationError` on `email`."""
    email = raw.strip().lower()
    if not email:
        raise ValidationError.field("email", "is required")
    if len(email) > EMAIL_MAX:
        raise ValidationError.field("email", f"must be at most {EMAIL_MAX} characters")
    if not _EMAIL.match(email):
        raise ValidationError.field("email", "is not a valid email address")
    return email


def password_problem(password: str, field: str = "password") -> FieldError | None:
    if len(password) < PASSWORD_MIN:
        return FieldError(field, f"must be at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        return FieldError(field, f"must be at most {PASSWORD_MAX} characters")
    return None


def check_password(password: str, field: str = "password") -> None:
    problem = password_problem(password, field)
    if problem is not None:
        raise ValidationError(problem)


def token_hash(token: str) -> str:
    """What the store keeps of a session or API token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    password_hash: str
    notification_preference: NotificationPreference
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Session:
    token_hash: str
    user_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime

    def is_valid(self, now: datetime, idle: timedelta) -> bool:
        """Alive while used within `idle` and before its absolute expiry."""
        return now < self.expires_at and now < self.last_seen_at + idle


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    user_id: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    def is_valid(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at
