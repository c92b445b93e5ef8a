"""What each workflow kind accepts as its payload, checked field by field, and secret masking.

A payload arrives as a JSON *string* (for compatibility with existing clients) and must decode to
an object. Each kind has a table of known fields; unknown fields are refused so that a typo
(`"timout"`) is a 400, not a silently ignored setting. Fields with a documented default (`method`,
`expected_status_code`, `timeout`) are filled in, so the stored payload states what will run and
two payloads that mean the same thing compare equal. Every error names its path, e.g.
`payload.endpoint`, `payload.cmd[0]`, `payload.env.HOME`.

Secrets: the API never returns a secret value; `mask_secrets` replaces each with `SECRET_MASK`.
A payload sent back with `SECRET_MASK` as a secret's value keeps the stored value of that secret
(`restore_secrets`), so a GET → edit → PUT round trip does not wipe secrets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from hourglass.domain.common import CONTROL_CHARS, find_bad_text, loads_strict
from hourglass.domain.jobs import Kind
from hourglass.errors import FieldError, ValidationError

SECRET_MASK: Final = "***"  # noqa: S105 -- the placeholder shown instead of a secret
MAX_URL_LENGTH: Final = 2048
MAX_IMAGE_LENGTH: Final = 512
MAX_PATH_LENGTH: Final = 4096
MAX_CPUS: Final = 1024
MIN_MEMORY_BYTES: Final = 6 * 1024**2  # Docker refuses less than 6 MiB
MAX_MEMORY_BYTES: Final = 2**63 - 1
HTTP_METHODS: Final = ("GET", "HEAD", "POST")

# [0-9], not \d: \d also matches other scripts' digits ("٣m"), which no one means
_DURATION = re.compile(r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_MAX_DURATION_TEXT: Final = 32  # also keeps int() away from absurdly long digit strings
_MEMORY = re.compile(r"([0-9]+(?:\.[0-9]+)?)([kmgt]?)(?:i?b)?", re.IGNORECASE)
_MEMORY_UNITS: Final = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 9110 token


class _Invalid(Exception):
    """One field is wrong; caught by the table walker and turned into a `FieldError`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.error = FieldError(path, message)


def _fail(path: str, message: str) -> _Invalid:
    return _Invalid(path, message)


# --- durations ----------------------------------------------------------------------------------


def parse_duration(text: str) -> int:
    """Whole seconds in a duration like "90s", "5m" or "1h30m"; `ValueError` for anything else."""
    match = _DURATION.fullmatch(text) if len(text) <= _MAX_DURATION_TEXT else None
    if not text or match is None:
        raise ValueError(f"invalid duration {text!r}")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _duration(maximum: str) -> Callable[[object, str], str]:
    limit = parse_duration(maximum)

    def check(value: object, path: str) -> str:
        if not isinstance(value, str):
            raise _fail(path, 'must be a duration string such as "90s", "5m" or "1h30m"')
        try:
            seconds = parse_duration(value.strip())
        except ValueError:
            raise _fail(path, 'must be a duration such as "90s", "5m" or "1h30m"') from None
        if seconds < 1:
            raise _fail(path, "must be at least 1s")
        if seconds > limit:
            raise _fail(path, f"must be at most {maximum}")
        return value.strip()

    return check


# --- scalar checks -------------------------------------------------------------------------------


def _text(value: object, path: str, *, max_length: int, spaces: bool = True) -> str:
    if not isinstance(value, str):
        raise _fail(path, "must be a string")
    if not value.strip():
        raise _fail(path, "must not be empty")
    if len(value) > max_length:
        raise _fail(path, f"must be at most {max_length} characters")
    if "\x00" in value:
        raise _fail(path, "must not contain NUL")
    if not spaces and any(c.isspace() for c in value):
        raise _fail(path, "must not contain whitespace")
    return value


def _endpoint(value: object, path: str) -> str:
    url = _text(value, path, max_length=MAX_URL_LENGTH, spaces=False)
    if CONTROL_CHARS.search(url):
        raise _fail(path, "must not contain control characters")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError:
        raise _fail(path, "is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _fail(path, "must be an absolute http:// or https:// URL")
    return url


def _method(value: object, path: str) -> str:
    if not isinstance(value, str) or value.upper() not in HTTP_METHODS:
        raise _fail(path, f"must be one of {', '.join(HTTP_METHODS)}")
    return value.upper()


def _status_code(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, "must be an integer")
    if not 100 <= value <= 599:
        raise _fail(path, "must be between 100 and 599")
    return value


def _cpus(value: object, path: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, "must be a number")
    # NaN and infinities fail the comparison too; a huge int is compared without overflowing
    if not 0 < value <= MAX_CPUS:
        raise _fail(path, f"must be greater than 0 and at most {MAX_CPUS}")
    return value


def _memory(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, 'must be a size string such as "512m" or "1g"')
    match = _MEMORY.fullmatch(value.strip()) if len(value) <= _MAX_DURATION_TEXT else None
    if match is None:
        raise _fail(path, 'must be a size such as "512m" or "1g"')
    size = float(match[1]) * _MEMORY_UNITS[match[2].lower()]
    if size < MIN_MEMORY_BYTES:
        raise _fail(path, "must be at least 6m")
    if size > MAX_MEMORY_BYTES:
        raise _fail(path, "is too large")
    return value.strip()


def _working_dir(value: object, path: str) -> str:
    return _text(value, path, max_length=MAX_PATH_LENGTH)


def _image(value: object, path: str) -> str:
    return _text(value, path, max_length=MAX_IMAGE_LENGTH, spaces=False)


# --- collections ---------------------------------------------------------------------------------


def _string_list(value: object, path: str, *, non_empty: bool) -> list[str]:
    if not isinstance(value, list):
        raise _fail(path, "must be a list of strings")
    if non_empty and not value:
        raise _fail(path, "must not be empty")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise _fail(f"{path}[{index}]", "must be a string")
        if "\x00" in item:
            raise _fail(f"{path}[{index}]", "must not contain NUL")
    if non_empty and not value[0].strip():
        raise _fail(f"{path}[0]", "must name the program to run")
    return list(value)


def _command(value: object, path: str) -> list[str]:
    return _string_list(value, path, non_empty=True)


def _container_cmd(value: object, path: str) -> list[str]:
    return _string_list(value, path, non_empty=False)


def _variables(value: object, path: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail(path, "must be an object of string values")
    for name, item in value.items():
        if not name or "=" in name or "\x00" in name:
            raise _fail(f"{path}.{name}", "is not a valid variable name (empty, '=' or NUL)")
        if not isinstance(item, str):
            raise _fail(f"{path}.{name}", "must be a string")
        if "\x00" in item:
            raise _fail(f"{path}.{name}", "must not contain NUL")
    return dict(value)


def _header_value(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, "must be a string or a list of strings")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise _fail(path, "must not contain CR, LF or NUL")
    return value


def _headers(value: object, path: str) -> dict[str, str | list[str]]:
    if not isinstance(value, dict):
        raise _fail(path, "must be an object of header names to a string or a list of strings")
    headers: dict[str, str | list[str]] = {}
    for name, item in value.items():
        if not _HEADER_NAME.fullmatch(name):
            raise _fail(f"{path}.{name}", "is not a valid header name")
        if isinstance(item, list):
            headers[name] = [_header_value(v, f"{path}.{name}[{i}]") for i, v in enumerate(item)]
        else:
            headers[name] = _header_value(item, f"{path}.{name}")
    return headers


# --- the kinds -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    check: Callable[[object, str], object]
    required: bool = False
    default: object = None  # filled in when absent; None: left out


_SHAPES: Final[Mapping[Kind, Mapping[str, _Field]]] = {
    Kind.HEARTBEAT: {
        "endpoint": _Field(_endpoint, required=True),
        "method": _Field(_method, default="GET"),
        "expected_status_code": _Field(_status_code, default=200),
        "headers": _Field(_headers),
        "timeout": _Field(_duration("5m"), default="10s"),
    },
    Kind.CONTAINER: {
        "image": _Field(_image, required=True),
        "cmd": _Field(_container_cmd),
        "env": _Field(_variables),
        "secrets": _Field(_variables),
        "timeout": _Field(_duration("24h"), default="30m"),
        "cpus": _Field(_cpus),
        "memory": _Field(_memory),
    },
    Kind.COMMAND: {
        "cmd": _Field(_command, required=True),
        "env": _Field(_variables),
        "secrets": _Field(_variables),
        "working_dir": _Field(_working_dir),
        "timeout": _Field(_duration("24h"), default="30m"),
    },
}


def default_timeout(kind: Kind) -> str:
    """The timeout a payload of `kind` gets when it names none (filled in by validation)."""
    default = _SHAPES[kind]["timeout"].default
    assert isinstance(default, str)
    return default


def decode_payload(raw: object, path: str = "payload") -> dict[str, Any]:
    """The object inside the payload JSON string; 400 on `payload` when it is anything else, or
    naming the string inside that holds NUL or a lone surrogate."""
    if not isinstance(raw, str):
        raise ValidationError.field(path, "must be a string holding a JSON object")
    try:
        value = loads_strict(raw)
    except (ValueError, RecursionError):
        raise ValidationError.field(path, "is not valid JSON") from None
    if not isinstance(value, dict):
        raise ValidationError.field(path, "must be a JSON object")
    # every string inside, keys included, must be storable: no NUL, no lone surrogate
    bad = find_bad_text(value, path)
    if bad is not None:
        raise ValidationError(bad)
    return value


def check_payload(kind: Kind, payload: Mapping[str, Any], path: str = "payload") -> dict[str, Any]:
    """The normalized payload of `kind`: checked, defaults filled in; every problem reported."""
    shape = _SHAPES[kind]
    errors = [FieldError(f"{path}.{key}", "unknown field") for key in payload if key not in shape]
    normalized: dict[str, Any] = {}
    for key, field in shape.items():
        value = payload.get(key)
        if value is None:  # absent and null mean the same: not given
            if field.required:
                errors.append(FieldError(f"{path}.{key}", "is required"))
            elif field.default is not None:
                normalized[key] = field.default
            continue
        try:
            normalized[key] = field.check(value, f"{path}.{key}")
        except _Invalid as exc:
            errors.append(exc.error)
    if errors:
        raise ValidationError(errors)
    return normalized


def canonical_json(value: Any) -> str:
    """One spelling per value: what is stored, and what equality of payloads means."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def mask_secrets(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `payload` with every secret value replaced by `SECRET_MASK`."""
    masked = dict(payload)
    if isinstance(masked.get("secrets"), dict):
        masked["secrets"] = dict.fromkeys(masked["secrets"], SECRET_MASK)
    return masked


def restore_secrets(
    payload: Mapping[str, Any], stored: Mapping[str, Any] | None, path: str = "payload"
) -> dict[str, Any]:
    """`payload` with each `SECRET_MASK` secret replaced by the stored value of that secret.

    A mask without a stored secret of that name is refused: storing the mask itself would give
    the job a secret whose value is "***".
    """
    secrets = payload.get("secrets")
    if not isinstance(secrets, dict):
        return dict(payload)
    kept = (stored or {}).get("secrets") or {}
    restored: dict[str, str] = {}
    errors: list[FieldError] = []
    for name, value in secrets.items():
        if value != SECRET_MASK:
            restored[name] = value
        elif name in kept:
            restored[name] = kept[name]
        else:
            errors.append(
                FieldError(
                    f"{path}.secrets.{name}",
                    f'"{SECRET_MASK}" keeps a stored secret, but there is no stored secret {name}',
                )
            )
    if errors:
        raise ValidationError(errors)
    return {**payload, "secrets": restored}
