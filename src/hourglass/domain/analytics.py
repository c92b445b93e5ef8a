"""Analytics: how finished jobs are counted, and how the answers are made from the counts. Pure.

Every job is counted once, when it reaches its final status (however many attempts it took),
into one row per (workflow, UTC day of its end, status, duration bucket): jobs, milliseconds,
log lines and bytes. Rows outlive their workflow, so the figures stay readable after a delete.

Durations (completed_at - started_at, all attempts of the job) fall into log-scale buckets,
`BUCKETS_PER_DOUBLING` per doubling: every duration below ~20 ms has a bucket of its own and a
bucket never spans more than 4.5 % of its values. A p50/p95 is the mean duration of the bucket
that holds the nearest-rank percentile's job: within 4.5 % of the exact value, and exact when the
jobs of that bucket took the same time (a single job, say). Jobs canceled before they started
have no duration (bucket `NO_DURATION`): they count as jobs, not in durations or percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

from hourglass.domain.jobs import FINISHED, Job, JobStatus
from hourglass.errors import ValidationError

BUCKETS_PER_DOUBLING: Final = 16
NO_DURATION: Final = -1
DAYS_MAX: Final = 366
_FINAL: Final = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)
_LIVE: Final = (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING)


def duration_ms(job: Job) -> int | None:
    """How long the job ran, in whole milliseconds (None if it never started)."""
    if job.started_at is None or job.completed_at is None:
        return None
    return max(0, int((job.completed_at - job.started_at) / timedelta(milliseconds=1)))


def bucket_of(ms: int | None) -> int:
    if ms is None:
        return NO_DURATION
    return math.floor(math.log2(ms + 1) * BUCKETS_PER_DOUBLING)


def bucket_range(bucket: int) -> tuple[float, float]:
    """The durations (ms) a bucket holds: from the first value up to (not including) the second."""
    return (
        2 ** (bucket / BUCKETS_PER_DOUBLING) - 1,
        2 ** ((bucket + 1) / BUCKETS_PER_DOUBLING) - 1,
    )


def day_of(moment: datetime) -> str:
    return moment.date().isoformat()


@dataclass(frozen=True, slots=True)
class JobCount:
    """What one finished job adds to its workflow's counts."""

    day: str
    status: JobStatus
    bucket: int
    duration_ms: int
    log_lines: int
    log_bytes: int


def count_of(job: Job) -> JobCount:
    if job.status not in FINISHED or job.completed_at is None:
        raise ValueError("only a finished job is counted")
    ms = duration_ms(job)
    return JobCount(
        day=day_of(job.completed_at),
        status=job.status,
        bucket=bucket_of(ms),
        duration_ms=ms or 0,
        log_lines=job.log_lines,
        log_bytes=job.log_bytes,
    )


@dataclass(frozen=True, slots=True)
class StatsRow:
    """One stored row of counts (summed over whatever the query grouped)."""

    day: str
    status: str
    bucket: int
    jobs: int
    duration_ms: int
    log_lines: int


def percentile(buckets: Mapping[int, tuple[int, int]], q: float) -> int | None:
    """The `q` percentile of the durations counted in `buckets` (bucket → (jobs, ms in all)):
    the mean of the bucket holding the nearest-rank job. None when no job has a duration."""
    total = sum(jobs for b, (jobs, _) in buckets.items() if b != NO_DURATION)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(b for b in buckets if b != NO_DURATION):
        jobs, ms = buckets[bucket]
        seen += jobs
        if seen >= rank:
            return round(ms / jobs)
    raise AssertionError("unreachable")


def parse_days(raw: str | None) -> int | None:
    """`days`: absent (all time) or a whole number from 1 to `DAYS_MAX`."""
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= DAYS_MAX:
        raise ValidationError.field("days", f"must be a whole number from 1 to {DAYS_MAX}")
    return int(raw)


def first_day(today: date, days: int) -> str:
    """The first UTC day of a window of `days` days ending today."""
    return (today - timedelta(days=days - 1)).isoformat()


@dataclass(slots=True)
class _Tally:
    jobs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_FINAL, 0))
    buckets: dict[int, tuple[int, int]] = field(default_factory=dict)  # → (jobs, ms)
    duration_ms: int = 0
    log_lines: int = 0

    def add(self, row: StatsRow) -> None:
        self.jobs[row.status] = self.jobs.get(row.status, 0) + row.jobs
        jobs, ms = self.buckets.get(row.bucket, (0, 0))
        self.buckets[row.bucket] = (jobs + row.jobs, ms + row.duration_ms)
        self.duration_ms += row.duration_ms
        self.log_lines += row.log_lines

    def shape(self) -> dict[str, Any]:
        return {
            "p50_ms": percentile(self.buckets, 0.50),
            "p95_ms": percentile(self.buckets, 0.95),
        }


def totals(rows: Iterable[StatsRow]) -> dict[str, Any]:
    """The compatible figures: jobs finished, their log lines, run time in seconds (and ms)."""
    tally = _Tally()
    for row in rows:
        tally.add(row)
    return {
        "total_jobs": sum(tally.jobs.values()),
        "total_joblogs": tally.log_lines,
        "total_job_execution_duration": round(tally.duration_ms / 1000, 3),
        "total_job_execution_duration_ms": tally.duration_ms,
    }


def workflow_report(
    rows: list[StatsRow], live: Mapping[str, int], *, days: int | None, today: date
) -> dict[str, Any]:
    """The figures beyond the totals, over `rows` (already limited to the window): success
    rate, p50/p95, jobs by status (waiting and running ones as they are now) and, for a
    window, one entry per day (days without jobs included)."""
    tally = _Tally()
    per_day: dict[str, _Tally] = {}
    for row in rows:
        tally.add(row)
        per_day.setdefault(row.day, _Tally()).add(row)
    done, failed = tally.jobs[JobStatus.COMPLETED], tally.jobs[JobStatus.FAILED]
    by_status = {s.value: live.get(s.value, 0) for s in _LIVE} | {
        s.value: tally.jobs[s] for s in _FINAL
    }
    daily = []
    if days is not None:
        for offset in range(days - 1, -1, -1):
            day = (today - timedelta(days=offset)).isoformat()
            one = per_day.get(day, _Tally())
            daily.append(
                {
                    "date": day,
                    "completed": one.jobs[JobStatus.COMPLETED],
                    "failed": one.jobs[JobStatus.FAILED],
                    "canceled": one.jobs[JobStatus.CANCELED],
                    **one.shape(),
                    "log_lines": one.log_lines,
                }
            )
    return {
        "days": days,
        "success_rate": round(done / (done + failed), 4) if done + failed else None,
        **tally.shape(),
        "jobs_by_status": by_status,
        "daily": daily,
    }
