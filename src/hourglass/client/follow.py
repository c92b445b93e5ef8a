"""Following a job's log live over Server-Sent Events (`GET …/events`) to its end.

The stream's ids are the lines' sequence numbers, so when the connection drops (a restarted
API process, a proxy's idle timeout, a flaky network) it is opened again with `Last-Event-ID`
= the last line printed: the server resumes right after it, and a line seen twice (never
expected) is skipped by its number. Gives up after `GIVE_UP_SECONDS` without a connection.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from httpx_sse import EventSource, SSEError

from hourglass.client.api import Api
from hourglass.client.errors import ClientError, Exit
from hourglass.client.logs import Printer

GIVE_UP_SECONDS = 60.0
FIRST_DELAYS = (0.0, 0.25, 0.5, 1.0, 2.0)  # then the server's `retry:` (3 s) every time


class _Dropped(Exception):
    """The stream ended before its `end` event."""


class _Connection:
    """What one connection achieved: whether it was answered, the server's `retry:` (ms)."""

    def __init__(self) -> None:
        self.answered = False
        self.retry_ms = 3000


def follow(
    api: Api,
    path: str,
    printer: Printer,
    on_status: Callable[[str], None] | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Print every line after `printer.last_seq` as it is written; the job's final status."""
    failures, down_since, retry_ms = 0, None, 3000
    while True:
        connection = _Connection()
        try:
            return _one_connection(api, path, printer, on_status, connection)
        except (ClientError, _Dropped) as exc:
            if isinstance(exc, ClientError) and exc.code is not Exit.SERVER:
                raise  # 401, 404, 412…: a reconnect will not help
            reason: Exception = exc
        retry_ms = connection.retry_ms
        if connection.answered:
            failures, down_since = 0, None
        now = clock()
        down_since = now if down_since is None else down_since
        if now - down_since > GIVE_UP_SECONDS:
            raise ClientError(
                f"lost the live log and could not get it back for {GIVE_UP_SECONDS:.0f} s: "
                f"{_text(reason)} (resume with `--since {printer.last_seq}`)",
                Exit.SERVER,
            )
        sleep(FIRST_DELAYS[failures] if failures < len(FIRST_DELAYS) else retry_ms / 1000)
        failures += 1


def _one_connection(
    api: Api,
    path: str,
    printer: Printer,
    on_status: Callable[[str], None] | None,
    connection: _Connection,
) -> str:
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
    if printer.last_seq:
        headers["Last-Event-ID"] = str(printer.last_seq)
    with api.stream("GET", f"{path}/events", headers=headers) as response:
        connection.answered = True
        with api.transport_errors():
            try:
                for event in EventSource(response).iter_sse():
                    if event.retry is not None:
                        connection.retry_ms = max(100, min(event.retry, 30_000))
                    if event.event == "log":
                        line = json.loads(event.data)
                        if int(line["sequence_num"]) > printer.last_seq:
                            printer.line(line)
                            printer.out.flush()
                    elif event.event == "status" and on_status is not None:
                        on_status(json.loads(event.data)["job_status"])
                    elif event.event == "end":
                        status: str = json.loads(event.data)["job_status"]
                        return status
                    elif event.event == "error":
                        raise _Dropped(_error_text(event.data))
            except SSEError as exc:
                raise ClientError(f"not an event stream: {exc}", Exit.SERVER) from exc
    raise _Dropped("the stream ended early")


def _error_text(data: str) -> str:
    try:
        body: Any = json.loads(data)
        return str(body.get("error", data))
    except (ValueError, AttributeError):
        return data


def _text(exc: Exception) -> str:
    return exc.message if isinstance(exc, ClientError) else str(exc)
