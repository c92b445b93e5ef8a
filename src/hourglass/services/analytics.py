"""Analytics as users read them: totals over all their workflows, and one workflow's figures
(optionally over the last N days, with a daily series). The counts are written by the
`EventRecorder` in each job's finishing transaction; here they are only summed."""

from __future__ import annotations

from typing import Any

from hourglass.domain.analytics import first_day, parse_days, totals, workflow_report
from hourglass.domain.common import Clock, is_valid_id
from hourglass.errors import NotFound
from hourglass.store import analytics as store
from hourglass.store.db import Database


class AnalyticsService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def summary(self, user_id: str) -> dict[str, Any]:
        """`total_workflows` (those the user has now) and the totals of every job counted."""
        async with self.db.read() as tx:
            workflows = await store.count_workflows(tx, user_id)
            rows = await store.user_rows(tx, user_id)
        return {"total_workflows": workflows, **totals(rows)}

    async def workflow(self, user_id: str, workflow_id: str, days: str | None) -> dict[str, Any]:
        """One workflow's totals (all time) and report (the last `days` days, else all time);
        a deleted workflow still answers from its counts. 404 if it is not (or was not) theirs."""
        if not is_valid_id(workflow_id):
            raise NotFound("workflow not found")
        workflow_id = workflow_id.upper()
        async with self.db.read() as tx:
            if not await store.known_workflow(tx, user_id, workflow_id):
                raise NotFound("workflow not found")
            window = parse_days(days)
            today = self.clock.now().date()
            rows = await store.workflow_rows(tx, user_id, workflow_id)
            live = await store.live_counts(tx, workflow_id)
        since = first_day(today, window) if window is not None else None
        in_window = [r for r in rows if since is None or r.day >= since]
        return {
            "workflow_id": workflow_id,
            **totals(rows),
            **workflow_report(in_window, live, days=window, today=today),
        }
