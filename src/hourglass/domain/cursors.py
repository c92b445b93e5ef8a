"""Opaque keyset cursors, bound to the filters they were made with.

A cursor carries the sort key of the last row of a page plus a fingerprint of the filters; reusing
it with other filters is a 400 (`ValidationError` on `cursor`), never a silently wrong page. Every
keyset-paged listing (workflows, jobs, log pages and search) reads its cursor with `decode_cursor`,
naming the shape its positions must have, and writes the next one with `next_cursor`.

A cursor is no secret (its fingerprint is a plain hash), so anyone can forge one: whatever it holds
must be refused as a 400 before it reaches the store. `decode_cursor` refuses cursors longer than
any it makes, nesting too deep for the parser, and positions the store cannot hold (an integer
outside BIGINT, a string with NUL) whatever the listing; `accept` then checks the listing's shape.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from hourglass.errors import ValidationError

BIGINT_MAX = 2**63 - 1
"""The largest integer the store holds (SQLite INTEGER, PostgreSQL BIGINT): the bound of every
sequence number a request may name."""
MAX_CURSOR_CHARS = 1024  # the cursors made here are a few dozen characters


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


def storable(value: Any) -> bool:
    """Whether the store can hold every part of a decoded JSON `value`: integers within BIGINT,
    strings without NUL (PostgreSQL text cannot hold one); lists and objects recursively."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return True
    if isinstance(value, int):
        return -BIGINT_MAX - 1 <= value <= BIGINT_MAX
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, list):
        return all(storable(v) for v in value)
    if isinstance(value, dict):
        return all(storable(k) and storable(v) for k, v in value.items())
    return False


def decode_cursor(
    cursor: str | None, filters: Mapping[str, Any], accept: Callable[[Any], bool] = _anything
) -> Any:
    """The position inside `cursor`, or None for no cursor (or a null one); 400 if malformed,
    made elsewhere, holding a value the store cannot hold (`storable`), or a position `accept`
    refuses (a listing's positions have one shape)."""
    if cursor is None or cursor == "":
        return None
    if len(cursor) > MAX_CURSOR_CHARS:
        raise ValidationError.field("cursor", "malformed cursor")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position, fingerprint = data["p"], data["f"]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ValidationError.field("cursor", "malformed cursor") from exc
    if fingerprint != _fingerprint(filters):
        raise ValidationError.field("cursor", "cursor was made with different filters")
    if position is not None and not (storable(position) and accept(position)):
        raise ValidationError.field("cursor", "malformed cursor")
    return position


def next_cursor(last: Any, filters: Mapping[str, Any], *, more: bool) -> str | None:
    """The next page's cursor: after `last` (the page's last sort key) if more rows follow it."""
    return encode_cursor(last, filters) if more and last is not None else None
