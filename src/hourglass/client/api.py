"""The HTTP client of the public API: one httpx connection pool, the bearer token, and every
failure (an error status, an unreachable server, a dropped connection) turned into a
`ClientError` that says what happened in one line."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx

from hourglass import __version__
from hourglass.client.config import Connection
from hourglass.client.errors import ApiError, ClientError, Exit, one_line, problem_message

USER_AGENT = f"hourglass-cli/{__version__}"
# connect and per-read timeouts; a follow waits longer between reads (keep-alives come every 15 s)
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
STREAM_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=10.0)


def new_key() -> str:
    """A fresh `Idempotency-Key` for one command's write."""
    return f"cli-{uuid.uuid4().hex}"


class Api:
    """Requests to one server as one user (or none, for login)."""

    def __init__(self, connection: Connection, *, auth: bool = True) -> None:
        self.connection = connection
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if auth:
            if not connection.token:
                raise ClientError(
                    f"not logged in to {connection.url}: run `hourglass login` "
                    "or set HOURGLASS_TOKEN",
                    Exit.AUTH,
                )
            headers["Authorization"] = f"Bearer {connection.token}"
        self.http = httpx.Client(
            base_url=connection.url, headers=headers, timeout=TIMEOUT, trust_env=False
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; an error status raises `ApiError`, a transport failure `ClientError`."""
        with self.transport_errors():
            response = self.http.request(method, path, **kwargs)
        check(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise ClientError(
                f"{self.connection.url} answered {path} with something other than JSON: "
                "is it a Hourglass server?",
                Exit.SERVER,
            ) from exc

    def get(self, path: str, **params: Any) -> Any:
        return self.json("GET", path, params={k: v for k, v in params.items() if v is not None})

    @contextlib.contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed response whose status was checked (the error body read) before yielding."""
        kwargs.setdefault("timeout", STREAM_TIMEOUT)
        with self.transport_errors(), self.http.stream(method, path, **kwargs) as response:
            if response.status_code >= 400:
                response.read()
                check(response)
            yield response

    @contextlib.contextmanager
    def transport_errors(self) -> Iterator[None]:
        """httpx's transport failures as one-line `ClientError`s (exit code SERVER)."""
        try:
            yield
        except httpx.ConnectError as exc:
            raise ClientError(
                f"cannot reach {self.connection.url}: {_reason(exc)}", Exit.SERVER
            ) from exc
        except httpx.TimeoutException as exc:
            raise ClientError(f"{self.connection.url} did not answer in time", Exit.SERVER) from exc
        except httpx.TransportError as exc:
            raise ClientError(
                f"connection to {self.connection.url} failed: {_reason(exc)}", Exit.SERVER
            ) from exc


def check(response: httpx.Response) -> None:
    """Raise `ApiError` with the problem+json's readable line for an error status."""
    if response.status_code < 400:
        return
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    message = problem_message(response.status_code, response.reason_phrase, body)
    raise ApiError(response.status_code, message, body if isinstance(body, dict) else None)


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    # httpx repeats the OS error as "[Errno 111] Connection refused": keep the words
    if "] " in text and text.startswith("["):
        text = text.split("] ", 1)[1]
    return one_line(text)


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
