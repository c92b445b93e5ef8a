"""What the dashboard says about workflows and jobs: states, schedules in words, durations,
the next run times and the run-history strip. Pure: the time is passed in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cron_descriptor import CasingTypeEnum, ExpressionDescriptor, Options

from hourglass.domain.jobs import BuildStatus, Job, JobStatus
from hourglass.domain.schedule import Schedule, first_slot, next_slot
from hourglass.domain.workflows import Workflow

# each status's tone: one CSS class per meaning, shared by badges and the history strip
JOB_TONES: Final = {
    JobStatus.PENDING: "muted",
    JobStatus.QUEUED: "info",
    JobStatus.RUNNING: "info",
    JobStatus.COMPLETED: "ok",
    JobStatus.FAILED: "bad",
    JobStatus.CANCELED: "warn",
}


@dataclass(frozen=True, slots=True)
class State:
    """A workflow's status as a person reads it, and its tone."""

    label: str
    tone: str
    why: str


def workflow_state(workflow: Workflow) -> State:
    """terminated, build failed, building, failing or active: the one that matters most."""
    if workflow.terminated:
        return State("terminated", "muted", "no longer scheduled; edit it to re-activate it")
    if workflow.build_status is BuildStatus.FAILED:
        return State("build failed", "bad", workflow.build_reason or "the build failed")
    if workflow.build_status is not BuildStatus.COMPLETED:
        return State("building", "info", f"build {workflow.build_status.value.lower()}")
    failures = workflow.consecutive_job_failures_count
    if failures:
        allowed = workflow.max_consecutive_job_failures_allowed
        return State("failing", "bad", f"{failures} of {allowed} failures in a row allowed")
    return State("active", "ok", "built and scheduled")


_UNITS: Final = ((10080, "week"), (1440, "day"), (60, "hour"), (1, "minute"))


def interval_words(minutes: int) -> str:
    """ "every minute", "every 5 minutes", "every 2 hours", "every 1 hour 30 minutes"…"""
    for size, unit in _UNITS:
        if minutes % size == 0 and (size > 1 or minutes < 60):
            count = minutes // size
            return f"every {unit}" if count == 1 else f"every {count} {unit}s"
    hours, rest = divmod(minutes, 60)
    return f"every {hours} hour{'s' * (hours != 1)} {rest} minute{'s' * (rest != 1)}"


def cron_words(expression: str) -> str:
    """The cron expression in words ("at 02:00, Monday through Friday (UTC)"); itself if the
    describer cannot read it (cronsim accepts a few forms it does not)."""
    options = Options()
    options.use_24hour_time_format = True
    options.casing_type = CasingTypeEnum.LowerCase
    try:
        words = str(ExpressionDescriptor(expression, options).get_description())
    except Exception:  # the describer's own errors have no common base class
        return f"cron {expression} (UTC)"
    return f"{words} (UTC)"


def schedule_words(schedule: Schedule) -> str:
    if schedule.interval_minutes is not None:
        return interval_words(schedule.interval_minutes)
    assert schedule.cron is not None
    return cron_words(schedule.cron)


def next_runs(schedule: Schedule, start: datetime, count: int = 5) -> list[datetime]:
    """The next `count` slots after `start` (the domain's own slot maths)."""
    slot = first_slot(schedule, start)
    slots = [slot]
    while len(slots) < count:
        slot = next_slot(schedule, slot)
        slots.append(slot)
    return slots


def upcoming(workflow: Workflow, now: datetime, count: int = 5) -> list[datetime]:
    """The workflow's next run times: from its `next_run_at` when it has one, else from now."""
    if workflow.terminated:
        return []
    if workflow.next_run_at is None:
        return next_runs(workflow.schedule, now, count)
    slots = [workflow.next_run_at]
    while len(slots) < count:
        slots.append(next_slot(workflow.schedule, slots[-1]))
    return slots


def pretty_payload(workflow: Workflow) -> str:
    """The payload as the API shows it (secrets as `***`), indented for reading."""
    return json.dumps(json.loads(workflow.public_payload), indent=2, ensure_ascii=False)


def duration_words(seconds: float | None) -> str:
    """ "850 ms", "12.3 s", "4 min 2 s", "2 h 5 min"; "—" for none."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def run_seconds(job: Job, now: datetime) -> float | None:
    """How long the job ran (or has been running)."""
    if job.started_at is None:
        return None
    end = job.completed_at or now
    return max(0.0, (end - job.started_at).total_seconds())


@dataclass(frozen=True, slots=True)
class Bar:
    """One run of the history strip: an SVG bar, its height scaled to the longest run."""

    job: Job
    x: int
    height: int
    tone: str
    title: str


STRIP_RUNS: Final = 50
STRIP_HEIGHT: Final = 40
STRIP_STEP: Final = 8


def history_strip(jobs: Sequence[Job], now: datetime) -> list[Bar]:
    """The last runs, oldest left, coloured by status, durations as bar heights (min 4 px)."""
    runs = [j for j in jobs if j.started_at is not None][:STRIP_RUNS]
    runs.reverse()
    longest = max((run_seconds(j, now) or 0.0 for j in runs), default=0.0) or 1.0
    bars = []
    for index, job in enumerate(runs):
        seconds = run_seconds(job, now) or 0.0
        height = max(4, round(STRIP_HEIGHT * seconds / longest))
        title = f"{job.status.value.lower()} · {duration_words(seconds)}"
        bars.append(Bar(job, index * STRIP_STEP, height, JOB_TONES[job.status], title))
    return bars
