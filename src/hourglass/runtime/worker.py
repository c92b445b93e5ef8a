"""Workers: slots that claim a job, run it with its kind under a renewed lease, and finish it;
plus a builder that builds queued workflows under a renewed build lease. Slots wake on the work
channel (a job may be waiting), the builder on the build channel (a workflow changed); both poll
as well.

Shutdown (the `stop` event): stop claiming; running jobs get `shutdown_grace_seconds` to end on
their own; then they are cancelled locally and released as a system failure, so another worker
retries them.

The lease is renewed from the claim until `finish` returned (the final flush included). A lease
the store says is gone, or one whose expiry passed without a successful renewal (the store is
unreachable, so another worker may already have it), is lost: the run is stopped at once and this
worker writes nothing more for the job.

No failure of one job or build stops the worker: it is logged and the slot goes on. A store
outage at `finish` is retried with backoff until the lease would run out; past that, the lease's
expiry hands the job to whichever worker recovers it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hourglass.domain.common import format_ts
from hourglass.domain.jobs import Job, LogState, Outcome, RunResult, Trigger
from hourglass.errors import StoreUnavailable
from hourglass.live import LiveBus, Subscription
from hourglass.runtime.kinds.base import BuildError, Kind, SweepsOrphans
from hourglass.runtime.output import JobOutput, OutputFactory
from hourglass.services.engine import BUILD_CHANNEL, WORK_CHANNEL, Claim, Engine
from hourglass.services.metrics import Metrics
from hourglass.store.schedules import BuildTask

log = logging.getLogger("hourglass.worker")

_RETRY_SOON = 1.0  # seconds before retrying a failed lease renewal
_FINISH_BACKOFF = (0.05, 2.0)  # first and longest wait between tries of a failed finish
SWEEP_EVERY = 60.0  # seconds between sweeps for what killed workers of this host left running


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextlib.asynccontextmanager
async def subscribed(bus: LiveBus, channel: str) -> AsyncIterator[Subscription]:
    """The bus's subscription to `channel`; when the bus is down (Redis unreachable), a mailbox
    nobody delivers to, so its waits time out and the caller falls back to polling."""
    async with contextlib.AsyncExitStack() as stack:
        try:
            feed = await stack.enter_async_context(bus.subscribe(channel))
        except Exception:
            log.warning("live bus unavailable for %s; polling instead", channel, exc_info=True)
            feed = Subscription(channel)
        yield feed


class Turns:
    """Idle slots take turns looking for work: a wake-up lets one idle slot look, and a slot
    that found a job lets the next one look too (there may be more). So a wake-up costs one
    look, not one per idle slot (each a store read, on SQLite each claim a write). A nudge that
    finds no slot waiting is kept (up to one per slot) for the next one that waits."""

    def __init__(self, slots: int) -> None:
        self._limit = slots
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._kept = 0

    def nudge(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._kept = min(self._kept + 1, self._limit)

    async def wait(self, timeout: float) -> None:
        """Until this slot's turn comes, or `timeout` passed (the poll)."""
        if self._kept:
            self._kept -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            pass
        finally:
            if waiter in self._waiting:
                self._waiting.remove(waiter)


@dataclass(slots=True)
class Lease:
    """What this worker knows of its lease on one job."""

    expires_at: datetime | None
    cancel: asyncio.Event = field(default_factory=asyncio.Event)  # stop the run
    lost: asyncio.Event = field(default_factory=asyncio.Event)  # and write nothing more

    def ran_out(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def lose(self) -> None:
        self.lost.set()
        self.cancel.set()


class LeasedOutput:
    """The job's output as its kind sees it: dropped once the lease is lost; counted."""

    def __init__(self, output: JobOutput, lease: Lease, metrics: Metrics) -> None:
        self.output = output
        self.lease = lease
        self.metrics = metrics

    async def write(self, stream: str, data: bytes) -> None:
        if not self.lease.lost.is_set():
            self.metrics.output(stream, data)
            await self.output.write(stream, data)


class Worker:
    def __init__(
        self,
        engine: Engine,
        kinds: Mapping[str, Kind],
        outputs: OutputFactory,
        *,
        concurrency: int,
        owner: str | None = None,
    ) -> None:
        self.engine = engine
        self.kinds = kinds
        self.outputs = outputs
        self.concurrency = concurrency
        self.owner = owner or default_owner()
        self.settings = engine.settings
        self._stopping = asyncio.Event()
        self._next_recovery = 0.0
        self._turns = Turns(concurrency)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then drain as described in the module docstring."""
        async with (
            subscribed(self.engine.bus, WORK_CHANNEL) as wakeups,
            subscribed(self.engine.bus, BUILD_CHANNEL) as build_wakeups,
            asyncio.TaskGroup() as tg,
        ):
            sweeper = tg.create_task(self._sweeper())
            feeder = tg.create_task(self._feed_turns(wakeups))
            slots = [tg.create_task(self._slot()) for _ in range(self.concurrency)]
            builder = tg.create_task(self._builder(build_wakeups))
            await stop.wait()
            log.info(
                "worker %s stopping: no new claims; running jobs get %gs to finish",
                self.owner,
                self.settings.shutdown_grace_seconds,
            )
            self._stopping.set()
            builder.cancel()
            sweeper.cancel()
            feeder.cancel()
            await self._drain(slots)

    async def _sweeper(self) -> None:
        """Now and every `SWEEP_EVERY` seconds: stop the workloads dead workers of this host
        left running (containers; what COMMAND jobs left in their cgroups)."""
        kinds = [kind for kind in self.kinds.values() if isinstance(kind, SweepsOrphans)]
        while kinds:
            for kind in kinds:
                try:
                    await kind.sweep_orphans()
                except Exception:
                    log.warning("sweeping orphaned workloads failed", exc_info=True)
            await asyncio.sleep(SWEEP_EVERY)

    async def _drain(self, slots: list[asyncio.Task[None]]) -> None:
        grace = self.settings.shutdown_grace_seconds
        pending = [s for s in slots if not s.done()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace)
            for task in still:
                task.cancel()
            for task in still:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _idle(self, wakeups: Subscription) -> None:
        waiter = asyncio.ensure_future(wakeups.wait(self.settings.poll_interval_seconds))
        stopper = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        stopper.cancel()

    async def _feed_turns(self, wakeups: Subscription) -> None:
        """Each wake-up of the work channel gives one idle slot its turn."""
        while True:
            if await wakeups.wait(3600):
                self._turns.nudge()

    async def _idle_slot(self) -> None:
        turn = asyncio.ensure_future(self._turns.wait(self.settings.poll_interval_seconds))
        stopper = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait([turn, stopper], return_when=asyncio.FIRST_COMPLETED)
        turn.cancel()
        stopper.cancel()

    async def _slot(self) -> None:
        while not self._stopping.is_set():
            try:
                claim = await self.engine.claim_job(self.owner)
            except Exception:
                log.exception("claiming a job failed; retrying after the poll interval")
                claim = None
            if claim is None:
                await self._recover_now_and_then()
                await self._idle_slot()
                continue
            self._turns.nudge()  # there may be more: the next idle slot looks too
            try:
                await self.run_claim(claim)
            except Exception:
                log.exception(
                    "job %s: running it failed; its lease expiry hands it to another worker",
                    claim.job.id,
                )
                await self._idle_slot()  # whatever broke, do not spin on it

    async def _recover_now_and_then(self) -> None:
        """Idle workers recover dead workers' jobs too, so recovery needs no scheduler."""
        now = asyncio.get_running_loop().time()
        if now < self._next_recovery:
            return
        self._next_recovery = now + self.settings.lease_renew_seconds
        try:
            await self.engine.recover_expired()
        except Exception:
            log.exception("recovering expired leases failed")

    async def run_claim(self, claim: Claim) -> None:
        """Run one claimed job to its end (or until the lease is lost or we shut down), its
        lease renewed all along, until `finish` returned."""
        lease = Lease(claim.job.lease_expires_at)
        running = self.engine.metrics.running_jobs
        running.inc()
        async with subscribed(self.engine.bus, claim.job.id) as status_feed:
            guard = asyncio.create_task(self._guard(claim, lease, status_feed))
            try:
                await self._attempt(claim, lease)
            finally:
                running.dec()
                guard.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await guard
                if lease.lost.is_set():
                    self.engine.metrics.lease_expiries.inc()

    async def _attempt(self, claim: Claim, lease: Lease) -> None:
        job = claim.job
        try:
            output = await self.outputs.open(job, claim.spec, claim.token)
        except Exception as exc:
            log.exception("job %s: opening its log failed", job.id)
            failed = RunResult.system_failure(f"could not open the job's log: {exc}")
            await self._finish(claim, failed, LogState.COMPLETE, lease)
            return
        try:
            await output.system(f"attempt {job.attempts} started on {self.owner} ({_why(job)})")
            leased = LeasedOutput(output, lease, self.engine.metrics)
            result = await self._execute(claim, leased, lease.cancel)
        except Exception as exc:  # the output failed: the attempt cannot be trusted to the end
            log.exception("job %s: its output failed", job.id)
            result = RunResult.system_failure(f"worker error: {exc}")
        except asyncio.CancelledError:
            # shutdown past the grace period: release the job for another worker
            lease.cancel.set()
            released = RunResult.system_failure("worker shut down")
            await asyncio.shield(self._end(claim, output, released, lease))
            raise
        stopped_here = lease.cancel.is_set() and not lease.lost.is_set()
        if stopped_here and result.outcome != Outcome.SYSTEM_FAILURE:
            result = RunResult.canceled("canceled by request")
        await self._end(claim, output, result, lease)

    async def _execute(
        self, claim: Claim, output: LeasedOutput, cancel: asyncio.Event
    ) -> RunResult:
        kind = self.kinds.get(claim.spec.kind.value)
        if kind is None:
            return RunResult.system_failure(f"no runner for kind {claim.spec.kind}")
        try:
            return await kind.run(claim.spec.payload, output, cancel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("job %s: the %s runner failed", claim.job.id, claim.spec.kind)
            return RunResult.system_failure(f"runner error: {exc}")

    async def _end(self, claim: Claim, output: JobOutput, result: RunResult, lease: Lease) -> None:
        if lease.lost.is_set():
            log.warning(
                "job %s: lease lost; leaving it to the worker that recovers it", claim.job.id
            )
            return
        try:
            log_state = await output.close(_describe(result))
        except Exception:
            log.exception("job %s: flushing its output failed", claim.job.id)
            log_state = LogState.COMPLETE
        if lease.lost.is_set():  # lost during the final flush
            return
        await self._finish(claim, result, log_state, lease)

    async def _finish(
        self, claim: Claim, result: RunResult, log_state: LogState, lease: Lease
    ) -> None:
        """`engine.finish`, tried again while the store is unavailable, until the lease (as
        renewed when finishing began) would run out; then lease recovery takes over."""
        give_up = lease.expires_at or self.engine.clock.now() + self.engine.lease
        delay, longest = _FINISH_BACKOFF
        while not lease.lost.is_set():
            try:
                if await self.engine.finish(claim, result, log_state) is None:
                    log.warning(
                        "job %s: lease lost before finishing; result discarded", claim.job.id
                    )
                return
            except StoreUnavailable as exc:
                if self.engine.clock.now() + timedelta(seconds=delay) >= give_up:
                    log.error(
                        "job %s: store unavailable until its lease ran out (%s); "
                        "leaving it to lease recovery",
                        claim.job.id,
                        exc.message,
                    )
                    return
                log.warning("job %s: store unavailable at finish; retrying", claim.job.id)
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)

    async def _guard(self, claim: Claim, lease: Lease, status_feed: Subscription) -> None:
        """Renew the lease on schedule, and at once on a status wake-up (a cancel request);
        lose it when the store says so or when it ran out without a successful renewal."""
        renew_every = self.settings.lease_renew_seconds
        loop = asyncio.get_running_loop()
        next_renew = loop.time() + renew_every
        seen = status_feed.status_version
        while True:
            woke = await status_feed.wait(max(0.0, next_renew - loop.time()))
            signaled, seen = status_feed.status_version != seen, status_feed.status_version
            if woke and not signaled and loop.time() < next_renew:
                continue  # a log wake-up: nothing for the lease
            try:
                # a renewal hung past the lease's expiry is as good as failed
                async with asyncio.timeout(self._time_left(lease)):
                    state = await self.engine.renew(claim)
            except Exception:
                log.warning("job %s: renewing the lease failed", claim.job.id, exc_info=True)
                if lease.ran_out(self.engine.clock.now()):
                    log.error("job %s: lease ran out unrenewed; stopping the run", claim.job.id)
                    lease.lose()
                    return
                next_renew = loop.time() + min(_RETRY_SOON, renew_every)
                continue
            next_renew = loop.time() + renew_every
            if not state.held:
                lease.lose()
                return
            lease.expires_at = state.expires_at
            if state.cancel_requested:
                lease.cancel.set()

    def _time_left(self, lease: Lease) -> float:
        """Seconds until the lease runs out (at least a moment, to let a renewal try)."""
        if lease.expires_at is None:
            return self.settings.lease_seconds
        left = (lease.expires_at - self.engine.clock.now()).total_seconds()
        return max(left, _RETRY_SOON)

    async def _builder(self, wakeups: Subscription) -> None:
        while not self._stopping.is_set():
            try:
                task = await self.engine.claim_build()
            except Exception:
                log.exception("claiming a build failed")
                task = None
            if task is None:
                await self._idle(wakeups)
                continue
            try:
                await self._build(task)
            except Exception:
                log.exception(
                    "building workflow %s failed; its lease expiry retries it", task.workflow_id
                )
                await self._idle(wakeups)

    async def _build(self, task: BuildTask) -> None:
        """Build one claimed workflow under a renewed lease and record the result (dropped if
        the lease was lost: a newer generation or another builder owns the build now)."""
        building = asyncio.create_task(self._run_build(task))
        lost = asyncio.Event()
        renewer = asyncio.create_task(self._renew_build(task, building, lost))
        try:
            error = await building
        except asyncio.CancelledError:
            if not lost.is_set():
                raise
            log.warning("build of workflow %s: lease lost; result dropped", task.workflow_id)
            return
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        if not await self.engine.finish_build(task, error):
            log.warning("build of workflow %s: superseded; result dropped", task.workflow_id)

    async def _run_build(self, task: BuildTask) -> str | None:
        """The build's error, or None when it succeeded."""
        kind = self.kinds.get(task.kind.value)
        if kind is None:
            return f"no runner for kind {task.kind}"
        try:
            await kind.build(task.payload)
        except BuildError as exc:
            return exc.reason
        except Exception as exc:
            log.exception("building workflow %s failed", task.workflow_id)
            return f"build error: {exc}"
        return None

    async def _renew_build(
        self, task: BuildTask, building: asyncio.Task[Any], lost: asyncio.Event
    ) -> None:
        every = self.settings.lease_renew_seconds
        while True:
            await asyncio.sleep(every)
            try:
                held = await self.engine.renew_build(task)
            except Exception:
                log.warning(
                    "build of %s: renewing its lease failed", task.workflow_id, exc_info=True
                )
                continue
            if not held:
                lost.set()
                building.cancel()
                return


def _why(job: Job) -> str:
    """Why this attempt runs, for its first `system` line."""
    if job.attempts > 1:
        return f"retry after: {job.failure_reason or 'a system failure'}"
    if job.trigger is Trigger.MANUAL:
        return "manual run"
    slot = f" of {format_ts(job.slot_at)}" if job.slot_at is not None else ""
    return f"scheduled run{slot}"


def _describe(result: RunResult) -> str:
    """The attempt's last `system` line: how it ended (the reason already names any exit code)."""
    if result.outcome == Outcome.SUCCESS:
        return f"exited with code {result.exit_code if result.exit_code is not None else 0}"
    if result.outcome == Outcome.CANCELED:
        return result.reason or "canceled"
    if result.outcome == Outcome.WORKLOAD_FAILURE:
        return f"failed: {result.reason or 'the workload failed'}"
    return f"system failure: {result.reason or 'unknown'}"
