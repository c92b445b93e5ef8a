"""Workflows: the definition a user writes (what to run, when) and the rules of changing it.

Owns the `Workflow` value, the validation of a create or update body into a `WorkflowSpec`
(name, kind, payload per kind — see `payloads` —, schedule, failure threshold, log retention),
what an update does to a workflow (`apply_update`), and the filters of the workflow list.
Every error is a `ValidationError` naming the field (`name`, `interval`, `payload.cmd[0]`…);
problems in several fields are reported together. Pure: time and ids come in as parameters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

from hourglass.domain.common import text_problem
from hourglass.domain.jobs import BuildStatus, Kind
from hourglass.domain.outbound import OutboundPolicy, host_refusal
from hourglass.domain.payloads import (
    canonical_json,
    check_payload,
    decode_payload,
    mask_secrets,
    restore_secrets,
)
from hourglass.domain.schedule import Schedule
from hourglass.errors import FieldError, ValidationError

NAME_MAX: Final = 200
MAX_FAILURES_MIN: Final = 1
MAX_FAILURES_MAX: Final = 100
MAX_FAILURES_DEFAULT: Final = 3
RETENTION_DAYS_MIN: Final = 1
RETENTION_DAYS_MAX: Final = 3650
LIST_LIMIT_DEFAULT: Final = 20
LIST_LIMIT_MAX: Final = 1000
QUERY_MAX: Final = NAME_MAX
_KINDS: Final = ", ".join(k.value for k in Kind)
_BUILD_STATUSES: Final = ", ".join(s.value for s in BuildStatus)


@dataclass(frozen=True, slots=True)
class Workflow:
    """One workflow as stored. `payload` holds real secret values: never return it as is."""

    id: str
    user_id: str
    name: str
    kind: Kind
    payload: Mapping[str, Any]
    interval_minutes: int | None
    cron: str | None
    build_status: BuildStatus
    build_reason: str | None
    generation: int
    consecutive_job_failures_count: int
    max_consecutive_job_failures_allowed: int
    log_retention: bool
    log_retention_days: int | None
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime
    terminated_at: datetime | None

    @property
    def terminated(self) -> bool:
        return self.terminated_at is not None

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.interval_minutes, self.cron)

    @property
    def payload_json(self) -> str:
        """The payload as stored: canonical JSON, real secrets."""
        return canonical_json(self.payload)

    @property
    def public_payload(self) -> str:
        """The payload as the API returns it: a JSON string, secret values as `***`."""
        return canonical_json(mask_secrets(self.payload))


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    """Everything the user decides about a workflow, validated and normalized."""

    name: str
    kind: Kind
    payload: Mapping[str, Any]
    schedule: Schedule
    max_consecutive_job_failures_allowed: int
    log_retention: bool
    log_retention_days: int | None


@dataclass(frozen=True, slots=True)
class Change:
    """What an update changed, i.e. what the engine must redo."""

    payload_changed: bool  # rebuild: new generation, build QUEUED
    schedule_changed: bool  # pending automatic jobs canceled, next run recomputed
    reactivated: bool  # was terminated, is active again


# --- create and update bodies --------------------------------------------------------------------


def spec_for_create(
    body: Mapping[str, Any],
    *,
    allow_command: bool,
    default_log_retention_days: int | None,
    outbound: OutboundPolicy = OutboundPolicy(),
) -> WorkflowSpec:
    """Validate a create body; absent optional fields take their defaults. A HEARTBEAT endpoint
    whose host is an address `outbound` refuses is refused (the strict policy by default)."""
    return _parse(
        body,
        kind=body.get("kind"),
        stored_payload=None,
        log_retention=True,
        log_retention_days=default_log_retention_days,
        allow_command=allow_command,
        outbound=outbound,
    )


def spec_for_update(
    body: Mapping[str, Any],
    current: Workflow,
    *,
    allow_command: bool,
    outbound: OutboundPolicy = OutboundPolicy(),
) -> WorkflowSpec:
    """Validate a full-replacement update body against the workflow it replaces.

    `kind` may be left out (the workflow keeps its kind); `log_retention` and `log_retention_days`
    left out keep their current values; `max_consecutive_job_failures_allowed` left out is the
    default, as on create. Secrets sent as `***` keep their stored values.
    """
    return _parse(
        body,
        kind=current.kind.value if body.get("kind") is None else body["kind"],
        stored_payload=current.payload,
        log_retention=current.log_retention,
        log_retention_days=current.log_retention_days,
        allow_command=allow_command,
        outbound=outbound,
    )


def _collecting(errors: list[FieldError]) -> Callable[..., Any]:
    """`attempt(check, *args)`: `check(*args)`, or None with its field errors added to `errors`
    (so every bad field of a request is reported at once)."""

    def attempt(check: Callable[..., Any], *args: Any) -> Any:
        try:
            return check(*args)
        except ValidationError as exc:
            errors.extend(exc.errors)
            return None

    return attempt


def _parse(
    body: Mapping[str, Any],
    *,
    kind: object,
    stored_payload: Mapping[str, Any] | None,
    log_retention: bool,
    log_retention_days: int | None,
    allow_command: bool,
    outbound: OutboundPolicy,
) -> WorkflowSpec:
    errors: list[FieldError] = []
    attempt = _collecting(errors)

    name = attempt(check_name, body.get("name"))
    parsed_kind = attempt(check_kind, kind, allow_command)
    raw_payload = attempt(decode_payload, body.get("payload"))
    payload: Any = None
    if parsed_kind is not None and raw_payload is not None:
        payload = attempt(check_payload, parsed_kind, raw_payload)
        if payload is not None and parsed_kind is Kind.HEARTBEAT:
            payload = attempt(check_endpoint_address, payload, outbound)
        if payload is not None:
            payload = attempt(restore_secrets, payload, stored_payload)
    schedule = attempt(Schedule.parse, body.get("interval"), body.get("cron"))
    failures = attempt(check_max_failures, body.get("max_consecutive_job_failures_allowed"))
    if body.get("log_retention") is not None:
        log_retention = attempt(check_log_retention, body["log_retention"])
    if "log_retention_days" in body:
        log_retention_days = attempt(check_retention_days, body["log_retention_days"])
    if errors:
        raise ValidationError(errors)
    return WorkflowSpec(
        name, parsed_kind, payload, schedule, failures, log_retention, log_retention_days
    )


def check_name(value: object) -> str:
    """A workflow name: a string of 1 to 200 characters without control characters (nor NUL or
    lone surrogates), trimmed."""
    if not isinstance(value, str):
        raise ValidationError.field("name", "is required and must be a string")
    name = value.strip()
    if not name:
        raise ValidationError.field("name", "must not be empty")
    if len(name) > NAME_MAX:
        raise ValidationError.field("name", f"must be at most {NAME_MAX} characters")
    problem = text_problem(name, controls=True)
    if problem is not None:
        raise ValidationError.field("name", problem)
    return name


def check_kind(value: object, allow_command: bool) -> Kind:
    """A known kind; COMMAND only when the server allows it."""
    if not isinstance(value, str) or value not in Kind.__members__:
        raise ValidationError.field("kind", f"must be one of {_KINDS}")
    kind = Kind(value)
    if kind is Kind.COMMAND and not allow_command:
        raise ValidationError.field(
            "kind",
            "the COMMAND kind is disabled on this server "
            "(it runs programs on the worker hosts; see HOURGLASS_ALLOW_COMMAND_KIND)",
        )
    return kind


def check_endpoint_address(payload: dict[str, Any], outbound: OutboundPolicy) -> dict[str, Any]:
    """The HEARTBEAT payload, unless its endpoint's host is an address `outbound` refuses."""
    refused = host_refusal(urlsplit(payload["endpoint"]).hostname or "", outbound)
    if refused is not None:
        raise ValidationError.field("payload.endpoint", refused)
    return payload


def _whole_number(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError.field(field, "must be an integer")
    return value


def check_max_failures(value: object) -> int:
    """1 to 100 failures in a row before the workflow is terminated; absent or null: 3."""
    if value is None:
        return MAX_FAILURES_DEFAULT
    field = "max_consecutive_job_failures_allowed"
    number = _whole_number(value, field)
    if not MAX_FAILURES_MIN <= number <= MAX_FAILURES_MAX:
        raise ValidationError.field(
            field, f"must be between {MAX_FAILURES_MIN} and {MAX_FAILURES_MAX}"
        )
    return number


def check_log_retention(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationError.field("log_retention", "must be true or false")
    return value


def check_retention_days(value: object) -> int | None:
    """1 to 3650 days, or null for forever."""
    if value is None:
        return None
    days = _whole_number(value, "log_retention_days")
    if not RETENTION_DAYS_MIN <= days <= RETENTION_DAYS_MAX:
        raise ValidationError.field(
            "log_retention_days",
            f"must be between {RETENTION_DAYS_MIN} and {RETENTION_DAYS_MAX}, or null for forever",
        )
    return days


# --- life of a workflow --------------------------------------------------------------------------


def new_workflow(id: str, user_id: str, spec: WorkflowSpec, now: datetime) -> Workflow:
    """A freshly created workflow: generation 1, its build QUEUED, not scheduled yet."""
    return Workflow(
        id=id,
        user_id=user_id,
        name=spec.name,
        kind=spec.kind,
        payload=spec.payload,
        interval_minutes=spec.schedule.interval_minutes,
        cron=spec.schedule.cron,
        build_status=BuildStatus.QUEUED,
        build_reason=None,
        generation=1,
        consecutive_job_failures_count=0,
        max_consecutive_job_failures_allowed=spec.max_consecutive_job_failures_allowed,
        log_retention=spec.log_retention,
        log_retention_days=spec.log_retention_days,
        next_run_at=None,
        created_at=now,
        updated_at=now,
        terminated_at=None,
    )


def apply_update(current: Workflow, spec: WorkflowSpec, now: datetime) -> tuple[Workflow, Change]:
    """The workflow after a full replacement by `spec`, and what changed.

    Always: active again, failure count reset. A changed kind or payload starts a new generation
    whose build is QUEUED. A changed schedule — or a reactivation — clears `next_run_at` so the
    scheduler computes a fresh first slot instead of catching up on slots from before.
    """
    change = Change(
        payload_changed=spec.kind is not current.kind
        or canonical_json(spec.payload) != current.payload_json,
        schedule_changed=spec.schedule != current.schedule,
        reactivated=current.terminated,
    )
    updated = dataclasses.replace(
        current,
        name=spec.name,
        kind=spec.kind,
        payload=spec.payload,
        interval_minutes=spec.schedule.interval_minutes,
        cron=spec.schedule.cron,
        max_consecutive_job_failures_allowed=spec.max_consecutive_job_failures_allowed,
        log_retention=spec.log_retention,
        log_retention_days=spec.log_retention_days,
        consecutive_job_failures_count=0,
        terminated_at=None,
        updated_at=now,
    )
    if change.payload_changed:
        updated = dataclasses.replace(
            updated,
            generation=current.generation + 1,
            build_status=BuildStatus.QUEUED,
            build_reason=None,
        )
    if change.schedule_changed or change.reactivated:
        updated = dataclasses.replace(updated, next_run_at=None)
    return updated, change


# --- the list ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkflowFilter:
    """The list filters; every one given must match (absent ones match everything)."""

    query: str | None = None  # case-insensitive substring of the name; wildcards are literal
    kind: Kind | None = None
    build_status: BuildStatus | None = None
    terminated: bool | None = None
    interval_min: int | None = None  # a bound on `interval` excludes cron workflows
    interval_max: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The filters as plain values, for binding cursors to them."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True, slots=True)
class ListParams:
    """The query parameters of `GET /workflows`, as sent (`cursor` is the service's to read)."""

    cursor: str | None = None
    limit: str | None = None
    query: str | None = None
    kind: str | None = None
    build_status: str | None = None
    terminated: str | None = None
    interval_min: str | None = None
    interval_max: str | None = None


def parse_list_params(params: ListParams = ListParams()) -> tuple[WorkflowFilter, int]:
    """The filters and page size of `GET /workflows` from raw query strings; 400 names the field."""
    errors: list[FieldError] = []
    attempt = _collecting(errors)

    p = params
    size = attempt(_limit, p.limit)
    text = attempt(_query, p.query)
    kind_value = attempt(_enum, Kind, p.kind, "kind", _KINDS)
    status_value = attempt(_enum, BuildStatus, p.build_status, "build_status", _BUILD_STATUSES)
    terminated_value = attempt(_boolean, p.terminated, "terminated")
    low = attempt(_count, p.interval_min, "interval_min")
    high = attempt(_count, p.interval_max, "interval_max")
    if low is not None and high is not None and low > high:
        errors.append(FieldError("interval_min", "must not be greater than interval_max"))
    if errors:
        raise ValidationError(errors)
    found = WorkflowFilter(text, kind_value, status_value, terminated_value, low, high)
    return found, size


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return LIST_LIMIT_DEFAULT
    value = _count(raw, "limit")
    if value is None or not 1 <= value <= LIST_LIMIT_MAX:
        raise ValidationError.field("limit", f"must be between 1 and {LIST_LIMIT_MAX}")
    return value


def _query(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if len(raw) > QUERY_MAX:
        raise ValidationError.field("query", f"must be at most {QUERY_MAX} characters")
    problem = text_problem(raw, controls=True)  # no name holds one, and PostgreSQL refuses NUL
    if problem is not None:
        raise ValidationError.field("query", problem)
    return raw


def _enum(enum: type[Kind] | type[BuildStatus], raw: str | None, field: str, allowed: str) -> Any:
    if raw is None or raw == "":
        return None
    if raw not in enum.__members__:
        raise ValidationError.field(field, f"must be one of {allowed}")
    return enum(raw)


def _boolean(raw: str | None, field: str) -> bool | None:
    if raw is None or raw == "":
        return None
    if raw not in ("true", "false"):
        raise ValidationError.field(field, "must be true or false")
    return raw == "true"


def _count(raw: str | None, field: str) -> int | None:
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise ValidationError.field(field, "must be a non-negative integer")
    return int(raw)
