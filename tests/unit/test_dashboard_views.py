"""What the dashboard says about schedules, durations, workflow states and run history."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from hourglass.domain.jobs import BuildStatus, Job, JobStatus, Kind, LogState, Trigger
from hourglass.domain.schedule import Schedule
from hourglass.domain.workflows import Workflow
from hourglass.web.dashboard import views

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


def workflow(**changes: object) -> Workflow:
    base = Workflow(
        id="01J00000000000000000000000",
        user_id="u",
        name="w",
        kind=Kind.COMMAND,
        payload={"cmd": ["true"], "timeout": "30m"},
        interval_minutes=5,
        cron=None,
        build_status=BuildStatus.COMPLETED,
        build_reason=None,
        generation=1,
        consecutive_job_failures_count=0,
        max_consecutive_job_failures_allowed=3,
        log_retention=True,
        log_retention_days=30,
        next_run_at=None,
        created_at=NOW,
        updated_at=NOW,
        terminated_at=None,
    )
    return dataclasses.replace(base, **changes)


def job(status: JobStatus, seconds: float | None, index: int = 0) -> Job:
    started = NOW - timedelta(minutes=index) if seconds is not None else None
    return Job(
        id=f"01J{index:023d}",
        workflow_id="w",
        user_id="u",
        status=status,
        trigger=Trigger.MANUAL,
        slot_at=None,
        generation=1,
        attempts=1,
        exit_code=None,
        failure_reason=None,
        scheduled_at=NOW,
        available_at=NOW,
        started_at=started,
        completed_at=started + timedelta(seconds=seconds) if started and seconds else None,
        created_at=NOW,
        updated_at=NOW,
        lease_token=None,
        lease_owner=None,
        lease_expires_at=None,
        cancel_requested_at=None,
        log_state=LogState.COMPLETE,
        log_lines=0,
        log_bytes=0,
        log_expires_at=None,
    )


@pytest.mark.parametrize(
    ("minutes", "words"),
    [
        (1, "every minute"),
        (5, "every 5 minutes"),
        (60, "every hour"),
        (120, "every 2 hours"),
        (1440, "every day"),
        (10080, "every week"),
        (90, "every 1 hour 30 minutes"),
    ],
)
def test_interval_in_words(minutes: int, words: str) -> None:
    """An interval reads in its largest whole unit."""
    assert views.interval_words(minutes) == words


def test_cron_in_words_says_utc() -> None:
    """A weekday cron reads as words, in 24-hour time, marked UTC."""
    assert views.cron_words("0 2 * * 1-5") == "at 02:00, monday through friday (UTC)"


def test_cron_the_describer_cannot_read_is_shown_as_is() -> None:
    """A cronsim-only form falls back to the expression itself."""
    assert views.cron_words("0 0 1#2 * *").startswith(("cron 0 0 1#2", "at 00:00"))


def test_next_five_runs_of_a_cron_schedule() -> None:
    """The next five slots come from the domain's slot maths (weekdays at 02:00 UTC)."""
    times = views.next_runs(Schedule(cron="0 2 * * 1-5"), NOW)
    assert [t.day for t in times] == [3, 4, 5, 6, 9]
    assert all(t.hour == 2 for t in times)


def test_upcoming_follows_next_run_at() -> None:
    """A scheduled workflow's upcoming runs start at its next_run_at, an interval apart."""
    times = views.upcoming(workflow(next_run_at=NOW), NOW)
    assert times == [NOW + timedelta(minutes=5 * i) for i in range(5)]


@pytest.mark.parametrize(
    ("changes", "label"),
    [
        ({}, "active"),
        ({"terminated_at": NOW}, "terminated"),
        ({"build_status": BuildStatus.QUEUED}, "building"),
        ({"build_status": BuildStatus.FAILED, "build_reason": "no image"}, "build failed"),
        ({"consecutive_job_failures_count": 2}, "failing"),
    ],
)
def test_workflow_state(changes: dict[str, object], label: str) -> None:
    """A workflow's state is the one that matters most."""
    assert views.workflow_state(workflow(**changes)).label == label


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(None, "—"), (0.25, "250 ms"), (12.34, "12.3 s"), (242, "4 min 2 s"), (7500, "2 h 5 min")],
)
def test_durations_in_words(seconds: float | None, words: str) -> None:
    """Durations read in a unit that fits."""
    assert views.duration_words(seconds) == words


def test_history_strip_scales_bars_and_skips_waiting_jobs() -> None:
    """Runs only, oldest left; the longest is full height, none under 4 px."""
    jobs = [
        job(JobStatus.PENDING, None, 0),
        job(JobStatus.FAILED, 10, 1),
        job(JobStatus.COMPLETED, 0.01, 2),
    ]
    bars = views.history_strip(jobs, NOW)
    assert [b.tone for b in bars] == ["ok", "bad"]
    assert [b.height for b in bars] == [4, views.STRIP_HEIGHT]
    assert [b.x for b in bars] == [0, views.STRIP_STEP]
