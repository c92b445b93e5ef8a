"""What the worker needs of the capture layer: one `JobOutput` per attempt of a job.

The capture layer (splitting, numbering, masking, batching into chunks) implements this; the
worker only opens an output, hands it to the kind as its `OutputSink`, writes `system` lines for
what a reader must know, and closes it before finishing the job.
"""

from __future__ import annotations

from typing import Protocol

from hourglass.domain.jobs import Job, LogState, RunSpec


class JobOutput(Protocol):
    async def write(self, stream: str, data: bytes) -> None:
        """A raw block of output from the workload (lines may span blocks)."""
        ...

    async def system(self, message: str) -> None:
        """One `system` line (attempt started, exit code, timeout, cancel…)."""
        ...

    async def close(self, final: str | None = None) -> LogState:
        """Flush everything to the store, ending with the `final` system line (after any
        unfinished last line of the workload); returns the log state the job ends with."""
        ...


class OutputFactory(Protocol):
    async def open(self, job: Job, spec: RunSpec, lease_token: str) -> JobOutput:
        """An output for the attempt `job.attempts` of `job`, writing as the lease holder."""
        ...
