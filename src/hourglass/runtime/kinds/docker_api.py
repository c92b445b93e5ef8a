"""The few Docker Engine API calls the CONTAINER kind needs, over the engine's unix socket.

Plain calls go through httpx (`AsyncHTTPTransport(uds=…)`). Attach is a hijacked connection, so it
is spoken by hand over `asyncio.open_unix_connection`: request, response head, then the raw
multiplexed stream, whose 8-byte frame headers `Demuxer` strips. Only `unix://` hosts are
supported. Engine errors become `DockerError` (with the HTTP status), an unreachable socket
`DockerUnreachable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from hourglass.errors import HourglassError

_CALL_TIMEOUT = 30.0
_STREAM_NAMES = {0: "stdout", 1: "stdout", 2: "stderr", 3: "system"}


class DockerUnreachable(HourglassError):
    """The container runtime is unreachable."""


class DockerError(HourglassError):
    """The container runtime refused the request."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def socket_path(docker_host: str) -> str:
    """The socket path of a `unix:///path` DOCKER_HOST; anything else is unsupported."""
    parts = urlsplit(docker_host)
    if parts.scheme != "unix" or not parts.path:
        raise DockerUnreachable(f"unsupported container runtime address {docker_host!r}")
    return parts.path


def split_image(image: str) -> tuple[str, str]:
    """(repository, tag or digest) of an image reference; the tag defaults to "latest"."""
    if "@" in image:
        repo, digest = image.split("@", 1)
        return repo, digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1 :]
    return image, "latest"


class Demuxer:
    """Splits Docker's multiplexed stream (8-byte header: type, 0, 0, 0, big-endian length).

    `feed` returns `(stream, bytes)` blocks, consecutive blocks of one stream merged, and hands
    out a frame's payload as soon as it arrives, so a huge frame is never held whole in memory.
    """

    def __init__(self) -> None:
        self._header = bytearray()
        self._stream = "stdout"
        self._left = 0  # payload bytes of the current frame still to come

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        blocks: list[tuple[str, bytearray]] = []
        view = memoryview(data)
        pos = 0
        while pos < len(view):
            if self._left == 0:
                need = 8 - len(self._header)
                self._header += view[pos : pos + need]
                pos += min(need, len(view) - pos)
                if len(self._header) < 8:
                    break
                self._stream = _STREAM_NAMES.get(self._header[0], "stdout")
                self._left = int.from_bytes(self._header[4:8], "big")
                self._header.clear()
                continue
            piece = view[pos : pos + self._left]
            pos += len(piece)
            self._left -= len(piece)
            if blocks and blocks[-1][0] == self._stream:
                blocks[-1][1].extend(piece)
            else:
                blocks.append((self._stream, bytearray(piece)))
        return [(stream, bytes(block)) for stream, block in blocks]

    @property
    def pending(self) -> bool:
        """Whether a frame was cut off (the stream ended mid-frame)."""
        return bool(self._header) or self._left > 0


class DockerClient:
    """An async client for one engine; use as `async with DockerClient(host) as docker:`."""

    def __init__(self, docker_host: str) -> None:
        self.docker_host = docker_host
        self.path = socket_path(docker_host)
        self._http = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=self.path),
            base_url="http://docker",
            timeout=_CALL_TIMEOUT,
            trust_env=False,
        )

    async def __aenter__(self) -> DockerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        timeout: float | None = _CALL_TIMEOUT,
        ok: tuple[int, ...] = (200, 201, 204, 304),
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method, url, params=params, json=body, timeout=httpx.Timeout(timeout)
            )
        except (httpx.ConnectError, httpx.RemoteProtocolError, OSError) as exc:
            raise self._unreachable(exc) from exc
        except httpx.TransportError as exc:
            raise DockerUnreachable(
                f"container runtime error at {self.docker_host}: {exc}"
            ) from exc
        if response.status_code not in ok:
            raise DockerError(response.status_code, _message(response.content))
        return response

    def _unreachable(self, exc: BaseException) -> DockerUnreachable:
        detail = str(exc) or type(exc).__name__
        return DockerUnreachable(f"container runtime unreachable at {self.docker_host} ({detail})")

    async def ping(self) -> None:
        await self._call("GET", "/_ping", timeout=5.0)

    async def image_exists(self, image: str) -> bool:
        try:
            await self._call("GET", f"/images/{quote(image, safe='/:@')}/json")
        except DockerError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def pull(self, image: str) -> None:
        """Pull `image`; errors reported inside the progress stream raise too."""
        repo, tag = split_image(image)
        response = await self._call(
            "POST", "/images/create", params={"fromImage": repo, "tag": tag}, timeout=None
        )
        for line in response.text.splitlines():
            event = _json(line)
            if isinstance(event, dict) and event.get("error"):
                raise DockerError(500, str(event.get("error")))

    async def create(self, config: Mapping[str, Any]) -> str:
        response = await self._call("POST", "/containers/create", body=config)
        return str(response.json()["Id"])

    async def start(self, container: str) -> None:
        await self._call("POST", f"/containers/{container}/start")

    async def wait(self, container: str) -> tuple[int, str | None]:
        """Block until the container stops: (exit code, engine error message or None)."""
        response = await self._call("POST", f"/containers/{container}/wait", timeout=None)
        body = response.json()
        error = body.get("Error") or {}
        return int(body.get("StatusCode", -1)), (error.get("Message") or None)

    async def stop(self, container: str, grace: float) -> None:
        """SIGTERM the container, SIGKILL after `grace` seconds (done by the engine)."""
        seconds = max(0, round(grace))
        await self._call(
            "POST", f"/containers/{container}/stop", params={"t": seconds}, timeout=seconds + 30
        )

    async def inspect(self, container: str) -> dict[str, Any]:
        response = await self._call("GET", f"/containers/{container}/json")
        result: dict[str, Any] = response.json()
        return result

    async def list_containers(self, labels: Mapping[str, str | None]) -> list[dict[str, Any]]:
        """Every container (running or not) carrying `labels` (None: the label, any value)."""
        wanted = [name if value is None else f"{name}={value}" for name, value in labels.items()]
        params: dict[str, str | int] = {"all": 1, "filters": json.dumps({"label": wanted})}
        result: list[dict[str, Any]] = (
            await self._call("GET", "/containers/json", params=params)
        ).json()
        return result

    async def remove(self, container: str) -> None:
        await self._call(
            "DELETE", f"/containers/{container}", params={"force": 1}, ok=(200, 204, 404)
        )

    @asynccontextmanager
    async def attach(self, container: str) -> AsyncIterator[asyncio.StreamReader]:
        """A reader of the container's multiplexed stdout/stderr, attached (use before start)."""
        try:
            reader, writer = await asyncio.open_unix_connection(self.path, limit=2**20)
        except OSError as exc:
            raise self._unreachable(exc) from exc
        try:
            await self._handshake(container, reader, writer)
            yield reader
        finally:
            writer.close()

    async def _handshake(
        self, container: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        query = urlencode({"stream": 1, "stdout": 1, "stderr": 1})
        request = (
            f"POST /containers/{container}/attach?{query} HTTP/1.1\r\n"
            "Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
        )
        try:
            writer.write(request.encode())
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _CALL_TIMEOUT)
            status = int(head.split(b" ", 2)[1])
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError) as exc:
            raise self._unreachable(exc) from exc
        if status not in (101, 200):
            body = b""
            with contextlib.suppress(OSError, TimeoutError):
                body = await asyncio.wait_for(reader.read(65536), 5.0)
            raise DockerError(status, _message(body) or f"attach answered {status}")


def _json(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _message(body: bytes) -> str:
    data = _json(body)
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return body.decode(errors="replace").strip()
