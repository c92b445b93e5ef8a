"""The set of services one process uses, built once from settings, database, bus and clock."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hourglass.domain.common import Clock, IdFactory, SystemClock, new_id
from hourglass.live import LiveBus, MemoryBus
from hourglass.services.accounts import AccountService
from hourglass.services.analytics import AnalyticsService
from hourglass.services.auth_cache import AuthCache
from hourglass.services.engine import Engine, Random
from hourglass.services.events import EventRecorder
from hourglass.services.idempotency import IdempotencyService
from hourglass.services.jobs import JobService
from hourglass.services.logs.reads import LogReads
from hourglass.services.logs.service import LogService
from hourglass.services.logs.summary import LogSummaries
from hourglass.services.metrics import Metrics
from hourglass.services.notifications import NotificationService
from hourglass.services.runs import RunService
from hourglass.services.webhooks import WebhookService
from hourglass.services.workflows import WorkflowService
from hourglass.settings import Settings
from hourglass.store.db import Database


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    db: Database
    clock: Clock
    bus: LiveBus
    accounts: AccountService
    engine: Engine
    jobs: JobService
    idempotency: IdempotencyService
    workflows: WorkflowService
    logs: LogService
    reads: LogReads  # one per process: live readers of a job share its store reads
    summaries: LogSummaries  # the log viewer's summaries, finished jobs' cached per process
    runs: RunService  # the dashboard's run summaries
    events: EventRecorder
    notifications: NotificationService
    analytics: AnalyticsService
    webhooks: WebhookService
    metrics: Metrics  # one registry per process: every component records into it

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        *,
        clock: Clock | None = None,
        ids: IdFactory = new_id,
        bus: LiveBus | None = None,
        rand: Random | None = None,
        metrics: Metrics | None = None,
    ) -> Services:
        """`clock`, `ids` and `rand` (retry jitter) are injected so tests can fix them."""
        clock = clock or SystemClock()
        bus = bus or MemoryBus()
        metrics = metrics or Metrics()
        events = EventRecorder(db, settings, ids, bus, metrics)
        engine = Engine(
            db,
            settings,
            clock,
            ids,
            bus,
            rand=rand or random.random,
            events=events,
            metrics=metrics,
        )
        idempotency = IdempotencyService(db, settings, clock)
        workflows = WorkflowService(db, settings, clock, ids, idempotency, events)
        workflows.on_changed = engine.on_workflow_changed
        return cls(
            settings=settings,
            db=db,
            clock=clock,
            bus=bus,
            accounts=AccountService(
                db, settings, clock, ids, cache=AuthCache(bus, settings.auth_cache_seconds)
            ),
            engine=engine,
            jobs=JobService(db, clock, engine, idempotency),
            idempotency=idempotency,
            workflows=workflows,
            logs=LogService(db, settings, clock, bus),
            reads=LogReads(db, bus, scan_budget_seconds=settings.log_scan_budget_seconds),
            summaries=LogSummaries(db),
            runs=RunService(db, clock),
            events=events,
            notifications=NotificationService(db, settings, clock, bus),
            analytics=AnalyticsService(db, clock),
            webhooks=WebhookService(db, settings, clock, ids, events),
            metrics=metrics,
        )

    def housekeeping(self) -> list[Callable[[], Awaitable[object]]]:
        """What the scheduler runs every minute: prune idempotency keys, sweep expired logs,
        delete old notifications and webhook deliveries."""
        return [
            self.idempotency.prune,
            self.logs.sweep_expired,
            self.notifications.sweep,
            self.webhooks.sweep,
        ]
