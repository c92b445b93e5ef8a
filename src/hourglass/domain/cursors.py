"""Opaque keyset cursors, bound to the filters they were made with.

A cursor carries the sort key of the last row of a page plus a fingerprint of the filters; reusing
it with other filters is a 400 (`ValidationError` on `cursor`), never a silently wrong page. Every
keyset-paged listing (workflows, jobs, log pages and search) reads its cursor with `decode_cursor`,
naming the shape its positions must have, and writes the next one with `next_cursor`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
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


def _anything(position: Any) -> bool:
    return True


def decode_cursor(
    cursor: str | None, filters: Mapping[str, Any], accept: Callable[[Any], bool] = _anything
) -> Any:
    """The position inside `cursor`, or None for no cursor (or a null one); 400 if malformed,
    made elsewhere, or holding a position `accept` refuses (a listing's positions have one
    shape)."""
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
    if position is not None and not accept(position):
        raise ValidationError.field("cursor", "malformed cursor")
    return position


def next_cursor(last: Any, filters: Mapping[str, Any], *, more: bool) -> str | None:
    """The next page's cursor: after `last` (the page's last sort key) if more rows follow it."""
    return encode_cursor(last, filters) if more and last is not None else None
