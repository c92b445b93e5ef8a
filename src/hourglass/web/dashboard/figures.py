"""Analytics as the dashboard shows them: figures in words, and the daily series its charts
draw (js/charts.js). Pure: the reports are the analytics service's, as the API answers them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from hourglass.web.dashboard.views import duration_words

DAY_CHOICES: Final = (7, 30, 90)
DEFAULT_DAYS: Final = "30"
FINAL: Final = ("COMPLETED", "FAILED", "CANCELED")
WAITING: Final = ("PENDING", "QUEUED")


def percent(rate: float | None) -> str:
    """ "92.3 %", "100 %"; "—" when there is no rate (no completed or failed job)."""
    if rate is None:
        return "—"
    text = f"{rate * 100:.1f}".removesuffix(".0")
    return f"{text} %"


def millis(ms: int | None) -> str:
    return duration_words(None if ms is None else ms / 1000)


def finished(report: Mapping[str, Any]) -> int:
    """Jobs that ended in the report's window."""
    by_status: Mapping[str, int] = report["jobs_by_status"]
    return sum(by_status[s] for s in FINAL)


def _rate(day: Mapping[str, Any]) -> float | None:
    done, failed = day["completed"], day["failed"]
    return round(done / (done + failed), 4) if done + failed else None


def _unix(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def series(report: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The report's daily entries as columns: x (each UTC day's midnight, Unix seconds), runs by
    status, the day's success rate (None without completed or failed jobs), p50/p95 in ms."""
    daily: list[Mapping[str, Any]] = report["daily"]
    return {
        "x": [_unix(d["date"]) for d in daily],
        "completed": [d["completed"] for d in daily],
        "failed": [d["failed"] for d in daily],
        "canceled": [d["canceled"] for d in daily],
        "rate": [_rate(d) for d in daily],
        "p50": [d["p50_ms"] for d in daily],
        "p95": [d["p95_ms"] for d in daily],
    }


def day_options(days: int | None) -> list[int]:
    """The days selector's choices, with the asked-for window when it is another (`?days=14`)."""
    if days is None or days in DAY_CHOICES:
        return list(DAY_CHOICES)
    return sorted({*DAY_CHOICES, days})
