"""`stream` as a comma-separated set on the four log routes (`/logs`, `/logs/search`,
`/logs/raw`, `/events`) over real HTTP on both stores: the lines kept, the 400s, cursors bound to
the set whatever its order, and the set of all three being no filter."""

from __future__ import annotations

from typing import Any

import pytest

from hourglass.services.container import Services
from tests.integration.log_helpers import finish, running_job, written_log
from tests.integration.logstream_helpers import collect, events_url, raw_url
from tests.support import UserClient

STREAMS = ("stdout", "stderr", "system")
# line i (1-based) is on STREAMS[i % 3]: 1 stderr, 2 system, 3 stdout, …
MESSAGES = [(STREAMS[i % 3], f"{STREAMS[i % 3]} line {i}") for i in range(1, 61)]


def of(*streams: str) -> list[str]:
    return [m for s, m in MESSAGES if s in streams]


def base(got: Any) -> str:
    return f"/workflows/{got.job.workflow_id}/jobs/{got.job.id}"


async def page_messages(user: UserClient, url: str, **params: Any) -> tuple[list[str], Any]:
    response = await user.get(url, params={"order": "asc", "limit": 1000, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    return [line["message"] for line in body["logs"]], body


@pytest.mark.parametrize(
    "raw",
    ["stdout,stderr", "stderr,stdout", "stdout,STDERR,stdout", "system", "stdout,system", "stderr"],
)
async def test_pages_and_search_keep_the_lines_of_the_set(
    alice: UserClient, services: Services, raw: str
) -> None:
    """`/logs` and `/logs/search` (with and without `q`) keep exactly the lines of the set;
    search counts them exactly."""
    got = await written_log(alice, services, MESSAGES, chunk_lines=7)
    wanted = {s.lower() for s in raw.split(",")}
    expected = of(*wanted)
    lines, _ = await page_messages(alice, base(got) + "/logs", stream=raw)
    assert lines == expected
    lines, body = await page_messages(alice, base(got) + "/logs/search", stream=raw)
    assert (lines, body["total_matches"]) == (expected, len(expected))
    lines, body = await page_messages(alice, base(got) + "/logs/search", stream=raw, q="LINE 1")
    hits = [m for m in expected if "line 1" in m]
    assert (lines, body["total_matches"]) == (hits, len(hits))
    regex = {"q": r"line \d*5$", "regex": "true"}
    lines, body = await page_messages(alice, base(got) + "/logs/search", stream=raw, **regex)
    assert lines == [m for m in expected if m.endswith("5")]


async def test_the_set_of_all_three_is_no_filter(alice: UserClient, services: Services) -> None:
    """All three streams (in any order, with repeats) are every line: the same page, search and
    download (the plain one, with its validators) as without `stream`."""
    got = await written_log(alice, services, MESSAGES, chunk_lines=7)
    every = [m for _, m in MESSAGES]
    raw = "system,stdout,stderr,stdout"
    assert (await page_messages(alice, base(got) + "/logs", stream=raw))[0] == every
    lines, body = await page_messages(alice, base(got) + "/logs/search", stream=raw)
    assert (lines, body["total_matches"]) == (every, 60)
    response = await alice.get(raw_url(got.job.workflow_id, got.job.id), params={"stream": raw})
    assert response.status_code == 200
    assert response.text == "".join(m + "\n" for m in every)
    assert "etag" in response.headers


@pytest.mark.parametrize("params", [{"stream": "stdout,stderr"}, {"stream": "stderr,system"}])
async def test_the_download_keeps_the_lines_of_the_set(
    alice: UserClient, services: Services, params: dict[str, str]
) -> None:
    """`/logs/raw` keeps the set's lines (alone or with `q`, in txt and jsonl)."""
    got = await written_log(alice, services, MESSAGES, chunk_lines=7)
    url = raw_url(got.job.workflow_id, got.job.id)
    expected = of(*params["stream"].split(","))
    response = await alice.get(url, params=params)
    assert response.status_code == 200
    assert response.text == "".join(m + "\n" for m in expected)
    response = await alice.get(url, params={**params, "q": "line 2", "format": "jsonl"})
    entries = [e for e in response.text.splitlines() if e]
    assert len(entries) == len([m for m in expected if "line 2" in m])


async def test_events_keep_the_lines_of_the_set_backlog_and_live(
    alice: UserClient, services: Services
) -> None:
    """`/events?stream=` sends the backlog's and the live lines of the set only, with their
    sequence numbers as ids, then `end`."""
    got = await running_job(alice, services)
    out = await services.logs.outputs.open(got.job, got.spec, got.token)
    for stream, message in MESSAGES[:30]:
        await out.write(stream, message.encode() + b"\n")
    await out.flush()
    url = events_url(got.job.workflow_id, got.job.id)
    async with alice.client.stream("GET", url, params={"stream": "system,stderr"}) as response:
        assert response.status_code == 200
        frames = await collect(response, lambda f: f.event == "log" and f.id == "29")
        for stream, message in MESSAGES[30:]:
            await out.write(stream, message.encode() + b"\n")
        await out.flush()
        frames += await collect(response, lambda f: f.event == "log" and f.id == "59")
        await finish(services, got, await out.close())
        frames += await collect(response)
    logs = [f.json() for f in frames if f.event == "log"]
    assert [line["message"] for line in logs] == of("stderr", "system")
    assert [line["sequence_num"] for line in logs] == [i for i in range(1, 61) if i % 3 != 0]
    assert frames[-1].event == "end"


@pytest.mark.parametrize("raw", ["stdout,", ",stdout", "stdout,,stderr", "stdout,nope", "all"])
async def test_unknown_or_empty_members_are_a_400_naming_stream(
    alice: UserClient, services: Services, raw: str
) -> None:
    """Every route answers 400 problem+json on `stream`."""
    got = await written_log(alice, services, MESSAGES[:3])
    for url in (
        base(got) + "/logs",
        base(got) + "/logs/search",
        raw_url(got.job.workflow_id, got.job.id),
        events_url(got.job.workflow_id, got.job.id),
    ):
        response = await alice.get(url, params={"stream": raw})
        assert response.status_code == 400, (url, response.text)
        assert response.json()["errors"][0]["field"] == "stream"


@pytest.mark.parametrize("route", ["/logs", "/logs/search"])
async def test_cursors_are_bound_to_the_set_not_its_order(
    alice: UserClient, services: Services, route: str
) -> None:
    """A cursor made with `stdout,stderr` pages on with `stderr,stdout,stdout`; with another set
    it is a 400 on `cursor`."""
    got = await written_log(alice, services, MESSAGES, chunk_lines=7)
    url = base(got) + route
    params = {"order": "asc", "limit": 10}
    first = await alice.get(url, params={**params, "stream": "stdout,stderr"})
    cursor = first.json()["cursor"]
    assert cursor
    more = await alice.get(
        url, params={**params, "stream": "stderr,stdout,stdout", "cursor": cursor}
    )
    assert more.status_code == 200, more.text
    seen = [line["message"] for line in first.json()["logs"] + more.json()["logs"]]
    assert seen == of("stdout", "stderr")[:20]
    other = await alice.get(url, params={**params, "stream": "stdout,system", "cursor": cursor})
    assert other.status_code == 400
    assert other.json()["errors"][0]["field"] == "cursor"
