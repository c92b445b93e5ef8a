"""Run summaries for the dashboard's overviews: the last run of each workflow on a page."""

from __future__ import annotations

from collections.abc import Sequence

from hourglass.domain.jobs import Job
from hourglass.services.accounts import Principal
from hourglass.store import runs as store
from hourglass.store.db import Database


class RunService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def last_runs(self, principal: Principal, workflow_ids: Sequence[str]) -> dict[str, Job]:
        """The newest job that started, per workflow of the caller (absent: never ran)."""
        async with self.db.read() as tx:
            return await store.last_runs(tx, principal.user_id, workflow_ids)
