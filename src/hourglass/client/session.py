"""`hourglass login`/`logout`/`whoami`: an API token made through a short-lived session, kept
in the config file, and revoked on logout."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from hourglass.client.api import Api
from hourglass.client.config import (
    Connection,
    config_path,
    forget,
    normalize_url,
    read_file,
    write_file,
)
from hourglass.client.errors import ApiError, ClientError, Exit, one_line
from hourglass.client.output import note


def token_name() -> str:
    """The new token's name: this machine's, so `GET /tokens` says where each one lives."""
    host = one_line(socket.gethostname()) or "unknown host"
    return f"hourglass CLI on {host}"[:100]


def cleartext_warning(url: str) -> str | None:
    """A warning when a password and token would cross a network unencrypted."""
    parts = urlsplit(url)
    if parts.scheme == "https" or not parts.hostname:
        return None
    if parts.hostname == "localhost":
        return None
    try:
        if ipaddress.ip_address(parts.hostname).is_loopback:
            return None
    except ValueError:
        pass
    return f"warning: {url} is plain http: the password and the token cross the network in clear"


def login(url: str, email: str, password: str) -> tuple[Connection, str]:
    """Log in, create a token, revoke the token this config held for the same server, log the
    session out, and save the new token; the connection and where it was saved."""
    url = normalize_url(url)
    stored = read_file()
    with Api(Connection(url, None, "login"), auth=False) as api:
        session = api.json("POST", "/auth/login", json={"email": email, "password": password})
        csrf = {"X-CSRF-Token": str(session.get("csrf_token", ""))}
        made = api.json("POST", "/tokens", json={"name": token_name()}, headers=csrf)
        old = stored.get("token_id") if _same(stored.get("url"), url) else None
        if old and old != made["id"]:
            _quietly(api, "DELETE", f"/tokens/{old}", headers=csrf)
        _quietly(api, "POST", "/auth/logout", headers=csrf)
    email = str(session.get("email", email))
    values = {"url": url, "token": made["token"], "token_id": made["id"], "email": email}
    path = write_file(values)
    return Connection(url, made["token"], str(path), made["id"], email), str(path)


def _same(a: str | None, b: str) -> bool:
    try:
        return a is not None and normalize_url(a) == b
    except ClientError:
        return False


def _quietly(api: Api, method: str, path: str, **kwargs: Any) -> None:
    """A clean-up request whose failure must not undo a login that worked."""
    try:
        api.request(method, path, **kwargs)
    except ClientError as exc:
        note(f"warning: {method} {path}: {exc.message}")


def logout(connection: Connection) -> str:
    """Revoke the stored token and forget it; what happened, in one line."""
    if connection.source == "environment":
        raise ClientError(
            "the token comes from HOURGLASS_TOKEN: unset it (and revoke it with "
            "DELETE /tokens/ID if it is no longer needed)",
            Exit.USAGE,
        )
    if not connection.token:
        return "not logged in"
    problem = _revoke(connection)
    forget()
    if problem:
        raise ClientError(
            f"forgot the token here, but could not revoke it on {connection.url}: {problem} "
            f"(revoke token {connection.token_id} there later)",
            Exit.SERVER,
        )
    return f"logged out of {connection.url} (token revoked, {config_path()} removed)"


def _revoke(connection: Connection) -> str | None:
    if not connection.token_id:
        return "its id is unknown"
    try:
        with Api(connection) as api:
            api.request("DELETE", f"/tokens/{connection.token_id}")
    except ApiError as exc:
        if exc.status in (401, 404):  # already revoked or expired: nothing left to do
            return None
        return exc.message
    except ClientError as exc:
        return exc.message
    return None


def whoami(connection: Connection) -> dict[str, Any]:
    with Api(connection) as api:
        user: dict[str, Any] = api.get("/users")
    return {
        "url": connection.url,
        "email": user.get("email"),
        "id": user.get("id"),
        "source": connection.source,
    }
