"""`GET`/`HEAD /workflows/{wid}/jobs/{jid}/logs/raw` over real HTTP: the seed's status codes,
headers, batch-by-batch streaming and mid-stream error tail, then the extensions (formats,
filters, Range/ETag/304/If-Range, gzip, HEAD)."""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from hourglass.services.container import Services
from hourglass.store.logs import reads as log_reads
from hourglass.store.schema import jobs, sessions
from tests.integration.log_helpers import numbered, run_job, stored_lines, written_log
from tests.integration.logstream_helpers import (
    FAILURE,
    CountingFetch,
    client_for,
    log_server,
    raw_body,
    raw_url,
)
from tests.support import UserClient

GHOST = "01JGXYZ5V8T3K9Q2M4N6P7R8S0"
IDENTITY = {"Accept-Encoding": "identity"}  # httpx asks for gzip by default
TAIL = f"\n--- ERROR: failed to fetch logs ---\n{FAILURE}\n".encode()


def text_of(messages: list[tuple[str, str]], stream: str | None = None) -> bytes:
    return "".join(f"{m}\n" for s, m in messages if stream in (None, s)).encode()


async def finished_log(
    user: UserClient, services: Services, messages: list[tuple[str, str]], **kw: Any
) -> tuple[str, str]:
    got = await written_log(user, services, messages, **kw)
    return got.job.workflow_id, got.job.id


# the seed: status codes and headers


async def test_download_has_the_seed_headers_and_body(
    alice: UserClient, services: Services
) -> None:
    """200 with text/plain, the attachment filename and every message + newline in order."""
    messages = numbered(50)
    wid, jid = await finished_log(alice, services, messages)
    response = await alice.get(raw_url(wid, jid))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="{jid}-logs.txt"'
    assert response.headers["cache-control"] == "private"
    assert response.content == text_of(messages)


async def test_a_running_job_is_400(alice: UserClient, services: Services) -> None:
    """A job that is not finished yet answers 400 "job is not yet completed" (problem+json)."""
    got = await written_log(alice, services, numbered(3), finished=False)
    response = await alice.get(raw_url(got.job.workflow_id, got.job.id))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "job is not yet completed"


async def test_no_session_is_401(alice: UserClient, services: Services, base_url: str) -> None:
    """Without a session cookie the download is 401."""
    wid, jid = await finished_log(alice, services, numbered(3))
    async with httpx.AsyncClient(base_url=base_url) as anonymous:
        response = await anonymous.get(raw_url(wid, jid))
    assert response.status_code == 401


async def test_an_expired_session_is_401(alice: UserClient, services: Services) -> None:
    """A session past its expiry is 401, even for the owner's job."""
    wid, jid = await finished_log(alice, services, numbered(3))
    async with services.db.write() as tx:
        await tx.execute(update(sessions).values(expires_at=datetime.now(UTC) - timedelta(hours=1)))
    assert (await alice.get(raw_url(wid, jid))).status_code == 401


@pytest.mark.parametrize("params", [{}, {"format": "xml"}])
async def test_another_users_job_is_404(
    alice: UserClient, bob: UserClient, services: Services, params: dict[str, str]
) -> None:
    """Bob gets 404 on Alice's job, before any parameter is looked at."""
    wid, jid = await finished_log(alice, services, numbered(3))
    response = await bob.get(raw_url(wid, jid), params=params)
    assert response.status_code == 404


@pytest.mark.parametrize("ids", [("nope", "nope"), (GHOST, GHOST)])
async def test_malformed_or_unknown_ids_are_404(alice: UserClient, ids: tuple[str, str]) -> None:
    """Malformed or unknown workflow/job ids are 404."""
    assert (await alice.get(raw_url(*ids))).status_code == 404


async def test_a_workflow_without_log_retention_is_412(
    alice: UserClient, services: Services
) -> None:
    """A finished job of a workflow with log_retention=false has no log to download: 412."""
    wid, jid = await finished_log(alice, services, numbered(3), log_retention=False)
    assert (await alice.get(raw_url(wid, jid))).status_code == 412


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"format": "xml"}, "format"),
        ({"stream": "both"}, "stream"),
        ({"q": "x", "regex": "maybe"}, "regex"),
        ({"q": "(", "regex": "true"}, "q"),
        ({"q": "x", "case_sensitive": "2"}, "case_sensitive"),
        ({"timestamps": "yes"}, "timestamps"),
        ({"ansi": "remove"}, "ansi"),
    ],
)
async def test_a_bad_parameter_is_400_naming_it(
    alice: UserClient, services: Services, params: dict[str, str], field: str
) -> None:
    """Each invalid parameter is a 400 whose errors name that parameter."""
    wid, jid = await finished_log(alice, services, numbered(3))
    response = await alice.get(raw_url(wid, jid), params=params)
    assert response.status_code == 400, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


# streaming and the mid-stream error tail


async def test_the_first_bytes_leave_before_the_log_is_read(
    alice: UserClient, services: Services
) -> None:
    """The first batch reaches the client while the second batch's read is still held back."""
    messages = numbered(400)
    wid, jid = await finished_log(alice, services, messages, chunk_lines=20)
    fetch = CountingFetch(hold_at=3)  # batch 1 read, batch 2 prefetched, batch 3 held
    async with (
        log_server(services, batch_chunks=2, fetch=fetch) as (url, _),
        client_for(alice, url) as client,
        client.stream("GET", raw_url(wid, jid), headers=IDENTITY) as response,
    ):
        pieces = response.aiter_raw()  # one iterator: dropping it would close the stream
        first = await anext(pieces)
        await asyncio.wait_for(fetch.held.wait(), 5)
        assert text_of(messages).startswith(first)
        assert len(first) < len(text_of(messages))
        fetch.release.set()
        rest = b"".join([piece async for piece in pieces])
    assert first + rest == text_of(messages)


async def test_a_client_that_leaves_stops_the_reads(alice: UserClient, services: Services) -> None:
    """Once the client disconnects mid-download, the read in flight is cancelled and no
    further batch is read from the store (the log has 60)."""
    wid, jid = await finished_log(alice, services, numbered(600), chunk_lines=10)
    fetch = CountingFetch(hold_at=3)
    async with log_server(services, batch_chunks=1, fetch=fetch) as (url, _):
        async with (
            client_for(alice, url) as client,
            client.stream("GET", raw_url(wid, jid)) as response,
        ):
            pieces = response.aiter_raw()
            await anext(pieces)
            await asyncio.wait_for(fetch.held.wait(), 5)
        await asyncio.wait_for(fetch.cancelled.wait(), 5)  # the server saw the client leave
        assert fetch.calls == 3
    assert fetch.calls == 3  # still, once the server has stopped


@pytest.mark.parametrize("params", [{}, {"stream": "stdout"}, {"q": "line"}])
async def test_a_failure_mid_stream_ends_txt_with_the_error_tail(
    alice: UserClient, services: Services, params: dict[str, str]
) -> None:
    """The store failing after the first batch: the body is batch 1 then the seed's error tail
    (which fits in what a declared Content-Length leaves, and the connection closes short)."""
    messages = numbered(100)
    wid, jid = await finished_log(alice, services, messages, chunk_lines=10)
    # a stream filter reads chunk metas first, then the texts: fail the second text read
    failing = (
        {"fetch_at": CountingFetch(log_reads.chunks_at, fail_at=2)}
        if "stream" in params
        else {"fetch": CountingFetch(fail_at=2)}
    )
    async with (
        log_server(services, batch_chunks=2, **failing) as (url, _),
        client_for(alice, url) as client,
        client.stream("GET", raw_url(wid, jid), params=params, headers=IDENTITY) as response,
    ):
        assert response.status_code == 200
        body, complete = await raw_body(response)
    first_batch = [m for m in messages[:20] if "stream" not in params or m[0] == "stdout"]
    assert body == text_of(first_batch) + TAIL
    # with a declared Content-Length the connection also closes short, so the client knows
    assert complete is ("content-length" not in response.headers)


@pytest.mark.parametrize(
    ("params", "headers", "failing"),
    [
        ({}, IDENTITY, "fetch"),
        ({}, {"Accept-Encoding": "gzip"}, "fetch"),
        ({}, {"Range": "bytes=100-"}, "fetch"),
        ({"stream": "stdout"}, IDENTITY, "fetch_at"),
        ({"q": "line"}, IDENTITY, "fetch"),
        ({"format": "jsonl"}, IDENTITY, "fetch"),
        ({"format": "json"}, IDENTITY, "fetch"),
    ],
)
async def test_a_failure_on_the_first_batch_is_a_500_problem(
    alice: UserClient,
    services: Services,
    params: dict[str, str],
    headers: dict[str, str],
    failing: str,
) -> None:
    """The store failing on the first read, before any byte: the seed's 500 as problem+json,
    whatever the format, filter, range or encoding, and no attachment."""
    wid, jid = await finished_log(alice, services, numbered(100), chunk_lines=10)
    read = log_reads.chunks_after if failing == "fetch" else log_reads.chunks_at
    async with (
        log_server(services, batch_chunks=2, **{failing: CountingFetch(read, fail_at=1)}) as (
            url,
            _,
        ),
        client_for(alice, url) as client,
    ):
        response = await client.get(raw_url(wid, jid), params=params, headers=headers)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == f"failed to fetch logs: {FAILURE}"
    assert "content-disposition" not in response.headers


async def test_with_content_length_a_tail_that_does_not_fit_is_left_out(
    alice: UserClient, services: Services
) -> None:
    """A range failing after its first batch with fewer bytes left than the error tail: the
    body is the first batch's bytes alone, and the connection closes short of the length."""
    messages = numbered(100)
    wid, jid = await finished_log(alice, services, messages, chunk_lines=10)
    first_batch = text_of(messages[:20])
    last = len(first_batch) + len(TAIL) - 2  # room for all but one byte of the tail
    async with (
        log_server(services, batch_chunks=2, fetch=CountingFetch(fail_at=2)) as (url, _),
        client_for(alice, url) as client,
        client.stream(
            "GET", raw_url(wid, jid), headers={"Range": f"bytes=0-{last}", **IDENTITY}
        ) as response,
    ):
        assert response.status_code == 206
        assert response.headers["content-length"] == str(last + 1)
        body, complete = await raw_body(response)
    assert (body, complete) == (first_batch, False)


async def test_a_failure_mid_stream_ends_jsonl_with_an_error_line(
    alice: UserClient, services: Services
) -> None:
    """jsonl: the lines of batch 1, then one final {"error", "message"} line."""
    wid, jid = await finished_log(alice, services, numbered(100), chunk_lines=10)
    async with (
        log_server(services, batch_chunks=2, fetch=CountingFetch(fail_at=2)) as (
            url,
            _,
        ),
        client_for(alice, url) as client,
    ):
        response = await client.get(raw_url(wid, jid), params={"format": "jsonl"})
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [entry["sequence_num"] for entry in lines[:-1]] == list(range(1, 21))
    assert lines[-1] == {"error": "failed to fetch logs", "message": FAILURE}


async def test_a_failure_mid_stream_keeps_the_json_document_valid(
    alice: UserClient, services: Services
) -> None:
    """json: the document still parses, with the lines read and an "error" member."""
    wid, jid = await finished_log(alice, services, numbered(100), chunk_lines=10)
    async with (
        log_server(services, batch_chunks=2, fetch=CountingFetch(fail_at=2)) as (
            url,
            _,
        ),
        client_for(alice, url) as client,
    ):
        response = await client.get(raw_url(wid, jid), params={"format": "json"})
    document = response.json()
    assert [entry["sequence_num"] for entry in document["logs"]] == list(range(1, 21))
    assert (document["error"], document["message"]) == ("failed to fetch logs", FAILURE)


async def test_a_failure_mid_stream_under_gzip_ends_with_the_tail(
    alice: UserClient, services: Services
) -> None:
    """gzip: the decompressed body is batch 1 then the error tail, and the gzip stream is whole."""
    messages = numbered(100)
    wid, jid = await finished_log(alice, services, messages, chunk_lines=10)
    async with (
        log_server(services, batch_chunks=2, fetch=CountingFetch(fail_at=2)) as (
            url,
            _,
        ),
        client_for(alice, url) as client,
        client.stream("GET", raw_url(wid, jid), headers={"Accept-Encoding": "gzip"}) as response,
    ):
        body, complete = await raw_body(response)
    assert complete
    assert gzip.decompress(body) == text_of(messages[:20]) + TAIL


async def test_a_long_log_arrives_whole_across_many_batches(
    alice: UserClient, services: Services
) -> None:
    """Hundreds of chunks read two at a time come out byte for byte, with a matching length."""
    messages = [("stdout", f"{i:05d} " + "x" * (i % 50)) for i in range(3000)]
    wid, jid = await finished_log(alice, services, messages, chunk_lines=7)
    async with log_server(services, batch_chunks=2) as (url, _), client_for(alice, url) as client:
        response = await client.get(raw_url(wid, jid), headers=IDENTITY)
    assert response.content == text_of(messages)
    assert response.headers["content-length"] == str(len(text_of(messages)))


async def test_a_real_command_job_downloads_all_its_lines(
    alice: UserClient, services: Services
) -> None:
    """A real COMMAND job printing 3000 lines downloads them all, after its system lines."""
    script = "import sys\nfor i in range(3000): print(i)\nprint('oops', file=sys.stderr)"
    wid, jid = await run_job(alice, services, {"cmd": ["python3", "-c", script]})
    response = await alice.get(raw_url(wid, jid))
    assert response.status_code == 200
    stored = await stored_lines(services, jid)
    assert response.text == "".join(f"{line.message}\n" for line in stored)
    stdout = (await alice.get(raw_url(wid, jid), params={"stream": "stdout"})).text
    assert stdout == "".join(f"{i}\n" for i in range(3000))
    assert (await alice.get(raw_url(wid, jid), params={"stream": "stderr"})).text == "oops\n"


# validators, ranges, conditional requests


async def plain(alice: UserClient, services: Services) -> tuple[str, bytes, httpx.Response]:
    messages = numbered(200)
    wid, jid = await finished_log(alice, services, messages, chunk_lines=9)
    url = raw_url(wid, jid)
    return url, text_of(messages), await alice.get(url, headers=IDENTITY)


async def test_unfiltered_txt_has_length_and_validators(
    alice: UserClient, services: Services
) -> None:
    """Content-Length = log_bytes, a strong ETag, Last-Modified = completed_at, Accept-Ranges."""
    url, text, response = await plain(alice, services)
    job = (await alice.get(url.removesuffix("/logs/raw"))).json()
    assert response.headers["content-length"] == str(len(text)) == str(job["log_bytes"])
    etag = response.headers["etag"]
    assert etag.startswith('"')
    assert not etag.startswith("W/")
    assert response.headers["accept-ranges"] == "bytes"
    completed = datetime.fromisoformat(job["completed_at"].replace("Z", "+00:00"))
    assert response.headers["last-modified"] == completed.strftime("%a, %d %b %Y %H:%M:%S GMT")


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=100-", 100, None),
        ("bytes=-15", -15, None),
        ("bytes=50-99999", 50, None),
        ("bytes=95-180", 95, 180),
    ],
)
async def test_a_range_is_206_with_content_range(
    alice: UserClient, services: Services, header: str, start: int, end: int | None
) -> None:
    """One byte range (across chunk edges too) gives 206, those bytes and Content-Range."""
    url, text, _ = await plain(alice, services)
    response = await alice.get(url, headers={"Range": header})
    want = text[start : None if end is None else end + 1]
    first = start if start >= 0 else len(text) + start
    assert response.status_code == 206
    assert response.content == want
    assert response.headers["content-range"] == f"bytes {first}-{first + len(want) - 1}/{len(text)}"
    assert response.headers["content-length"] == str(len(want))


async def test_an_unsatisfiable_range_is_416(alice: UserClient, services: Services) -> None:
    """A range past the end is 416 with `Content-Range: bytes */<length>`."""
    url, text, _ = await plain(alice, services)
    response = await alice.get(url, headers={"Range": f"bytes={len(text)}-", **IDENTITY})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(text)}"


async def test_multiple_ranges_get_the_whole_log(alice: UserClient, services: Services) -> None:
    """Multiple ranges are not supported: the whole log with 200."""
    url, text, _ = await plain(alice, services)
    response = await alice.get(url, headers={"Range": "bytes=0-1,5-6"})
    assert (response.status_code, response.content) == (200, text)


async def test_if_none_match_is_304(alice: UserClient, services: Services) -> None:
    """The ETag in If-None-Match (or If-Modified-Since at Last-Modified) answers 304, no body."""
    url, _, first = await plain(alice, services)
    response = await alice.get(url, headers={"If-None-Match": first.headers["etag"], **IDENTITY})
    assert (response.status_code, response.content) == (304, b"")
    assert response.headers["etag"] == first.headers["etag"]
    since = await alice.get(
        url, headers={"If-Modified-Since": first.headers["last-modified"], **IDENTITY}
    )
    assert since.status_code == 304
    other = await alice.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


async def test_if_range_applies_the_range_only_while_the_etag_matches(
    alice: UserClient, services: Services
) -> None:
    """If-Range with the current ETag: 206; with a stale one: the whole log, 200."""
    url, text, first = await plain(alice, services)
    current = {"Range": "bytes=0-4", "If-Range": first.headers["etag"], **IDENTITY}
    assert (await alice.get(url, headers=current)).status_code == 206
    stale_etag = {"Range": "bytes=0-4", "If-Range": '"stale"', **IDENTITY}
    stale = await alice.get(url, headers=stale_etag)
    assert (stale.status_code, stale.content) == (200, text)


async def test_gzip_when_accepted(alice: UserClient, services: Services) -> None:
    """Accept-Encoding: gzip → gzip body that decompresses to the plain log, no length."""
    url, text, first = await plain(alice, services)
    async with alice.client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
        body, complete = await raw_body(response)
    assert complete
    assert gzip.decompress(body) == text
    assert response.headers["content-encoding"] == "gzip"
    assert "content-length" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["etag"] != first.headers["etag"]


async def test_a_range_wins_over_gzip(alice: UserClient, services: Services) -> None:
    """With both Range and Accept-Encoding: gzip, the range of the identity bytes is sent (206)."""
    url, text, _ = await plain(alice, services)
    response = await alice.get(url, headers={"Range": "bytes=3-12", "Accept-Encoding": "gzip"})
    assert response.status_code == 206
    assert "content-encoding" not in response.headers
    assert response.content == text[3:13]


async def test_no_gzip_when_refused(alice: UserClient, services: Services) -> None:
    """`gzip;q=0` or `identity` keeps the body uncompressed."""
    url, text, _ = await plain(alice, services)
    for value in ("gzip;q=0", "identity"):
        response = await alice.get(url, headers={"Accept-Encoding": value})
        assert "content-encoding" not in response.headers
        assert response.content == text


@pytest.mark.parametrize(
    "headers", [{}, {"Accept-Encoding": "gzip"}, {"Range": "bytes=0-9"}, {"Range": "bytes=9999-"}]
)
async def test_head_has_the_get_headers_without_a_body(
    alice: UserClient, services: Services, headers: dict[str, str]
) -> None:
    """HEAD answers with GET's status and headers (length, validators, encoding), no body."""
    url, _, _ = await plain(alice, services)
    get = await alice.get(url, headers={"Accept-Encoding": "identity", **headers})
    head = await alice.request("HEAD", url, headers={"Accept-Encoding": "identity", **headers})
    assert head.status_code == get.status_code
    assert head.content == b""
    skip = {"date", "x-request-id", "transfer-encoding"}
    assert {k: v for k, v in head.headers.items() if k not in skip} == {
        k: v for k, v in get.headers.items() if k not in skip
    }


async def test_head_checks_the_preconditions(
    alice: UserClient, bob: UserClient, services: Services
) -> None:
    """HEAD is 404 for another user and 400 for a running job, like GET."""
    wid, jid = await finished_log(alice, services, numbered(3))
    assert (await bob.request("HEAD", raw_url(wid, jid))).status_code == 404
    running = await written_log(alice, services, numbered(3), finished=False)
    url = raw_url(running.job.workflow_id, running.job.id)
    assert (await alice.request("HEAD", url)).status_code == 400


# formats and filters


MIXED = [
    ("stdout", "starting"),
    ("stderr", "\x1b[31mERROR\x1b[0m disk full"),
    ("stdout", '{"level":"info","n":1.50}'),
    ("stdout", "Error: retrying"),
    ("stderr", "warning: low memory"),
    ("stdout", "done ✓"),
]


async def mixed(alice: UserClient, services: Services) -> tuple[str, str]:
    return await finished_log(alice, services, MIXED, chunk_lines=2)


async def test_stream_filter_keeps_one_stream(alice: UserClient, services: Services) -> None:
    """`stream=stderr` downloads the stderr lines only, without length or validators."""
    wid, jid = await mixed(alice, services)
    response = await alice.get(raw_url(wid, jid), params={"stream": "stderr"})
    assert response.content == text_of(MIXED, "stderr")
    assert "content-length" not in response.headers
    assert "etag" not in response.headers


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "error"}, [1, 3]),
        ({"q": "error", "case_sensitive": "true"}, []),
        ({"q": "Error", "case_sensitive": "true"}, [3]),
        ({"q": r"^(warning|done)\b", "regex": "true"}, [4, 5]),
        ({"q": "error", "stream": "stdout"}, [3]),
    ],
)
async def test_q_keeps_the_lines_search_would_match(
    alice: UserClient, services: Services, params: dict[str, str], expected: list[int]
) -> None:
    """`q` (substring, case-insensitive by default; `regex`; `case_sensitive`) filters lines."""
    wid, jid = await mixed(alice, services)
    response = await alice.get(raw_url(wid, jid), params=params)
    assert response.content == "".join(MIXED[i][1] + "\n" for i in expected).encode()


async def test_timestamps_prefix_each_line(alice: UserClient, services: Services) -> None:
    """`timestamps=true` puts the line's RFC 3339 time stamp and a space before each line."""
    wid, jid = await mixed(alice, services)
    response = await alice.get(raw_url(wid, jid), params={"timestamps": "true"})
    stored = await stored_lines(services, jid)
    assert response.text == "".join(f"{line.timestamp} {line.message}\n" for line in stored)
    assert stored[0].timestamp.endswith("Z")
    assert "T" in stored[0].timestamp


async def test_ansi_strip_removes_escape_sequences(alice: UserClient, services: Services) -> None:
    """`ansi=strip` drops ANSI escapes; the default keeps them."""
    wid, jid = await mixed(alice, services)
    kept = await alice.get(raw_url(wid, jid), params={"stream": "stderr"})
    stripped = await alice.get(raw_url(wid, jid), params={"stream": "stderr", "ansi": "strip"})
    assert kept.text.splitlines()[0] == "\x1b[31mERROR\x1b[0m disk full"
    assert stripped.text == "ERROR disk full\nwarning: low memory\n"


async def test_jsonl_has_one_entry_per_line(alice: UserClient, services: Services) -> None:
    """`format=jsonl`: one object a line with the entry fields, message_json for JSON messages."""
    wid, jid = await mixed(alice, services)
    response = await alice.get(raw_url(wid, jid), params={"format": "jsonl"})
    assert response.headers["content-disposition"] == f'attachment; filename="{jid}-logs.jsonl"'
    entries = [json.loads(line) for line in response.text.splitlines()]
    stored = await stored_lines(services, jid)
    assert entries[0] == {
        "timestamp": stored[0].timestamp,
        "sequence_num": 1,
        "stream": "stdout",
        "attempt": 1,
        "event_id": f"{jid}:1",
        "message_raw": "starting",
    }
    assert [e["message_raw"] for e in entries] == [m for _, m in MIXED]
    assert [e.get("message_json") for e in entries] == [
        None,
        None,
        {"level": "info", "n": 1.5},
        None,
        None,
        None,
    ]
    assert list(entries[2]) == [
        "timestamp",
        "sequence_num",
        "stream",
        "attempt",
        "event_id",
        "message_raw",
        "message_json",
    ]


async def test_json_is_one_document(alice: UserClient, services: Services) -> None:
    """`format=json` is one valid document holding the filtered entries."""
    wid, jid = await mixed(alice, services)
    response = await alice.get(
        raw_url(wid, jid), params={"format": "json", "stream": "stderr", "ansi": "strip"}
    )
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert (document["id"], document["workflow_id"]) == (jid, wid)
    assert [(e["sequence_num"], e["message_raw"]) for e in document["logs"]] == [
        (2, "ERROR disk full"),
        (5, "warning: low memory"),
    ]


async def test_an_empty_log_downloads_as_empty(alice: UserClient, services: Services) -> None:
    """A finished job without lines: 200, Content-Length 0; json is an empty list."""
    wid, jid = await finished_log(alice, services, [])
    response = await alice.get(raw_url(wid, jid), headers=IDENTITY)
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["content-length"] == "0"
    document = (await alice.get(raw_url(wid, jid), params={"format": "json"})).json()
    assert document["logs"] == []


async def test_a_canceled_job_is_downloadable(alice: UserClient, services: Services) -> None:
    """CANCELED is final too: its log downloads."""
    got = await written_log(alice, services, numbered(4))
    async with services.db.write() as tx:
        await tx.execute(update(jobs).where(jobs.c.id == got.job.id).values(status="CANCELED"))
    response = await alice.get(raw_url(got.job.workflow_id, got.job.id))
    assert (response.status_code, response.content) == (200, text_of(numbered(4)))
