"""`Child`: a program started with Popen and watched from the event loop (pidfd, or a waiter
thread where the kernel has no pidfds)."""

from __future__ import annotations

import asyncio
import os

import pytest
import uvloop

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


def test_on_uvloop_each_pipe_descriptor_has_one_owner() -> None:
    """uvloop's libuv closes a pipe's descriptor, then the file object it was handed closes the
    number again (MagicStack/uvloop#763): by then another thread may own that number (SQLite's
    database file, whose next read fails with "disk I/O error"). The objects uvloop holds must
    not own their descriptors, Popen's must be closed, and libuv's close must leave none open.
    """

    async def main() -> None:
        child = await Child.start(["true"], env={"PATH": "/usr/bin:/bin"})
        held = [transport.get_extra_info("pipe") for transport in child._transports]
        descriptors = [pipe.fileno() for pipe in held]
        assert [pipe.closefd for pipe in held] == [False, False]
        assert [pipe.closed for pipe in (child._popen.stdout, child._popen.stderr)] == [True, True]
        await asyncio.gather(child.stdout.read(), child.stderr.read(), child.exited)
        child.close()
        await asyncio.sleep(0)  # libuv closes a handle on the loop's next turn
        for fd in descriptors:
            with pytest.raises(OSError, match="Bad file descriptor"):
                os.fstat(fd)

    uvloop.run(main())
