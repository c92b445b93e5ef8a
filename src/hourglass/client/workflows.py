"""Workflow definitions on the client: read from a YAML or JSON file, built from command-line
flags, merged (flags win over the file), and turned into the API's request body.

A file holds the API's own fields; its `payload` may be an object (the API wants it as a JSON
string, which this module makes). The server checks everything; the client only checks what it
must to build a body (a schedule's spelling, `KEY=VALUE` pairs).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hourglass.client.errors import ClientError, Exit

KINDS = ("HEARTBEAT", "CONTAINER", "COMMAND")
BODY_FIELDS = (
    "name",
    "kind",
    "payload",
    "interval",
    "cron",
    "max_consecutive_job_failures_allowed",
    "log_retention",
    "log_retention_days",
)
_EVERY = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m?)?")


@dataclass
class Flags:
    """What the command line says about a workflow (None / empty: not said)."""

    name: str | None = None
    kind: str | None = None
    every: str | None = None
    cron: str | None = None
    max_failures: int | None = None
    log_retention: bool | None = None
    retention_days: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)  # payload keys given by flags
    cmd: tuple[str, ...] = ()


def load_file(name: str) -> dict[str, Any]:
    """A workflow from a YAML or JSON file (`-`: standard input)."""
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise ClientError(f"cannot read {name}: {exc.strerror or exc}", Exit.USAGE) from exc
    except UnicodeDecodeError as exc:
        raise ClientError(f"{name} is not UTF-8 text", Exit.USAGE) from exc
    return parse(text, name)


def parse(text: str, name: str) -> dict[str, Any]:
    """A workflow's fields from YAML or JSON text (YAML 1.1 reads the JSON people write)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ClientError(
            f"{name} is neither YAML nor JSON: {_first_line(exc)}", Exit.USAGE
        ) from exc
    if not isinstance(data, dict):
        raise ClientError(f"{name} must hold one workflow (a mapping of its fields)", Exit.USAGE)
    unknown = sorted(str(k) for k in set(data) - set(BODY_FIELDS) - {"id", "workflow_id"})
    if unknown:
        raise ClientError(
            f"{name}: unknown field {unknown[0]!r} (known: {', '.join(BODY_FIELDS)})", Exit.USAGE
        )
    return {k: v for k, v in data.items() if k in BODY_FIELDS}


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


def from_api(workflow: dict[str, Any]) -> dict[str, Any]:
    """The editable fields of a workflow as the API returns it (payload as an object)."""
    body = {k: workflow.get(k) for k in BODY_FIELDS if k in workflow}
    body["payload"] = _payload_object(body.get("payload"), "payload")
    return body


def overlay(current: dict[str, Any], file: dict[str, Any]) -> dict[str, Any]:
    """A file's fields over the server's: a schedule in the file replaces the other kind."""
    merged = {**current, **file}
    if "interval" in file or "cron" in file:
        merged["interval"], merged["cron"] = file.get("interval"), file.get("cron")
    return merged


def apply(base: dict[str, Any], flags: Flags) -> dict[str, Any]:
    """`base` (a file's or the server's fields) with what the flags say laid over it."""
    body = dict(base)
    if flags.name is not None:
        body["name"] = flags.name
    if flags.kind is not None:
        body["kind"] = flags.kind
    if flags.every is not None:
        body["interval"], body["cron"] = parse_every(flags.every), None
    if flags.cron is not None:
        body["cron"], body["interval"] = flags.cron, None
    if flags.max_failures is not None:
        body["max_consecutive_job_failures_allowed"] = flags.max_failures
    if flags.log_retention is not None:
        body["log_retention"] = flags.log_retention
    if flags.retention_days is not None:
        days = flags.retention_days.strip().lower()
        body["log_retention_days"] = None if days in ("none", "forever") else _int(days, "days")
    payload = _payload_object(body.get("payload"), "payload")
    payload.update(flags.payload)
    if flags.cmd:
        payload["cmd"] = list(flags.cmd)
    body["payload"] = payload
    body["kind"] = _kind(body, flags)
    return body


def _kind(body: dict[str, Any], flags: Flags) -> str:
    """The kind said, else the one the payload flags imply (`--endpoint`, `--image`, a command)."""
    kind = body.get("kind")
    if isinstance(kind, str) and kind:
        return kind.upper()
    payload = body["payload"]
    implied = [
        k
        for k, present in (
            ("HEARTBEAT", "endpoint" in payload),
            ("CONTAINER", "image" in payload),
            ("COMMAND", "cmd" in payload and "image" not in payload),
        )
        if present
    ]
    if len(implied) != 1:
        raise ClientError(
            "say what to run: --endpoint URL (HEARTBEAT), --image IMAGE (CONTAINER), "
            "or a command after `--` (COMMAND), or --kind",
            Exit.USAGE,
        )
    return implied[0]


def request_body(body: dict[str, Any]) -> dict[str, Any]:
    """The API's body: the payload as a JSON string, one schedule, no unset optional fields."""
    out = {k: v for k, v in body.items() if k in BODY_FIELDS}
    out["payload"] = json.dumps(out.get("payload") or {}, ensure_ascii=False)
    for optional in ("interval", "cron", "max_consecutive_job_failures_allowed", "log_retention"):
        if out.get(optional) is None:
            out.pop(optional, None)
    return out


def parse_every(text: str) -> int:
    """An interval in whole minutes: `15`, `15m`, `2h`, `1h30m`, `1d`."""
    value = text.strip().lower()
    match = _EVERY.fullmatch(value)
    if not value or match is None or not any(match.groups()):
        raise ClientError(
            f"--every {text!r}: minutes (15) or a span like 15m, 2h, 1h30m, 1d", Exit.USAGE
        )
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return days * 1440 + hours * 60 + minutes


def pairs(values: Sequence[str], option: str, *, from_env: bool = False) -> dict[str, str]:
    """`KEY=VALUE` options as a mapping; with `from_env`, a bare `KEY` takes this shell's $KEY
    (so a secret need not appear on the command line or in shell history)."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep and from_env:
            if key not in os.environ:
                raise ClientError(f"{option} {key}: ${key} is not set in this shell", Exit.USAGE)
            value = os.environ[key]
        elif not sep or not key:
            raise ClientError(f"{option} {item!r}: expected KEY=VALUE", Exit.USAGE)
        out[key] = value
    return out


def headers(values: Sequence[str]) -> dict[str, str]:
    """`--header 'Name: value'` options as the payload's headers."""
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise ClientError(f"--header {item!r}: expected 'Name: value'", Exit.USAGE)
        out[name.strip()] = value.strip()
    return out


def _payload_object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ClientError(f"{where} is not valid JSON: {exc}", Exit.USAGE) from exc
    if not isinstance(value, dict):
        raise ClientError(f"{where} must be an object", Exit.USAGE)
    return dict(value)


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise ClientError(f"{what} must be a whole number or 'none': {text!r}", Exit.USAGE) from exc


def to_yaml(body: dict[str, Any]) -> str:
    """A definition as YAML for an editor (or a file to keep in a repository)."""
    import yaml

    return yaml.safe_dump(body, sort_keys=False, allow_unicode=True, default_flow_style=False)
