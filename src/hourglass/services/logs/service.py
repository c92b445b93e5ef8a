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
        self,
        user_id: str,
        workflow_id: str,
        job_id: str,
        *,
        cursor: str | None = None,
        limit: str | None = None,
        order: str | None = None,
        after: str | None = None,
        before: str | None = None,
        stream: str | None = None,
    ) -> LogPage:
        """`GET …/logs` (see `pages.page`)."""
        return await pages.page(
            self.db,
            user_id,
            workflow_id,
            job_id,
            cursor=cursor,
            limit=limit,
            order=order,
            after=after,
            before=before,
            stream=stream,
        )

    async def search(
        self,
        user_id: str,
        workflow_id: str,
        job_id: str,
        *,
        q: str | None = None,
        stream: str | None = None,
        regex: str | None = None,
        case_sensitive: str | None = None,
        cursor: str | None = None,
        limit: str | None = None,
        order: str | None = None,
    ) -> LogPage:
        """`GET …/logs/search` (see `pages.search`)."""
        return await pages.search(
            self.db,
            user_id,
            workflow_id,
            job_id,
            q=q,
            stream=stream,
            regex=regex,
            case_sensitive=case_sensitive,
            cursor=cursor,
            limit=limit,
            order=order,
        )

    async def sweep_expired(
        self, now: datetime | None = None, *, batch: int = retention.SWEEP_BATCH
    ) -> int:
        """Delete expired logs (see `retention.sweep_expired`); how many jobs were cleaned up."""
        return await retention.sweep_expired(self.db, now or self.clock.now(), batch=batch)
