"""Opaque keyset cursors, bound to the filters they were made with.

A cursor carries the sort key of the last row of a page plus a fingerprint of the filters; reusing
it with other filters is a 400 (`ValidationError` on `cursor`), never a silently wrong page.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from hourglass.errors import ValidationError


def _fingerprint(filters: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        {k: v for k, v in sorted(filters.items()) if v is not None}, default=str, sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_cursor(position: Any, filters: Mapping[str, Any]) -> str:
    """An opaque cursor for `position` (any JSON value: usually the last row's sort key)."""
    raw = json.dumps({"p": position, "f": _fingerprint(filters)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, filters: Mapping[str, Any]) -> Any:
    """The position inside `cursor`, or None for no cursor; 400 if malformed or made elsewhere."""
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position, fingerprint = data["p"], data["f"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError.field("cursor", "malformed cursor") from exc
    if fingerprint != _fingerprint(filters):
        raise ValidationError.field("cursor", "cursor was made with different filters")
    return position
