"""CONTAINER kind against the real Docker Engine of this machine (`scripts/setup-docker.sh`).

Without an engine these tests skip with one line, except under `CI=true`, where they fail: CI runs
the setup script, so a missing engine there is a broken build, not a reason to skip.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import uuid
from typing import Any

import httpx
import pytest

from hourglass.domain.jobs import Outcome
from hourglass.runtime.kinds import BuildError, ContainerKind
from hourglass.runtime.kinds.container import (
    HOST_LABEL,
    LABEL,
    OWNER_LABEL,
    container_config,
    owner_label,
)
from hourglass.runtime.kinds.docker_api import DockerClient

DOCKER_HOST = os.environ.get("HOURGLASS_DOCKER_HOST") or "unix:///var/run/docker.sock"
SOCKET = DOCKER_HOST.removeprefix("unix://")
IMAGE = "local/busybox"
UNREACHABLE = "unix:///nonexistent/hourglass/docker.sock"


def _engine_problem() -> str | None:
    """Why the container tests cannot run here, or None."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(SOCKET)
            sock.sendall(f"GET /images/{IMAGE}/json HTTP/1.0\r\nHost: d\r\n\r\n".encode())
            status = sock.recv(64).split(b" ")[1]
    except (OSError, IndexError):
        return f"no Docker Engine at {DOCKER_HOST}"
    if status != b"200":
        return f"image {IMAGE} missing: run scripts/setup-docker.sh"
    return None


@pytest.fixture(scope="module")
def engine() -> str:
    problem = _engine_problem()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem} (CI=true: the container tests must run)")
        pytest.skip(problem)
    return DOCKER_HOST


class Sink:
    """Collects blocks per stream and wakes waiters on every write."""

    def __init__(self) -> None:
        self.data: dict[str, bytearray] = {s: bytearray() for s in ("stdout", "stderr", "system")}
        self._changed = asyncio.Event()

    async def write(self, stream: str, data: bytes) -> None:
        self.data[stream] += data
        self._changed.set()

    def text(self, stream: str = "stdout") -> str:
        return self.data[stream].decode()

    async def until(self, stream: str, needle: bytes) -> None:
        while needle not in self.data[stream]:
            self._changed.clear()
            await self._changed.wait()


async def engine_get(path: str, **params: Any) -> httpx.Response:
    transport = httpx.AsyncHTTPTransport(uds=SOCKET)
    async with httpx.AsyncClient(transport=transport, base_url="http://docker") as client:
        return await client.get(path, params=params)


async def container_with_marker(marker: str) -> str:
    """The id of the running managed container whose environment carries `marker`."""
    filters = f'{{"label": ["{LABEL}"]}}'
    for summary in (await engine_get("/containers/json", filters=filters)).json():
        details = (await engine_get(f"/containers/{summary['Id']}/json")).json()
        if f"MARKER={marker}" in details["Config"]["Env"]:
            return str(summary["Id"])
    raise AssertionError(f"no running container with MARKER={marker}")


def kind(host: str = DOCKER_HOST) -> ContainerKind:
    return ContainerKind(host, kill_grace_seconds=1)


@pytest.mark.docker
async def test_streams_are_split_and_exit_code_reported(engine: str):
    """stdout and stderr arrive on their own streams; exit code 3 is a workload failure."""
    sink = Sink()
    payload = {"image": IMAGE, "cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"]}
    result = await kind(engine).run(payload, sink, asyncio.Event())
    assert (result.outcome, result.exit_code) == (Outcome.WORKLOAD_FAILURE, 3)
    assert result.reason == "exited with code 3"
    assert (sink.text(), sink.text("stderr")) == ("out\n", "err\n")


@pytest.mark.docker
async def test_success_with_env_and_secrets(engine: str):
    """Exit code 0 succeeds; env and secrets reach the container as variables."""
    sink = Sink()
    payload = {
        "image": IMAGE,
        "cmd": ["sh", "-c", "echo $FOO $TOKEN"],
        "env": {"FOO": "bar"},
        "secrets": {"TOKEN": "s3cret"},
    }
    result = await kind(engine).run(payload, sink, asyncio.Event())
    assert (result.outcome, result.exit_code) == (Outcome.SUCCESS, 0)
    assert sink.text() == "bar s3cret\n"


@pytest.mark.docker
async def test_many_lines_on_both_streams_arrive_complete(engine: str):
    """100 000 lines on stdout and 50 000 on stderr all arrive, in order, none lost."""
    sink = Sink()
    script = "seq 1 100000; seq 1 50000 >&2"
    payload = {"image": IMAGE, "cmd": ["sh", "-c", script]}
    result = await kind(engine).run(payload, sink, asyncio.Event())
    assert result.outcome is Outcome.SUCCESS
    assert sink.text().splitlines() == [str(i) for i in range(1, 100001)]
    assert sink.text("stderr").splitlines() == [str(i) for i in range(1, 50001)]


@pytest.mark.docker
async def test_memory_limit_is_applied(engine: str):
    """`memory: 64m` becomes the container's cgroup memory limit."""
    sink = Sink()
    script = (
        "cat /sys/fs/cgroup/memory.max 2>/dev/null"
        " || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
    )
    payload = {"image": IMAGE, "cmd": ["sh", "-c", script], "memory": "64m", "cpus": 0.5}
    result = await kind(engine).run(payload, sink, asyncio.Event())
    assert result.outcome is Outcome.SUCCESS, sink.text("stderr")
    assert sink.text().strip() == str(64 * 1024 * 1024)


@pytest.mark.docker
async def test_timeout_stops_and_removes_the_container(engine: str):
    """On timeout the container is stopped, the run fails as timed out, and it is removed."""
    marker, sink = uuid.uuid4().hex, Sink()
    payload = {
        "image": IMAGE,
        "cmd": ["sh", "-c", "echo ready; sleep 1000"],
        "env": {"MARKER": marker},
        "timeout": "1s",
    }
    running = asyncio.create_task(kind(engine).run(payload, sink, asyncio.Event()))
    await sink.until("stdout", b"ready\n")
    container = await container_with_marker(marker)
    result = await running
    assert result.outcome is Outcome.WORKLOAD_FAILURE
    assert (result.exit_code, result.reason) == (None, "timed out after 1s")
    assert (await engine_get(f"/containers/{container}/json")).status_code == 404


@pytest.mark.docker
async def test_cancel_stops_and_removes_the_container(engine: str):
    """Setting cancel stops the container, returns CANCELED and removes it."""
    marker, sink, cancel = uuid.uuid4().hex, Sink(), asyncio.Event()
    payload = {"image": IMAGE, "cmd": ["sh", "-c", "echo ready; sleep 1000"]}
    payload["env"] = {"MARKER": marker}
    running = asyncio.create_task(kind(engine).run(payload, sink, cancel))
    await sink.until("stdout", b"ready\n")
    container = await container_with_marker(marker)
    cancel.set()
    result = await running
    assert (result.outcome, result.exit_code) == (Outcome.CANCELED, None)
    assert (await engine_get(f"/containers/{container}/json")).status_code == 404


@pytest.mark.docker
async def test_a_command_that_cannot_start_is_a_workload_failure(engine: str):
    """A cmd missing from the image fails the workload with the engine's reason."""
    payload = {"image": IMAGE, "cmd": ["no-such-program-hg"]}
    result = await kind(engine).run(payload, Sink(), asyncio.Event())
    assert result.outcome is Outcome.WORKLOAD_FAILURE
    assert "no-such-program-hg" in (result.reason or "")


@pytest.mark.docker
async def test_build_accepts_a_present_image(engine: str):
    """Build finds `local/busybox` on the engine."""
    await kind(engine).build({"image": IMAGE})


@pytest.mark.docker
async def test_build_rejects_an_image_that_cannot_be_pulled(engine: str):
    """Build of a missing image with no registry reachable fails, naming the image."""
    with pytest.raises(BuildError, match="local/no-such-image-hg"):
        await kind(engine).build({"image": "local/no-such-image-hg:1"})


async def test_build_without_a_runtime_fails_with_the_address():
    """Build against a socket that does not exist fails as runtime unreachable."""
    expected = f"^container runtime unreachable at {re.escape(UNREACHABLE)}"
    with pytest.raises(BuildError, match=expected):
        await kind(UNREACHABLE).build({"image": IMAGE})


async def test_run_without_a_runtime_is_a_system_failure():
    """Run against a socket that does not exist is a SYSTEM_FAILURE, so the engine retries it."""
    result = await kind(UNREACHABLE).run({"image": IMAGE}, Sink(), asyncio.Event())
    assert result.outcome is Outcome.SYSTEM_FAILURE
    assert (result.reason or "").startswith(f"container runtime unreachable at {UNREACHABLE}")


@pytest.mark.docker
async def test_sweep_removes_what_dead_workers_of_this_host_left_running(engine: str):
    """Containers of a dead worker (or of a reused pid) are removed; a live worker's stay."""
    sweeper = kind(engine)
    # a host name of its own: the sweepers of workers other tests run at the same time on this
    # Docker Engine must not take (or race it for) these containers
    sweeper.host = f"{sweeper.host}-sweep-test-{os.getpid()}"
    gone = subprocess.Popen(["true"])
    gone.wait()
    owners = {
        "dead": f"{gone.pid}:1",
        "reused pid": f"{os.getpid()}:1",  # our pid, but not our start time
        "alive": owner_label(),
    }
    async with DockerClient(engine) as docker:
        ids = {}
        for name, owner in owners.items():
            labels = {HOST_LABEL: sweeper.host, OWNER_LABEL: owner}
            config = container_config({"image": IMAGE, "cmd": ["sleep", "1000"]}, labels)
            ids[name] = await docker.create(config)
            await docker.start(ids[name])
        try:
            assert await sweeper.sweep_orphans() >= 2
            status = {
                n: (await engine_get(f"/containers/{c}/json")).status_code for n, c in ids.items()
            }
            assert status == {"dead": 404, "reused pid": 404, "alive": 200}
        finally:
            for container in ids.values():
                await docker.remove(container)
