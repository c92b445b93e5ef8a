"""`GET /workflows/{wid}/jobs/{jid}/logs/search` over real HTTP: literal and regex matching, case,
highlights in character offsets, the exact total on the first page, paging, stream filter."""

from __future__ import annotations

from typing import Any

import pytest

from hourglass.services.container import Services
from tests.integration.log_helpers import lines_json, numbered, written_log
from tests.support import UserClient


def url(got: Any) -> str:
    return f"/workflows/{got.job.workflow_id}/jobs/{got.job.id}/logs/search"


async def search(user: UserClient, got: Any, **params: Any) -> dict[str, Any]:
    response = await user.get(url(got), params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def hits(body: dict[str, Any]) -> list[tuple[str, list[list[int]]]]:
    return [(line["message"], line["highlights"]) for line in body["logs"]]


MIXED = [
    ("stdout", "Error: disk full"),
    ("stderr", "an error and another ERROR"),
    ("stdout", "all good"),
    ("stdout", "naïve café: École fermée"),
    ("stderr", "errors everywhere"),
]


async def test_a_literal_is_case_insensitive_by_default(
    alice: UserClient, services: Services
) -> None:
    """`q` matches as a case-insensitive substring; highlights give every match's offsets."""
    got = await written_log(alice, services, MIXED)
    body = await search(alice, got, q="error", order="asc")
    assert hits(body) == [
        ("Error: disk full", [[0, 5]]),
        ("an error and another ERROR", [[3, 8], [21, 26]]),
        ("errors everywhere", [[0, 5]]),
    ]
    assert body["total_matches"] == 3


async def test_case_sensitive_matches_exact_case_only(
    alice: UserClient, services: Services
) -> None:
    """With case_sensitive=true only the exact case matches."""
    got = await written_log(alice, services, MIXED)
    body = await search(alice, got, q="ERROR", case_sensitive="true")
    assert hits(body) == [("an error and another ERROR", [[21, 26]])]
    assert body["total_matches"] == 1


async def test_highlights_are_character_offsets_in_unicode_text(
    alice: UserClient, services: Services
) -> None:
    """Offsets count characters, not bytes, and case folding covers non-ASCII letters."""
    got = await written_log(alice, services, MIXED)
    body = await search(alice, got, q="éCOLE")
    message = "naïve café: École fermée"
    assert hits(body) == [(message, [[12, 17]])]
    assert message[12:17] == "École"
    assert hits(await search(alice, got, q="café"))[0][1] == [[6, 10]]


async def test_a_regex_matches_with_offsets_of_each_match(
    alice: UserClient, services: Services
) -> None:
    """With regex=true `q` is a regular expression, case-insensitive unless told otherwise."""
    got = await written_log(alice, services, MIXED)
    body = await search(alice, got, q=r"\berror\b", regex="true", order="asc")
    assert hits(body) == [
        ("Error: disk full", [[0, 5]]),
        ("an error and another ERROR", [[3, 8], [21, 26]]),
    ]
    body = await search(alice, got, q=r"f\pL+e$", regex="true", case_sensitive="true")
    assert hits(body) == [("naïve café: École fermée", [[18, 24]])]
    # RE2's \w is ASCII: `\w+e$` matches the "e" after "é" only
    body = await search(alice, got, q=r"f\w+e$", regex="true", case_sensitive="true")
    assert hits(body) == []


async def test_an_invalid_regex_is_400_naming_q(alice: UserClient, services: Services) -> None:
    """An invalid regular expression is a 400 on field `q`; the same text as a literal is fine."""
    got = await written_log(alice, services, MIXED)
    response = await alice.get(url(got), params={"q": "(unclosed", "regex": "true"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "q"
    assert (await search(alice, got, q="(unclosed"))["total_matches"] == 0
    response = await alice.get(url(got), params={"q": "x", "regex": "maybe"})
    assert response.json()["errors"][0]["field"] == "regex"


async def test_total_matches_is_exact_and_pages_return_each_hit_once(
    alice: UserClient, services: Services
) -> None:
    """The first page counts every match in the job; following cursors returns each hit once."""
    got = await written_log(alice, services, numbered(600))
    expected = [i for i in range(1, 601) if "7" in str(i)]
    body = await search(alice, got, q="7", limit=10)
    assert body["total_matches"] == len(expected)
    seen = [line["sequence_num"] for line in body["logs"]]
    while body["cursor"] is not None:
        body = await search(alice, got, q="7", limit=10, cursor=body["cursor"])
        assert "total_matches" not in body
        seen += [line["sequence_num"] for line in body["logs"]]
    assert seen == expected[::-1]


async def test_search_filters_by_stream(alice: UserClient, services: Services) -> None:
    """`stream` restricts matches to that stream, in results and in the count."""
    got = await written_log(alice, services, numbered(90))
    body = await search(alice, got, q="line 1", stream="stderr", order="asc", limit=1000)
    expected = [i for i in range(1, 91) if i % 3 == 0 and "line 1" in f"line {i}"]
    assert [line["sequence_num"] for line in body["logs"]] == expected
    assert body["total_matches"] == len(expected)
    assert {line["stream"] for line in body["logs"]} == {"stderr"}


async def test_without_q_search_filters_by_stream_only(
    alice: UserClient, services: Services
) -> None:
    """Without `q` every line of the stream is a hit, with no highlights."""
    got = await written_log(alice, services, numbered(30))
    body = await search(alice, got, stream="stderr", limit=4)
    assert [line["sequence_num"] for line in body["logs"]] == [30, 27, 24, 21]
    assert {tuple(line["highlights"]) for line in body["logs"]} == {()}
    assert body["total_matches"] == 10
    assert (await search(alice, got))["total_matches"] == 30


@pytest.mark.parametrize("params", [{"q": "x", "cursor": "nope"}, {"q": "x", "limit": 0}])
async def test_bad_search_parameters_are_400(
    alice: UserClient, services: Services, params: dict[str, Any]
) -> None:
    """A malformed cursor or limit is a 400."""
    got = await written_log(alice, services, MIXED)
    assert (await alice.get(url(got), params=params)).status_code == 400


async def test_a_search_cursor_is_bound_to_its_query(alice: UserClient, services: Services) -> None:
    """A search cursor reused with another `q` is a 400."""
    got = await written_log(alice, services, numbered(50))
    cursor = (await search(alice, got, q="1", limit=2))["cursor"]
    response = await alice.get(url(got), params={"q": "2", "limit": 2, "cursor": cursor})
    assert response.status_code == 400


async def test_a_running_job_is_searchable(alice: UserClient, services: Services) -> None:
    """Search covers what a running job has stored so far."""
    got = await written_log(alice, services, MIXED, finished=False)
    assert lines_json(await alice.get(url(got), params={"q": "good"}))[0]["message"] == "all good"
