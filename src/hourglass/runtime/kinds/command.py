"""COMMAND: run a program on the worker host, in its own process group and its own environment.

The child sees only the payload's `env` and `secrets` plus a minimal PATH (a payload PATH wins),
never the server's environment. stdout and stderr are read concurrently in big blocks, so a huge
output on either pipe cannot deadlock. The job is the whole process group: when the program ends,
whatever it left running in its group is killed; on timeout or cancel the group gets SIGTERM, and
SIGKILL once `kill_grace_seconds` pass with any member still alive.

The program dies with its worker: where util-linux's `setpriv` is installed it is started through
`setpriv --pdeathsig KILL`, so a worker killed with SIGKILL takes it along instead of leaving it to
run beside the retry. (Setting the signal from a `preexec_fn` would do the same without the
extra exec, but it makes every spawn fork the whole interpreter: ~10 ms a job instead of ~1.5 ms
here.) Only the program itself gets the signal: what it started in the background outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from hourglass.runtime.kinds.child import Child

MINIMAL_PATH = "/usr/local/bin:/usr/bin:/bin"
DEFAULT_TIMEOUT = default_timeout(Kind.COMMAND)
_POLL_SECONDS = 0.05
# Output still buffered after the group is dead drains at once; a pipe held open by a process that
# escaped the group (setsid) must not hold the job forever.
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
    """Runs `cmd` as a local subprocess group."""

    def __init__(self, kill_grace_seconds: float = 10.0, *, die_with_worker: bool = True) -> None:
        self.kill_grace_seconds = kill_grace_seconds
        self._prefix: list[str] | None = None if die_with_worker else []

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

        launcher = await self.launcher()
        try:
            # own session, so own process group (pgid == pid); the program is looked up on `env`
            child = await Child.start([*launcher, *cmd], env=env, cwd=working_dir)
        except OSError as exc:
            return RunResult.workload_failure(f"cannot start {cmd[0]}: {exc.strerror or exc}")
        pgid = child.pid
        pumps = [
            asyncio.create_task(_pump(child.stdout, "stdout", sink)),
            asyncio.create_task(_pump(child.stderr, "stderr", sink)),
        ]
        watcher = asyncio.create_task(watch(child.exited, pumps))
        try:
            ended = await race(watcher, cancel, timeout)
            if ended is Ended.DONE:
                watcher.result()  # a failing sink fails the run
            else:
                if ended is Ended.TIMED_OUT:
                    line = f"timed out after {timeout_label}; stopping the process group\n"
                    await sink.write("system", line.encode())
                await self._terminate(pgid, child.exited, sink)
            _killpg(pgid, signal.SIGKILL)  # leftovers of the group die with the job
            await drain(pumps, _DRAIN_SECONDS)
        finally:
            _killpg(pgid, signal.SIGKILL)
            for task in (watcher, *pumps):
                task.cancel()
            child.close()
        if ended is Ended.CANCELED:
            return RunResult.canceled()
        if ended is Ended.TIMED_OUT:
            return RunResult.workload_failure(f"timed out after {timeout_label}")
        return _result(child.returncode)

    async def _terminate(self, pgid: int, exited: asyncio.Future[None], sink: OutputSink) -> None:
        """SIGTERM the group, then SIGKILL it if any member outlives the grace period."""
        _killpg(pgid, signal.SIGTERM)
        deadline = asyncio.get_running_loop().time() + self.kill_grace_seconds
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(exited), self.kill_grace_seconds)
        while _group_alive(pgid):
            if asyncio.get_running_loop().time() >= deadline:
                grace = f"{self.kill_grace_seconds:g}s"
                await sink.write("system", f"sent SIGKILL after {grace} grace\n".encode())
                _killpg(pgid, signal.SIGKILL)
                break
            await asyncio.sleep(_POLL_SECONDS)


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
