"""Run summaries for the dashboard's overviews: the last run of each workflow on a page, and
each one's analytics over the last days (the figures `GET /analytics/{wid}?days=` gives, without
the daily series), read in two queries for the whole page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hourglass.domain.analytics import first_day, workflow_report
from hourglass.domain.common import Clock
from hourglass.domain.jobs import Job
from hourglass.services.accounts import Principal
from hourglass.store import runs as store
from hourglass.store.db import Database


class RunService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def last_runs(self, principal: Principal, workflow_ids: Sequence[str]) -> dict[str, Job]:
        """The newest job that started, per workflow of the caller (absent: never ran)."""
        async with self.db.read() as tx:
            return await store.last_runs(tx, principal.user_id, workflow_ids)

    async def window_reports(
        self, principal: Principal, workflow_ids: Sequence[str], days: int
    ) -> dict[str, dict[str, Any]]:
        """Each of the caller's `workflow_ids`' success rate, p50/p95 and jobs by status over
        the last `days` UTC days, as the analytics report has them (`daily` left empty)."""
        today = self.clock.now().date()
        async with self.db.read() as tx:
            rows = await store.stats_since(
                tx, principal.user_id, workflow_ids, first_day(today, days)
            )
            live = await store.live_counts(tx, principal.user_id, workflow_ids)
        return {
            workflow_id: workflow_report(
                rows.get(workflow_id, []), live.get(workflow_id, {}), days=None, today=today
            )
            | {"days": days}
            for workflow_id in workflow_ids
        }
