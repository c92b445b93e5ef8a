"""Running a workflow now and following a job to its end (the exit code of its outcome)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from hourglass.client.api import Api, new_key
from hourglass.client.errors import ApiError, ClientError, Exit
from hourglass.client.follow import follow
from hourglass.client.logs import EXIT_BY_STATUS, LineFormat, Printer, job_path
from hourglass.client.output import colour_allowed, note
from hourglass.client.views import workflow_path

BUILD_WAIT_SECONDS = 120.0


def schedule(
    api: Api,
    workflow_id: str,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """A MANUAL job of the workflow; a workflow still being built is waited for (the API
    answers 412 until its build completed), a failed build is said."""
    path = workflow_path(workflow_id)
    key = new_key()  # one key across the retries: never two jobs for one command
    deadline, delay = clock() + BUILD_WAIT_SECONDS, 0.1
    while True:
        try:
            made = api.json("POST", f"{path}/jobs/schedule", headers={"Idempotency-Key": key})
            return str(made["id"])
        except ApiError as exc:
            if exc.status != 412:
                raise
            workflow = api.get(path)
            build = workflow.get("build_status")
            if workflow.get("terminated_at") or build not in ("QUEUED", "STARTED"):
                reason = workflow.get("build_reason")
                raise ClientError(
                    exc.message + (f": {reason}" if reason else ""), exc.code
                ) from exc
            if clock() > deadline:
                raise ClientError(
                    f"the workflow is still being built ({build}) after "
                    f"{BUILD_WAIT_SECONDS:.0f} s: try again later",
                    Exit.REFUSED,
                ) from exc
        sleep(delay)
        delay = min(delay * 2, 2.0)


def follow_to_end(
    api: Api,
    workflow_id: str,
    job_id: str,
    *,
    fmt: LineFormat | None = None,
    after: int = 0,
) -> Exit:
    """Print the job's log live from line `after` to the end; the exit code of its outcome."""
    fmt = fmt or LineFormat(strip_ansi=not colour_allowed())
    printer = Printer(fmt)
    printer.last_seq = after
    status = follow(api, job_path(workflow_id, job_id), printer, status_notes())
    return outcome(status)


def status_notes() -> Callable[[str], None] | None:
    """On a terminal, each status change of a followed job is said on standard error (a
    PENDING job otherwise looks like a hung command)."""
    if not sys.stderr.isatty():
        return None
    return lambda status: note(f"[job {status.lower()}]")


def outcome(status: str) -> Exit:
    """The exit code of a final job status (said on standard error too)."""
    code = EXIT_BY_STATUS.get(status)
    if code is None:
        raise ClientError(f"the job ended in an unknown status {status!r}", Exit.SERVER)
    if code is not Exit.OK:
        note(f"job {status.lower()}")
    return code
