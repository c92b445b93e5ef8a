"""Schemathesis hooks for `test_schemathesis.py` (loaded by the `schemathesis run` it starts).

- `HourglassToken`: authenticates every request with a personal API token, made by logging in
  as the test's user (`HOURGLASS_ST_EMAIL`, `HOURGLASS_ST_PASSWORD` at `HOURGLASS_ST_URL`). The
  run may revoke it (`DELETE /tokens/{id}`); a 401 makes Schemathesis fetch a new one.
- `before_call`: nothing the run saves makes the server reach beyond this machine.
- `refused_for_an_unstated_rule`: a schema-valid request must not be refused with a 400, except
  on the few fields whose rule no JSON Schema can state (`UNSTATABLE`, each with its reason).
  The built-in `positive_data_acceptance` is told to let 400 through so that this check decides.
"""

from __future__ import annotations

import fnmatch
import json
import os
from typing import Any

import httpx
import schemathesis

_LOGS = "/workflows/{workflow_id}/jobs/{job_id}/logs"

POLICY = "refused by the outbound policy"
"""A URL's host may be an address the policy refuses: only that message is allowed on it."""

# (method, path) -> fields whose 400 a schema-valid request may still get, and why
UNSTATABLE: dict[tuple[str, str], dict[str, str]] = {
    ("*", "*"): {"cursor": "a cursor is opaque: only one a previous page gave is valid"},
    ("POST", "/workflows"): {
        "payload": "a JSON document inside a string, checked per kind",
        "payload.*": "a JSON document inside a string, checked per kind",
        "cron": "a cron expression's fields and ranges",
    },
    ("PUT", "/workflows/{workflow_id}"): {
        "payload": "a JSON document inside a string, checked per kind",
        "payload.*": "a JSON document inside a string, checked per kind",
        "cron": "a cron expression's fields and ranges",
    },
    ("GET", "/workflows"): {"interval_min": "must not be greater than interval_max"},
    ("PUT", "/users"): {"current_password": "must be the user's password"},
    ("GET", f"{_LOGS}/search"): {"q": "with regex=true, a valid regular expression"},
    ("GET", f"{_LOGS}/raw"): {"q": "with regex=true, a valid regular expression"},
    ("HEAD", f"{_LOGS}/raw"): {"q": "with regex=true, a valid regular expression"},
    ("POST", "/webhooks"): {"url": POLICY},
    ("PATCH", "/webhooks/{webhook_id}"): {"url": POLICY},
}
# 400s that are states, not input (the seed contract's answer to a download of a running job)
STATE_DETAILS = {"job is not yet completed"}


class HourglassToken:
    """A Bearer token of the test's user, made on demand."""

    def get(self, case: Any, context: Any) -> str:
        url = os.environ["HOURGLASS_ST_URL"]
        credentials = {
            "email": os.environ["HOURGLASS_ST_EMAIL"],
            "password": os.environ["HOURGLASS_ST_PASSWORD"],
        }
        with httpx.Client(base_url=url, timeout=30) as client:
            login = client.post("/auth/login", json=credentials)
            login.raise_for_status()
            made = client.post(
                "/tokens",
                json={"name": "schemathesis"},
                headers={"X-CSRF-Token": login.json()["csrf_token"]},
            )
            made.raise_for_status()
            token: str = made.json()["token"]
            return token

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


schemathesis.auth(refresh_interval=3600)(HourglassToken)


LOOPBACK_URL = "http://127.0.0.1:9/hourglass-contract-test"
"""Where every URL the run saves points instead (the discard port: nothing answers there)."""


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    """Keep what the server will do with a request on this machine: webhook URLs and HEARTBEAT
    endpoints become `LOOPBACK_URL` (deliveries and checks would reach random hosts, and look
    their names up in DNS), a COMMAND runs `true`. Only values the server would take are
    replaced, by values it takes too, so a case stays as valid or invalid as it was drawn."""
    body = case.body
    if not isinstance(body, dict):
        return
    url = body.get("url")
    if case.operation.path.startswith("/webhooks") and isinstance(url, str) and "://" in url:
        body["url"] = LOOPBACK_URL
    payload = body.get("payload")
    if isinstance(payload, str):
        body["payload"] = _harmless(payload)


def _harmless(payload: str) -> str:
    try:
        value = json.loads(payload)
    except ValueError:
        return payload
    if not isinstance(value, dict):
        return payload
    if "endpoint" in value:
        value["endpoint"] = LOOPBACK_URL
    if "cmd" in value:
        value["cmd"] = ["true"]
    return json.dumps(value)


def _allowed(method: str, path: str) -> dict[str, str]:
    allowed: dict[str, str] = {}
    for (m, p), fields in UNSTATABLE.items():
        if m in ("*", method) and p in ("*", path):
            allowed.update(fields)
    return allowed


def _unstatable(error: dict[str, str], allowed: dict[str, str]) -> bool:
    field, message = error.get("field", ""), error.get("message", "")
    return any(
        fnmatch.fnmatchcase(field, name) and (why != POLICY or POLICY in message)
        for name, why in allowed.items()
    )


@schemathesis.check
def refused_for_an_unstated_rule(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid request answered 400 must name only fields of `UNSTATABLE`."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if body.get("detail") in STATE_DETAILS:
        return None
    allowed = _allowed(case.operation.method.upper(), case.operation.path)
    errors = body.get("errors", [])
    if errors and all(_unstatable(e, allowed) for e in errors):
        return None
    raise AssertionError(
        f"A schema-valid request was refused for a rule the schema does not state: "
        f"{body.get('detail')!r} {body.get('errors')!r}"
    )
