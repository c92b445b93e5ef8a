"""The duration buckets behind p50/p95: exact for short durations, within 2.2 % beyond."""

from __future__ import annotations

from hourglass.domain.analytics import NO_DURATION, bucket_of, bucket_value, percentile


def test_short_durations_each_have_a_bucket_of_their_own() -> None:
    """Every whole millisecond from 0 to 20 reads back as itself."""
    assert [bucket_value(bucket_of(ms)) for ms in range(21)] == list(range(21))


def test_a_bucket_stands_for_its_values_within_two_point_two_percent() -> None:
    """From 20 ms to a day, a duration and its bucket's value differ by at most 2.2 %."""
    ms = 20
    while ms < 86_400_000:
        value = bucket_value(bucket_of(ms))
        assert abs(value - ms) <= 0.022 * ms + 1, ms
        ms = int(ms * 1.013) + 1


def test_percentile_is_nearest_rank_and_ignores_jobs_without_duration() -> None:
    """p50 of 1, 2, 3, 4 ms is 2 ms; jobs that never ran do not count; none gives None."""
    buckets = {bucket_of(ms): 1 for ms in (1, 2, 3, 4)} | {NO_DURATION: 5}
    assert percentile(buckets, 0.5) == 2
    assert percentile(buckets, 0.95) == 4
    assert percentile({NO_DURATION: 3}, 0.5) is None
