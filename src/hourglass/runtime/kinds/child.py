"""Starting a program as a child process and watching it from the event loop, cheaply on any loop.

`subprocess.Popen` starts it with vfork/posix_spawn, which costs about a millisecond even from a
large server process, where uvloop's `subprocess_exec` forks the whole interpreter (~12 ms here)
and asyncio's default loop adds a watcher thread per child. The exit is seen through a pidfd on
the running loop (a waiter thread where pidfds are missing), and the pipes are read through the
loop's own pipe transports.

uvloop's pipe transports close their descriptor twice: libuv closes the number, then the file
object handed to `connect_read_pipe` closes it again (MagicStack/uvloop#763). Between the two,
another thread may have opened a file and been given that number (SQLite opening a database
connection: its next read fails with "disk I/O error"). So uvloop gets a duplicate of each pipe
wrapped in a file object that does not own it: libuv alone closes it, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import subprocess
from collections.abc import Sequence
from typing import IO

from hourglass.runtime.kinds.base import READ_BLOCK


class Child:
    """A running program in its own session (so its own process group, pgid == pid), with its
    stdout and stderr as stream readers and `exited`, done when the program itself has ended."""

    def __init__(self, popen: subprocess.Popen[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._popen = popen
        self._loop = loop
        self._pidfd: int | None = None
        self._transports: list[asyncio.BaseTransport] = []
        self.pid = popen.pid
        self.exited: asyncio.Future[None] = loop.create_future()
        self.stdout = asyncio.StreamReader(limit=READ_BLOCK, loop=loop)
        self.stderr = asyncio.StreamReader(limit=READ_BLOCK, loop=loop)

    @classmethod
    async def start(
        cls, argv: Sequence[str], *, env: dict[str, str], cwd: str | None = None
    ) -> Child:
        """Start `argv` (looked up on `env`'s PATH); raises OSError if it cannot start."""
        popen = subprocess.Popen(  # noqa: ASYNC220 - vfork/posix_spawn: about a millisecond
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
            bufsize=0,
        )
        child = cls(popen, asyncio.get_running_loop())
        try:
            await child._attach()
        except BaseException:
            child.kill()
            child.close()
            raise
        return child

    async def _attach(self) -> None:
        out, err = self._popen.stdout, self._popen.stderr
        assert out is not None
        assert err is not None  # both are PIPE
        for pipe, reader in ((out, self.stdout), (err, self.stderr)):
            transport, _ = await self._loop.connect_read_pipe(
                functools.partial(asyncio.StreamReaderProtocol, reader, loop=self._loop),
                _for_loop(pipe, self._loop),
            )
            self._transports.append(transport)
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # no pidfds here: a thread waits instead
            waiter = self._loop.run_in_executor(None, self._popen.wait)
            waiter.add_done_callback(lambda _: self._ended())
        else:
            self._loop.add_reader(self._pidfd, self._ended)

    def _ended(self) -> None:
        self._drop_pidfd()
        self._popen.wait()  # it has exited: this only reaps it
        if not self.exited.done():
            self.exited.set_result(None)

    def _drop_pidfd(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    def kill(self) -> None:
        """SIGKILL the program (not its group) if it still runs."""
        with contextlib.suppress(ProcessLookupError):
            self._popen.kill()

    def close(self) -> None:
        """Close the pipes; a program still running is left alone, and reaped when it ends."""
        for transport in self._transports:
            transport.close()


def _for_loop(pipe: IO[bytes], loop: asyncio.AbstractEventLoop) -> IO[bytes]:
    """`pipe` as `loop.connect_read_pipe` may take it: itself on asyncio's loops, whose transport
    closes it once; on uvloop, whose libuv closes the descriptor and then the file object too,
    a duplicate the returned object does not own (and `pipe` is closed here)."""
    if not type(loop).__module__.startswith("uvloop"):
        return pipe
    fd = os.dup(pipe.fileno())
    pipe.close()
    return open(fd, "rb", buffering=0, closefd=False)  # libuv closes fd
