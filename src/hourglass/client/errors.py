"""The client's one error type and the exit codes it maps to (documented in docs/cli.md)."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class Exit(IntEnum):
    """Exit codes of the client commands: the job's outcome first, then what went wrong."""

    OK = 0
    JOB_FAILED = 1
    JOB_CANCELED = 2
    USAGE = 3  # a bad option, argument or local file
    AUTH = 4  # not logged in, token refused (401) or forbidden (403)
    NOT_FOUND = 5  # 404: no such workflow or job (or not yours)
    REFUSED = 6  # any other 4xx: invalid input, conflict, precondition, rate limit
    SERVER = 7  # 5xx, an unreachable server, a dropped connection, a timeout
    INTERRUPTED = 130  # Ctrl-C
    BROKEN_PIPE = 141  # the reader of our output went away (as if killed by SIGPIPE)


class ClientError(Exception):
    """Something the user must be told in one line, and the exit code that goes with it."""

    def __init__(self, message: str, code: Exit = Exit.USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ApiError(ClientError):
    """The server answered with an error status (its problem+json made readable)."""

    def __init__(self, status: int, message: str, problem: dict[str, Any] | None = None) -> None:
        super().__init__(message, exit_for_status(status))
        self.status = status
        self.problem = problem or {}


def exit_for_status(status: int) -> Exit:
    if status in (401, 403):
        return Exit.AUTH
    if status == 404:
        return Exit.NOT_FOUND
    if 400 <= status < 500:
        return Exit.REFUSED
    return Exit.SERVER


def problem_message(status: int, reason: str, body: Any) -> str:
    """One readable line from a problem+json body: its `detail` and each field error."""
    if not isinstance(body, dict):
        return f"{status} {reason}".strip()
    detail = body.get("detail") or body.get("title") or reason
    if not isinstance(detail, str):
        detail = str(detail)
    fields = [
        f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
        for e in body.get("errors") or []
        if isinstance(e, dict)
    ]
    fields = [f for f in fields if f not in detail]  # the detail often repeats the first one
    text = f"{detail} ({'; '.join(fields)})" if fields else detail
    if status == 401:
        text += " — run `hourglass login` or set HOURGLASS_TOKEN"
    request_id = body.get("request_id")
    if request_id:
        text += f" [request {request_id}]"
    return one_line(text)


def one_line(text: str) -> str:
    """`text` on one line: control characters from a server never reach the terminal."""
    return "".join(c if c.isprintable() else " " for c in text).strip()
