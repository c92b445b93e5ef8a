"""The one schema of Hourglass: every table, index and constraint, in one `MetaData`.

Alembic migrations under `migrations/` must produce exactly this; a test compares them on SQLite
and PostgreSQL. Times are timezone-aware UTC (`UTCDateTime`); ids are ULID strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every engine (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

ID = String(26)

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("notification_preference", String(16), nullable=False, server_default="ALERTS"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    # sha256 of the cookie token; the token itself is never stored
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("last_used_at", UTCDateTime(), nullable=True),
)

# one row per failed login, per key ("email:…" and "addr:…"); shared by every API process
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index(None, "key", "at"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("scope", String(300), nullable=False),  # "METHOD path" the key was used for
    Column("request_hash", String(64), nullable=False),
    Column("response_status", Integer, nullable=False),
    Column("response_body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
)

workflows = Table(
    "workflows",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("payload", Text, nullable=False),  # canonical JSON of the validated payload
    Column("interval_minutes", Integer, nullable=True),
    Column("cron", String(200), nullable=True),
    Column("build_status", String(16), nullable=False),
    Column("build_reason", Text, nullable=True),
    Column("generation", Integer, nullable=False, server_default="1"),
    Column("build_lease_token", String(32), nullable=True),
    Column("build_lease_expires_at", UTCDateTime(), nullable=True),
    Column("consecutive_job_failures_count", Integer, nullable=False, server_default="0"),
    Column("max_consecutive_job_failures_allowed", Integer, nullable=False, server_default="3"),
    Column("log_retention", Boolean, nullable=False, server_default=text("true")),
    Column("log_retention_days", Integer, nullable=True),
    Column("next_run_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("terminated_at", UTCDateTime(), nullable=True),
    CheckConstraint("(interval_minutes IS NULL) <> (cron IS NULL)", name="one_schedule"),
    Index(None, "user_id", "id"),
    Index(None, "build_status"),
    Index(None, "next_run_at"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("workflow_id", ID, ForeignKey("workflows.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),
    # the schedule slot an AUTOMATIC job was made for; NULL for MANUAL jobs
    Column("slot_at", UTCDateTime(), nullable=True),
    Column("generation", Integer, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("exit_code", Integer, nullable=True),
    Column("failure_reason", Text, nullable=True),
    Column("scheduled_at", UTCDateTime(), nullable=False),
    # when a QUEUED job may next be claimed (retry backoff pushes it forward)
    Column("available_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("completed_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("lease_token", String(32), nullable=True),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_expires_at", UTCDateTime(), nullable=True),
    Column("cancel_requested_at", UTCDateTime(), nullable=True),
    Column("log_state", String(16), nullable=False, server_default="pending"),
    Column("log_lines", BigInteger, nullable=False, server_default="0"),
    Column("log_bytes", BigInteger, nullable=False, server_default="0"),
    Column("log_expires_at", UTCDateTime(), nullable=True),
    # the per-job log cap's state once the head is full (`domain.logs.cap.CapState`, packed)
    Column("log_cap", LargeBinary, nullable=True),
    UniqueConstraint("workflow_id", "slot_at"),
    Index(None, "workflow_id", "id"),
    Index(None, "status", "available_at"),
    Index(None, "log_expires_at"),
    # at most one QUEUED or RUNNING job per workflow, enforced by the engine itself
    Index(
        "uq_jobs_one_active_per_workflow",
        "workflow_id",
        unique=True,
        sqlite_where=text("status IN ('QUEUED', 'RUNNING')"),
        postgresql_where=text("status IN ('QUEUED', 'RUNNING')"),
    ),
)

# one row per writer flush; see DESIGN.md "The path of one log line"
log_chunks = Table(
    "log_chunks",
    metadata,
    Column("job_id", ID, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("first_seq", BigInteger, primary_key=True, autoincrement=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("byte_offset", BigInteger, nullable=False),
    Column("text", LargeBinary, nullable=False),
    Column("meta", LargeBinary, nullable=False),
)

# one row per (user, cause): a retried transaction cannot write a notification twice; `seq`
# numbers a user's notifications in commit order (see `notifications.py`)
notifications = Table(
    "notifications",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("cause", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("payload", Text, nullable=False),
    Column("read_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("user_id", "seq"),
    UniqueConstraint("user_id", "cause"),
    Index(None, "created_at"),
)

# the last `seq` given to each user's notifications; its row lock orders them by commit
notification_counters = Table(
    "notification_counters",
    metadata,
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
)

# finished jobs counted per (workflow, UTC day, status, duration bucket); no foreign key to the
# workflow, so the figures outlive it (see `domain/analytics.py`)
job_stats = Table(
    "job_stats",
    metadata,
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("workflow_id", ID, primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("bucket", Integer, primary_key=True, autoincrement=False),
    Column("jobs", BigInteger, nullable=False),
    Column("duration_ms", BigInteger, nullable=False),
    Column("log_lines", BigInteger, nullable=False),
    Column("log_bytes", BigInteger, nullable=False),
    Index(None, "user_id", "day"),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("description", String(500), nullable=False),
    Column("events", Text, nullable=False),  # JSON list of event types
    Column("format", String(16), nullable=False),
    # the signing key must be readable to sign; the API shows it once, at creation
    Column("secret", String(100), nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    # the current run of failed attempts: how many, since when
    Column("failure_count", Integer, nullable=False, server_default="0"),
    Column("failing_since", UTCDateTime(), nullable=True),
    Column("disabled_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "user_id", "id"),
)

# the outbox: written in the transaction of the event, sent by workers holding a lease on it
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", ID, primary_key=True),
    Column("webhook_id", ID, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("cause", String(200), nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("payload", Text, nullable=False),  # the Standard Webhooks body, sent byte for byte
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    # when it may next be claimed: a claim moves it past its lease, so a dead sender's delivery
    # comes back by itself
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("lease_token", String(32), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_duration_ms", Integer, nullable=True),
    Column("last_attempt_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("webhook_id", "cause"),
    Index(None, "status", "next_attempt_at"),
    Index(None, "webhook_id", "id"),
    Index(None, "created_at"),
)
