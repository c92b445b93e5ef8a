"""The rules of a job's life: status tables, retries, backoff, failure counting, log expiry."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hourglass.domain.jobs import (
    ACTIVE,
    BUILD_TRANSITIONS,
    FINISHED,
    BuildStatus,
    JobStatus,
    Kind,
    LogState,
    Outcome,
    RetryPolicy,
    RunResult,
    can_build_transition,
    can_transition,
    check_build_transition,
    check_transition,
    is_terminal,
    log_expiry,
    next_failure_count,
    should_terminate,
)
from hourglass.errors import Conflict

J = JobStatus
B = BuildStatus

ALLOWED_JOB = {
    (J.PENDING, J.QUEUED),
    (J.PENDING, J.CANCELED),
    (J.QUEUED, J.RUNNING),
    (J.QUEUED, J.CANCELED),
    (J.RUNNING, J.COMPLETED),
    (J.RUNNING, J.FAILED),
    (J.RUNNING, J.CANCELED),
    (J.RUNNING, J.QUEUED),
}
ALLOWED_BUILD = {
    (B.QUEUED, B.STARTED),
    (B.STARTED, B.COMPLETED),
    (B.STARTED, B.FAILED),
    (B.STARTED, B.QUEUED),
    (B.COMPLETED, B.QUEUED),
    (B.FAILED, B.QUEUED),
}
JOB_PAIRS = list(itertools.product(JobStatus, JobStatus))
BUILD_PAIRS = list(itertools.product(BuildStatus, BuildStatus))


def _ids(pair: tuple[object, object]) -> str:
    return f"{pair[0]}->{pair[1]}"


@pytest.mark.parametrize("pair", JOB_PAIRS, ids=_ids)
def test_job_transition_table(pair: tuple[JobStatus, JobStatus]) -> None:
    """Exactly the documented job transitions are allowed; every other pair is refused."""
    assert can_transition(*pair) is (pair in ALLOWED_JOB)


@pytest.mark.parametrize("pair", JOB_PAIRS, ids=_ids)
def test_check_transition_raises_conflict_on_forbidden_pairs(
    pair: tuple[JobStatus, JobStatus],
) -> None:
    """check_transition passes silently on allowed pairs and raises Conflict on the rest."""
    if pair in ALLOWED_JOB:
        check_transition(*pair)
    else:
        with pytest.raises(Conflict, match=str(pair[1])):
            check_transition(*pair)


def test_conflict_on_a_terminal_job_says_it_is_already_final() -> None:
    """Canceling a finished job reports that the job is already in its final status."""
    with pytest.raises(Conflict, match="already COMPLETED"):
        check_transition(J.COMPLETED, J.CANCELED)


@pytest.mark.parametrize("status", list(JobStatus))
def test_terminal_statuses_are_exactly_the_finished_ones(status: JobStatus) -> None:
    """A status is terminal exactly when it is COMPLETED, FAILED or CANCELED."""
    assert is_terminal(status) is (status in FINISHED)


def test_active_and_finished_sets() -> None:
    """ACTIVE is QUEUED and RUNNING; FINISHED is the three terminal statuses; disjoint."""
    assert {J.QUEUED, J.RUNNING} == ACTIVE
    assert {J.COMPLETED, J.FAILED, J.CANCELED} == FINISHED
    assert not ACTIVE & FINISHED


@pytest.mark.parametrize("pair", BUILD_PAIRS, ids=_ids)
def test_build_transition_table(pair: tuple[BuildStatus, BuildStatus]) -> None:
    """Exactly the documented build transitions are allowed; every other pair is refused."""
    assert can_build_transition(*pair) is (pair in ALLOWED_BUILD)
    if pair in ALLOWED_BUILD:
        check_build_transition(*pair)
    else:
        with pytest.raises(Conflict):
            check_build_transition(*pair)


def test_build_table_covers_every_status() -> None:
    """Every build status has a row in the build transition table."""
    assert set(BUILD_TRANSITIONS) == set(BuildStatus)


def test_enum_values_match_the_api() -> None:
    """Statuses, triggers and kinds are upper-case; log states are lower-case as in API.md."""
    assert [s.value for s in LogState] == [
        "pending",
        "streaming",
        "complete",
        "truncated",
        "expired",
        "disabled",
    ]
    assert {k.value for k in Kind} == {"HEARTBEAT", "CONTAINER", "COMMAND"}
    assert J.CANCELED == "CANCELED"


@pytest.mark.parametrize("attempt", [1, 2, 3])
@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (Outcome.SUCCESS, J.COMPLETED),
        (Outcome.WORKLOAD_FAILURE, J.FAILED),
        (Outcome.CANCELED, J.CANCELED),
    ],
)
def test_non_system_outcomes_are_final_at_every_attempt(
    attempt: int, outcome: Outcome, status: JobStatus
) -> None:
    """Success, workload failure and cancel end the job at once, whatever the attempt."""
    decision = RetryPolicy().decide(attempt, outcome, reason="exit code 2")
    assert decision.status is status
    assert not decision.retry
    assert decision.delay_seconds is None


def test_workload_failure_keeps_its_reason() -> None:
    """A workload failure's reason becomes the job's failure reason, unchanged."""
    decision = RetryPolicy().decide(1, Outcome.WORKLOAD_FAILURE, reason="exit code 2")
    assert decision.reason == "exit code 2"


def test_success_has_no_reason() -> None:
    """A successful attempt carries no failure reason."""
    assert RetryPolicy().decide(1, Outcome.SUCCESS, reason="ignored").reason is None


@pytest.mark.parametrize(("attempt", "delay"), [(1, 1.0), (2, 2.0)])
def test_system_failure_retries_while_attempts_remain(attempt: int, delay: float) -> None:
    """A system failure on attempt 1 or 2 of 3 re-queues the job with exponential backoff."""
    decision = RetryPolicy().decide(attempt, Outcome.SYSTEM_FAILURE, reason="lease expired")
    assert decision.retry
    assert decision.status is J.QUEUED
    assert decision.delay_seconds == delay
    assert decision.reason == f"system failure: lease expired (attempt {attempt} of 3)"


def test_system_failure_on_the_last_attempt_fails_the_job() -> None:
    """A system failure on attempt 3 of 3 fails the job, saying which attempt it was."""
    decision = RetryPolicy().decide(3, Outcome.SYSTEM_FAILURE, reason="lease expired")
    assert not decision.retry
    assert decision.status is J.FAILED
    assert decision.reason == "system failure: lease expired (attempt 3 of 3)"


def test_system_failure_beyond_the_limit_still_fails() -> None:
    """Attempts past the limit (e.g. after the policy shrank) fail rather than retry."""
    assert RetryPolicy().decide(7, Outcome.SYSTEM_FAILURE).status is J.FAILED


def test_attempts_made_must_count_the_finished_attempt() -> None:
    """Deciding after zero attempts is a programming error."""
    with pytest.raises(ValueError, match="attempts_made"):
        RetryPolicy().decide(0, Outcome.SUCCESS)


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 32.0), (7, 60.0), (50, 60.0), (5000, 60.0)],
)
def test_backoff_doubles_and_is_capped(attempt: int, expected: float) -> None:
    """Backoff is base * 2**(attempt-1), capped at max_delay_seconds, without overflow."""
    assert RetryPolicy().delay(attempt) == expected


def test_backoff_follows_a_custom_policy() -> None:
    """Base, factor and cap of a custom policy shape the backoff."""
    policy = RetryPolicy(max_attempts=5, base_delay_seconds=0.5, max_delay_seconds=10, factor=3)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.5, 4.5, 10]


@pytest.mark.parametrize(("rand", "expected"), [(0.0, 2.0), (0.5, 3.0), (0.99, 3.98)])
def test_jitter_spreads_the_delay_between_half_and_full(rand: float, expected: float) -> None:
    """With a random value the delay lands in [delay/2, delay), deterministically from it."""
    assert RetryPolicy().delay(3, rand) == pytest.approx(expected)


def test_jitter_rejects_values_outside_the_unit_interval() -> None:
    """A random value outside [0, 1) is a programming error."""
    with pytest.raises(ValueError, match="rand"):
        RetryPolicy().delay(1, 1.0)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"base_delay_seconds": -1}, {"factor": 0.5}, {"max_delay_seconds": 0.1}],
)
def test_retry_policy_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    """No attempts, a negative delay, a shrinking factor or a cap below base is refused."""
    with pytest.raises(ValueError):  # noqa: PT011
        RetryPolicy(**kwargs)


@pytest.mark.parametrize(
    ("result", "attempts", "expected"),
    [
        (RunResult.success(), 1, (J.COMPLETED, None)),
        (RunResult.workload_failure("timed out after 30s"), 1, (J.FAILED, None)),
        (RunResult.workload_failure("exit code 1", exit_code=1), 2, (J.FAILED, None)),
        (RunResult.canceled(), 1, (J.CANCELED, None)),
        (RunResult.system_failure("worker lost"), 1, (J.QUEUED, 1.0)),
        (RunResult.system_failure("worker lost"), 2, (J.QUEUED, 2.0)),
        (RunResult.system_failure("worker lost"), 3, (J.FAILED, None)),
    ],
)
def test_next_status_after_a_run(
    result: RunResult, attempts: int, expected: tuple[JobStatus, float | None]
) -> None:
    """Each outcome maps to its next status; only system failures re-queue, with a delay."""
    decision = RetryPolicy().decide(attempts, result.outcome, result.reason)
    assert (decision.status, decision.delay_seconds) == expected


def test_run_result_constructors_classify_outcomes() -> None:
    """The RunResult shortcuts set the outcome, exit code and reason they are named after."""
    assert RunResult.success() == RunResult(Outcome.SUCCESS, 0, None)
    assert RunResult.workload_failure("boom", 3) == RunResult(Outcome.WORKLOAD_FAILURE, 3, "boom")
    assert RunResult.system_failure("gone").outcome is Outcome.SYSTEM_FAILURE


@pytest.mark.parametrize(
    ("current", "status", "expected"),
    [
        (0, J.FAILED, 1),
        (2, J.FAILED, 3),
        (5, J.COMPLETED, 0),
        (0, J.COMPLETED, 0),
        (2, J.CANCELED, 2),
    ],
)
def test_failure_count(current: int, status: JobStatus, expected: int) -> None:
    """FAILED adds one to the streak, COMPLETED resets it, CANCELED leaves it alone."""
    assert next_failure_count(current, status) == expected


@pytest.mark.parametrize("status", [J.PENDING, J.QUEUED, J.RUNNING])
def test_failure_count_needs_a_final_status(status: JobStatus) -> None:
    """Counting failures from a non-final status is a programming error."""
    with pytest.raises(ValueError, match="final"):
        next_failure_count(0, status)


@pytest.mark.parametrize(
    ("count", "limit", "expected"), [(0, 3, False), (2, 3, False), (3, 3, True), (4, 3, True)]
)
def test_should_terminate_at_the_threshold(count: int, limit: int, expected: bool) -> None:
    """A workflow is terminated once its failure streak reaches the allowed maximum."""
    assert should_terminate(count, limit) is expected


DONE = datetime(2026, 2, 27, 12, 0, tzinfo=UTC)


def test_logs_expire_after_the_retention_days() -> None:
    """Retained logs expire that many days after the job completed."""
    assert log_expiry(DONE, retention=True, days=30) == DONE + timedelta(days=30)


def test_logs_kept_forever_without_days() -> None:
    """Retention without a number of days keeps logs forever."""
    assert log_expiry(DONE, retention=True, days=None) is None


def test_logs_without_retention_expire_when_the_job_ends() -> None:
    """Without retention, logs expire the moment the job completes, whatever the days say."""
    assert log_expiry(DONE, retention=False, days=30) == DONE


def test_log_expiry_rejects_naive_and_negative_input() -> None:
    """A naive completion time or negative days is a programming error."""
    with pytest.raises(ValueError, match="aware"):
        log_expiry(DONE.replace(tzinfo=None), retention=True, days=1)
    with pytest.raises(ValueError, match="negative"):
        log_expiry(DONE, retention=True, days=-1)
