"""CONTAINER: run an image on the Docker Engine behind `settings.docker_host`.

One run: make sure the image is there, create the container (cmd, env + secrets, cpu and memory
limits), attach to its output *before* starting it (following `logs` instead lost lines in some
runs), start it, demultiplex stdout/stderr into the sink, wait for the exit code, stop it on
timeout or cancel (SIGTERM, SIGKILL after `kill_grace_seconds`, done by the engine), and always
remove it ourselves (auto-remove loses the exit code on some engines).

An unreachable engine is a SYSTEM_FAILURE (retried); what the engine refuses about the user's
container (bad limits, a command that cannot start) is a WORKLOAD_FAILURE.

Containers are labelled with the host and the worker process (pid and start time) that runs
them, so a worker that starts on a host stops and removes what a killed worker of that host left
behind (`sweep_orphans`): nothing else would, and attempt 2 would run beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
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
    timeout_of,
    watch,
)
from hourglass.runtime.kinds.docker_api import Demuxer, DockerClient, DockerError, DockerUnreachable

log = logging.getLogger("hourglass.kinds.container")

DEFAULT_TIMEOUT = default_timeout(Kind.CONTAINER)
LABEL = "dev.hourglass.managed"
HOST_LABEL = "dev.hourglass.host"
OWNER_LABEL = "dev.hourglass.owner"  # "<pid>:<start time>" of the worker process
_DRAIN_SECONDS = 10.0
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_memory(value: str | int) -> int:
    """Bytes in a Docker-style size: 512m, 1g, 1.5G, 64MiB, or a bare number of bytes."""
    if isinstance(value, int):
        return value
    match = _MEMORY.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"invalid memory size: {value!r}")
    return int(float(match[1]) * _MEMORY_UNITS[match[2].lower()])


def process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot), or None if it does not exist: with
    the pid it names one process, even after the pid was reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) "; state is field 3
    return fields[19] if len(fields) > 19 else None


def owner_label(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{process_start(pid) or '?'}"


def owner_alive(label: str) -> bool:
    """Whether the worker process an `OWNER_LABEL` names still runs (unknown: assume it does)."""
    pid, _, started = label.partition(":")
    if not pid.isdigit():
        return True
    if started == "?" or not Path("/proc").is_dir():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return process_start(int(pid)) == started


def container_config(
    payload: Mapping[str, Any], labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The `POST /containers/create` body for a payload (with our `labels` besides LABEL)."""
    env = {**(payload.get("env") or {}), **(payload.get("secrets") or {})}
    host: dict[str, Any] = {}
    if payload.get("cpus"):
        host["NanoCpus"] = int(float(payload["cpus"]) * 1e9)
    if payload.get("memory"):
        host["Memory"] = parse_memory(payload["memory"])
    config: dict[str, Any] = {
        "Image": payload["image"],
        "Env": [f"{k}={v}" for k, v in env.items()],
        "AttachStdin": False,
        "AttachStdout": True,
        "AttachStderr": True,
        "Tty": False,
        "OpenStdin": False,
        "Labels": {LABEL: "true", **(labels or {})},
        "HostConfig": host,
    }
    if payload.get("cmd"):
        config["Cmd"] = [str(arg) for arg in payload["cmd"]]
    return config


class ContainerKind:
    """Runs an image as a container on one Docker Engine."""

    def __init__(self, docker_host: str, kill_grace_seconds: float = 10.0) -> None:
        self.docker_host = docker_host
        self.kill_grace_seconds = kill_grace_seconds
        self.host = socket.gethostname()

    def labels(self) -> dict[str, str]:
        """Who runs the containers created now: this host, this process."""
        return {HOST_LABEL: self.host, OWNER_LABEL: owner_label()}

    async def sweep_orphans(self) -> int:
        """Remove (killing them) this host's containers whose worker process is gone."""
        removed = 0
        async with DockerClient(self.docker_host) as docker:
            try:
                found = await docker.list_containers({LABEL: "true", HOST_LABEL: self.host})
            except DockerUnreachable:
                return 0  # no runtime here: nothing can have been left running on it
            for summary in found:
                owner = (summary.get("Labels") or {}).get(OWNER_LABEL, "")
                if owner_alive(owner):
                    continue
                log.warning("removing container %s left by dead worker %s", summary["Id"], owner)
                with contextlib.suppress(DockerError):
                    await docker.remove(str(summary["Id"]))
                    removed += 1
        return removed

    async def build(self, payload: Mapping[str, Any]) -> None:
        image = str(payload["image"])
        try:
            async with DockerClient(self.docker_host) as docker:
                if not await docker.image_exists(image):
                    await docker.pull(image)
        except DockerUnreachable as exc:
            raise BuildError(exc.message) from exc
        except DockerError as exc:
            raise BuildError(f"image {image} is not available: {exc.message}") from exc

    async def run(
        self, payload: Mapping[str, Any], sink: OutputSink, cancel: asyncio.Event
    ) -> RunResult:
        if cancel.is_set():
            return RunResult.canceled()
        try:
            async with DockerClient(self.docker_host) as docker:
                return await self._run(docker, payload, sink, cancel)
        except DockerUnreachable as exc:
            return RunResult.system_failure(exc.message)
        except DockerError as exc:
            return RunResult.system_failure(f"container runtime error: {exc.message}")

    async def _run(
        self,
        docker: DockerClient,
        payload: Mapping[str, Any],
        sink: OutputSink,
        cancel: asyncio.Event,
    ) -> RunResult:
        image = str(payload["image"])
        if not await docker.image_exists(image):
            # another worker may have built the workflow; a failed pull here is the system's
            await docker.pull(image)
        try:
            container = await docker.create(container_config(payload, self.labels()))
        except DockerError as exc:
            if 400 <= exc.status < 500:
                return RunResult.workload_failure(f"cannot create the container: {exc.message}")
            raise
        try:
            return await self._attached(docker, container, payload, sink, cancel)
        finally:
            with contextlib.suppress(DockerError, DockerUnreachable):
                await docker.remove(container)

    async def _attached(
        self,
        docker: DockerClient,
        container: str,
        payload: Mapping[str, Any],
        sink: OutputSink,
        cancel: asyncio.Event,
    ) -> RunResult:
        timeout, timeout_label = timeout_of(payload, DEFAULT_TIMEOUT)
        async with docker.attach(container) as reader:
            pump = asyncio.create_task(_pump(reader, sink))
            tasks: list[asyncio.Task[Any]] = [pump]
            try:
                try:
                    await docker.start(container)
                except DockerError as exc:
                    if exc.status >= 500 and not _is_user_error(exc.message):
                        raise
                    return RunResult.workload_failure(f"cannot start the container: {exc.message}")
                waiter = asyncio.create_task(docker.wait(container))
                watcher = asyncio.create_task(watch(waiter, [pump]))
                tasks += [waiter, watcher]
                ended = await race(watcher, cancel, timeout)
                if ended is Ended.DONE:
                    watcher.result()  # a failing sink fails the run
                else:
                    why = (
                        "canceled"
                        if ended is Ended.CANCELED
                        else f"timed out after {timeout_label}"
                    )
                    await sink.write("system", f"{why}; stopping the container\n".encode())
                    await self._stop(docker, container, waiter)
                await drain([pump], _DRAIN_SECONDS)
            finally:
                for task in tasks:
                    task.cancel()
        if ended is Ended.CANCELED:
            return RunResult.canceled()
        if ended is Ended.TIMED_OUT:
            return RunResult.workload_failure(f"timed out after {timeout_label}")
        code, error = waiter.result()
        return await self._result(docker, container, code, error)

    async def _stop(
        self, docker: DockerClient, container: str, waiter: asyncio.Future[Any]
    ) -> None:
        """SIGTERM, SIGKILL after the grace period (the engine does both), then see it stopped."""
        with contextlib.suppress(DockerError):
            await docker.stop(container, self.kill_grace_seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(waiter), _DRAIN_SECONDS)

    async def _result(
        self, docker: DockerClient, container: str, code: int, error: str | None
    ) -> RunResult:
        if code == 0:
            return RunResult.success(0)
        if error:
            return RunResult.workload_failure(f"{error} (exit code {code})", code)
        state = (await docker.inspect(container)).get("State") or {}
        if state.get("OOMKilled"):
            return RunResult.workload_failure(f"out of memory (exited with code {code})", code)
        return RunResult.workload_failure(f"exited with code {code}", code)


def _is_user_error(message: str) -> bool:
    """Whether a failed start is the user's doing (older engines answer 500 for these)."""
    low = message.lower()
    return any(hint in low for hint in ("executable file not found", "no such file", "permission"))


async def _pump(reader: asyncio.StreamReader, sink: OutputSink) -> None:
    demuxer = Demuxer()
    while data := await reader.read(READ_BLOCK):
        for stream, block in demuxer.feed(data):
            await sink.write(stream, block)
