"""COMMAND jobs in cgroups of their own: nothing they start outlives them, `setsid` included.

Real processes in the real cgroup v2 hierarchy of this machine; skipped (failed under CI) where
no writable cgroup v2 is found. The fallback (process groups) runs everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hourglass.domain.jobs import Outcome
from hourglass.runtime.kinds import CommandKind
from hourglass.runtime.kinds.cgroups import JobCgroups
from tests.integration.test_kinds_command import Sink, alive, dies
from tests.support import require

# starts a sleep in a session of its own (out of the job's process group) and, once it is there
# (its pgrp, field 5 of /proc/PID/stat, is its own pid), says its pid
ESCAPE = (
    "setsid sleep 300 >/dev/null 2>&1 & p=$!; "
    'until [ "$(cut -d" " -f5 /proc/$p/stat)" = "$p" ]; do :; done; echo $p'
)


@pytest.fixture
async def cgroups() -> None:
    require("cgroup v2", await JobCgroups.open() is not None, "no writable cgroup v2 here")


@pytest.fixture
def leftovers() -> Iterator[list[int]]:
    """Pids a test started: killed at the end whatever the test found."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def escaped(text: str, leftovers: list[int]) -> int:
    """The pid the job printed first, checked to have left the job's process group."""
    pid = int(text.split()[0])
    leftovers.append(pid)
    assert os.getpgid(pid) == pid  # a session and group of its own: killpg cannot reach it
    return pid


@pytest.mark.usefixtures("cgroups")
async def test_setsid_leftover_dies_when_the_job_ends(leftovers: list[int]):
    """`setsid sleep 300 &` in a job that exits is killed with the job."""
    sink = Sink()
    result = await CommandKind().run({"cmd": ["sh", "-c", ESCAPE]}, sink, asyncio.Event())
    assert result.outcome is Outcome.SUCCESS
    assert await dies(escaped(sink.text(), leftovers))


@pytest.mark.usefixtures("cgroups")
async def test_setsid_leftover_dies_when_the_job_is_canceled(leftovers: list[int]):
    """Canceling a job kills what it started with setsid too."""
    sink, cancel = Sink(), asyncio.Event()
    payload = {"cmd": ["sh", "-c", f"{ESCAPE}; exec sleep 1000"]}
    running = asyncio.create_task(CommandKind(kill_grace_seconds=5).run(payload, sink, cancel))
    await sink.until("stdout", b"\n")
    pid = escaped(sink.text(), leftovers)
    cancel.set()
    assert (await running).outcome is Outcome.CANCELED
    assert await dies(pid)


@pytest.mark.usefixtures("cgroups")
async def test_setsid_leftover_dies_when_the_job_times_out(leftovers: list[int]):
    """A job that times out takes what it started with setsid along."""
    sink = Sink()
    payload = {"cmd": ["sh", "-c", f"{ESCAPE}; exec sleep 1000"], "timeout": "1s"}
    result = await CommandKind(kill_grace_seconds=5).run(payload, sink, asyncio.Event())
    assert result.reason == "timed out after 1s"
    assert await dies(escaped(sink.text(), leftovers))


@pytest.mark.usefixtures("cgroups")
async def test_the_program_runs_in_its_own_group_removed_afterwards():
    """The program is in a job cgroup from its first instruction; the group is gone after."""
    sink = Sink()
    result = await CommandKind().run({"cmd": ["cat", "/proc/self/cgroup"]}, sink, asyncio.Event())
    assert result.outcome is Outcome.SUCCESS
    [own] = [line[3:] for line in sink.text().splitlines() if line.startswith("0::")]
    assert f"/hourglass-{os.getpid()}-" in own
    assert "/job-" in own
    base = await JobCgroups.open()
    assert base is not None
    assert not (base.base / own.rsplit("/hourglass-", 1)[1]).exists()
    assert not list(base.parent.glob("job-*"))


STAND_IN_WORKER = f"""
import asyncio, sys
from hourglass.runtime.kinds.command import CommandKind

class Out:
    async def write(self, stream, data):
        sys.stdout.buffer.write(data)
        sys.stdout.flush()

payload = {{"cmd": ["sh", "-c", {ESCAPE + "; exec sleep 300"!r}]}}
asyncio.run(CommandKind().run(payload, Out(), asyncio.Event()))
"""


@pytest.mark.usefixtures("cgroups")
async def test_sweep_kills_what_a_killed_workers_job_left(leftovers: list[int]):
    """A worker killed with SIGKILL leaves its job's setsid process behind; the next sweep of
    any worker of the host kills it and removes the dead worker's cgroups."""
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", STAND_IN_WORKER, stdout=asyncio.subprocess.PIPE
    )
    assert worker.stdout is not None
    pid = escaped((await worker.stdout.readline()).decode(), leftovers)
    worker.kill()
    await worker.wait()
    assert alive(pid)  # the program died with its worker (pdeathsig); this one did not
    kind = CommandKind()
    assert await kind.sweep_orphans() >= 1
    assert await dies(pid)
    cgroups = await kind.cgroups()
    assert cgroups is not None
    assert not list(cgroups.base.glob(f"hourglass-{worker.pid}-*"))


async def test_without_cgroups_the_process_group_is_killed(tmp_path: Path, leftovers: list[int]):
    """Where no cgroup can be made (here: a plain directory), a job still runs in its own
    process group, whose leftovers are killed when it ends, as before cgroups."""
    kind = CommandKind(cgroup_base=tmp_path)
    sink = Sink()
    # the sleep holds the job's stdout open: the run ends once it is dead, as in
    # test_kinds_command's leftovers test
    payload = {"cmd": ["sh", "-c", "sleep 300 & echo $!; cat /proc/self/cgroup"]}
    result = await kind.run(payload, sink, asyncio.Event())
    assert result.outcome is Outcome.SUCCESS
    assert await kind.cgroups() is None
    first, *cgroup_lines = sink.text().splitlines()
    leftovers.append(int(first))
    assert await dies(int(first))
    assert not any("/job-" in line for line in cgroup_lines)


async def test_required_cgroups_missing_is_a_system_failure(tmp_path: Path):
    """HOURGLASS_JOB_CGROUPS=required where none can be made fails the job without running it."""
    marker = tmp_path / "ran"
    kind = CommandKind(job_cgroups="required", cgroup_base=tmp_path)
    result = await kind.run({"cmd": ["touch", str(marker)]}, Sink(), asyncio.Event())
    assert result.outcome is Outcome.SYSTEM_FAILURE
    assert "HOURGLASS_JOB_CGROUPS=required" in (result.reason or "")
    assert not marker.exists()
