"""Webhooks: what their owners manage (create, read, change, delete, test, the deliveries list),
and what senders do with the outbox (claim due deliveries, record each attempt).

A delivery is enqueued by the `EventRecorder` in its event's transaction. Senders (the
`runtime.webhooks.Dispatcher` of every worker process) claim due ones under a lease and record
each attempt, fenced by the lease's token: delivered, retried later (`DeliveryPolicy`), or
failed for good. Every failed attempt extends the webhook's run of failures; a run long enough
(`should_disable`) turns the webhook off, fails its pending deliveries and tells its owner with
a WEB_ALERT notification, in that same transaction. One success ends the run.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from hourglass.domain.common import Clock, IdFactory, is_valid_id
from hourglass.domain.cursors import decode_cursor, encode_cursor
from hourglass.domain.events import TEST_EVENT, WebhookDisabled
from hourglass.domain.notifications import parse_limit
from hourglass.domain.outbound import OutboundPolicy
from hourglass.domain.webhooks import (
    DEFAULT_DELIVERY_POLICY,
    PER_USER_MAX,
    Attempt,
    Claimed,
    Delivery,
    DeliveryPolicy,
    Webhook,
    new_secret,
    should_disable,
    spec_for_create,
    spec_for_patch,
    standard_body,
)
from hourglass.errors import Conflict, NotFound, ValidationError
from hourglass.services.events import Effects, EventRecorder
from hourglass.services.notifications import SWEEP_BATCH, sweep_batches
from hourglass.settings import Settings, is_loopback
from hourglass.store import webhooks as store
from hourglass.store.db import Database, Tx

_NOT_FOUND = "webhook not found"


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    deliveries: list[Delivery]
    cursor: str | None


class WebhookService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        new_id: IdFactory,
        events: EventRecorder,
        *,
        policy: DeliveryPolicy = DEFAULT_DELIVERY_POLICY,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.new_id = new_id
        self.events = events
        self.policy = policy
        self.rand = rand
        # the policy `runtime.outbound.policy_of` gives senders; here for the check on saving
        self.outbound = OutboundPolicy.for_instance(
            loopback_only=is_loopback(settings.host), allow=settings.outbound_allow
        )

    # what owners do

    async def create(self, user_id: str, body: Mapping[str, Any]) -> tuple[Webhook, str]:
        """A new webhook and its secret (returned this once)."""
        spec = spec_for_create(body, self.outbound)
        secret = new_secret(secrets.token_bytes(32))
        async with self.db.write() as tx:
            if await store.count_for_user(tx, user_id) >= PER_USER_MAX:
                raise Conflict(f"a user may have at most {PER_USER_MAX} webhooks")
            hook = await store.insert(
                tx,
                id=self.new_id(),
                user_id=user_id,
                spec=spec,
                secret=secret,
                now=self.clock.now(),
            )
        return hook, secret

    async def owned(self, user_id: str) -> list[Webhook]:
        """The caller's webhooks, newest first."""
        async with self.db.read() as tx:
            return await store.list_for_user(tx, user_id)

    async def get(self, user_id: str, webhook_id: str) -> Webhook:
        async with self.db.read() as tx:
            return await self._owned(tx, user_id, webhook_id)

    async def _owned(self, tx: Tx, user_id: str, webhook_id: str) -> Webhook:
        hook = None
        if is_valid_id(webhook_id):
            hook = await store.get_owned(tx, user_id, webhook_id.upper())
        if hook is None:
            raise NotFound(_NOT_FOUND)
        return hook

    async def update(self, user_id: str, webhook_id: str, body: Mapping[str, Any]) -> Webhook:
        """Change some fields; `enabled: true` turns it back on with a clean failure record."""
        async with self.db.write() as tx:
            current = await self._owned(tx, user_id, webhook_id)
            spec, enabled = spec_for_patch(body, current, self.outbound)
            updated = await store.replace(tx, user_id, current.id, spec, enabled, self.clock.now())
        if updated is None:
            raise NotFound(_NOT_FOUND)
        return updated

    async def delete(self, user_id: str, webhook_id: str) -> None:
        """Delete a webhook with its deliveries (a delivery in flight is then dropped)."""
        async with self.db.write() as tx:
            hook = await self._owned(tx, user_id, webhook_id)
            await store.delete_owned(tx, user_id, hook.id)

    async def deliveries(
        self, user_id: str, webhook_id: str, *, cursor: str | None, limit: str | None
    ) -> DeliveryPage:
        """The webhook's deliveries, newest first, each with its last attempt."""
        async with self.db.read() as tx:
            hook = await self._owned(tx, user_id, webhook_id)
            size = parse_limit(limit)
            bound_to = {"webhook": hook.id}
            before = decode_cursor(cursor, bound_to)
            if before is not None and not (isinstance(before, str) and is_valid_id(before)):
                raise ValidationError.field("cursor", "malformed cursor")
            rows = await store.deliveries_page(tx, hook.id, before_id=before, limit=size + 1)
        page = rows[:size]
        more = len(rows) > size
        return DeliveryPage(page, encode_cursor(page[-1].id, bound_to) if more else None)

    async def test(self, user_id: str, webhook_id: str) -> Delivery:
        """Enqueue a `webhook.test` delivery (sent whatever the webhook's events, even off)."""
        now = self.clock.now()
        delivery_id = self.new_id()
        async with self.db.write() as tx:
            hook = await self._owned(tx, user_id, webhook_id)
            body = standard_body(TEST_EVENT, now, {"webhook_id": hook.id, "url": hook.url})
            row = store.NewDelivery(delivery_id, hook.id, f"test:{delivery_id}", TEST_EVENT, body)
            await store.enqueue(self.db, tx, [row], now)
            delivery = await store.get_delivery(tx, delivery_id)
        assert delivery is not None
        await self.events.publish(Effects(deliveries=1))
        return delivery

    # what senders do

    @property
    def lease(self) -> timedelta:
        """How long a claim holds a delivery: twice the request timeout."""
        return timedelta(seconds=2 * self.settings.webhook_timeout_seconds)

    async def claim(self, limit: int) -> list[Claimed]:
        now = self.clock.now()
        token = secrets.token_hex(16)

        async def work(tx: Tx) -> list[Claimed]:
            return await store.claim(
                self.db, tx, token=token, now=now, lease_until=now + self.lease, limit=limit
            )

        return await self.db.write_retrying(work)

    async def record(self, claimed: Claimed, attempt: Attempt) -> bool:
        """Record one attempt (see the module docstring); False if the lease was lost."""
        now = attempt.at
        retry_at = None
        if not attempt.ok:
            delay = self.policy.delay(claimed.attempts, self.rand())
            retry_at = now + timedelta(seconds=delay) if delay is not None else None

        async def work(tx: Tx) -> tuple[bool, Effects]:
            if not await store.finish(tx, claimed, attempt, retry_at=retry_at):
                return False, Effects()
            if attempt.ok:
                await store.record_success(tx, claimed.webhook_id, now)
                return True, Effects()
            return True, await self._count_failure(tx, claimed, now)

        recorded, effects = await self.db.write_retrying(work)
        await self.events.publish(effects)
        return recorded

    async def _count_failure(self, tx: Tx, claimed: Claimed, now: datetime) -> Effects:
        hook = await store.record_failure(tx, claimed.webhook_id, now)
        if hook is None or not hook.enabled:
            return Effects()
        span = timedelta(seconds=self.settings.webhook_disable_after_seconds)
        after = self.settings.webhook_disable_after_failures
        if not should_disable(hook.failure_count, hook.failing_since, now, after=after, span=span):
            return Effects()
        assert hook.failing_since is not None
        reason = f"webhook disabled after {hook.failure_count} failed attempts in a row"
        if not await store.disable(tx, hook.id, now, reason):
            return Effects()
        host = urlsplit(hook.url).hostname or "?"
        event = WebhookDisabled(hook.id, hook.user_id, host, hook.failure_count, hook.failing_since)
        return await self.events.record(tx, [event], now)

    async def seconds_until_due(self) -> float | None:
        """How long until the soonest pending delivery is due (None: none is pending)."""
        async with self.db.read() as tx:
            due = await store.next_due(tx)
        if due is None:
            return None
        return max(0.0, (due - self.clock.now()).total_seconds())

    async def sweep(self) -> int:
        """Delete finished deliveries older than the notification retention (housekeeping)."""
        cutoff = self.clock.now() - timedelta(days=self.settings.notification_retention_days)
        return await sweep_batches(self.db, lambda tx: store.delete_older(tx, cutoff, SWEEP_BATCH))
