"""The webhook sender of a worker process: claims due deliveries from the outbox and sends them,
up to `webhook_concurrency` at a time, through the outbound policy's checked HTTP client.

Each attempt is one POST: `webhook_timeout_seconds` in all, redirects not followed; at most
64 KiB of the answer are read (and dropped) so a connection can serve the next delivery. Any 2xx
is a delivery; anything else (another status, a timeout, a refused or failed connection) is a
failed attempt, retried by the service's policy. A sender that dies mid-attempt leaves the
delivery leased: it is claimed again when its lease runs out (at least once, never lost).

It wakes when a transaction enqueued deliveries (`WEBHOOK_CHANNEL`), when an attempt ends, when
the next retry is due, and at least every poll interval. On shutdown it stops claiming and
gives the attempts in flight the worker's grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

import httpx

from hourglass.domain.common import monotonic
from hourglass.domain.webhooks import (
    Attempt,
    Claimed,
    WebhookFormat,
    request_headers,
    slack_body,
)
from hourglass.runtime.outbound import OutboundRefused, outbound_client, policy_of
from hourglass.runtime.worker import subscribed
from hourglass.services.events import WEBHOOK_CHANNEL
from hourglass.services.metrics import Metrics
from hourglass.services.webhooks import WebhookService

log = logging.getLogger("hourglass.webhooks")

BODY_READ_MAX = 64 * 1024  # bytes of an answer read (then dropped) to keep its connection


class Dispatcher:
    def __init__(
        self,
        service: WebhookService,
        metrics: Metrics,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.service = service
        self.metrics = metrics
        self.settings = service.settings
        self.timeout = self.settings.webhook_timeout_seconds
        self.client = client or outbound_client(policy_of(self.settings), timeout=self.timeout)
        self._in_flight: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set, then let the attempts in flight end (within the grace)."""
        async with self.client, subscribed(self.service.events.bus, WEBHOOK_CHANNEL) as wakeups:
            while not stop.is_set():
                room = self.settings.webhook_concurrency - len(self._in_flight)
                # claims come in batches (a quarter of the slots at least): one transaction
                # per delivery to claim it would double the writes per delivery
                batch = (
                    room >= max(1, self.settings.webhook_concurrency // 4) or not self._in_flight
                )
                claimed = await self._claim(room) if room > 0 and batch else []
                for delivery in claimed:
                    task = asyncio.create_task(self.send(delivery))
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
                waits: list[Awaitable[Any]] = [stop.wait()]
                if self._in_flight:  # an attempt that ends frees a slot or schedules a retry
                    busy = set(self._in_flight)
                    waits.append(asyncio.wait(busy, return_when=asyncio.FIRST_COMPLETED))
                if batch and len(claimed) < room:
                    # nothing more is due: until told, or until the next retry is due
                    waits.append(wakeups.wait(await self._pause()))
                await _first(*waits)
            await self._drain()

    async def _claim(self, room: int) -> list[Claimed]:
        try:
            return await self.service.claim(room)
        except Exception:
            log.exception("claiming webhook deliveries failed; retrying after the poll interval")
            return []

    async def _pause(self) -> float:
        poll = self.settings.poll_interval_seconds
        try:
            due = await self.service.seconds_until_due()
        except Exception:
            log.warning("reading the next webhook retry failed; polling", exc_info=True)
            return poll
        return poll if due is None else max(0.01, min(poll, due))

    async def _drain(self) -> None:
        if not self._in_flight:
            return
        _, late = await asyncio.wait(
            set(self._in_flight), timeout=self.settings.shutdown_grace_seconds
        )
        for task in late:  # their leases run out and another sender retries them
            task.cancel()
        for task in late:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def send(self, delivery: Claimed) -> None:
        """One attempt, recorded; whatever fails is logged and left to the lease's expiry."""
        try:
            attempt = await self._post(delivery)
            self.metrics.webhook_deliveries.labels("delivered" if attempt.ok else "failed").inc()
            self.metrics.webhook_duration.observe(attempt.duration_ms / 1000)
            if not await self.service.record(delivery, attempt):
                log.warning("delivery %s: lease lost before its attempt was recorded", delivery.id)
        except Exception:
            log.exception("delivery %s: the attempt failed unexpectedly", delivery.id)

    async def _post(self, delivery: Claimed) -> Attempt:
        body = delivery.payload
        if delivery.format is WebhookFormat.SLACK:
            body = slack_body(body)
        content = body.encode()
        at = self.service.clock.now()
        headers = request_headers(delivery.secret, delivery.id, int(at.timestamp()), content)
        started = monotonic()
        status: int | None = None
        error: str | None = None
        try:
            async with (
                asyncio.timeout(self.timeout),
                self.client.stream("POST", delivery.url, content=content, headers=headers) as sent,
            ):
                status = sent.status_code
                await _drain_body(sent)
        except TimeoutError:
            error = f"timed out after {self.timeout:g}s"
        except OutboundRefused as exc:
            error = str(exc)
        except httpx.TimeoutException:
            error = f"timed out after {self.timeout:g}s"
        except httpx.HTTPError as exc:
            error = f"request failed: {exc or type(exc).__name__}"
        ms = int((monotonic() - started) * 1000)
        ok = status is not None and 200 <= status < 300
        if status is not None and not ok:
            redirect = 300 <= status < 400
            error = f"HTTP {status}" + (" (redirects are not followed)" if redirect else "")
        return Attempt(at=at, status_code=status, error=error, duration_ms=ms, ok=ok)


async def _drain_body(response: httpx.Response) -> None:
    """Read (and drop) a short answer, so its connection serves the next delivery; a long one
    is cut off with its connection."""
    read = 0
    async for piece in response.aiter_raw():
        read += len(piece)
        if read > BODY_READ_MAX:
            return


async def _first(*waits: Awaitable[Any]) -> None:
    """Wait until the first of `waits` is done; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
