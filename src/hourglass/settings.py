"""One frozen `Settings` object, read from `HOURGLASS_*` environment variables at the edge.

Nothing reads the environment but `Settings.from_env`; everything else receives the object.
Every default works with zero configuration: SQLite under `./.hourglass/`, loopback only.
`from_env` refuses values that make no sense (a `ConfigError` naming the variable), so a typo
stops the process at start-up instead of surfacing as odd behaviour later.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hourglass.errors import ConfigError

PREFIX = "HOURGLASS_"
# the API's bounds of `log_retention_days` (domain/workflows.py; a test keeps them equal)
RETENTION_DAYS_MIN = 1
RETENTION_DAYS_MAX = 3650
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
JOB_CGROUPS = ("auto", "off", "required")


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
    # how long an API process may answer from what it read of a session or API token (0: never;
    # services/auth_cache.py says where it may at all)
    auth_cache_seconds: float = 10.0
    login_rate_limit: int = 10
    login_rate_window_seconds: int = 15 * 60
    max_body_bytes: int = 1024 * 1024
    idempotency_ttl_seconds: int = 24 * 3600
    default_log_retention_days: int | None = 30
    log_line_limit_bytes: int = 64 * 1024
    log_job_cap_bytes: int = 100 * 1000 * 1000
    # how long one log search or filtered download may scan before it stops with a 400
    log_scan_budget_seconds: float = 10.0
    worker_concurrency: int = 4
    lease_seconds: float = 30.0
    lease_renew_seconds: float = 10.0
    poll_interval_seconds: float = 1.0
    shutdown_grace_seconds: float = 30.0
    kill_grace_seconds: float = 10.0
    docker_host: str = "unix:///var/run/docker.sock"  # else DOCKER_HOST, like the docker CLI
    log_level: str = "info"
    access_log: bool = True
    # addresses or networks of reverse proxies whose X-Forwarded-For/-Proto are believed;
    # empty: the socket's peer is the client, whatever headers it sends
    trusted_proxies: tuple[str, ...] = ()
    # the front door (docs/security.md): what one client may cost the HTTP server of a process
    max_connections: int = 1000  # open connections per API process; one more is 503 and closed
    request_read_timeout_seconds: float = 30.0  # to send a request's head and body, else 408
    max_header_bytes: int = 16 * 1024  # request line + headers, else 431
    max_headers: int = 100  # header fields per request, else 431
    # exact origins (`https://dash.example.com`) allowed to call the API from a browser,
    # credentials included; empty: no CORS headers at all
    cors_origins: tuple[str, ...] = ()
    # outbound address policy (domain/outbound.py): non-public networks that requests made for
    # users (heartbeats, webhooks) may reach; "private" = every private range, "none" = none.
    # None (unset): "private" when the host is loopback, else none.
    outbound_allow: tuple[str, ...] | None = None
    # COMMAND jobs in cgroups of their own (runtime/kinds/cgroups.py): "auto" where cgroup v2 is
    # writable, "off" process groups only, "required" fail each job (SYSTEM_FAILURE) elsewhere
    job_cgroups: str = "auto"
    # notifications, webhooks and metrics (issue 9)
    public_url: str = ""  # base of links sent out (webhooks); empty: http://host:port
    notification_retention_days: int = 90
    webhook_timeout_seconds: float = 10.0
    webhook_concurrency: int = 16  # deliveries in flight per worker process
    webhook_disable_after_failures: int = 15  # attempts failed in a row …
    webhook_disable_after_seconds: float = 3600.0  # … over at least this long: webhook off
    metrics_port: int = 0  # worker/scheduler: serve /metrics on this port (0: not at all)

    @property
    def command_kind_enabled(self) -> bool:
        if self.allow_command_kind is not None:
            return self.allow_command_kind
        return is_loopback(self.host)

    @property
    def public_base_url(self) -> str:
        """Where people reach this Hourglass: the base of links in webhook deliveries."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hourglass.db').resolve()}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from `HOURGLASS_*` variables; `overrides` win over the environment.

        `DOCKER_HOST` (the Docker CLI's variable) is used when `HOURGLASS_DOCKER_HOST` is unset.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        defaults = cls()
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, raw, getattr(defaults, f.name))
        if "docker_host" not in values and env.get("DOCKER_HOST"):
            values["docker_host"] = env["DOCKER_HOST"]
        values.update(overrides)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Raise `ConfigError` naming the first setting that makes no sense."""
        if self.signup not in ("open", "closed"):
            raise ConfigError("HOURGLASS_SIGNUP must be 'open' or 'closed'")
        if self.log_level.lower() not in LOG_LEVELS:
            raise ConfigError(f"HOURGLASS_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        for name in ("host", "docker_host"):
            if not getattr(self, name).strip():
                raise ConfigError(f"{_var(name)} must not be empty")
        for name, (low, high) in _RANGES.items():
            _check_range(name, getattr(self, name), low, high)
        days = self.default_log_retention_days
        if days is not None:
            _check_range("default_log_retention_days", days, RETENTION_DAYS_MIN, RETENTION_DAYS_MAX)
        if self.lease_renew_seconds >= self.lease_seconds:
            raise ConfigError("HOURGLASS_LEASE_RENEW_SECONDS must be below HOURGLASS_LEASE_SECONDS")
        for proxy in self.trusted_proxies:
            _check_network(proxy)
        for origin in self.cors_origins:
            _check_origin(origin)
        _check_outbound_allow(self.outbound_allow)
        if self.job_cgroups not in JOB_CGROUPS:
            raise ConfigError(f"HOURGLASS_JOB_CGROUPS must be one of {', '.join(JOB_CGROUPS)}")
        if self.public_url and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", self.public_url):
            raise ConfigError("HOURGLASS_PUBLIC_URL must be an absolute http(s) URL")


# inclusive bounds; None: no upper bound. Floats must also be finite.
_RANGES: dict[str, tuple[float, float | None]] = {
    "port": (1, 65535),
    # below a minute an idle expiry ends sessions between two clicks (docs/security.md)
    "session_idle_seconds": (60, None),
    "session_absolute_seconds": (1, None),
    "auth_cache_seconds": (0, 300),
    "login_rate_limit": (1, None),
    "login_rate_window_seconds": (1, None),
    "max_body_bytes": (1, None),
    "idempotency_ttl_seconds": (1, None),
    "log_line_limit_bytes": (1, None),
    "log_job_cap_bytes": (1, None),
    "log_scan_budget_seconds": (0.000001, 86400),
    "worker_concurrency": (1, 1024),
    "lease_seconds": (0.001, None),
    "lease_renew_seconds": (0.001, None),
    "poll_interval_seconds": (0.001, None),
    "shutdown_grace_seconds": (0, None),
    "kill_grace_seconds": (0, None),
    "max_connections": (1, 1_000_000),
    "request_read_timeout_seconds": (0.1, 3600),
    "max_header_bytes": (1024, 1024 * 1024),
    "max_headers": (8, 10_000),
    "notification_retention_days": (1, 36500),
    "webhook_timeout_seconds": (0.001, 300),
    "webhook_concurrency": (1, 1024),
    "webhook_disable_after_failures": (1, None),
    "webhook_disable_after_seconds": (0, None),
    "metrics_port": (0, 65535),
}


def _var(name: str) -> str:
    return f"{PREFIX}{name.upper()}"


def _check_range(name: str, value: float, low: float, high: float | None) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{_var(name)} must be a finite number (got {value})")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{_var(name)} must be {bound} (got {value})")


def _check_network(proxy: str) -> None:
    try:
        ipaddress.ip_network(proxy, strict=False)
    except ValueError:
        raise ConfigError(
            f"HOURGLASS_TRUSTED_PROXIES: {proxy!r} is not an IP address or network"
        ) from None


def _check_origin(origin: str) -> None:
    """An origin as browsers send it: `scheme://host[:port]`, nothing more (no `*`: credentials
    are allowed, and a wildcard would hand every site the user's session)."""
    parts = urlsplit(origin)
    exact = f"{parts.scheme}://{parts.netloc}"
    try:
        _ = parts.port
    except ValueError:
        exact = ""
    if parts.scheme not in ("http", "https") or not parts.hostname or origin != exact:
        raise ConfigError(
            f"HOURGLASS_CORS_ORIGINS: {origin!r} is not an origin "
            "(expected scheme://host[:port], lower-case, no path, no '*')"
        )
    if "@" in parts.netloc or origin != origin.lower():
        raise ConfigError(f"HOURGLASS_CORS_ORIGINS: {origin!r} must be lower-case, without user")


def _check_outbound_allow(items: tuple[str, ...] | None) -> None:
    """Networks, `private`, or `none` alone (the keywords are those of domain/outbound.py)."""
    for item in items or ():
        if item.lower() == "none" and len(items or ()) > 1:
            raise ConfigError("HOURGLASS_OUTBOUND_ALLOW: 'none' cannot be combined with others")
        if item.lower() in ("none", "private"):
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(
                f"HOURGLASS_OUTBOUND_ALLOW: {item!r} is not an IP address or network, "
                "'private' or 'none'"
            ) from None


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("expected true or false")


_INT = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: int() would also take "٣" and "1_0"
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _parse_int(raw: str) -> int:
    if not _INT.fullmatch(raw.strip()):
        raise ValueError("expected a whole number")
    return int(raw)


def _parse_float(raw: str) -> float:
    if not _FLOAT.fullmatch(raw.strip()):
        raise ValueError("expected a finite number")
    return float(raw)


def _parse_optional_int(raw: str) -> int | None:
    return None if raw.strip().lower() in ("", "none", "null", "forever") else _parse_int(raw)


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _parse(name: str, raw: str, default: Any) -> Any:
    parsers: dict[str, Callable[[str], Any]] = {
        "data_dir": Path,
        "redis_url": str,
        "allow_command_kind": _parse_bool,
        "default_log_retention_days": _parse_optional_int,
        "trusted_proxies": _parse_list,
        "cors_origins": _parse_list,
        "outbound_allow": _parse_list,
    }
    if name in parsers:
        parser = parsers[name]
    elif isinstance(default, bool):
        parser = _parse_bool
    elif isinstance(default, int):
        parser = _parse_int
    elif isinstance(default, float):
        parser = _parse_float
    else:
        parser = str
    try:
        return parser(raw)
    except ValueError as exc:
        raise ConfigError(f"{_var(name)}={raw!r} is invalid: {exc}") from exc
