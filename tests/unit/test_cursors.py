"""Keyset cursors (`domain/cursors.py`): what a forged one may not hold."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from hourglass.domain.cursors import MAX_CURSOR_CHARS, decode_cursor, encode_cursor, storable
from hourglass.errors import ValidationError

FILTERS = {"route": "x"}


def raw_cursor(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        raw_cursor(b"[" * 3000),
        raw_cursor(b'{"p":' + b"[" * 3000 + b"]" * 3000 + b',"f":"x"}'),
        "A" * (MAX_CURSOR_CHARS + 1),
    ],
)
def test_nested_or_oversized_cursors_are_malformed(cursor: str) -> None:
    """Deep nesting and cursors longer than any made here are a 400 on `cursor`."""
    with pytest.raises(ValidationError) as caught:
        decode_cursor(cursor, FILTERS)
    assert caught.value.errors[0].field == "cursor"


@pytest.mark.parametrize("position", [2**63, -(2**63) - 1, [1, 2**64], {"k": "a\x00"}, "\x00"])
def test_positions_the_store_cannot_hold_are_malformed(position: Any) -> None:
    """A position holding an integer past BIGINT or a NUL anywhere is a 400 on `cursor`."""
    assert not storable(position)
    with pytest.raises(ValidationError):
        decode_cursor(encode_cursor(position, FILTERS), FILTERS)


@pytest.mark.parametrize("position", [2**63 - 1, -(2**63), "01JGABC", [1, "a"], None, True])
def test_storable_positions_decode(position: Any) -> None:
    """Every integer within BIGINT and NUL-free text comes back as made."""
    assert decode_cursor(encode_cursor(position, FILTERS), FILTERS) == position
    assert json.loads(json.dumps(position)) == position
