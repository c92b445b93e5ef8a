"""Where the client connects and with which token: `HOURGLASS_URL`/`HOURGLASS_TOKEN` from the
environment, else `$XDG_CONFIG_HOME/hourglass/config.toml` (written by `hourglass login`).

The file holds a secret, so it is created with mode 0600 (its folder 0700) and replaced
atomically; a file others can read is refused rather than used.
"""

from __future__ import annotations

import os
import stat
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import tomli_w

from hourglass.client.errors import ClientError, Exit

DEFAULT_URL = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class Connection:
    url: str
    token: str | None
    source: str  # "environment", the config file's path, or "default"
    token_id: str | None = None
    email: str | None = None


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hourglass" / "config.toml"


def normalize_url(url: str) -> str:
    """An absolute http(s) base URL without a trailing slash; anything else is a usage error."""
    url = url.strip()
    if "://" not in url:
        url = f"http://{url}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientError(f"not an http(s) URL: {url!r}", Exit.USAGE)
    if parts.query or parts.fragment:
        raise ClientError(f"the server URL takes no query or fragment: {url!r}", Exit.USAGE)
    return url.rstrip("/")


def read_file(path: Path | None = None) -> dict[str, str]:
    """The config file's values ({} when there is none)."""
    path = path or config_path()
    try:
        info = path.stat()
    except FileNotFoundError:
        return {}
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ClientError(
            f"{path} can be read by others: run `chmod 600 {path}` (it holds your token)",
            Exit.USAGE,
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ClientError(f"cannot read {path}: {exc}", Exit.USAGE) from exc
    return {k: v for k, v in data.items() if isinstance(v, str)}


def write_file(values: dict[str, str], path: Path | None = None) -> Path:
    """Replace the config file with `values` (mode 0600, written to a temporary name first)."""
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:  # mkstemp makes it 0600
            tomli_w.dump(values, out)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def forget(path: Path | None = None) -> bool:
    """Remove the config file; whether there was one."""
    path = path or config_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def resolve() -> Connection:
    """The connection to use: the environment wins over the config file, which wins over the
    default URL (with no token)."""
    env_url, env_token = os.environ.get("HOURGLASS_URL"), os.environ.get("HOURGLASS_TOKEN")
    stored = read_file()
    if env_token:
        url = env_url or stored.get("url") or DEFAULT_URL
        return Connection(normalize_url(url), env_token.strip(), "environment")
    if env_url and normalize_url(env_url) != normalize_url(stored.get("url", env_url)):
        return Connection(normalize_url(env_url), None, "environment")
    if stored.get("url"):
        return Connection(
            normalize_url(stored["url"]),
            stored.get("token"),
            str(config_path()),
            stored.get("token_id"),
            stored.get("email"),
        )
    return Connection(normalize_url(env_url or DEFAULT_URL), None, "default")
