"""`Child`: a program started with Popen and watched from the event loop (pidfd, or a waiter
thread where the kernel has no pidfds)."""

from __future__ import annotations

import asyncio
import os

import pytest

from hourglass.runtime.kinds.child import Child

SCRIPT = "echo out; echo err >&2; exit 3"


async def run_script() -> tuple[bytes, bytes, int | None]:
    child = await Child.start(["sh", "-c", SCRIPT], env={"PATH": "/usr/bin:/bin"})
    try:
        out, err = await asyncio.gather(child.stdout.read(), child.stderr.read())
        async with asyncio.timeout(10):
            await child.exited
        return out, err, child.returncode
    finally:
        child.close()


async def test_a_child_reports_its_output_and_exit_code() -> None:
    """stdout and stderr arrive apart, and `exited` resolves with the program's exit code."""
    out, err, code = await run_script()
    assert (out, err, code) == (b"out\n", b"err\n", 3)


async def test_without_pidfds_a_thread_waits_for_the_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where `os.pidfd_open` fails, the exit is still seen (a waiter thread reaps it)."""

    def no_pidfd(pid: int, flags: int = 0) -> int:
        raise OSError("pidfd_open not supported")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    out, err, code = await run_script()
    assert (out, err, code) == (b"out\n", b"err\n", 3)


async def test_a_child_runs_in_its_own_process_group() -> None:
    """The child leads a new session, so its process group is its own pid (killable as one)."""
    child = await Child.start(["sleep", "30"], env={"PATH": "/usr/bin:/bin"})
    try:
        assert os.getpgid(child.pid) == child.pid
    finally:
        child.kill()
        async with asyncio.timeout(10):
            await child.exited
        child.close()
    assert child.returncode == -9


async def test_a_program_that_cannot_start_fails_at_start() -> None:
    """A missing program fails at start (FileNotFoundError, an OSError)."""
    with pytest.raises(FileNotFoundError):
        await Child.start(["/nonexistent/program"], env={"PATH": "/usr/bin:/bin"})
