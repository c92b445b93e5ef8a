"""Caseless anchors: chunks without them are skipped, and skipping never changes a result."""

from __future__ import annotations

import pytest

from hourglass.domain.logs.search import compile_query

LINES = [
    "ITEM 0999 done",
    "item 0999 again",
    "Ítem 0999 ünïcode",
    "no match here",
    "the 0999 without the word",
    "K\u212a item-0999",
    "straße 42 ok",
]
TEXT = "".join(line + "\n" for line in LINES).encode()


def brute(q: str, **flags: bool) -> list[int]:
    query = compile_query(q, **flags)
    return [i for i, line in enumerate(LINES) if query.matches(line)]


@pytest.mark.parametrize(
    ("q", "flags"),
    [
        ("item 0999", {}),
        ("ITEM-0999", {}),
        ("ítem 0999", {}),
        ("STRASSE 42", {}),
        ("straße 42", {}),
        (r"item.0999", {"regex": True}),
        (r"(item|ítem) 0999", {"regex": True}),
        ("item 0999", {"case_sensitive": True}),
    ],
)
def test_anchored_search_matches_line_by_line_search(q: str, flags: dict[str, bool]) -> None:
    """A query with anchors finds exactly the lines a per-line search finds."""
    assert compile_query(q, **flags).matching_lines(TEXT) == brute(q, **flags)


def test_a_chunk_without_the_anchor_is_ruled_out() -> None:
    """A case-insensitive query whose digits are absent from a chunk matches nothing there."""
    query = compile_query("Item 0999")
    other = b"item 1000\nITEM 0998\n"
    assert not query.chunk_may_match(other)
    assert query.matching_lines(other) == []
    assert query.chunk_may_match(b"x ITEM 0999 y\n")


def test_a_query_of_letters_only_has_no_anchor_and_still_matches() -> None:
    """Queries without a caseless run are searched as before."""
    assert compile_query("done").matching_lines(TEXT) == [0]
