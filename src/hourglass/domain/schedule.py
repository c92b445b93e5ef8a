"""When a workflow runs: its schedule (an interval or a 5-field UTC cron) and the slot maths.

Runs are fixed-rate: every slot follows from the previous *slot*, never from when a job actually
ran, so a slow job or a busy scheduler does not make the schedule drift. After downtime the missed
slots collapse into one catch-up run (the latest missed slot) instead of a burst. Every datetime in
and out is timezone-aware; results are in UTC, and cron is evaluated in UTC (so DST never applies).
Naive datetimes are a programming error and raise `ValueError`.

Cron: exactly five fields (minute hour day-of-month month day-of-week), parsed by `cronsim`, with
its extensions (`L`, `LW`, `5L`, `1#2`, month and weekday names). Seconds fields and `@` macros
(`@daily`…) are rejected: the contract says five fields, and a stored schedule is always one form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from cronsim import CronSim, CronSimError

from hourglass.errors import ValidationError

MIN_INTERVAL_MINUTES: Final = 1
MAX_INTERVAL_MINUTES: Final = 10080  # one week
MAX_CRON_LENGTH: Final = 200  # the width of workflows.cron
_ONE_OF = "exactly one of interval or cron is required"
_MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# cron times fall on whole minutes, so looking back from one microsecond later includes `now`
_EPSILON: Final = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Exactly one of an interval in minutes (1-10080) or a 5-field cron expression in UTC."""

    interval_minutes: int | None = None
    cron: str | None = None

    def __post_init__(self) -> None:
        if (self.interval_minutes is None) == (self.cron is None):
            raise ValidationError.field("interval", _ONE_OF)
        if self.interval_minutes is not None:
            _check_interval(self.interval_minutes)
        if self.cron is not None:
            # stored in one canonical spelling so equal schedules compare equal
            object.__setattr__(self, "cron", _check_cron(self.cron))

    @classmethod
    def parse(cls, interval: int | None, cron: str | None) -> Schedule:
        """A schedule from API input; an empty or blank `cron` counts as absent."""
        if isinstance(cron, str) and not cron.strip():
            cron = None
        return cls(interval_minutes=interval, cron=cron)

    @property
    def step(self) -> timedelta | None:
        """The interval as a timedelta, or None for a cron schedule."""
        return None if self.interval_minutes is None else timedelta(minutes=self.interval_minutes)


def _check_interval(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError.field("interval", "must be a whole number of minutes")
    if not MIN_INTERVAL_MINUTES <= value <= MAX_INTERVAL_MINUTES:
        raise ValidationError.field(
            "interval", f"must be between {MIN_INTERVAL_MINUTES} and {MAX_INTERVAL_MINUTES} minutes"
        )


def _check_cron(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError.field("cron", "must be a string")
    if len(value) > MAX_CRON_LENGTH:
        raise ValidationError.field("cron", f"must be at most {MAX_CRON_LENGTH} characters")
    expr = " ".join(value.split())
    if expr.startswith("@"):
        hint = f"; use {_MACROS[expr.lower()]!r}" if expr.lower() in _MACROS else ""
        raise ValidationError.field("cron", f"macros are not supported{hint}")
    fields = len(expr.split())
    if fields != 5:
        raise ValidationError.field(
            "cron", f"must have 5 fields (minute hour day-of-month month day-of-week), not {fields}"
        )
    try:
        CronSim(expr, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise ValidationError.field("cron", str(exc)) from None
    return expr


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got a naive one")
    return moment.astimezone(UTC)


def _cron_after(expr: str, moment: datetime) -> datetime:
    try:
        return next(CronSim(expr, moment))
    except (OverflowError, StopIteration):
        raise ValueError(f"cron {expr!r} has no time after {moment.isoformat()}") from None


def _cron_at_or_before(expr: str, moment: datetime) -> datetime | None:
    try:
        return next(CronSim(expr, moment + _EPSILON, reverse=True))
    except (OverflowError, StopIteration):
        return None


def next_slot(schedule: Schedule, previous_slot: datetime) -> datetime:
    """The slot after `previous_slot`: plus the interval, or the next cron time strictly after it.

    Anchored to the previous *slot*, not to when its job ran, so the rate never drifts.
    """
    previous_slot = _utc(previous_slot, "previous_slot")
    if schedule.step is not None:
        return previous_slot + schedule.step
    assert schedule.cron is not None
    return _cron_after(schedule.cron, previous_slot)


def first_slot(schedule: Schedule, anchor: datetime) -> datetime:
    """The first slot strictly after `anchor` (the moment the build completed or the schedule
    changed): `anchor + interval`, or the first cron time after `anchor`.

    Strictly after, so a fresh workflow never runs at the very instant it becomes ready; a run
    wanted right away is a MANUAL job.
    """
    return next_slot(schedule, _utc(anchor, "anchor"))


def due_slot(
    schedule: Schedule, next_run_at: datetime, now: datetime
) -> tuple[datetime | None, datetime]:
    """`(slot to run now or None, new next_run_at)` for a workflow whose next slot is `next_run_at`.

    Not due yet (`now < next_run_at`): `(None, next_run_at)`. Due (`now == next_run_at` counts):
    the LATEST slot at or before `now`, and the first slot after `now`, so every slot missed during
    downtime collapses into one catch-up run. Constant time for intervals; for cron, two cronsim
    look-ups (one backwards), whatever the length of the downtime.
    """
    next_run_at, now = _utc(next_run_at, "next_run_at"), _utc(now, "now")
    if now < next_run_at:
        return None, next_run_at
    if schedule.step is not None:
        missed = (now - next_run_at) // schedule.step
        latest = next_run_at + missed * schedule.step
        return latest, latest + schedule.step
    assert schedule.cron is not None
    # next_run_at itself is a slot even when it is not a cron time (e.g. set by an older schedule)
    previous = _cron_at_or_before(schedule.cron, now)
    latest = next_run_at if previous is None else max(previous, next_run_at)
    return latest, _cron_after(schedule.cron, now)
