"""What an event leaves behind, written in the transaction of the event itself: its notification,
the analytics count of a finished job, and the webhook deliveries it owes (the outbox).

Whatever commits the event commits these with it, and nothing else writes them: a notification
or a delivery is never lost (no second transaction that could fail) and never doubled (each is
unique per cause, and a lease-fenced retry of the event changes nothing). Callers hand the
`Effects` to `publish` once their transaction committed, to wake live readers and senders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hourglass.domain.analytics import count_of, duration_ms
from hourglass.domain.common import IdFactory
from hourglass.domain.events import (
    BuildChanged,
    Event,
    JobEnded,
    WorkflowTerminated,
    cause_of,
    notification_for,
    webhook_event_of,
)
from hourglass.domain.jobs import Job
from hourglass.domain.views import job_json, workflow_json
from hourglass.domain.webhooks import standard_body
from hourglass.live import LiveBus, Wakeup
from hourglass.services.metrics import Metrics
from hourglass.settings import Settings
from hourglass.store import analytics as analytics_store
from hourglass.store import notifications as notification_store
from hourglass.store import webhooks as webhook_store
from hourglass.store import workflows as workflow_store
from hourglass.store.db import Database, Tx

WEBHOOK_CHANNEL = "__webhooks__"
"""Bus channel that wakes webhook senders when deliveries were enqueued."""


def user_channel(user_id: str) -> str:
    """Bus channel of a user's new notifications (`last_seq` = the newest one's seq)."""
    return f"__notifications__:{user_id}"


@dataclass(slots=True)
class Effects:
    """What to announce once the transaction committed."""

    notified: dict[str, int] = field(default_factory=dict)  # user id -> last seq written
    deliveries: int = 0
    finished: list[JobEnded] = field(default_factory=list)

    def merge(self, other: Effects) -> None:
        for user_id, seq in other.notified.items():
            self.notified[user_id] = max(seq, self.notified.get(user_id, 0))
        self.deliveries += other.deliveries
        self.finished += other.finished


def _user_of(event: Event) -> str:
    return event.job.user_id if isinstance(event, JobEnded) else event.user_id


class EventRecorder:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        new_id: IdFactory,
        bus: LiveBus,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.new_id = new_id
        self.bus = bus
        self.metrics = metrics or Metrics()

    async def record(self, tx: Tx, events: Sequence[Event], now: datetime) -> Effects:
        """Write what `events` leave behind, inside the caller's transaction: its last writes,
        since the user's notification counter is locked from the first of them to the commit."""
        effects = Effects()
        if not events:
            return effects
        effects.notified, hooked = await self._notify(tx, events, now)
        for event in events:
            if isinstance(event, JobEnded):
                job = event.job
                await analytics_store.add_job(
                    self.db, tx, job.user_id, job.workflow_id, count_of(job)
                )
                effects.finished.append(event)
        if hooked:
            effects.deliveries = await self._enqueue(tx, events, hooked, now)
        return effects

    async def job_ends(self, tx: Tx, jobs: Sequence[Job]) -> list[JobEnded]:
        """`JobEnded` events for jobs that just ended, named after their workflows."""
        if not jobs:
            return []
        named = await workflow_store.names(tx, {job.workflow_id for job in jobs})
        return [JobEnded(job, *named.get(job.workflow_id, ("", ""))) for job in jobs]

    async def _notify(
        self, tx: Tx, events: Sequence[Event], now: datetime
    ) -> tuple[dict[str, int], set[str]]:
        """Write the events' notifications; (last seq by user, the users with webhooks)."""
        drafts = [notification_for(event) for event in events]
        by_user: dict[str, int] = {}
        for draft in drafts:
            by_user[draft.user_id] = by_user.get(draft.user_id, 0) + 1
        last: dict[str, int] = {}
        hooked: set[str] = set()
        for user_id in sorted(by_user):  # one order for every writer
            last[user_id], has_webhooks = await notification_store.reserve_seqs(
                self.db, tx, user_id, by_user[user_id]
            )
            if has_webhooks:
                hooked.add(user_id)
        next_seq = {user_id: last[user_id] - by_user[user_id] + 1 for user_id in last}
        rows = []
        for draft in drafts:
            rows.append((self.new_id(), next_seq[draft.user_id], draft))
            next_seq[draft.user_id] += 1
        await notification_store.insert(self.db, tx, rows, now)
        return last, hooked

    async def _enqueue(
        self, tx: Tx, events: Sequence[Event], users: set[str], now: datetime
    ) -> int:
        """Put a delivery in the outbox for each (event, enabled webhook subscribed to it) of
        `users`; how many."""
        typed = [
            (e, t)
            for e in events
            if (t := webhook_event_of(e)) is not None and _user_of(e) in users
        ]
        if not typed:
            return 0
        hooks = await webhook_store.subscribed(tx, {_user_of(e) for e, _ in typed})
        rows: list[webhook_store.NewDelivery] = []
        for event, event_type in typed:
            targets = [
                h for h in hooks if h.user_id == _user_of(event) and event_type.value in h.events
            ]
            if not targets:
                continue
            body = standard_body(event_type.value, now, await self._data(tx, event))
            cause = cause_of(event)
            rows += [
                webhook_store.NewDelivery(self.new_id(), h.id, cause, event_type.value, body)
                for h in targets
            ]
        if rows:
            await webhook_store.enqueue(self.db, tx, rows, now)
        return len(rows)

    async def _data(self, tx: Tx, event: Event) -> dict[str, Any]:
        """A webhook body's `data`: the job or workflow as the API shows it, plus links."""
        base = self.settings.public_base_url
        if isinstance(event, JobEnded):
            job = event.job
            path = f"workflows/{job.workflow_id}/jobs/{job.id}"
            return {
                **job_json(job),
                "workflow_name": event.workflow_name,
                "dashboard_url": f"{base}/ui/{path}",
                "log_url": f"{base}/{path}/logs/raw",
            }
        assert isinstance(event, BuildChanged | WorkflowTerminated)
        workflow = await workflow_store.get_owned(self.db, tx, event.user_id, event.workflow_id)
        shown = workflow_json(workflow) if workflow is not None else {"id": event.workflow_id}
        return {**shown, "dashboard_url": f"{base}/ui/workflows/{event.workflow_id}"}

    async def publish(self, effects: Effects) -> None:
        """Count the jobs that ended; wake the live readers of the users notified, and the
        webhook senders."""
        for ended in effects.finished:
            ms = duration_ms(ended.job)
            seconds = ms / 1000 if ms is not None else None
            self.metrics.job_finished(ended.kind or "?", ended.job.status.value, seconds)
        for user_id, seq in effects.notified.items():
            await self.bus.publish(Wakeup(user_channel(user_id), last_seq=seq))
        if effects.deliveries:
            await self.bus.publish(Wakeup(WEBHOOK_CHANNEL))
