"""COMMAND: run a program on the worker host, in its own cgroup (or process group) and environment.

The child sees only the payload's `env` and `secrets` plus a minimal PATH (a payload PATH wins),
never the server's environment. stdout and stderr are read concurrently in big blocks, so a huge
output on either pipe cannot deadlock. The job is every process it started: where cgroup v2 is
writable, each attempt runs in a cgroup of its own (`cgroups.py`), which no process can leave,
not even through `setsid`; elsewhere, in its own process group (what `setsid` leaves escapes).
When the program ends, whatever it left running is killed; on timeout or cancel every process
of the job gets SIGTERM, and SIGKILL once `kill_grace_seconds` pass with any still alive.

The program dies with its worker: where util-linux's `setpriv` is installed it is started through
`setpriv --pdeathsig KILL`, so a worker killed with SIGKILL takes it along instead of leaving it to
run beside the retry. (Setting the signal from a `preexec_fn` would do the same without the
extra exec, but it makes every spawn fork the whole interpreter: ~10 ms a job instead of ~1.5 ms
here.) Only the program itself gets the signal: what it started in the background outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hourglass.domain.jobs import Kind, RunResult
from hourglass.domain.payloads import default_timeout
from hourglass.runtime.kinds.base import (
    READ_BLOCK,
    BuildError,
    Ended,
    OutputSink,
    drain,
    race,
    signal_exit_code,
    timeout_of,
    watch,
)
from hourglass.runtime.kinds.cgroups import JobCgroup, JobCgroups
from hourglass.runtime.kinds.child import Child
from hourglass.settings import JOB_CGROUPS

log = logging.getLogger("hourglass.worker")

MINIMAL_PATH = "/usr/local/bin:/usr/bin:/bin"
DEFAULT_TIMEOUT = default_timeout(Kind.COMMAND)
_POLL_SECONDS = 0.05
# Output still buffered after the group is dead drains at once; a pipe held open by a process that
# escaped the process group (setsid, where there are no job cgroups) must not hold the job forever.
_DRAIN_SECONDS = 5.0


def child_env(payload: Mapping[str, Any]) -> dict[str, str]:
    """The child's whole environment: minimal PATH, then `env`, then `secrets`."""
    env = {"PATH": MINIMAL_PATH}
    env.update({str(k): str(v) for k, v in (payload.get("env") or {}).items()})
    env.update({str(k): str(v) for k, v in (payload.get("secrets") or {}).items()})
    return env


def resolve_program(name: str, path: str, working_dir: str | None = None) -> str | None:
    """The executable `name` stands for: looked up on `path`, or as given when it has a slash."""
    if "/" not in name:
        return shutil.which(name, path=path)
    candidate = Path(working_dir or ".", name) if not os.path.isabs(name) else Path(name)
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return None


async def _pdeathsig_prefix() -> list[str]:
    """`setpriv --pdeathsig KILL --` if this host's setpriv supports it, else nothing."""
    setpriv = shutil.which("setpriv", path=MINIMAL_PATH + ":/usr/sbin:/sbin")
    if setpriv is None:
        return []
    prefix = [setpriv, "--pdeathsig", "KILL", "--"]
    try:
        probe = await Child.start([*prefix, setpriv, "--version"], env={"PATH": MINIMAL_PATH})
    except OSError:
        return []
    try:
        await probe.exited
    finally:
        probe.close()
    return prefix if probe.returncode == 0 else []


class CommandKind:
    """Runs `cmd` as a local subprocess, in a cgroup of its own where it can.

    `job_cgroups` (HOURGLASS_JOB_CGROUPS): "auto" uses cgroups where they work, "off" never
    does, "required" fails each attempt (SYSTEM_FAILURE) where they do not. `cgroup_base` is
    the cgroup to make job groups under (default: this process's own).
    """

    def __init__(
        self,
        kill_grace_seconds: float = 10.0,
        *,
        die_with_worker: bool = True,
        job_cgroups: str = "auto",
        cgroup_base: Path | None = None,
    ) -> None:
        if job_cgroups not in JOB_CGROUPS:
            raise ValueError(f"job_cgroups must be one of {', '.join(JOB_CGROUPS)}")
        self.kill_grace_seconds = kill_grace_seconds
        self.job_cgroups = job_cgroups
        self._prefix: list[str] | None = None if die_with_worker else []
        self._cgroups: JobCgroups | None = None
        self._cgroups_probed = job_cgroups == "off"
        self._cgroup_base = cgroup_base

    async def cgroups(self) -> JobCgroups | None:
        """This worker's job cgroups (probed once, on first use), or None: process groups."""
        if not self._cgroups_probed:
            self._cgroups = await JobCgroups.open(self._cgroup_base)
            self._cgroups_probed = True
        return self._cgroups

    async def sweep_orphans(self) -> int:
        """Kill what the jobs of dead workers of this host left in their cgroups."""
        cgroups = await self.cgroups()
        return 0 if cgroups is None else await cgroups.sweep_orphans()

    async def _job_cgroup(self) -> JobCgroup | None:
        cgroups = await self.cgroups()
        if cgroups is None:
            return None
        try:
            return cgroups.new_group()
        except OSError as exc:
            log.warning("job cgroup not created, the job runs in a process group: %s", exc)
            return None

    async def launcher(self) -> list[str]:
        """What the program's argv is prefixed with (found once, on the first run)."""
        if self._prefix is None:
            self._prefix = await _pdeathsig_prefix()
        return self._prefix

    async def build(self, payload: Mapping[str, Any]) -> None:
        cmd = payload.get("cmd") or []
        if not cmd:
            raise BuildError("cmd is empty")
        path = child_env(payload)["PATH"]
        if resolve_program(str(cmd[0]), path, payload.get("working_dir")) is None:
            raise BuildError(f"program not found: {cmd[0]}")

    async def run(
        self, payload: Mapping[str, Any], sink: OutputSink, cancel: asyncio.Event
    ) -> RunResult:
        cmd = [str(arg) for arg in payload.get("cmd") or []]
        timeout, timeout_label = timeout_of(payload, DEFAULT_TIMEOUT)
        working_dir = payload.get("working_dir") or None
        env = child_env(payload)
        if cancel.is_set():
            return RunResult.canceled()
        if (problem := _precheck(cmd, env["PATH"], working_dir)) is not None:
            return RunResult.workload_failure(problem)

        cgroup = await self._job_cgroup()
        if cgroup is None and self.job_cgroups == "required":
            return RunResult.system_failure(
                "HOURGLASS_JOB_CGROUPS=required, but no job cgroup could be made on this worker"
            )
        enter = cgroup.enter(env) if cgroup is not None else []
        try:
            # own session, so own process group (pgid == pid); the program is looked up on `env`
            child = await Child.start(
                [*await self.launcher(), *enter, *cmd], env=env, cwd=working_dir
            )
        except OSError as exc:
            if cgroup is not None:
                await cgroup.remove()
            return RunResult.workload_failure(f"cannot start {cmd[0]}: {exc.strerror or exc}")
        try:
            members = _Members(child.pid, cgroup)
            ended = await self._supervise(child, members, sink, cancel, (timeout, timeout_label))
        finally:
            if cgroup is not None:
                await cgroup.remove()
        if ended is Ended.CANCELED:
            return RunResult.canceled()
        if ended is Ended.TIMED_OUT:
            return RunResult.workload_failure(f"timed out after {timeout_label}")
        return _result(child.returncode)

    async def _supervise(
        self,
        child: Child,
        members: _Members,
        sink: OutputSink,
        cancel: asyncio.Event,
        timeout: tuple[float, str],
    ) -> Ended:
        """Pump the output until the program ends, is canceled or times out; then kill what the
        job left running and drain its output."""
        pumps = [
            asyncio.create_task(_pump(child.stdout, "stdout", sink)),
            asyncio.create_task(_pump(child.stderr, "stderr", sink)),
        ]
        watcher = asyncio.create_task(watch(child.exited, pumps))
        try:
            ended = await race(watcher, cancel, timeout[0])
            if ended is Ended.DONE:
                watcher.result()  # a failing sink fails the run
            else:
                if ended is Ended.TIMED_OUT:
                    line = f"timed out after {timeout[1]}; stopping the process group\n"
                    await sink.write("system", line.encode())
                await self._terminate(members, child.exited, sink)
            members.signal(signal.SIGKILL)  # leftovers of the job die with it
            await drain(pumps, _DRAIN_SECONDS)
        finally:
            members.signal(signal.SIGKILL)
            for task in (watcher, *pumps):
                task.cancel()
            child.close()
        return ended

    async def _terminate(
        self, members: _Members, exited: asyncio.Future[None], sink: OutputSink
    ) -> None:
        """SIGTERM the job, then SIGKILL it if any process outlives the grace period."""
        members.signal(signal.SIGTERM)
        deadline = asyncio.get_running_loop().time() + self.kill_grace_seconds
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(exited), self.kill_grace_seconds)
        while members.alive():
            if asyncio.get_running_loop().time() >= deadline:
                grace = f"{self.kill_grace_seconds:g}s"
                await sink.write("system", f"sent SIGKILL after {grace} grace\n".encode())
                members.signal(signal.SIGKILL)
                break
            await asyncio.sleep(_POLL_SECONDS)


class _Members:
    """The processes of one attempt: its process group, and its cgroup where it has one."""

    def __init__(self, pgid: int, cgroup: JobCgroup | None) -> None:
        self.pgid = pgid
        self.cgroup = cgroup

    def signal(self, sig: signal.Signals) -> None:
        _killpg(self.pgid, sig)
        if self.cgroup is not None:
            self.cgroup.signal(sig)

    def alive(self) -> bool:
        if self.cgroup is not None:
            return self.cgroup.populated()
        return _group_alive(self.pgid)


def _precheck(cmd: list[str], path: str, working_dir: str | None) -> str | None:
    """Why `cmd` cannot start here, or None; a clearer reason than the one exec would give."""
    if not cmd:
        return "cmd is empty"
    if working_dir is not None and not os.path.isdir(working_dir):
        return f"working directory not found: {working_dir}"
    if resolve_program(cmd[0], path, working_dir) is None:
        return f"program not found: {cmd[0]}"
    return None


def _result(returncode: int | None) -> RunResult:
    if returncode is None:  # cannot happen once the exit was seen; be explicit anyway
        return RunResult.system_failure("exit status of the process was lost")
    if returncode == 0:
        return RunResult.success(0)
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return RunResult.workload_failure(
            f"killed by {name} (exit code {signal_exit_code(returncode)})",
            signal_exit_code(returncode),
        )
    return RunResult.workload_failure(f"exited with code {returncode}", returncode)


async def _pump(reader: asyncio.StreamReader, stream: str, sink: OutputSink) -> None:
    while block := await reader.read(READ_BLOCK):
        await sink.write(stream, block)


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process is left in group `pgid`.

    Zombies count as dead: orphans are reaped by PID 1, which some containers never do.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False
