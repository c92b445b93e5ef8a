"""Real Hourglass processes for end-to-end tests: started with the `hourglass` console script,
talked to over real HTTP, stopped with real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support import free_socket

HOURGLASS = str(Path(sys.executable).with_name("hourglass"))


def free_port() -> int:
    sock = free_socket()
    port: int = sock.getsockname()[1]
    sock.close()
    return port


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(
            [HOURGLASS, *args], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait()

    def stop(self, timeout: float = 30) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()
        return self.popen.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def base_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOURGLASS_")}
    env.update(values)
    return env


def wait_healthy(base_url: str, process: Process, timeout: float = 30) -> None:
    """Poll /readyz of a freshly started server process until it answers (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"server exited early:\n{process.output()}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server not ready after {timeout}s:\n{process.output()}")


@contextmanager
def started(
    args: list[str], env: dict[str, str], log_path: Path, base_url: str | None = None
) -> Iterator[Process]:
    process = Process(args, env, log_path)
    try:
        if base_url is not None:
            wait_healthy(base_url, process)
        yield process
    finally:
        process.stop()


def wait_output(process: Process, text: str, timeout: float = 30) -> None:
    """Poll the process's log until `text` appears in it (bounded): what it says it is doing."""
    deadline = time.monotonic() + timeout
    while text not in process.output():
        if process.popen.poll() is not None:
            raise RuntimeError(f"process exited before saying {text!r}:\n{process.output()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"process did not say {text!r} in {timeout}s:\n{process.output()}")
        time.sleep(0.05)
