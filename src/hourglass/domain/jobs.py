"""Rules of one job's life: statuses and their one transition table, outcomes, retries, failures.

Owns the job status machine (and the build status machine of a workflow), how a run's outcome
decides the job's next status (workload failures fail at once, system failures retry with
backoff), the consecutive-failure count that terminates a workflow, and when retained logs
expire. Pure: time and randomness arrive as parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from hourglass.errors import Conflict


class JobStatus(StrEnum):
    PENDING = "PENDING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class Trigger(StrEnum):
    AUTOMATIC = "AUTOMATIC"
    MANUAL = "MANUAL"


class BuildStatus(StrEnum):
    QUEUED = "QUEUED"
    STARTED = "STARTED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class LogState(StrEnum):
    PENDING = "pending"
    STREAMING = "streaming"
    COMPLETE = "complete"
    TRUNCATED = "truncated"
    EXPIRED = "expired"
    DISABLED = "disabled"


class Kind(StrEnum):
    HEARTBEAT = "HEARTBEAT"
    CONTAINER = "CONTAINER"
    COMMAND = "COMMAND"


_S = JobStatus
JOB_TRANSITIONS: Final[Mapping[JobStatus, frozenset[JobStatus]]] = {
    _S.PENDING: frozenset({_S.QUEUED, _S.CANCELED}),
    _S.QUEUED: frozenset({_S.RUNNING, _S.CANCELED}),
    # RUNNING -> QUEUED: a system failure puts the job back for its next attempt
    _S.RUNNING: frozenset({_S.COMPLETED, _S.FAILED, _S.CANCELED, _S.QUEUED}),
    _S.COMPLETED: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELED: frozenset(),
}

_B = BuildStatus
BUILD_TRANSITIONS: Final[Mapping[BuildStatus, frozenset[BuildStatus]]] = {
    _B.QUEUED: frozenset({_B.STARTED}),
    # STARTED -> QUEUED: a newer generation arrived mid-build, or the builder died
    _B.STARTED: frozenset({_B.COMPLETED, _B.FAILED, _B.QUEUED}),
    # a finished build goes back to QUEUED when the payload changes
    _B.COMPLETED: frozenset({_B.QUEUED}),
    _B.FAILED: frozenset({_B.QUEUED}),
}

ACTIVE: Final = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
FINISHED: Final = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED})


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    """Whether a job may move from `current` to `target` (staying put is not a transition)."""
    return target in JOB_TRANSITIONS[current]


def check_transition(current: JobStatus, target: JobStatus) -> None:
    """Raise `Conflict` unless a job may move from `current` to `target`."""
    if can_transition(current, target):
        return
    if is_terminal(current):
        raise Conflict(f"job is already {current}; it cannot become {target}")
    raise Conflict(f"a {current} job cannot become {target}")


def is_terminal(status: JobStatus) -> bool:
    """Whether a job in `status` is finished for good."""
    return not JOB_TRANSITIONS[status]


def can_build_transition(current: BuildStatus, target: BuildStatus) -> bool:
    """Whether a workflow's build may move from `current` to `target`."""
    return target in BUILD_TRANSITIONS[current]


def check_build_transition(current: BuildStatus, target: BuildStatus) -> None:
    """Raise `Conflict` unless a workflow's build may move from `current` to `target`."""
    if not can_build_transition(current, target):
        raise Conflict(f"a build that is {current} cannot become {target}")


class Outcome(StrEnum):
    SUCCESS = "SUCCESS"
    # the user's code failed (non-zero exit, timeout, unexpected HTTP status): never retried
    WORKLOAD_FAILURE = "WORKLOAD_FAILURE"
    # the system failed (worker lost, lease expired, runtime unavailable): retried
    SYSTEM_FAILURE = "SYSTEM_FAILURE"
    CANCELED = "CANCELED"


@dataclass(frozen=True, slots=True)
class RunResult:
    """How one attempt of a job ended."""

    outcome: Outcome
    exit_code: int | None = None
    reason: str | None = None

    @classmethod
    def success(cls, exit_code: int | None = 0) -> RunResult:
        return cls(Outcome.SUCCESS, exit_code, None)

    @classmethod
    def workload_failure(cls, reason: str, exit_code: int | None = None) -> RunResult:
        return cls(Outcome.WORKLOAD_FAILURE, exit_code, reason)

    @classmethod
    def system_failure(cls, reason: str) -> RunResult:
        return cls(Outcome.SYSTEM_FAILURE, None, reason)

    @classmethod
    def canceled(cls, reason: str = "canceled") -> RunResult:
        return cls(Outcome.CANCELED, None, reason)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What to do with a job after an attempt: its next status and, for a retry, the delay."""

    status: JobStatus
    delay_seconds: float | None = None
    reason: str | None = None

    @property
    def retry(self) -> bool:
        return self.status is JobStatus.QUEUED


_OUTCOME_STATUS: Final[Mapping[Outcome, JobStatus]] = {
    Outcome.SUCCESS: JobStatus.COMPLETED,
    Outcome.WORKLOAD_FAILURE: JobStatus.FAILED,
    Outcome.CANCELED: JobStatus.CANCELED,
}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts a job gets against system failures, and how long to wait between them."""

    max_attempts: int = 3
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 60.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.base_delay_seconds <= self.max_delay_seconds:
            raise ValueError("delays must satisfy 0 <= base_delay_seconds <= max_delay_seconds")
        if self.factor < 1:
            raise ValueError("factor must be at least 1")

    def delay(self, attempt: int, rand: float | None = None) -> float:
        """Seconds to wait after failed `attempt` (1-based): base * factor**(attempt-1), capped.

        With `rand` in [0, 1) the delay is jittered into [delay/2, delay) ("equal jitter"), so
        retries of many jobs spread out yet never come back sooner than half the backoff.
        """
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        try:
            raw = self.base_delay_seconds * self.factor ** (attempt - 1)
        except OverflowError:
            raw = math.inf
        capped = min(raw, self.max_delay_seconds)
        if rand is None:
            return capped
        if not 0 <= rand < 1:
            raise ValueError("rand must be in [0, 1)")
        return capped / 2 + capped / 2 * rand

    def decide(
        self,
        attempts_made: int,
        outcome: Outcome,
        reason: str | None = None,
        rand: float | None = None,
    ) -> RetryDecision:
        """The job's next status after its `attempts_made`-th attempt ended with `outcome`."""
        if attempts_made < 1:
            raise ValueError("attempts_made counts the attempt that just ended, so it is >= 1")
        if outcome is not Outcome.SYSTEM_FAILURE:
            status = _OUTCOME_STATUS[outcome]
            return RetryDecision(status, None, None if status is JobStatus.COMPLETED else reason)
        attempt = f"attempt {attempts_made} of {self.max_attempts}"
        why = f"system failure: {reason or 'unknown'} ({attempt})"
        if attempts_made < self.max_attempts:
            return RetryDecision(JobStatus.QUEUED, self.delay(attempts_made, rand), why)
        return RetryDecision(JobStatus.FAILED, None, why)


DEFAULT_RETRY_POLICY: Final = RetryPolicy()


def next_failure_count(current: int, final_status: JobStatus) -> int:
    """A workflow's consecutive-failure count after one of its jobs ended in `final_status`."""
    if final_status is JobStatus.FAILED:
        return current + 1
    if final_status is JobStatus.COMPLETED:
        return 0
    if final_status is JobStatus.CANCELED:
        # a cancel says nothing about whether the workload works
        return current
    raise ValueError(f"{final_status} is not a final status")


def should_terminate(count: int, max_allowed: int) -> bool:
    """Whether `count` failures in a row reach the workflow's threshold."""
    return count >= max_allowed


def log_expiry(completed_at: datetime, retention: bool, days: int | None) -> datetime | None:
    """When a finished job's logs are deleted; None means kept forever.

    Without retention the lines only live while the job runs, so they expire the moment it ends.
    """
    if completed_at.tzinfo is None or completed_at.utcoffset() is None:
        raise ValueError("completed_at must be timezone-aware")
    if not retention:
        return completed_at
    if days is None:
        return None
    if days < 0:
        raise ValueError("log retention days cannot be negative")
    return completed_at + timedelta(days=days)


@dataclass(frozen=True, slots=True)
class Job:
    """One execution of a workflow, as stored."""

    id: str
    workflow_id: str
    user_id: str
    status: JobStatus
    trigger: Trigger
    slot_at: datetime | None
    generation: int
    attempts: int
    exit_code: int | None
    failure_reason: str | None
    scheduled_at: datetime
    available_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    lease_token: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    cancel_requested_at: datetime | None
    log_state: LogState
    log_lines: int
    log_bytes: int
    log_expires_at: datetime | None
    # False only for a capped log whose trimmed tail was never re-sealed (its worker died), so
    # its chunks' byte offsets are not contiguous (see domain/logs/cap.py)
    log_offsets_sealed: bool = True

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What a worker needs of a workflow to run one of its jobs (or to build it)."""

    workflow_id: str
    user_id: str
    kind: Kind
    payload: Mapping[str, object]
    generation: int
    log_retention: bool
    log_retention_days: int | None
    terminated: bool
    built: bool = True  # the build of this payload (this generation) COMPLETED
    name: str = ""  # the workflow's name when the job was claimed (for messages about it)

    @property
    def runnable(self) -> bool:
        """Whether a job may start on this spec: built and not terminated."""
        return self.built and not self.terminated
