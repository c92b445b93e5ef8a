"""Settings from the environment: zero-configuration defaults, overrides, and a clear ConfigError
naming the variable for every value that makes no sense."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hourglass.domain import workflows
from hourglass.errors import ConfigError
from hourglass.settings import RETENTION_DAYS_MAX, RETENTION_DAYS_MIN, Settings


def test_an_empty_environment_gives_the_defaults() -> None:
    """With no variables set, every field has its documented default."""
    settings = Settings.from_env({})
    assert settings == Settings()
    assert (settings.host, settings.port, settings.data_dir) == (
        "127.0.0.1",
        8080,
        Path(".hourglass"),
    )
    assert settings.signup == "open"
    assert settings.default_log_retention_days == 30
    assert settings.trusted_proxies == ()
    assert settings.docker_host == "unix:///var/run/docker.sock"


def test_the_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    """Without HOURGLASS_DATABASE_URL the store is a SQLite file inside the data dir."""
    settings = Settings.from_env({"HOURGLASS_DATA_DIR": str(tmp_path)})
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path / 'hourglass.db'}"


def test_variables_override_the_defaults() -> None:
    """Each HOURGLASS_* variable is parsed into its field's type."""
    settings = Settings.from_env(
        {
            "HOURGLASS_PORT": "9090",
            "HOURGLASS_SIGNUP": "closed",
            "HOURGLASS_COOKIE_SECURE": "yes",
            "HOURGLASS_LEASE_SECONDS": "45.5",
            "HOURGLASS_DEFAULT_LOG_RETENTION_DAYS": "none",
            "HOURGLASS_DATABASE_URL": "postgresql://db/hg",
            "HOURGLASS_TRUSTED_PROXIES": " 10.0.0.1, 192.168.0.0/16 ,",
        }
    )
    assert (settings.port, settings.signup, settings.cookie_secure) == (9090, "closed", True)
    assert settings.lease_seconds == 45.5
    assert settings.default_log_retention_days is None
    assert settings.effective_database_url == "postgresql://db/hg"
    assert settings.trusted_proxies == ("10.0.0.1", "192.168.0.0/16")


def test_empty_variables_count_as_unset() -> None:
    """`HOURGLASS_PORT=` leaves the default in place."""
    assert Settings.from_env({"HOURGLASS_PORT": ""}).port == 8080


def test_keyword_overrides_win_over_the_environment() -> None:
    """Command-line options (passed as overrides) beat the environment."""
    assert Settings.from_env({"HOURGLASS_PORT": "9090"}, port=7070).port == 7070


def test_overrides_are_checked_too() -> None:
    """An override that makes no sense is a ConfigError like a bad variable."""
    with pytest.raises(ConfigError, match="HOURGLASS_PORT"):
        Settings.from_env({}, port=0)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HOURGLASS_PORT", "0"),
        ("HOURGLASS_PORT", "65536"),
        ("HOURGLASS_PORT", "http"),
        ("HOURGLASS_PORT", "\u0663"),
        ("HOURGLASS_PORT", "8_080"),
        ("HOURGLASS_AUTH_CACHE_SECONDS", "-1"),
        ("HOURGLASS_AUTH_CACHE_SECONDS", "301"),
        ("HOURGLASS_DEFAULT_LOG_RETENTION_DAYS", "0"),
        ("HOURGLASS_DEFAULT_LOG_RETENTION_DAYS", "-3"),
        ("HOURGLASS_DEFAULT_LOG_RETENTION_DAYS", "3651"),
        ("HOURGLASS_IDEMPOTENCY_TTL_SECONDS", "-1"),
        ("HOURGLASS_IDEMPOTENCY_TTL_SECONDS", "0"),
        ("HOURGLASS_SESSION_IDLE_SECONDS", "0"),
        ("HOURGLASS_SESSION_IDLE_SECONDS", "8"),
        ("HOURGLASS_SESSION_IDLE_SECONDS", "59"),
        ("HOURGLASS_MAX_CONNECTIONS", "0"),
        ("HOURGLASS_LOG_SCAN_BUDGET_SECONDS", "0"),
        ("HOURGLASS_LOG_SCAN_BUDGET_SECONDS", "-1"),
        ("HOURGLASS_LOG_SCAN_BUDGET_SECONDS", "inf"),
        ("HOURGLASS_LOG_SCAN_BUDGET_SECONDS", "ten"),
        ("HOURGLASS_REQUEST_READ_TIMEOUT_SECONDS", "0"),
        ("HOURGLASS_REQUEST_READ_TIMEOUT_SECONDS", "nan"),
        ("HOURGLASS_MAX_HEADER_BYTES", "100"),
        ("HOURGLASS_MAX_HEADERS", "0"),
        ("HOURGLASS_CORS_ORIGINS", "*"),
        ("HOURGLASS_CORS_ORIGINS", "https://dash.example.com/"),
        ("HOURGLASS_CORS_ORIGINS", "https://dash.example.com/ui"),
        ("HOURGLASS_CORS_ORIGINS", "dash.example.com"),
        ("HOURGLASS_CORS_ORIGINS", "https://Dash.example.com"),
        ("HOURGLASS_CORS_ORIGINS", "ftp://dash.example.com"),
        ("HOURGLASS_CORS_ORIGINS", "https://dash.example.com:99999"),
        ("HOURGLASS_SESSION_ABSOLUTE_SECONDS", "-5"),
        ("HOURGLASS_LOGIN_RATE_LIMIT", "0"),
        ("HOURGLASS_LOGIN_RATE_WINDOW_SECONDS", "0"),
        ("HOURGLASS_MAX_BODY_BYTES", "0"),
        ("HOURGLASS_LOG_LINE_LIMIT_BYTES", "-1"),
        ("HOURGLASS_LOG_JOB_CAP_BYTES", "0"),
        ("HOURGLASS_WORKER_CONCURRENCY", "0"),
        ("HOURGLASS_WORKER_CONCURRENCY", "100000"),
        ("HOURGLASS_LEASE_SECONDS", "nan"),
        ("HOURGLASS_LEASE_SECONDS", "inf"),
        ("HOURGLASS_LEASE_SECONDS", "1e999"),
        ("HOURGLASS_LEASE_SECONDS", "0"),
        ("HOURGLASS_LEASE_RENEW_SECONDS", "-1"),
        ("HOURGLASS_LEASE_RENEW_SECONDS", "30"),
        ("HOURGLASS_POLL_INTERVAL_SECONDS", "NaN"),
        ("HOURGLASS_POLL_INTERVAL_SECONDS", "0"),
        ("HOURGLASS_SHUTDOWN_GRACE_SECONDS", "-1"),
        ("HOURGLASS_KILL_GRACE_SECONDS", "-Infinity"),
        ("HOURGLASS_SIGNUP", "sometimes"),
        ("HOURGLASS_COOKIE_SECURE", "maybe"),
        ("HOURGLASS_ALLOW_COMMAND_KIND", "2"),
        ("HOURGLASS_LOG_LEVEL", "loud"),
        ("HOURGLASS_HOST", " "),
        ("HOURGLASS_TRUSTED_PROXIES", "proxy.internal"),
        ("HOURGLASS_TRUSTED_PROXIES", "10.0.0.1,*"),
    ],
)
def test_nonsense_is_a_config_error_naming_the_variable(variable: str, value: str) -> None:
    """Out-of-range, non-finite, malformed or unknown values stop start-up, naming the variable."""
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HOURGLASS_DEFAULT_LOG_RETENTION_DAYS", "1"),
        ("HOURGLASS_DEFAULT_LOG_RETENTION_DAYS", "3650"),
        ("HOURGLASS_PORT", "65535"),
        ("HOURGLASS_SHUTDOWN_GRACE_SECONDS", "0"),
        ("HOURGLASS_AUTH_CACHE_SECONDS", "0"),
        ("HOURGLASS_LEASE_RENEW_SECONDS", "29.9"),
        ("HOURGLASS_TRUSTED_PROXIES", "::1, fd00::/8"),
        ("HOURGLASS_LOG_SCAN_BUDGET_SECONDS", "0.5"),
    ],
)
def test_boundary_values_are_accepted(variable: str, value: str) -> None:
    """The bounds are inclusive."""
    Settings.from_env({variable: value})


def test_retention_bounds_are_the_apis() -> None:
    """The default retention may be exactly what the API accepts for a workflow, no more."""
    assert (RETENTION_DAYS_MIN, RETENTION_DAYS_MAX) == (
        workflows.RETENTION_DAYS_MIN,
        workflows.RETENTION_DAYS_MAX,
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_command_kind_is_on_by_default_on_a_loopback_host(host: str) -> None:
    """Listening only on this machine, COMMAND workflows are allowed out of the box."""
    assert Settings.from_env({"HOURGLASS_HOST": host}).command_kind_enabled


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "hourglass.example.com"])
def test_command_kind_is_off_by_default_on_any_other_host(host: str) -> None:
    """Reachable from elsewhere, COMMAND is off unless explicitly allowed."""
    assert not Settings.from_env({"HOURGLASS_HOST": host}).command_kind_enabled


@pytest.mark.parametrize(
    ("host", "allow", "enabled"),
    [("0.0.0.0", "true", True), ("127.0.0.1", "false", False)],
)
def test_the_command_setting_overrides_the_host_rule(host: str, allow: str, enabled: bool) -> None:
    """HOURGLASS_ALLOW_COMMAND_KIND decides when it is set, whatever the host."""
    env = {"HOURGLASS_HOST": host, "HOURGLASS_ALLOW_COMMAND_KIND": allow}
    assert Settings.from_env(env).command_kind_enabled is enabled


def test_docker_host_falls_back_to_docker_host() -> None:
    """Without HOURGLASS_DOCKER_HOST, the standard DOCKER_HOST variable is used."""
    settings = Settings.from_env({"DOCKER_HOST": "unix:///run/user/1000/docker.sock"})
    assert settings.docker_host == "unix:///run/user/1000/docker.sock"


def test_hourglass_docker_host_wins_over_docker_host() -> None:
    """HOURGLASS_DOCKER_HOST takes precedence when both are set."""
    env = {"DOCKER_HOST": "unix:///a.sock", "HOURGLASS_DOCKER_HOST": "unix:///b.sock"}
    assert Settings.from_env(env).docker_host == "unix:///b.sock"


def test_settings_are_frozen() -> None:
    """Nothing can change the settings after start-up."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().port = 1  # type: ignore[misc]
