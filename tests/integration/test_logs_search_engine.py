"""The search engine over real HTTP on both stores: RE2 (no catastrophic backtracking, a 400 for
what it lacks), scans off the event loop, and the scan budget of searches and filtered downloads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from hourglass.services.container import Services
from hourglass.services.logs import scan
from tests.integration.log_helpers import written_log
from tests.integration.logstream_helpers import client_for, log_server, raw_body, raw_url
from tests.support import UserClient

IDENTITY = {"Accept-Encoding": "identity"}
EVIL = "aaaaaaaaaaaaaaaaaaaaaaaaaaa!"  # 27 a's: `(a+)+$` takes Python's `re` ~13 s per line
BUDGET = "the search ran past its 1e-06 s budget; narrow it with after/before/stream or a more"


def search_url(got: Any) -> str:
    return f"/workflows/{got.job.workflow_id}/jobs/{got.job.id}/logs/search"


async def test_a_catastrophic_regex_runs_in_linear_time(
    alice: UserClient, services: Services
) -> None:
    """`(a+)+$` over lines of a's ending in `!` finds exactly the lines ending in `a`, in the
    search and in the filtered download."""
    messages = [("stdout", EVIL), ("stdout", "aaaa"), ("stderr", EVIL), ("stdout", "baaa")] * 30
    got = await written_log(alice, services, messages, chunk_lines=7)
    params = {"q": "(a+)+$", "regex": "true", "order": "asc", "limit": "1000"}
    response = await alice.get(search_url(got), params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total_matches"] == 60
    assert [line["message"] for line in body["logs"]] == ["aaaa", "baaa"] * 30
    assert body["logs"][0]["highlights"] == [[0, 4]]
    assert body["logs"][1]["highlights"] == [[1, 4]]
    raw = await alice.get(raw_url(got.job.workflow_id, got.job.id), params=params)
    assert raw.status_code == 200
    assert raw.text == "aaaa\nbaaa\n" * 30


@pytest.mark.parametrize(
    ("q", "detail"),
    [
        ("error(?=:)", "lookahead is not supported (linear-time engine)"),
        ("(?<!no )error", "negative lookbehind is not supported (linear-time engine)"),
        (r"(a)\1", "a backreference is not supported (linear-time engine)"),
        ("a++", "a possessive quantifier is not supported (linear-time engine)"),
        ("(?>a)", "an atomic group is not supported (linear-time engine)"),
    ],
)
async def test_constructs_re2_lacks_are_a_400_naming_q(
    alice: UserClient, services: Services, q: str, detail: str
) -> None:
    """Lookaround, backreferences, possessive and atomic groups: 400 problem+json on `q`, with
    the same answer from the search and the download."""
    got = await written_log(alice, services, [("stdout", "error: x")])
    params = {"q": q, "regex": "true"}
    for url in (search_url(got), raw_url(got.job.workflow_id, got.job.id)):
        response = await alice.get(url, params=params)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"] == [{"field": "q", "message": detail}]


async def test_a_search_past_its_budget_is_a_400_naming_q(
    alice: UserClient, services: Services, serve: Callable[..., Any]
) -> None:
    """With a budget shorter than any scan, a search answers 400 on `q` saying so; a page of
    the same log and a search without `q` (no scan) still answer."""
    got = await written_log(alice, services, [("stdout", f"line {i}") for i in range(200)])
    url = await serve(log_scan_budget_seconds=0.000001)
    async with client_for(alice, url) as client:
        response = await client.get(search_url(got), params={"q": "line"})
        assert response.status_code == 400, response.text
        problem = response.json()
        assert problem["errors"][0]["field"] == "q"
        assert problem["detail"].startswith(BUDGET)
        response = await client.get(search_url(got), params={"stream": "stdout"})
        assert response.status_code == 200
        assert (await client.get(search_url(got).removesuffix("/search"))).status_code == 200


def clock(values: list[float]) -> Callable[[], float]:
    """A monotonic clock giving `values`, then the last one for ever."""
    it: Iterator[float] = iter(values)

    def now() -> float:
        return next(it, values[-1])

    return now


@pytest.mark.parametrize("params", [{"q": "line"}, {"stream": "stdout"}])
async def test_a_filtered_download_past_its_budget_before_its_first_byte_is_a_400(
    alice: UserClient, services: Services, params: dict[str, str]
) -> None:
    """The budget runs out before the first batch: 400 naming the filter."""
    got = await written_log(alice, services, [("stdout", f"line {i}") for i in range(100)])
    reads = {"scan_budget_seconds": 10.0, "monotonic": clock([0.0, 11.0])}
    async with log_server(services, **reads) as (url, _), client_for(alice, url) as client:
        response = await client.get(raw_url(got.job.workflow_id, got.job.id), params=params)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == next(iter(params))
    assert "ran past its 10 s budget" in response.json()["detail"]


async def test_a_filtered_download_past_its_budget_ends_with_the_error_tail(
    alice: UserClient, services: Services
) -> None:
    """The budget runs out after the first batch went out: the body ends with the seed's
    error tail saying so."""
    messages = [("stdout", f"line {i}") for i in range(100)]
    got = await written_log(alice, services, messages, chunk_lines=10)
    # start, check, pause, resume (the client's time is added back), check
    reads = {"batch_chunks": 2, "scan_budget_seconds": 10.0, "monotonic": clock([0, 0, 0, 0, 11])}
    async with (
        log_server(services, **reads) as (url, _),
        client_for(alice, url) as client,
        client.stream(
            "GET", raw_url(got.job.workflow_id, got.job.id), params={"q": "LINE"}, headers=IDENTITY
        ) as response,
    ):
        assert response.status_code == 200
        body, _ = await raw_body(response)
    first_batch = "".join(f"line {i}\n" for i in range(20))
    text = (
        "the search ran past its 10 s budget; narrow it with after/before/stream or a more "
        "selective q"
    )
    assert body.decode() == f"{first_batch}\n--- ERROR: failed to fetch logs ---\n{text}\n"


async def test_healthz_answers_while_a_search_scans(
    alice: UserClient, services: Services, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan's CPU work runs in a worker thread: with the scan held inside its first chunk,
    `/healthz` still answers, and the search completes once released."""
    got = await written_log(alice, services, [("stdout", f"line {i}") for i in range(100)])
    events: list[str] = []
    started, released = threading.Event(), threading.Event()
    real = scan.search_chunk

    def held_search_chunk(*args: Any, **kwargs: Any) -> list[int]:
        if not started.is_set():
            events.append("scan started")
            started.set()
            # on the event loop this would block /healthz; 10 s is a safety net, not a timing
            events.append("scan released" if released.wait(10) else "scan gave up waiting")
        return real(*args, **kwargs)

    monkeypatch.setattr(scan, "search_chunk", held_search_chunk)
    search = asyncio.create_task(alice.get(search_url(got), params={"q": "line 4"}))
    assert await asyncio.to_thread(started.wait, 10)
    async with httpx.AsyncClient(base_url=base_url) as client:
        health = await client.get("/healthz")
    events.append(f"healthz {health.status_code}")
    released.set()
    response = await search
    events.append(f"search {response.status_code}")
    assert events == ["scan started", "healthz 200", "scan released", "search 200"]
    assert response.json()["total_matches"] == 11  # line 4, line 40..49


@pytest.mark.parametrize(
    ("params", "total"),
    [
        ({"q": "line"}, 400),
        ({"q": "LINE 1"}, 111),
        ({"q": r"line \d+$", "regex": "true"}, 400),
        ({"q": r"line \d*7$", "regex": "true"}, 40),
        ({"q": r"line \d+$", "regex": "true", "stream": "stderr"}, 134),
        ({"q": "line", "stream": "stdout,system"}, 266),
    ],
)
async def test_the_exact_count_goes_on_past_a_full_page(
    alice: UserClient, services: Services, params: dict[str, str], total: int
) -> None:
    """A small page of a log of many chunk batches: the page is the first hits, the count is
    exact (counted without listing, a regex's batches split between two threads)."""
    messages = [("stderr" if i % 3 == 0 else "stdout", f"line {i}") for i in range(400)]
    got = await written_log(alice, services, messages, chunk_lines=5)
    for order in ("asc", "desc"):
        response = await alice.get(search_url(got), params={**params, "limit": 3, "order": order})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total_matches"] == total
        assert len(body["logs"]) == 3
        assert body["cursor"] is not None


async def test_the_time_a_client_takes_to_read_is_not_the_budgets(
    alice: UserClient, services: Services
) -> None:
    """A download whose client spends longer than the budget reading each batch ends whole:
    only the server's own time counts."""
    messages = [("stdout", f"line {i}") for i in range(100)]
    got = await written_log(alice, services, messages, chunk_lines=10)
    # each pause for the client lasts 20 s on this clock, each scan 1 s
    ticks = [0.0, 1.0] + [
        t for k in range(1, 40) for t in (k * 21.0 - 20.0, k * 21.0, k * 21.0 + 1.0)
    ]
    reads = {"batch_chunks": 2, "scan_budget_seconds": 10.0, "monotonic": clock(ticks)}
    async with log_server(services, **reads) as (url, _), client_for(alice, url) as client:
        response = await client.get(
            raw_url(got.job.workflow_id, got.job.id), params={"q": "LINE"}, headers=IDENTITY
        )
    assert response.status_code == 200
    assert response.text == "".join(f"line {i}\n" for i in range(100))
