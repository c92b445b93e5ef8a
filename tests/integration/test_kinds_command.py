"""COMMAND kind: real processes in their own group, environment and working directory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import sys
from pathlib import Path

import pytest

from hourglass.domain.jobs import Outcome
from hourglass.runtime.kinds import BuildError, CommandKind, kinds_for
from hourglass.settings import Settings

MB = 1024 * 1024


class Sink:
    """Collects blocks per stream (or only counts bytes) and wakes waiters on every write."""

    def __init__(self, keep: bool = True) -> None:
        self.keep = keep
        self.data: dict[str, bytearray] = {s: bytearray() for s in ("stdout", "stderr", "system")}
        self.sizes: dict[str, int] = dict.fromkeys(self.data, 0)
        self.blocks = 0
        self._changed = asyncio.Event()

    async def write(self, stream: str, data: bytes) -> None:
        self.blocks += 1
        self.sizes[stream] += len(data)
        if self.keep:
            self.data[stream] += data
        self._changed.set()

    def text(self, stream: str = "stdout") -> str:
        return self.data[stream].decode()

    async def until(self, stream: str, needle: bytes) -> None:
        while needle not in self.data[stream]:
            self._changed.clear()
            await self._changed.wait()


def alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie nobody reaped (PID 1 here does not) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


async def dies(pid: int, within: float = 10.0) -> bool:
    """Whether `pid` has exited or exits within `within` seconds (a zombie counts as gone).

    A SIGKILL is delivered on the kernel's own time: on a busy machine a process just killed
    may still run for a moment. Its pidfd turns readable the moment it exits.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = await asyncio.to_thread(select.select, [fd], [], [], within)
        return bool(ready)
    finally:
        os.close(fd)


async def run(payload: dict[str, object], sink: Sink | None = None, grace: float = 0.5):
    return await CommandKind(kill_grace_seconds=grace).run(
        payload, sink if sink is not None else Sink(), asyncio.Event()
    )


async def test_echo_succeeds_with_its_output_on_stdout():
    """`echo hello` succeeds with exit code 0 and `hello\\n` on stdout."""
    sink = Sink()
    result = await run({"cmd": ["echo", "hello"]}, sink)
    assert (result.outcome, result.exit_code, result.reason) == (Outcome.SUCCESS, 0, None)
    assert sink.text() == "hello\n"
    assert sink.text("stderr") == ""


async def test_stderr_is_captured_apart_from_stdout():
    """What the program writes to stderr arrives on the stderr stream only."""
    sink = Sink()
    await run({"cmd": ["sh", "-c", "echo out; echo err >&2"]}, sink)
    assert (sink.text(), sink.text("stderr")) == ("out\n", "err\n")


async def test_non_zero_exit_is_a_workload_failure_with_its_code():
    """A non-zero exit fails the workload with that exit code and says so."""
    result = await run({"cmd": ["sh", "-c", "exit 7"]})
    assert (result.outcome, result.exit_code) == (Outcome.WORKLOAD_FAILURE, 7)
    assert result.reason == "exited with code 7"


async def test_death_by_signal_reports_128_plus_the_signal():
    """A program killed by a signal reports exit code 128+N, as a shell does."""
    result = await run({"cmd": ["sh", "-c", "kill -KILL $$"]})
    assert (result.outcome, result.exit_code) == (Outcome.WORKLOAD_FAILURE, 137)
    assert "SIGKILL" in (result.reason or "")


async def test_50mb_on_both_pipes_does_not_deadlock():
    """50 MB on stderr then 50 MB on stdout, and both at once, all arrive without deadlock."""
    script = (
        "head -c 52428800 /dev/zero >&2; head -c 52428800 /dev/zero; "
        "head -c 52428800 /dev/zero & head -c 52428800 /dev/zero >&2; wait"
    )
    sink = Sink(keep=False)
    result = await run({"cmd": ["sh", "-c", script], "timeout": "60s"}, sink)
    assert result.outcome is Outcome.SUCCESS
    assert sink.sizes["stdout"] == sink.sizes["stderr"] == 100 * MB
    assert sink.blocks < 100 * MB * 2 / 4096  # big blocks, not line by line


async def test_environment_is_the_payload_not_the_server(monkeypatch: pytest.MonkeyPatch):
    """The program sees env, secrets and a minimal PATH, never the server's environment."""
    monkeypatch.setenv("HOURGLASS_SECRET_X", "server-only")
    sink = Sink()
    payload = {"cmd": ["env"], "env": {"FOO": "bar"}, "secrets": {"TOKEN": "s3cret"}}
    await run(payload, sink)
    lines = set(sink.text().splitlines())
    assert lines == {"PATH=/usr/local/bin:/usr/bin:/bin", "FOO=bar", "TOKEN=s3cret"}


async def test_working_dir_is_where_the_program_runs(tmp_path: Path):
    """The program starts in `working_dir`."""
    sink = Sink()
    result = await run({"cmd": ["pwd"], "working_dir": str(tmp_path)}, sink)
    assert result.outcome is Outcome.SUCCESS
    assert sink.text() == f"{tmp_path}\n"


async def test_missing_working_dir_is_a_workload_failure(tmp_path: Path):
    """A working_dir that does not exist fails the workload with a clear reason."""
    missing = tmp_path / "nope"
    result = await run({"cmd": ["pwd"], "working_dir": str(missing)})
    assert result.outcome is Outcome.WORKLOAD_FAILURE
    assert result.reason == f"working directory not found: {missing}"


async def test_missing_program_at_run_is_a_workload_failure():
    """A program that is gone by run time fails the workload, naming it."""
    result = await run({"cmd": ["no-such-program-hg"]})
    assert result.outcome is Outcome.WORKLOAD_FAILURE
    assert result.reason == "program not found: no-such-program-hg"


async def test_timeout_kills_the_whole_group_with_sigkill_after_grace():
    """On timeout a group ignoring SIGTERM is SIGKILLed after the grace, grandchild included."""
    sink = Sink()
    script = 'trap "" TERM; sleep 1000 & echo $$ $!; wait'
    result = await run({"cmd": ["sh", "-c", script], "timeout": "1s"}, sink, grace=0.3)
    assert result.outcome is Outcome.WORKLOAD_FAILURE
    assert (result.exit_code, result.reason) == (None, "timed out after 1s")
    shell, grandchild = map(int, sink.text().split())
    assert await dies(shell)
    assert await dies(grandchild)
    assert "timed out after 1s" in sink.text("system")
    assert "SIGKILL" in sink.text("system")


async def test_cancel_stops_the_group_and_reports_canceled():
    """Setting cancel SIGTERMs the group: shell and grandchild are gone, outcome CANCELED."""
    sink, cancel = Sink(), asyncio.Event()
    kind = CommandKind(kill_grace_seconds=5)
    payload = {"cmd": ["sh", "-c", "sleep 1000 & echo $$ $!; wait"]}
    running = asyncio.create_task(kind.run(payload, sink, cancel))
    await sink.until("stdout", b"\n")
    cancel.set()
    result = await running
    assert (result.outcome, result.exit_code) == (Outcome.CANCELED, None)
    shell, grandchild = map(int, sink.text().split())
    assert await dies(shell)
    assert await dies(grandchild)


async def test_cancel_set_before_the_run_starts_nothing(tmp_path: Path):
    """A run whose cancel is already set is CANCELED without starting the program."""
    marker = tmp_path / "ran"
    cancel = asyncio.Event()
    cancel.set()
    result = await CommandKind().run({"cmd": ["touch", str(marker)]}, Sink(), cancel)
    assert result.outcome is Outcome.CANCELED
    assert not marker.exists()


async def test_background_leftovers_die_when_the_program_ends():
    """A process left running in the background is killed when the program exits."""
    sink = Sink()
    result = await run({"cmd": ["sh", "-c", "sleep 1000 & echo $!"], "timeout": "10s"}, sink)
    assert result.outcome is Outcome.SUCCESS
    assert await dies(int(sink.text()))


async def test_build_resolves_programs_on_the_minimal_path():
    """Build accepts `echo` (found on the minimal PATH) and an absolute executable path."""
    kind = CommandKind()
    await kind.build({"cmd": ["echo", "hi"]})
    await kind.build({"cmd": ["/bin/sh", "-c", "true"]})


async def test_build_rejects_a_missing_program():
    """Build fails with "program not found: X" for a program that is not on the PATH."""
    with pytest.raises(BuildError, match=r"^program not found: no-such-program-hg$"):
        await CommandKind().build({"cmd": ["no-such-program-hg"]})


def test_registry_maps_each_kind_name_to_an_instance():
    """`kinds_for` returns one configured instance per kind name."""
    kinds = kinds_for(Settings(kill_grace_seconds=2.5))
    assert set(kinds) == {"HEARTBEAT", "COMMAND", "CONTAINER"}
    command = kinds["COMMAND"]
    assert isinstance(command, CommandKind)
    assert command.kill_grace_seconds == 2.5


STAND_IN_WORKER = """
import asyncio, sys
from hourglass.runtime.kinds.command import CommandKind

class Out:
    async def write(self, stream, data):
        sys.stdout.buffer.write(data)
        sys.stdout.flush()

payload = {"cmd": ["sh", "-c", "echo $$; exec sleep 300"]}
asyncio.run(CommandKind().run(payload, Out(), asyncio.Event()))
"""


async def test_the_program_dies_with_a_worker_killed_by_sigkill():
    """A worker process killed with SIGKILL takes its running program along: no orphan runs on."""
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", STAND_IN_WORKER, stdout=asyncio.subprocess.PIPE
    )
    assert worker.stdout is not None
    program = int(await worker.stdout.readline())
    try:
        worker.kill()
        await worker.wait()
        assert await dies(program)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(program, signal.SIGKILL)
        await CommandKind().sweep_orphans()  # the dead worker's job cgroup, where it made one


async def test_without_setpriv_the_program_still_runs():
    """A kind told not to tie the program to its worker runs it directly, just the same."""
    kind = CommandKind(die_with_worker=False)
    assert await kind.launcher() == []
    sink = Sink()
    result = await kind.run({"cmd": ["echo", "direct"]}, sink, asyncio.Event())
    assert (result.outcome, sink.text()) == (Outcome.SUCCESS, "direct\n")
