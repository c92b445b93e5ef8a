"""The duration buckets behind p50/p95: exact for short durations, 4.5 % wide beyond."""

from __future__ import annotations

from hourglass.domain.analytics import NO_DURATION, bucket_of, bucket_range, percentile


def test_short_durations_each_have_a_bucket_of_their_own() -> None:
    """Every whole millisecond from 0 to 20 falls in a bucket no other one shares."""
    buckets = [bucket_of(ms) for ms in range(21)]
    assert len(set(buckets)) == len(buckets)


def test_a_bucket_holds_its_values_and_spans_at_most_four_and_a_half_percent() -> None:
    """From 20 ms to a day, a duration lies in its bucket's range, which is ≤ 4.5 % wide."""
    ms = 20
    while ms < 86_400_000:
        low, high = bucket_range(bucket_of(ms))
        assert low <= ms < high, ms
        assert high - low <= 0.045 * (low + 1), ms
        ms = int(ms * 1.013) + 1


def test_percentile_is_the_mean_of_the_nearest_rank_bucket() -> None:
    """p50 of 1, 2, 3, 4 ms is 2 ms; a bucket of 1000 and 1010 ms reads 1005; jobs that never
    ran do not count; none gives None."""
    buckets = {bucket_of(ms): (1, ms) for ms in (1, 2, 3, 4)} | {NO_DURATION: (5, 0)}
    assert percentile(buckets, 0.5) == 2
    assert percentile(buckets, 0.95) == 4
    assert bucket_of(1000) == bucket_of(1010)
    assert percentile({bucket_of(1000): (2, 2010)}, 0.5) == 1005
    assert percentile({NO_DURATION: (3, 0)}, 0.5) is None
