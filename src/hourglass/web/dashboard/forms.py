"""The workflow form: a workflow as the edit form shows it, and the form as an API body.

The form has one input per payload field and rows for lists and maps (argv, env, secrets,
headers). `to_body` builds exactly the body `POST /workflows` or `PUT /workflows/{id}` takes,
so the service — and its validation — is the API's own; `field_id` tells where on the form an
API error path (`payload.env.HOME`, `payload.cmd[2]`…) belongs. Inputs that should be numbers are
sent as numbers only when they read as one, else as typed, so the API's message names them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import ImmutableMultiDict

from hourglass.domain.jobs import Kind
from hourglass.domain.workflows import Workflow
from hourglass.errors import FieldError, ValidationError

Pair = tuple[str, str]

_INTEGER = re.compile(r"[+-]?[0-9]+")  # ASCII only: int() would also read other scripts' digits
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+)")

# the plain inputs: form name -> the API field it fills (payload fields per kind below)
TOP_FIELDS = {
    "name": "name",
    "interval": "interval",
    "cron": "cron",
    "max_failures": "max_consecutive_job_failures_allowed",
    "retention_days": "log_retention_days",
    "keep_logs": "log_retention",
}
PAYLOAD_FIELDS: dict[Kind, tuple[str, ...]] = {
    Kind.HEARTBEAT: ("endpoint", "method", "expected_status_code", "headers", "timeout"),
    Kind.CONTAINER: ("image", "cmd", "env", "secrets", "cpus", "memory", "timeout"),
    Kind.COMMAND: ("cmd", "env", "secrets", "working_dir", "timeout"),
}


FormData = ImmutableMultiDict[str, str]  # a submitted form (routing.read_form)


@dataclass
class WorkflowForm:
    """Every input of the create/edit form, as text (what the person typed)."""

    kind: Kind
    name: str = ""
    schedule: str = "interval"  # which of interval / cron is chosen
    interval: str = "60"
    cron: str = ""
    max_failures: str = "3"
    keep_logs: bool = True
    retention_days: str = ""  # empty: forever
    endpoint: str = ""
    method: str = "GET"
    expected_status_code: str = "200"
    timeout: str = ""
    image: str = ""
    cpus: str = ""
    memory: str = ""
    working_dir: str = ""
    cmd: list[str] = field(default_factory=list)
    env: list[Pair] = field(default_factory=list)
    secrets: list[Pair] = field(default_factory=list)
    headers: list[Pair] = field(default_factory=list)

    @classmethod
    def blank(cls, kind: Kind, retention_days: int | None) -> WorkflowForm:
        return cls(kind, retention_days="" if retention_days is None else str(retention_days))

    @classmethod
    def from_workflow(cls, workflow: Workflow) -> WorkflowForm:
        """The form of a stored workflow; secrets read `***` (kept unless changed)."""
        payload: dict[str, Any] = json.loads(workflow.public_payload)
        days = workflow.log_retention_days
        return cls(
            kind=workflow.kind,
            name=workflow.name,
            schedule="interval" if workflow.cron is None else "cron",
            interval="" if workflow.interval_minutes is None else str(workflow.interval_minutes),
            cron=workflow.cron or "",
            max_failures=str(workflow.max_consecutive_job_failures_allowed),
            keep_logs=workflow.log_retention,
            retention_days="" if days is None else str(days),
            endpoint=str(payload.get("endpoint", "")),
            method=str(payload.get("method", "GET")),
            expected_status_code=str(payload.get("expected_status_code", "")),
            timeout=str(payload.get("timeout", "")),
            image=str(payload.get("image", "")),
            cpus=str(payload.get("cpus", "")),
            memory=str(payload.get("memory", "")),
            working_dir=str(payload.get("working_dir", "")),
            cmd=[str(arg) for arg in payload.get("cmd", [])],
            env=list(payload.get("env", {}).items()),
            secrets=list(payload.get("secrets", {}).items()),
            headers=_header_rows(payload.get("headers", {})),
        )

    @classmethod
    def from_form(cls, kind: Kind, data: FormData) -> WorkflowForm:
        """The submitted form; rows left wholly empty are dropped."""

        def text(name: str, default: str = "") -> str:
            return data.get(name, default)

        return cls(
            kind=kind,
            name=text("name"),
            schedule="cron" if text("schedule") == "cron" else "interval",
            interval=text("interval"),
            cron=text("cron"),
            max_failures=text("max_failures"),
            keep_logs=text("keep_logs") == "on",
            retention_days=text("retention_days"),
            endpoint=text("endpoint"),
            method=text("method", "GET"),
            expected_status_code=text("expected_status_code"),
            timeout=text("timeout"),
            image=text("image"),
            cpus=text("cpus"),
            memory=text("memory"),
            working_dir=text("working_dir"),
            cmd=[arg for arg in data.getlist("cmd") if arg != ""],
            env=_pairs(data, "env"),
            secrets=_pairs(data, "secret"),
            headers=_pairs(data, "header"),
        )

    def to_body(self, *, with_kind: bool) -> dict[str, Any]:
        """The API body of this form; `ValidationError` for what only a form can get wrong
        (a name given twice in env or secrets)."""
        body: dict[str, Any] = {
            "name": self.name,
            "payload": json.dumps(self.payload()),
            "max_consecutive_job_failures_allowed": parse_number(self.max_failures),
            "log_retention": self.keep_logs,
            "log_retention_days": parse_number(self.retention_days),
        }
        if with_kind:
            body["kind"] = self.kind.value
        if self.schedule == "cron":
            body["cron"] = self.cron
        else:
            body["interval"] = parse_number(self.interval)
        return body

    def payload(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "endpoint": self.endpoint.strip(),
            "method": self.method,
            "expected_status_code": parse_number(self.expected_status_code),
            "headers": _headers(self.headers),
            "timeout": self.timeout.strip(),
            "image": self.image.strip(),
            "cmd": self.cmd,
            "env": _mapping(self.env, "payload.env"),
            "secrets": _mapping(self.secrets, "payload.secrets"),
            "cpus": parse_number(self.cpus),
            "memory": self.memory.strip(),
            "working_dir": self.working_dir,
        }
        wanted = PAYLOAD_FIELDS[self.kind]
        # an empty input means "not given", except the argv of a COMMAND, which is required
        return {
            key: value
            for key, value in values.items()
            if key in wanted and (value not in ("", None, {}, []) or key == "cmd")
        }


def _pairs(data: FormData, prefix: str) -> list[Pair]:
    names = data.getlist(f"{prefix}_name")
    values = data.getlist(f"{prefix}_value")
    rows = zip(names, values + [""] * (len(names) - len(values)), strict=False)
    return [(str(n), str(v)) for n, v in rows if n != "" or v != ""]


def _header_rows(headers: Mapping[str, Any]) -> list[Pair]:
    rows: list[Pair] = []
    for name, value in headers.items():
        values = value if isinstance(value, list) else [value]
        rows.extend((name, str(v)) for v in values)
    return rows


def _headers(rows: Sequence[Pair]) -> dict[str, str | list[str]]:
    """Rows as the API's header map: a name given on several rows gets a list of values."""
    grouped: dict[str, list[str]] = {}
    for name, value in rows:
        grouped.setdefault(name.strip(), []).append(value)
    return {name: values[0] if len(values) == 1 else values for name, values in grouped.items()}


def _mapping(rows: Sequence[Pair], path: str) -> dict[str, str]:
    found: dict[str, str] = {}
    twice: list[FieldError] = []
    for name, value in rows:
        if name in found:
            twice.append(FieldError(f"{path}.{name}", "is given twice"))
        found[name] = value
    if twice:
        raise ValidationError(twice)
    return found


def parse_number(raw: str) -> int | float | str | None:
    """A number when the text reads as one; None when empty; else the text (the API says why)."""
    text = raw.strip()
    if not text:
        return None
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    return text


def field_id(path: str, form: WorkflowForm) -> str:
    """The id of the form element an API error path belongs to (the form itself if none)."""
    top = {api: name for name, api in TOP_FIELDS.items()}
    if path in top:
        return f"f-{top[path]}"
    parts = path.split(".", 2)
    if parts[0] != "payload" or len(parts) == 1:
        return "f-form"
    key = re.sub(r"\[\d+\]$", "", parts[1])
    if key == "cmd":
        position = re.search(r"\[(\d+)\]$", parts[1])
        return f"f-cmd-{position[1]}" if position else "f-cmd"
    if key in ("env", "secrets", "headers") and len(parts) == 3:
        name = re.sub(r"\[\d+\]$", "", parts[2])
        rows = {"env": form.env, "secrets": form.secrets, "headers": form.headers}[key]
        for index, (row_name, _) in enumerate(rows):
            if row_name.strip() == name:
                return f"f-{key}-{index}"
    return f"f-{key}"


LABELS = {
    "name": "Name",
    "kind": "Kind",
    "interval": "Interval",
    "cron": "Cron",
    "max_consecutive_job_failures_allowed": "Failures in a row before terminating",
    "log_retention_days": "Keep logs for (days)",
    "log_retention": "Keep logs",
    "payload": "Payload",
    "payload.endpoint": "URL to check",
    "payload.method": "Method",
    "payload.expected_status_code": "Expected status",
    "payload.headers": "Request headers",
    "payload.timeout": "Timeout",
    "payload.image": "Image",
    "payload.cmd": "Command",
    "payload.env": "Environment",
    "payload.secrets": "Secrets",
    "payload.cpus": "CPUs",
    "payload.memory": "Memory",
    "payload.working_dir": "Working directory",
}


def label(path: str) -> str:
    """An API error path as the form names it: "Environment HOME", "Command argument 2"."""
    if path in LABELS:
        return LABELS[path]
    group, _, rest = path.partition(".")[2].partition(".")
    argument = re.fullmatch(r"cmd\[(\d+)\]", group)
    if argument:
        return f"Command argument {int(argument[1]) + 1}"
    name = LABELS.get(f"payload.{group}")
    return f"{name} {rest}".strip() if name and path.startswith("payload.") else path
