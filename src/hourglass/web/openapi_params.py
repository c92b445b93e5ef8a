"""The rules of the parameters the server reads itself, as OpenAPI schemas.

Query parameters and headers reach the services as raw strings (so that their 400 comes after
the 401/404/412 checks, and names the parameter in our words), which leaves FastAPI's schema for
them a bare `string | null`. This table states what the services really accept, so that a
request valid by `/openapi.json` is never refused for a rule the document does not give. Path
ids are ULIDs; anything else is a 404 (existence is never leaked, so a 404 rather than a 400).
"""

from __future__ import annotations

from typing import Any, Final

CONTROL_CHARACTERS: Final = "\\x00-\\x1f\\x7f-\\x9f\\u2028-\\u202e\\u2066-\\u2069"
"""`domain.common.CONTROL_CHARS` as a character class of a JSON Schema (ECMA 262) pattern."""
NO_CONTROL_CHARACTERS: Final = f"^[^{CONTROL_CHARACTERS}]*$"
TRIMMED_TEXT: Final = (
    f"^[^{CONTROL_CHARACTERS}]*[^\\s{CONTROL_CHARACTERS}][^{CONTROL_CHARACTERS}]*$"
)
"""No control character, and something left once trimmed."""

ULID: Final[dict[str, Any]] = {
    "type": "string",
    "pattern": "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$",
    "description": "a ULID (26 characters, Crockford base32); anything else is a 404",
    "example": "01JGXYZ5V8T3K9Q2M4N6P7R8S0",
}
SEQUENCE: Final[dict[str, Any]] = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
STREAMS: Final[dict[str, Any]] = {
    "type": "string",
    "pattern": "^(stdout|stderr|system)(,(stdout|stderr|system))*$",
    "description": "the streams to keep, comma-separated (`stdout,stderr`); absent: all",
}
FLAG: Final[dict[str, Any]] = {"type": "string", "enum": ["true", "false"]}


def _limit(default: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": 1000, "default": default}


def _choice(*values: str, default: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "enum": list(values)}
    if default is not None:
        schema["default"] = default
    return schema


_LOGS = "/workflows/{workflow_id}/jobs/{job_id}"

# (path or "*", parameter name) -> schema; the path's own entry wins
QUERY: Final[dict[tuple[str, str], dict[str, Any]]] = {
    ("*", "cursor"): {
        "type": "string",
        "description": "the `cursor` of the previous page, as it was given (opaque); empty: "
        "the first page",
    },
    ("*", "limit"): _limit(20),
    # workflows
    ("/workflows", "query"): {
        "type": "string",
        "maxLength": 200,
        "pattern": NO_CONTROL_CHARACTERS,
        "description": "substring of the name, any case",
    },
    ("/workflows", "kind"): _choice("HEARTBEAT", "CONTAINER", "COMMAND"),
    ("/workflows", "build_status"): _choice("QUEUED", "STARTED", "COMPLETED", "FAILED"),
    ("/workflows", "terminated"): FLAG,
    ("/workflows", "interval_min"): {
        "type": "integer",
        "minimum": 0,
        "maximum": 999_999_999,
        "description": "minutes; at most `interval_max`; leaves out cron workflows",
    },
    ("/workflows", "interval_max"): {
        "type": "integer",
        "minimum": 0,
        "maximum": 999_999_999,
        "description": "minutes; leaves out cron workflows",
    },
    # jobs
    ("/workflows/{workflow_id}/jobs", "status"): _choice(
        "PENDING", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELED"
    ),
    ("/workflows/{workflow_id}/jobs", "trigger"): _choice("AUTOMATIC", "MANUAL"),
    # logs
    (f"{_LOGS}/logs", "limit"): _limit(100),
    (f"{_LOGS}/logs/search", "limit"): _limit(100),
    ("*", "order"): _choice("desc", "asc", default="desc"),
    ("*", "after"): {**SEQUENCE, "description": "a sequence number: lines after it"},
    ("*", "before"): {**SEQUENCE, "description": "a sequence number: lines before it"},
    ("*", "stream"): STREAMS,
    ("*", "q"): {
        "type": "string",
        "description": "a substring (case-insensitive unless `case_sensitive=true`), or a "
        "regular expression (Python syntax) with `regex=true`: an invalid one is a 400 on `q`",
    },
    ("*", "regex"): {**FLAG, "default": "false", "description": "`q` is a regular expression"},
    ("*", "case_sensitive"): {**FLAG, "default": "false", "description": "match case"},
    ("*", "timestamps"): {**FLAG, "default": "false", "description": "txt: prefix RFC 3339"},
    ("*", "format"): _choice("txt", "jsonl", "json", default="txt"),
    ("*", "ansi"): _choice("keep", "strip", default="keep"),
    # notifications
    ("/notifications", "unread"): {
        **FLAG,
        "default": "true",
        "description": "true: unread ones only; false: read ones too",
    },
    ("/notifications/events", "after"): {
        **SEQUENCE,
        "description": "resume after this notification `seq` (0: replay every stored one)",
    },
    # analytics
    ("/analytics/{workflow_id}", "days"): {
        "type": "integer",
        "minimum": 1,
        "maximum": 366,
        "description": "the report covers these last UTC days, today included; absent: all time",
    },
}

# the query parameters whose empty value is a 400; everywhere else `?name=` counts as absent
EMPTY_REFUSED: Final = frozenset(
    ("/workflows/{workflow_id}/jobs", name) for name in ("limit", "status", "trigger")
)

BLANK: Final[dict[str, Any]] = {"type": "string", "pattern": "^\\s*$"}

HEADERS: Final[dict[tuple[str, str], dict[str, Any]]] = {
    ("*", "Idempotency-Key"): {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": "^[\\x20-\\x7e]*[\\x21-\\x7e][\\x20-\\x7e]*$",
        "description": "1 to 255 printable ASCII characters, not all blank",
    },
    ("*", "Last-Event-ID"): {
        "anyOf": [SEQUENCE, BLANK],
        "description": "resume after this sequence number (wins over `after`); blank: absent",
    },
    ("/notifications/events", "Last-Event-ID"): {
        "anyOf": [SEQUENCE, BLANK],
        "description": "resume after this notification `seq` (wins over `after`); blank: absent",
    },
}


def empty_is_absent(path: str, location: str, name: str) -> bool:
    """Whether `?name=` (empty) is taken as if the parameter were not sent."""
    return location == "query" and (path, name) not in EMPTY_REFUSED


def parameter_schema(path: str, location: str, name: str) -> dict[str, Any] | None:
    """The schema of a query parameter, header or path id the server checks itself, or None."""
    if location == "path":
        return ULID if name.endswith("_id") else None
    table = QUERY if location == "query" else HEADERS if location == "header" else {}
    return table.get((path, name), table.get(("*", name)))
