"""The one small interface every workflow kind implements, and what the kinds share.

A kind `build`s a workflow's payload (raise `BuildError` when it cannot run) and `run`s one attempt
of a job: it pushes output as raw blocks `(stream, bytes)` to an `OutputSink` as it arrives and
returns a `RunResult`. Splitting, numbering and storing lines happen downstream (capture), so kinds
push big blocks and never split.

Conventions shared by every kind:
- `cancel` set: stop the work and return `Outcome.CANCELED` (exit_code None).
- payload `timeout` elapsed: stop the work and return WORKLOAD_FAILURE "timed out after 90s" with
  exit_code None: the workload did not exit on its own, so no exit code of it is reported.
- a process killed by signal N (not by us) reports exit_code 128+N, as shells and Docker do.
- the runtime itself unreachable: SYSTEM_FAILURE, which the engine retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from enum import Enum
from typing import Any, Protocol, runtime_checkable

from hourglass.domain.jobs import Outcome, RunResult
from hourglass.domain.payloads import parse_duration
from hourglass.errors import HourglassError

__all__ = [
    "READ_BLOCK",
    "BuildError",
    "Ended",
    "Kind",
    "Outcome",
    "OutputSink",
    "RunResult",
    "SweepsOrphans",
    "drain",
    "race",
    "signal_exit_code",
    "timeout_of",
    "watch",
]

STREAMS = ("stdout", "stderr", "system")
READ_BLOCK = 256 * 1024  # bytes per pipe/socket read: capture splits in bulk, so feed it big blocks


class BuildError(HourglassError):
    """The workflow cannot be built."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class OutputSink(Protocol):
    """Where a running job's output goes, as raw blocks in arrival order."""

    async def write(self, stream: str, data: bytes) -> None:
        """Take one block of `stream` ("stdout", "stderr" or "system"); lines may span blocks."""
        ...


class Kind(Protocol):
    """One workflow kind: checks a payload once, then runs it once per job attempt."""

    async def build(self, payload: Mapping[str, Any]) -> None:
        """Make the payload runnable (resolve, pull…) or raise `BuildError` with the reason."""
        ...

    async def run(
        self, payload: Mapping[str, Any], sink: OutputSink, cancel: asyncio.Event
    ) -> RunResult:
        """Run one attempt, pushing output to `sink`; `cancel` set stops it (CANCELED)."""
        ...


@runtime_checkable
class SweepsOrphans(Protocol):
    """A kind whose workloads can outlive a killed worker, and that can find and stop them."""

    async def sweep_orphans(self) -> int:
        """Stop and remove what dead workers of this host left running; how many."""
        ...


def timeout_of(payload: Mapping[str, Any], default: str) -> tuple[float, str]:
    """The payload's timeout in seconds and as written (for reasons), else `default`."""
    raw = str(payload.get("timeout") or default).strip()
    return float(parse_duration(raw)), raw


class Ended(Enum):
    """How a `race` ended."""

    DONE = "done"
    CANCELED = "canceled"
    TIMED_OUT = "timed out"


async def race(work: asyncio.Future[Any], cancel: asyncio.Event, timeout: float) -> Ended:
    """Wait for `work` until `cancel` is set or `timeout` seconds pass, whichever comes first.

    `work` stays the caller's: it is neither cancelled nor awaited for its result here. Work that
    finished counts as DONE even when `cancel` was set at the same moment.
    """
    canceled = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({work, canceled}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        canceled.cancel()
    if work.done():
        return Ended.DONE
    return Ended.CANCELED if cancel.is_set() else Ended.TIMED_OUT


async def watch(main: asyncio.Future[Any], helpers: list[asyncio.Task[None]]) -> None:
    """Wait for `main`; raise at once if a helper (an output pump) fails first."""
    pending: set[asyncio.Future[Any]] = {main, *helpers}
    while not main.done():
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not main and not task.cancelled() and (exc := task.exception()):
                raise exc


async def drain(pumps: list[asyncio.Task[None]], timeout: float) -> None:
    """Let output pumps reach the end of their streams, at most `timeout` seconds; re-raise."""
    _done, pending = await asyncio.wait(pumps, timeout=timeout)
    for pump in pending:
        pump.cancel()
    for pump in pumps:
        if pump.done() and not pump.cancelled() and (exc := pump.exception()):
            raise exc


def signal_exit_code(returncode: int) -> int:
    """A subprocess return code as a shell reports it: killed by signal N becomes 128+N."""
    return 128 - returncode if returncode < 0 else returncode
