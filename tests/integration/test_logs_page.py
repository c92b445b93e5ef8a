"""`GET /workflows/{wid}/jobs/{jid}/logs` over real HTTP: keyset paging both ways, bounds, stream
filter, cursors bound to their filters, parameter errors, running jobs, and who may read."""

from __future__ import annotations

from typing import Any

import pytest

from hourglass.domain.logs.chunks import ChunkBuilder
from hourglass.domain.logs.lines import LineBatch, Stream
from hourglass.services.container import Services
from hourglass.store.logs.reads import chunks_after
from hourglass.store.logs.writes import insert_chunks
from tests.integration.engine_helpers import built_workflow, principal
from tests.integration.log_helpers import lines_json, numbered, written_log
from tests.support import UserClient

GHOST = "01JGXYZ5V8T3K9Q2M4N6P7R8S0"


def url(workflow_id: str, job_id: str) -> str:
    return f"/workflows/{workflow_id}/jobs/{job_id}/logs"


async def walk(user: UserClient, path: str, **params: Any) -> list[int]:
    """Every sequence number the pages return, following cursors to the end."""
    seen: list[int] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await user.get(path, params=query)
        seen += [line["sequence_num"] for line in lines_json(response)]
        cursor = response.json()["cursor"]
        if cursor is None:
            return seen


async def test_a_page_has_the_contract_fields(alice: UserClient, services: Services) -> None:
    """A page carries id, workflow_id, logs, cursor, log_state, total_lines; lines theirs."""
    got = await written_log(alice, services, numbered(5))
    response = await alice.get(url(got.job.workflow_id, got.job.id), params={"limit": 2})
    body = response.json()
    assert set(body) == {"id", "workflow_id", "logs", "cursor", "log_state", "total_lines"}
    assert (body["id"], body["workflow_id"]) == (got.job.id, got.job.workflow_id)
    assert (body["log_state"], body["total_lines"]) == ("complete", 5)
    assert response.headers["cache-control"] == "no-store"
    line = body["logs"][0]
    assert set(line) == {"sequence_num", "timestamp", "stream", "message", "attempt", "event_id"}
    assert (line["sequence_num"], line["message"], line["stream"]) == (5, "line 5", "stdout")
    assert line["event_id"] == f"{got.job.id}:5"
    assert line["attempt"] == 1


@pytest.mark.parametrize("order", ["desc", "asc"])
async def test_paging_returns_every_line_exactly_once(
    alice: UserClient, services: Services, order: str
) -> None:
    """Following cursors over many chunks returns each line once, in order (desc is default)."""
    got = await written_log(alice, services, numbered(300))
    params = {"limit": 7} if order == "desc" else {"limit": 7, "order": "asc"}
    seen = await walk(alice, url(got.job.workflow_id, got.job.id), **params)
    expected = list(range(1, 301))
    assert seen == (expected[::-1] if order == "desc" else expected)


async def test_after_and_before_bound_the_page(alice: UserClient, services: Services) -> None:
    """`after` and `before` are exclusive bounds, in either order."""
    got = await written_log(alice, services, numbered(100))
    path = url(got.job.workflow_id, got.job.id)
    assert await walk(alice, path, after=40, before=46, order="asc", limit=2) == [
        41,
        42,
        43,
        44,
        45,
    ]
    assert await walk(alice, path, after=95, limit=3) == [100, 99, 98, 97, 96]
    assert await walk(alice, path, before=4, limit=2) == [3, 2, 1]
    assert await walk(alice, path, after=50, before=51) == []


@pytest.mark.parametrize("order", ["desc", "asc"])
async def test_a_stream_filter_pages_through_that_stream_only(
    alice: UserClient, services: Services, order: str
) -> None:
    """`stream=stderr` returns exactly the stderr lines, each once, across chunk boundaries."""
    got = await written_log(alice, services, numbered(200))
    seen = await walk(
        alice, url(got.job.workflow_id, got.job.id), stream="stderr", limit=9, order=order
    )
    expected = [i for i in range(1, 201) if i % 3 == 0]
    assert seen == (expected[::-1] if order == "desc" else expected)


async def test_a_cursor_reused_with_other_filters_is_400(
    alice: UserClient, services: Services
) -> None:
    """A cursor only works with the filters it was made with."""
    got = await written_log(alice, services, numbered(20))
    path = url(got.job.workflow_id, got.job.id)
    cursor = (await alice.get(path, params={"limit": 5})).json()["cursor"]
    for other in ({"stream": "stdout"}, {"order": "asc"}, {"after": 2}):
        response = await alice.get(path, params={"cursor": cursor, **other})
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "cursor"
    assert (await alice.get(path, params={"cursor": "garbage!"})).status_code == 400
    assert (await alice.get(path, params={"cursor": cursor, "limit": 3})).status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"order": "up"}, "order"),
        ({"after": -1}, "after"),
        ({"before": "x"}, "before"),
        ({"stream": "stdin"}, "stream"),
    ],
)
async def test_bad_parameters_are_400_naming_the_field(
    alice: UserClient, services: Services, params: dict[str, Any], field: str
) -> None:
    """Out-of-range or malformed parameters are a 400 naming the parameter."""
    got = await written_log(alice, services, numbered(3))
    response = await alice.get(url(got.job.workflow_id, got.job.id), params=params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


async def test_the_limit_defaults_to_100_and_allows_1000(
    alice: UserClient, services: Services
) -> None:
    """Without `limit` a page has 100 lines; `limit=1000` is allowed."""
    got = await written_log(alice, services, numbered(1200), chunk_lines=500)
    path = url(got.job.workflow_id, got.job.id)
    assert len(lines_json(await alice.get(path))) == 100
    page = lines_json(await alice.get(path, params={"limit": 1000}))
    assert [line["sequence_num"] for line in page] == list(range(1200, 200, -1))


async def test_a_running_jobs_stored_lines_are_readable(
    alice: UserClient, services: Services
) -> None:
    """While the job runs, the page shows what is stored so far, with log_state streaming."""
    got = await written_log(alice, services, numbered(10), finished=False)
    response = await alice.get(url(got.job.workflow_id, got.job.id), params={"order": "asc"})
    body = response.json()
    assert [line["sequence_num"] for line in body["logs"]] == list(range(1, 11))
    assert (body["log_state"], body["total_lines"], body["cursor"]) == ("streaming", 10, None)


async def test_another_users_job_is_404_even_with_bad_parameters(
    alice: UserClient, bob: UserClient, services: Services
) -> None:
    """Someone else's job is 404 (not 400, not 200), as are unknown and malformed ids."""
    got = await written_log(alice, services, numbered(3))
    wid, jid = got.job.workflow_id, got.job.id
    for path in (url(wid, jid), url(wid, jid) + "/search?q=line"):
        assert (await bob.get(path)).status_code == 404
        assert (await bob.get(path, params={"limit": "bad"})).status_code == 404
    for path in (url(wid, GHOST), url(GHOST, jid), url("nope", jid), url(wid, "not-an-id")):
        assert (await alice.get(path)).status_code == 404
        assert (await alice.get(path + "/search", params={"q": "x"})).status_code == 404


async def test_without_log_retention_the_routes_are_412_before_400(
    alice: UserClient, services: Services
) -> None:
    """A workflow with log_retention=false answers 412, even to bad parameters."""
    got = await written_log(alice, services, numbered(3), finished=False, log_retention=False)
    path = url(got.job.workflow_id, got.job.id)
    for params in ({}, {"limit": "bad"}):
        assert (await alice.get(path, params=params)).status_code == 412
        assert (await alice.get(path + "/search", params={"q": "[", **params})).status_code == 412


async def test_chunks_after_the_end_is_empty(services: Services) -> None:
    """Reading after the last stored line returns no chunk (so "read until empty" ends)."""
    db = services.db
    who = await principal(services)
    wid = await built_workflow(services, who)
    job_id = (await services.jobs.schedule(who.user_id, wid, idempotency_key="k")).body["id"]
    builder = ChunkBuilder()
    builder.add(LineBatch(Stream.STDOUT, b"a\nb\nc\n", 3, 0))
    chunk = builder.flush()
    assert chunk is not None
    async with db.write() as tx:
        assert await insert_chunks(db, tx, job_id, [chunk], None)
    async with db.read() as tx:
        assert [c.last_seq for c in await chunks_after(tx, job_id, 0, 10)] == [3]
        assert [c.last_seq for c in await chunks_after(tx, job_id, 2, 10)] == [3]
        assert await chunks_after(tx, job_id, 3, 10) == []
        assert await chunks_after(tx, job_id, 99, 10) == []
