"""Workers: slots that claim a job, run it with its kind under a renewed lease, and finish it;
plus a builder that builds queued workflows.

Shutdown (the `stop` event): stop claiming; running jobs get `shutdown_grace_seconds` to end on
their own; then they are cancelled locally and released as a system failure, so another worker
retries them. A lost lease cancels the local run at once; the lost worker writes nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping
from typing import Any

from hourglass.domain.common import format_ts
from hourglass.domain.jobs import Job, LogState, Outcome, RunResult, Trigger
from hourglass.runtime.kinds.base import BuildError, Kind
from hourglass.runtime.output import JobOutput, OutputFactory
from hourglass.services.engine import CANCEL_SIGNAL, WORK_CHANNEL, Claim, Engine

log = logging.getLogger("hourglass.worker")


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then drain as described in the module docstring."""
        async with self.engine.bus.subscribe(WORK_CHANNEL) as wakeups, asyncio.TaskGroup() as tg:
            slots = [tg.create_task(self._slot(wakeups)) for _ in range(self.concurrency)]
            builder = tg.create_task(self._builder(wakeups))
            await stop.wait()
            self._stopping.set()
            builder.cancel()
            await self._drain(slots)

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

    async def _idle(self, wakeups: Any) -> None:
        waiter = asyncio.ensure_future(wakeups.wait(self.settings.poll_interval_seconds))
        stopper = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        stopper.cancel()

    async def _slot(self, wakeups: Any) -> None:
        while not self._stopping.is_set():
            try:
                claim = await self.engine.claim_job(self.owner)
            except Exception:
                log.exception("claiming a job failed; retrying after the poll interval")
                claim = None
            if claim is None:
                await self._recover_now_and_then()
                await self._idle(wakeups)
                continue
            await self.run_claim(claim)

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
        """Run one claimed job to its end (or until the lease is lost or we shut down)."""
        job = claim.job
        cancel = asyncio.Event()
        lost = asyncio.Event()
        output = await self.outputs.open(job, claim.spec, claim.token)
        await output.system(f"attempt {job.attempts} started on {self.owner} ({_why(job)})")
        async with self.engine.bus.subscribe(job.id) as status_feed:
            guard = asyncio.create_task(self._guard(claim, cancel, lost, status_feed))
            try:
                result = await self._execute(claim, output, cancel)
            except asyncio.CancelledError:
                # shutdown past the grace period: release the job for another worker
                result = RunResult.system_failure("worker shut down")
                cancel.set()
                await asyncio.shield(self._end(claim, output, result, lost))
                raise
            finally:
                guard.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await guard
        if not lost.is_set() and cancel.is_set() and result.outcome != Outcome.SYSTEM_FAILURE:
            result = RunResult.canceled("canceled by request")
        await self._end(claim, output, result, lost)

    async def _execute(self, claim: Claim, output: JobOutput, cancel: asyncio.Event) -> RunResult:
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

    async def _end(
        self, claim: Claim, output: JobOutput, result: RunResult, lost: asyncio.Event
    ) -> None:
        if lost.is_set():
            log.warning(
                "job %s: lease lost; leaving it to the worker that recovers it", claim.job.id
            )
            return
        try:
            log_state = await output.close(_describe(result))
        except Exception:
            log.exception("job %s: flushing its output failed", claim.job.id)
            log_state = LogState.COMPLETE
        job = await self.engine.finish(claim, result, log_state)
        if job is None:
            log.warning("job %s: lease lost before finishing; result discarded", claim.job.id)

    async def _guard(
        self, claim: Claim, cancel: asyncio.Event, lost: asyncio.Event, status_feed: Any
    ) -> None:
        """Renew the lease every few seconds; stop the run on cancel requests or a lost lease."""
        renew_every = self.settings.lease_renew_seconds
        loop = asyncio.get_running_loop()
        next_renew = loop.time() + renew_every
        while True:
            woke = await status_feed.wait(max(0.0, next_renew - loop.time()))
            if woke and status_feed.status != CANCEL_SIGNAL:
                continue
            try:
                state = await self.engine.renew(claim)
            except Exception:
                log.warning("job %s: renewing the lease failed", claim.job.id, exc_info=True)
                next_renew = loop.time() + 1.0
                continue
            next_renew = loop.time() + renew_every
            if not state.held:
                lost.set()
                cancel.set()
                return
            if state.cancel_requested:
                cancel.set()

    async def _builder(self, wakeups: Any) -> None:
        while not self._stopping.is_set():
            try:
                task = await self.engine.claim_build()
            except Exception:
                log.exception("claiming a build failed")
                task = None
            if task is None:
                await self._idle(wakeups)
                continue
            kind = self.kinds.get(task.kind.value)
            error: str | None = None
            try:
                if kind is None:
                    error = f"no runner for kind {task.kind}"
                else:
                    await kind.build(task.payload)
            except BuildError as exc:
                error = exc.reason
            except Exception as exc:
                log.exception("building workflow %s failed", task.workflow_id)
                error = f"build error: {exc}"
            await self.engine.finish_build(task, error)


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
