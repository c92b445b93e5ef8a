"""Account rules: emails, passwords, preferences, token hashing, CSRF binding, login rate keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hourglass.domain.common import text_problem
from hourglass.errors import FieldError, ValidationError

EMAIL_MAX = 254
PASSWORD_MIN = 8
PASSWORD_MAX = 128
TOKEN_NAME_MAX = 100
TOKEN_MAX_DAYS = 3650
CLIENT_ADDR_MAX = 200

# deliberately loose: one @, something on both sides, a dot in the domain, no spaces
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CSRF_CONTEXT = b"hourglass csrf v1"


class NotificationPreference(StrEnum):
    ALL = "ALL"
    ALERTS = "ALERTS"
    NONE = "NONE"


def login_email(raw: str) -> str:
    """The form an email is stored and looked up in: trimmed and lower-cased.

    Text no account can have (NUL, control characters, lone surrogates) is a `ValidationError`
    on `email` here already, so a login never sends it to the store.
    """
    email = raw.strip().lower()
    problem = text_problem(email, controls=True)
    if problem is not None:
        raise ValidationError.field("email", problem)
    return email


def normalize_email(raw: str) -> str:
    """Trimmed, lower-cased and checked; raises `ValidationError` on `email`. The length limit
    holds for what was sent, surrounding blanks included, as the API's schema states it."""
    if len(raw) > EMAIL_MAX:
        raise ValidationError.field("email", f"must be at most {EMAIL_MAX} characters")
    email = login_email(raw)
    if not email:
        raise ValidationError.field("email", "is required")
    if len(email) > EMAIL_MAX:
        raise ValidationError.field("email", f"must be at most {EMAIL_MAX} characters")
    if not _EMAIL.fullmatch(email):
        raise ValidationError.field("email", "is not a valid email address")
    return email


def password_problem(password: str, field: str = "password") -> FieldError | None:
    """Why `password` cannot be a password (length; NUL or invalid Unicode), or None."""
    text = text_problem(password)
    if text is not None:
        return FieldError(field, text)
    if len(password) < PASSWORD_MIN:
        return FieldError(field, f"must be at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        return FieldError(field, f"must be at most {PASSWORD_MAX} characters")
    return None


def check_password(password: str, field: str = "password") -> None:
    problem = password_problem(password, field)
    if problem is not None:
        raise ValidationError(problem)


def parse_preference(raw: str) -> NotificationPreference:
    """A notification preference; raises `ValidationError` on `notification_preference`."""
    try:
        return NotificationPreference(raw)
    except ValueError as exc:
        allowed = ", ".join(p.value for p in NotificationPreference)
        raise ValidationError.field("notification_preference", f"must be one of {allowed}") from exc


def token_name(raw: str) -> str:
    """A personal API token's name: trimmed, 1 to `TOKEN_NAME_MAX` characters, no control
    characters."""
    name = raw.strip()
    problem = text_problem(name, controls=True)
    if problem is not None:
        raise ValidationError.field("name", problem)
    if not name or len(name) > TOKEN_NAME_MAX:
        raise ValidationError.field("name", f"must be 1 to {TOKEN_NAME_MAX} characters")
    return name


def token_expiry(now: datetime, expires_in_days: int | None) -> datetime | None:
    """When a token made at `now` expires; `None` (never) when no lifetime is given."""
    if expires_in_days is None:
        return None
    if not 1 <= expires_in_days <= TOKEN_MAX_DAYS:
        raise ValidationError.field("expires_in_days", f"must be between 1 and {TOKEN_MAX_DAYS}")
    return now + timedelta(days=expires_in_days)


def token_hash(token: str) -> str:
    """What the store keeps of a session or API token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token_for(session_token: str) -> str:
    """The CSRF token that belongs to one session (an HMAC keyed by the session token).

    Binding it to the session means a `csrf` cookie planted by someone else (a sibling
    subdomain, a man in the middle on plain http) never matches, even when the header copies it.
    """
    digest = hmac.new(session_token.encode(), _CSRF_CONTEXT, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def login_limit_keys(email: str, client_addr: str) -> list[str]:
    """The rate-limit buckets one login attempt counts against: its email and its address.

    The email is hashed so the key has a fixed size whatever the client sends, and so the
    table of failures holds no addresses of people who never had an account.
    """
    return [
        f"email:{token_hash(login_email(email))}",
        f"addr:{client_addr[:CLIENT_ADDR_MAX]}",
    ]


# a session's last use is written at most this often, so that reads stay reads …
SESSION_TOUCH_MAX = timedelta(seconds=60)
# … and at least this often within its idle window, so use keeps it alive
SESSION_TOUCH_SHARE = 10


def session_needs_touch(last_seen: datetime, now: datetime, idle: timedelta) -> bool:
    """Whether a use of a session at `now` writes its `last_seen`.

    At most once a minute, and at least every tenth of the idle window: a stamp is then never
    more than `idle / 10` old, so a session used at shorter gaps than 9/10 of `idle` stays
    alive (with a fixed minute, a 60 s idle window ended sessions in use).
    """
    return now - last_seen >= min(SESSION_TOUCH_MAX, idle / SESSION_TOUCH_SHARE)


def retry_after_seconds(limiting_failure_at: datetime, window: timedelta, now: datetime) -> int:
    """Whole seconds until the failure that keeps a key at its limit leaves the window (≥ 1)."""
    return max(1, math.ceil((limiting_failure_at + window - now).total_seconds()))


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
