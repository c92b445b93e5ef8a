"""The scheduler loop: turn due slots into jobs, queue what may run, recover dead workers' jobs,
and sweep what has expired. Any number of schedulers may run against one PostgreSQL: every step
is safe to run twice at once (unique slot keys, compare-and-set, fenced updates).

Each step and each housekeeping task runs on its own: one that fails is logged and the others
still run, so a broken idempotency prune cannot stop the log retention sweep (or scheduling).
It wakes when a workflow's schedule may have changed (`SCHEDULE_CHANNEL`), when the next slot
is due, and at least every poll interval; not for every job that starts or ends (a finish queues
the next job itself). Without a reachable bus the loop polls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from hourglass.runtime.worker import subscribed
from hourglass.services.engine import SCHEDULE_CHANNEL, Engine

log = logging.getLogger("hourglass.scheduler")

Housekeeping = Callable[[], Awaitable[object]]


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        *,
        housekeeping: list[Housekeeping] | None = None,
        housekeeping_every: float = 60.0,
    ) -> None:
        self.engine = engine
        self.housekeeping = housekeeping or []
        self.housekeeping_every = housekeeping_every

    async def tick(self) -> None:
        """One pass over everything due; safe to call from tests with a frozen clock."""
        for step in (
            self.engine.recover_expired,
            self.engine.schedule_due,
            self.engine.promote_due,
        ):
            await _isolated(step)

    async def housekeep(self) -> None:
        """Run every housekeeping task once, each whatever the others did."""
        for task in self.housekeeping:
            await _isolated(task)

    async def _pause(self, interval: float) -> float:
        """Sleep until the next slot is due, so a due job starts on time (the poll is a cap)."""
        try:
            until_slot = await self.engine.seconds_until_next_slot()
        except Exception:
            log.warning("reading the next slot failed; polling", exc_info=True)
            return interval
        if until_slot is None:
            return interval
        # a floor, so a slot that keeps failing to schedule cannot spin this loop
        return max(0.05, min(interval, until_slot))

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.engine.settings.poll_interval_seconds
        loop = asyncio.get_running_loop()
        next_housekeeping = loop.time()
        async with subscribed(self.engine.bus, SCHEDULE_CHANNEL) as wakeups:
            while not stop.is_set():
                await self.tick()
                if loop.time() >= next_housekeeping:
                    next_housekeeping = loop.time() + self.housekeeping_every
                    await self.housekeep()
                waiter = asyncio.ensure_future(wakeups.wait(await self._pause(interval)))
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
                for task in (waiter, stopper):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


async def _isolated(step: Housekeeping) -> None:
    try:
        await step()
    except Exception:
        log.exception("scheduler step %s failed; the others go on", _name(step))


def _name(step: Housekeeping) -> str:
    return getattr(step, "__qualname__", None) or repr(step)
