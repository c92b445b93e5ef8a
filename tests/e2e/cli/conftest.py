"""Fixtures of the CLI's end-to-end tests: one real `hourglass up` per test module, an account
with an API token on it, and the real `hourglass` executable run in a subprocess against it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import HOURGLASS, base_env, free_port, started

PASSWORD = "correct horse battery"


@dataclass
class Server:
    url: str
    port: int


@dataclass
class Account:
    """A user of the module's server, and the environment that makes the CLI act as them."""

    server: Server
    email: str
    token: str
    home: Path  # XDG_CONFIG_HOME of the CLI (empty unless a test logs in)

    def env(self, **extra: str) -> dict[str, str]:
        env = base_env(
            HOURGLASS_URL=self.server.url,
            HOURGLASS_TOKEN=self.token,
            XDG_CONFIG_HOME=str(self.home),
            NO_COLOR="",
        )
        env.pop("NO_COLOR")
        env.update(extra)
        return env

    def http(self) -> httpx.Client:
        """A plain API client as this user (to check what the CLI did, or prepare a case)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=30)

    def run(
        self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """`hourglass ARGS…` to completion, output captured (so: piped, not a terminal)."""
        return subprocess.run(
            [HOURGLASS, *args],
            env=env if env is not None else self.env(),
            input=stdin.encode() if stdin is not None else None,
            capture_output=True,
            timeout=60,
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`hourglass up` on SQLite, shared by one test module."""
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    env = base_env(
        HOURGLASS_PORT=str(port),
        HOURGLASS_DATA_DIR=str(root / "data"),
        HOURGLASS_POLL_INTERVAL_SECONDS="0.5",
        HOURGLASS_ACCESS_LOG="false",
    )
    url = f"http://127.0.0.1:{port}"
    with started(["up"], env, root / "up.log", url):
        yield Server(url, port)


def new_account(server: Server, home: Path) -> Account:
    email = f"cli-{os.urandom(4).hex()}@example.com"
    with httpx.Client(base_url=server.url, timeout=30) as http:
        session = http.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert session.status_code == 201, session.text
        made = http.post(
            "/tokens",
            json={"name": "tests"},
            headers={"X-CSRF-Token": session.json()["csrf_token"]},
        )
        assert made.status_code == 201, made.text
    return Account(server, email, made.json()["token"], home)


@pytest.fixture(scope="module")
def account(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Account:
    """One user per module (the CLI gets its token through HOURGLASS_TOKEN)."""
    return new_account(server, tmp_path_factory.mktemp("home"))


def run_in_terminal(
    args: list[str], env: dict[str, str], columns: int = 200
) -> tuple[int, str, str]:
    """`hourglass ARGS…` with its standard output on a pseudo-terminal: (exit code, what the
    terminal showed, standard error)."""
    import fcntl
    import pty
    import struct
    import termios

    main_fd, terminal_fd = pty.openpty()
    fcntl.ioctl(terminal_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    process = subprocess.Popen(
        [HOURGLASS, *args],
        env={**env, "TERM": "xterm-256color", "COLUMNS": str(columns)},
        stdin=subprocess.DEVNULL,
        stdout=terminal_fd,
        stderr=subprocess.PIPE,
    )
    os.close(terminal_fd)
    shown = b""
    while True:
        try:
            data = os.read(main_fd, 65536)
        except OSError:  # EIO: the terminal's other side is closed (the program ended)
            break
        if not data:
            break
        shown += data
    os.close(main_fd)
    assert process.stderr is not None
    errors = process.stderr.read()
    process.stderr.close()
    return process.wait(30), shown.decode(), errors.decode()


def create_command(account: Account, name: str, script: str, *args: str) -> str:
    """A COMMAND workflow running `python -c SCRIPT ARGS…`, made with the CLI; its id."""
    import sys

    made = account.run(
        "workflows",
        "create",
        "--name",
        name,
        "--every",
        "1d",
        "--",
        sys.executable,
        "-c",
        script,
        *args,
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.decode().strip()


def run_to_end(
    account: Account, workflow_id: str
) -> tuple[str, subprocess.CompletedProcess[bytes]]:
    """`workflows run --follow`: the job's id (said on standard error) and the finished run."""
    done = account.run("workflows", "run", workflow_id, "--follow")
    said = done.stderr.decode()
    assert said.startswith("job "), said
    return said.split()[1], done
