"""Schedules and fixed-rate slot maths: parsing, intervals, UTC cron, coalesced catch-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hourglass.domain.schedule import Schedule, due_slot, first_slot, next_slot
from hourglass.errors import ValidationError


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def field_of(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return exc.value.errors[0].field


EVERY_MINUTE = Schedule.parse(1, None)


# --- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("interval", "cron"), [(None, None), (5, "* * * * *"), (None, "  ")])
def test_exactly_one_of_interval_or_cron(interval: int | None, cron: str | None) -> None:
    """Both or neither of interval and cron is refused on the `interval` field."""
    with pytest.raises(ValidationError, match="exactly one of interval or cron") as exc:
        Schedule.parse(interval, cron)
    assert field_of(exc) == "interval"


@pytest.mark.parametrize("interval", [0, -1, 10081, 10**9])
def test_interval_out_of_range(interval: int) -> None:
    """An interval outside 1-10080 minutes is refused on the `interval` field."""
    with pytest.raises(ValidationError, match="between 1 and 10080") as exc:
        Schedule.parse(interval, None)
    assert field_of(exc) == "interval"


@pytest.mark.parametrize("interval", [True, 1.5, "5"])
def test_interval_must_be_an_integer(interval: object) -> None:
    """Booleans, floats and strings are not intervals."""
    with pytest.raises(ValidationError) as exc:
        Schedule.parse(interval, None)  # type: ignore[arg-type]
    assert field_of(exc) == "interval"


@pytest.mark.parametrize("interval", [1, 60, 10080])
def test_interval_bounds_are_inclusive(interval: int) -> None:
    """1 and 10080 minutes are valid intervals."""
    assert Schedule.parse(interval, None).interval_minutes == interval


@pytest.mark.parametrize(
    "cron",
    [
        "not a cron",
        "60 * * * *",
        "* 24 * * *",
        "0 0 30 2 *",
        "*/0 * * * *",
        "* * * *",
        "0 0 * * * *",
        "0 0 0 * * * *",
        "@daily",
        "@reboot",
        "x" * 201,
    ],
)
def test_bad_cron_is_refused_on_the_cron_field(cron: str) -> None:
    """Malformed, impossible, 4/6/7-field, macro and over-long cron expressions name `cron`."""
    with pytest.raises(ValidationError) as exc:
        Schedule.parse(None, cron)
    assert field_of(exc) == "cron"


def test_six_field_cron_says_five_are_needed() -> None:
    """A seconds field is refused with a message asking for 5 fields."""
    with pytest.raises(ValidationError, match="5 fields"):
        Schedule.parse(None, "0 */5 * * * *")


def test_macro_refusal_suggests_the_five_field_form() -> None:
    """Refusing @daily suggests its 5-field equivalent."""
    with pytest.raises(ValidationError, match="'0 0 \\* \\* \\*'"):
        Schedule.parse(None, "@daily")


def test_cron_is_normalised() -> None:
    """Surrounding and repeated whitespace is collapsed, so equal schedules compare equal."""
    assert Schedule.parse(None, "  0   0 * * MON ") == Schedule.parse(None, "0 0 * * MON")
    assert Schedule.parse(None, "  0   0 * * MON ").cron == "0 0 * * MON"


def test_blank_cron_counts_as_absent() -> None:
    """An empty cron next to an interval means an interval schedule."""
    assert Schedule.parse(15, "") == Schedule(interval_minutes=15)


def test_direct_construction_is_validated_too() -> None:
    """A Schedule cannot be built invalid by skipping parse."""
    with pytest.raises(ValidationError):
        Schedule(interval_minutes=0)


# --- interval slots ------------------------------------------------------------------------------


def test_interval_first_slot_is_one_interval_after_the_anchor() -> None:
    """An interval's first slot is the anchor plus one interval, to the microsecond."""
    anchor = datetime(2026, 3, 1, 10, 3, 27, 123456, tzinfo=UTC)
    assert first_slot(Schedule.parse(5, None), anchor) == anchor + timedelta(minutes=5)


def test_interval_next_slot_is_anchored_to_the_previous_slot() -> None:
    """The next interval slot follows the previous slot, not the time its job ran."""
    assert next_slot(Schedule.parse(15, None), at(2026, 3, 1, 10, 0)) == at(2026, 3, 1, 10, 15)


def test_interval_crosses_month_year_and_leap_day() -> None:
    """Interval arithmetic is plain UTC time: it crosses Feb 29 and the year end unharmed."""
    weekly = Schedule.parse(10080, None)
    assert next_slot(weekly, at(2028, 2, 25, 6, 0)) == at(2028, 3, 3, 6, 0)
    assert next_slot(EVERY_MINUTE, at(2026, 12, 31, 23, 59)) == at(2027, 1, 1, 0, 0)


def test_interval_not_due_before_its_slot() -> None:
    """Before next_run_at nothing is due and next_run_at is unchanged."""
    slot = at(2026, 3, 1, 10, 0)
    now = slot - timedelta(microseconds=1)
    assert due_slot(EVERY_MINUTE, slot, now) == (None, slot)


def test_interval_due_exactly_at_its_slot() -> None:
    """now == next_run_at is due: that slot runs and the next one is one interval later."""
    slot = at(2026, 3, 1, 10, 0)
    assert due_slot(EVERY_MINUTE, slot, slot) == (slot, at(2026, 3, 1, 10, 1))


def test_interval_due_a_little_late_keeps_the_rate() -> None:
    """A slot noticed late still runs as that slot, and the next slot keeps the fixed rate."""
    slot = at(2026, 3, 1, 10, 0)
    now = slot + timedelta(seconds=59, microseconds=999999)
    assert due_slot(EVERY_MINUTE, slot, now) == (slot, at(2026, 3, 1, 10, 1))


def test_interval_downtime_collapses_into_one_catch_up_run() -> None:
    """After 3 days of missed 1-minute slots, one slot runs (the latest) and the next follows it."""
    slot = at(2026, 3, 1, 0, 0)
    now = slot + timedelta(days=3, seconds=30)
    assert due_slot(EVERY_MINUTE, slot, now) == (at(2026, 3, 4, 0, 0), at(2026, 3, 4, 0, 1))


def test_interval_catch_up_on_an_exact_later_slot() -> None:
    """When now lands exactly on a later slot, that slot is the catch-up run."""
    slot = at(2026, 3, 1, 0, 0)
    now = at(2026, 3, 1, 1, 0)
    assert due_slot(Schedule.parse(7, None), slot, now) == (
        at(2026, 3, 1, 0, 56),
        at(2026, 3, 1, 1, 3),
    )


def test_interval_catch_up_after_decades_is_immediate() -> None:
    """Catch-up is arithmetic: a century of missed minutes is computed at once."""
    slot = at(1970, 1, 1, 0, 0)
    latest, following = due_slot(EVERY_MINUTE, slot, at(2070, 1, 1, 0, 0, 30))
    assert latest == at(2070, 1, 1, 0, 0)
    assert following == at(2070, 1, 1, 0, 1)


# --- cron slots ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        ("*/5 * * * *", at(2026, 3, 1, 10, 3), at(2026, 3, 1, 10, 5)),
        ("*/5 * * * *", at(2026, 3, 1, 10, 5), at(2026, 3, 1, 10, 10)),
        ("0 0 31 * *", at(2026, 4, 1), at(2026, 5, 31)),
        ("0 0 L * *", at(2026, 2, 1), at(2026, 2, 28)),
        ("0 0 L * *", at(2028, 2, 1), at(2028, 2, 29)),
        ("0 12 29 2 *", at(2026, 3, 1), at(2028, 2, 29, 12, 0)),
        ("0 0 1 1 *", at(2026, 12, 31, 23, 59), at(2027, 1, 1)),
        ("59 23 31 12 *", at(2026, 12, 31, 23, 59), at(2027, 12, 31, 23, 59)),
        ("30 2 * * SUN", at(2026, 3, 28), at(2026, 3, 29, 2, 30)),
    ],
)
def test_cron_next_slot(cron: str, after: datetime, expected: datetime) -> None:
    """The next cron slot is the first matching UTC minute strictly after the previous slot."""
    assert next_slot(Schedule.parse(None, cron), after) == expected


def test_cron_first_slot_is_strictly_after_the_anchor() -> None:
    """A cron workflow ready exactly on a cron time waits for the following one."""
    hourly = Schedule.parse(None, "0 * * * *")
    assert first_slot(hourly, at(2026, 3, 1, 10, 0)) == at(2026, 3, 1, 11, 0)
    assert first_slot(hourly, at(2026, 3, 1, 10, 0, 1)) == at(2026, 3, 1, 11, 0)


def test_cron_is_evaluated_in_utc_whatever_the_input_zone() -> None:
    """An aware non-UTC input is the same instant; cron matches UTC wall time and answers in UTC."""
    paris = timezone(timedelta(hours=1))
    daily = Schedule.parse(None, "0 9 * * *")
    result = next_slot(daily, datetime(2026, 3, 1, 9, 30, tzinfo=paris))
    assert result == at(2026, 3, 1, 9, 0)
    assert result.tzinfo is UTC


def test_cron_due_exactly_at_its_slot() -> None:
    """A cron slot is due when now equals it, and next_run_at moves to the following cron time."""
    quarter = Schedule.parse(None, "*/15 * * * *")
    slot = at(2026, 3, 1, 10, 15)
    assert due_slot(quarter, slot, slot) == (slot, at(2026, 3, 1, 10, 30))


def test_cron_not_due_before_its_slot() -> None:
    """Before its cron slot nothing is due and next_run_at is unchanged."""
    quarter = Schedule.parse(None, "*/15 * * * *")
    slot = at(2026, 3, 1, 10, 15)
    assert due_slot(quarter, slot, slot - timedelta(seconds=1)) == (None, slot)


def test_cron_downtime_collapses_into_one_catch_up_run() -> None:
    """After 3 days of missed per-minute cron slots, only the latest runs and the next follows."""
    every_minute = Schedule.parse(None, "* * * * *")
    slot = at(2026, 3, 1, 0, 0)
    now = at(2026, 3, 4, 0, 0, 30)
    assert due_slot(every_minute, slot, now) == (at(2026, 3, 4, 0, 0), at(2026, 3, 4, 0, 1))


def test_cron_catch_up_across_month_end_and_leap_day() -> None:
    """A month-end cron missed over Feb 29 catches up on the latest month end only."""
    month_end = Schedule.parse(None, "0 0 L * *")
    slot = at(2028, 1, 31)
    now = at(2028, 3, 15)
    assert due_slot(month_end, slot, now) == (at(2028, 2, 29), at(2028, 3, 31))


def test_cron_catch_up_over_a_year_wrap() -> None:
    """A yearly cron missed for years catches up once and schedules the next New Year."""
    yearly = Schedule.parse(None, "0 0 1 1 *")
    assert due_slot(yearly, at(2020, 1, 1), at(2026, 6, 1)) == (at(2026, 1, 1), at(2027, 1, 1))


def test_cron_catch_up_keeps_an_off_grid_next_run_at() -> None:
    """A next_run_at that is not a cron time (set by an older schedule) is itself the due slot."""
    hourly = Schedule.parse(None, "0 * * * *")
    odd = at(2026, 3, 1, 10, 20)
    assert due_slot(hourly, odd, at(2026, 3, 1, 10, 40)) == (odd, at(2026, 3, 1, 11, 0))


def test_cron_catch_up_after_a_year_of_minutes_is_bounded() -> None:
    """Cron catch-up looks backwards from now, so a year of missed minutes costs two look-ups."""
    every_minute = Schedule.parse(None, "* * * * *")
    latest, following = due_slot(every_minute, at(2025, 1, 1), at(2026, 1, 1, 0, 0, 59))
    assert (latest, following) == (at(2026, 1, 1, 0, 0), at(2026, 1, 1, 0, 1))


# --- naive datetimes -----------------------------------------------------------------------------


NAIVE = datetime(2026, 3, 1, 10, 0)


@pytest.mark.parametrize("schedule", [EVERY_MINUTE, Schedule.parse(None, "* * * * *")])
def test_naive_datetimes_are_refused(schedule: Schedule) -> None:
    """Every slot function raises ValueError on a naive datetime, for interval and cron alike."""
    with pytest.raises(ValueError, match="naive"):
        first_slot(schedule, NAIVE)
    with pytest.raises(ValueError, match="naive"):
        next_slot(schedule, NAIVE)
    with pytest.raises(ValueError, match="naive"):
        due_slot(schedule, NAIVE, at(2026, 3, 1))
    with pytest.raises(ValueError, match="naive"):
        due_slot(schedule, at(2026, 3, 1), NAIVE)
