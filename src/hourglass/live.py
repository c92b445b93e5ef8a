"""The live bus: wake-ups for live readers, in-process or through Redis pub/sub.

It carries *wake-ups, not data*: "job J has lines up to seq N" or "job J changed status". A reader
woken up reads the store after the last sequence number it sent, so a lost or duplicated wake-up
can never lose or duplicate a line. One Redis connection per process fans out to any number of
local subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("hourglass.live")

CHANNEL_PREFIX = "hourglass:job:"


@dataclass(frozen=True, slots=True)
class Wakeup:
    job_id: str
    last_seq: int | None = None  # set for new lines
    status: str | None = None  # set for a status change


class Subscription:
    """A per-reader mailbox: `wait()` returns when something happened to the job (or times out).

    A wake-up that arrives while nobody waits is kept until the next `wait()`. Waiting costs one
    future and one timer handle (no `asyncio.timeout` scope): with hundreds of live readers on
    one job, every wake-up wakes each of them.
    """

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.last_seq = 0
        self.status: str | None = None
        # bumped by every status wake-up, so a reader can tell one happened since it last looked
        self.status_version = 0
        self._pending = False
        self._waiters: list[asyncio.Future[bool]] = []

    def _deliver(self, wakeup: Wakeup) -> None:
        if wakeup.last_seq is not None and wakeup.last_seq > self.last_seq:
            self.last_seq = wakeup.last_seq
        if wakeup.status is not None:
            self.status = wakeup.status
            self.status_version += 1
        self._pending = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(True)

    async def wait(self, timeout: float) -> bool:
        """True if woken up, False on timeout; either way the reader re-reads the store."""
        if not self._pending:
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[bool] = loop.create_future()
            self._waiters.append(waiter)
            timer = loop.call_later(timeout, _expire, waiter)
            try:
                if not await waiter:
                    return False
            finally:
                timer.cancel()
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        self._pending = False
        return True


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class LiveBus(Protocol):
    async def publish(self, wakeup: Wakeup) -> None: ...

    def subscribe(self, job_id: str) -> contextlib.AbstractAsyncContextManager[Subscription]: ...

    async def close(self) -> None: ...

    def subscriber_count(self) -> int: ...

    def epoch(self) -> int | None:
        """A number that changes whenever this bus may have missed a wake-up published
        elsewhere (a lost and re-made Redis connection); None while it may be missing them
        now. What a process caches on the word of the bus (`services/auth_cache.py`) is only
        good within one epoch."""
        ...


class _Fanout:
    """Local subscribers by job id."""

    def __init__(self) -> None:
        self.by_job: dict[str, set[Subscription]] = {}

    def add(self, sub: Subscription) -> bool:
        subs = self.by_job.setdefault(sub.job_id, set())
        subs.add(sub)
        return len(subs) == 1

    def remove(self, sub: Subscription) -> bool:
        subs = self.by_job.get(sub.job_id)
        if subs is None:
            return False
        subs.discard(sub)
        if not subs:
            del self.by_job[sub.job_id]
            return True
        return False

    def deliver(self, wakeup: Wakeup) -> None:
        for sub in self.by_job.get(wakeup.job_id, ()):
            sub._deliver(wakeup)

    def count(self) -> int:
        return sum(len(s) for s in self.by_job.values())


class MemoryBus:
    """For one process (`hourglass up`): publish delivers straight to local subscribers."""

    def __init__(self) -> None:
        self._fanout = _Fanout()

    async def publish(self, wakeup: Wakeup) -> None:
        self._fanout.deliver(wakeup)

    @contextlib.asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[Subscription]:
        sub = Subscription(job_id)
        self._fanout.add(sub)
        try:
            yield sub
        finally:
            self._fanout.remove(sub)

    async def close(self) -> None:
        return None

    def subscriber_count(self) -> int:
        return self._fanout.count()

    def epoch(self) -> int | None:
        return 0  # a publish reaches every subscriber before it returns


class RedisBus:
    """Across processes: Redis pub/sub, one channel per job, one connection per process.

    `subscribe` returns once Redis has confirmed the channel subscription, so every wake-up
    published after it returns reaches the subscriber: a reader that subscribes and then reads
    the store can never miss the wake-up of a line committed after that read.
    """

    CONFIRM_TIMEOUT = 5.0

    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        self._redis: Any = Redis.from_url(url)
        self._pubsub: Any = self._redis.pubsub()
        self._fanout = _Fanout()
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        # per channel, one future per SUBSCRIBE sent, resolved by its confirmation (in order)
        self._confirming: dict[str, list[asyncio.Future[None]]] = {}
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        # `epoch()`: bumped at every read failure and re-subscription; `_live` once Redis
        # confirmed a subscription on the current connection
        self._epoch = 0
        self._live = False

    async def publish(self, wakeup: Wakeup) -> None:
        message = json.dumps({"s": wakeup.last_seq, "st": wakeup.status})
        try:
            await self._redis.publish(CHANNEL_PREFIX + wakeup.job_id, message)
        except Exception:  # a lost wake-up only delays readers until their next poll
            log.warning("could not publish wake-up for job %s", wakeup.job_id, exc_info=True)

    @contextlib.asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[Subscription]:
        sub = Subscription(job_id)
        channel = CHANNEL_PREFIX + job_id
        async with self._lock:
            if self._fanout.add(sub):
                confirmed = asyncio.get_running_loop().create_future()
                self._confirming.setdefault(channel, []).append(confirmed)
                self._confirmed[channel] = confirmed
                try:
                    await self._pubsub.subscribe(channel)
                except BaseException:
                    self._fanout.remove(sub)
                    self._drop_confirmation(channel, confirmed)
                    raise
            confirmed = self._confirmed[channel]
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read())
        try:
            await self._wait_confirmed(channel, confirmed)
            yield sub
        finally:
            async with self._lock:
                if self._fanout.remove(sub):
                    self._confirmed.pop(channel, None)
                    with contextlib.suppress(Exception):
                        await self._pubsub.unsubscribe(channel)

    async def _wait_confirmed(self, channel: str, confirmed: asyncio.Future[None]) -> None:
        try:
            async with asyncio.timeout(self.CONFIRM_TIMEOUT):
                await asyncio.shield(confirmed)
        except TimeoutError:
            # readers still poll the store at every keep-alive; they are only slower to wake
            log.warning("redis did not confirm the subscription to %s in time", channel)

    def _drop_confirmation(self, channel: str, confirmed: asyncio.Future[None]) -> None:
        waiting = self._confirming.get(channel, [])
        if confirmed in waiting:
            waiting.remove(confirmed)
        if not waiting:
            self._confirming.pop(channel, None)
        if self._confirmed.get(channel) is confirmed:
            del self._confirmed[channel]

    def _on_subscribed(self, channel: str) -> None:
        waiting = self._confirming.get(channel)
        if not self._live or not waiting:
            # a first subscription, or redis-py re-subscribing every channel on a new
            # connection (one command, before any other; at least one of them has no one
            # waiting): wake-ups flow again, but those sent meanwhile were lost
            self._epoch += 1
        self._live = True
        if not waiting:
            return  # a re-subscription after a reconnect
        future = waiting.pop(0)
        if not waiting:
            del self._confirming[channel]
        if not future.done():
            future.set_result(None)

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._lost()
                log.warning("redis pub/sub read failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            if message is None:
                if not self._fanout.by_job and not self._confirming:
                    self._lost()
                    return
                continue
            kind = message["type"]
            kind = kind.decode() if isinstance(kind, bytes) else kind
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else str(channel)
            if kind == "subscribe":
                self._on_subscribed(channel)
                continue
            if kind != "message":
                continue
            try:
                data = json.loads(message["data"])
            except ValueError:
                log.warning("ignoring a malformed wake-up on %s", channel)
                continue
            job_id = channel.removeprefix(CHANNEL_PREFIX)
            self._fanout.deliver(Wakeup(job_id, data.get("s"), data.get("st")))

    def _lost(self) -> None:
        self._live = False
        self._epoch += 1

    def epoch(self) -> int | None:
        connection = self._pubsub.connection
        if not self._live or connection is None or not connection.is_connected:
            return None
        return self._epoch

    async def close(self) -> None:
        self._lost()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        await self._redis.aclose()

    def subscriber_count(self) -> int:
        return self._fanout.count()


def make_bus(redis_url: str | None) -> LiveBus:
    return RedisBus(redis_url) if redis_url else MemoryBus()
