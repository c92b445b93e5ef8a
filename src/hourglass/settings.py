"""One frozen `Settings` object, read from `HOURGLASS_*` environment variables at the edge.

Nothing reads the environment but `Settings.from_env`; everything else receives the object.
Every default works with zero configuration: SQLite under `./.hourglass/`, loopback only.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from hourglass.errors import ConfigError

PREFIX = "HOURGLASS_"
T = TypeVar("T")


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about one Hourglass process."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".hourglass")
    database_url: str = ""  # empty: SQLite file in data_dir
    redis_url: str | None = None
    allow_command_kind: bool | None = None  # None: true only when host is loopback
    signup: str = "open"  # open | closed
    cookie_secure: bool = False
    session_idle_seconds: int = 2 * 3600
    session_absolute_seconds: int = 7 * 24 * 3600
    login_rate_limit: int = 10
    login_rate_window_seconds: int = 15 * 60
    max_body_bytes: int = 1024 * 1024
    idempotency_ttl_seconds: int = 24 * 3600
    default_log_retention_days: int | None = 30
    log_line_limit_bytes: int = 64 * 1024
    log_job_cap_bytes: int = 100 * 1000 * 1000
    worker_concurrency: int = 4
    lease_seconds: float = 30.0
    lease_renew_seconds: float = 10.0
    poll_interval_seconds: float = 1.0
    shutdown_grace_seconds: float = 30.0
    kill_grace_seconds: float = 10.0
    docker_host: str = "unix:///var/run/docker.sock"
    log_level: str = "info"
    access_log: bool = True

    @property
    def command_kind_enabled(self) -> bool:
        if self.allow_command_kind is not None:
            return self.allow_command_kind
        return is_loopback(self.host)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hourglass.db').resolve()}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from `HOURGLASS_*` variables; `overrides` win over the environment."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        defaults = cls()
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, raw, getattr(defaults, f.name))
        values.update(overrides)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Raise `ConfigError` naming the first setting that makes no sense."""
        if self.signup not in ("open", "closed"):
            raise ConfigError("HOURGLASS_SIGNUP must be 'open' or 'closed'")
        if not 0 < self.port < 65536:
            raise ConfigError("HOURGLASS_PORT must be between 1 and 65535")
        for name in (
            "session_idle_seconds",
            "session_absolute_seconds",
            "login_rate_limit",
            "login_rate_window_seconds",
            "max_body_bytes",
            "log_line_limit_bytes",
            "log_job_cap_bytes",
            "worker_concurrency",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{PREFIX}{name.upper()} must be positive")
        if self.lease_renew_seconds >= self.lease_seconds:
            raise ConfigError("HOURGLASS_LEASE_RENEW_SECONDS must be below HOURGLASS_LEASE_SECONDS")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("expected true or false")


def _parse_optional_int(raw: str) -> int | None:
    return None if raw.strip().lower() in ("", "none", "null", "forever") else int(raw)


def _parse(name: str, raw: str, default: Any) -> Any:
    parsers: dict[str, Callable[[str], Any]] = {
        "data_dir": Path,
        "redis_url": str,
        "allow_command_kind": _parse_bool,
        "default_log_retention_days": _parse_optional_int,
    }
    if name in parsers:
        parser = parsers[name]
    elif isinstance(default, bool):
        parser = _parse_bool
    elif isinstance(default, int):
        parser = int
    elif isinstance(default, float):
        parser = float
    else:
        parser = str
    try:
        return parser(raw)
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}{name.upper()}={raw!r} is invalid: {exc}") from exc
