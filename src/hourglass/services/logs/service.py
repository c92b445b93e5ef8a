"""`LogService`: the log use cases one process serves, under one name for the composition root.

Reading pages and search (`pages`), writing the output of job attempts (`outputs`, a
`writer.LogOutputs`), and keeping logs only as long as asked (`retention`). The streamed reads
(download, live events) are `reads.LogReads`, one per process so live readers share its reads.
"""

from __future__ import annotations

from datetime import datetime

from hourglass.domain.common import Clock
from hourglass.live import LiveBus
from hourglass.services.logs import pages, retention
from hourglass.services.logs.pages import LogPage
from hourglass.services.logs.params import PageParams, SearchParams
from hourglass.services.logs.writer import LogOutputs
from hourglass.settings import Settings
from hourglass.store.db import Database


class LogService:
    """Reading job logs (page, search), keeping them (retention), and writing them (`outputs`)."""

    def __init__(self, db: Database, settings: Settings, clock: Clock, bus: LiveBus) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.outputs = LogOutputs(db, settings, clock, bus)

    async def page(
        self, user_id: str, workflow_id: str, job_id: str, params: PageParams
    ) -> LogPage:
        """`GET …/logs` (see `pages.page`)."""
        return await pages.page(self.db, user_id, workflow_id, job_id, params)

    async def search(
        self, user_id: str, workflow_id: str, job_id: str, params: SearchParams
    ) -> LogPage:
        """`GET …/logs/search` (see `pages.search`)."""
        budget = self.settings.log_scan_budget_seconds
        return await pages.search(
            self.db, user_id, workflow_id, job_id, params, budget_seconds=budget
        )

    async def sweep_expired(
        self, now: datetime | None = None, *, batch: int = retention.SWEEP_BATCH
    ) -> int:
        """Delete expired logs (see `retention.sweep_expired`); how many jobs were cleaned up."""
        return await retention.sweep_expired(self.db, now or self.clock.now(), batch=batch)
