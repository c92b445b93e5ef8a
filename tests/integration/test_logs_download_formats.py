"""The `jsonl`/`json` (and filtered `txt`) downloads over a real store and real HTTP: bounded
pieces whatever the log's size, and the formats agreeing with each other line for line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hourglass.domain.logs.render import parse_json_message
from hourglass.services.container import Services
from hourglass.services.logs.download import RENDER_BYTES
from hourglass.services.logs.params import DownloadParams
from tests.integration.log_helpers import written_log
from tests.integration.logstream_helpers import RecordingFetch, client_for, log_server, raw_url
from tests.support import UserClient

# lines a log may hold that JSON detection and escaping must get right
TRICKY = [
    ("stdout", '{"level":"info","n":1.50,"tags":["a","b"]}'),
    ("stdout", "12 apples"),
    ("stderr", "-0"),
    ("stdout", " 42 "),
    ("stdout", "1e400"),
    ("stdout", "01"),
    ("stdout", "true"),
    ("stdout", "nullish"),
    ("stdout", '"quoted"'),
    ("stdout", "[1,"),
    ("stdout", "{not json}"),
    ("stdout", "NaN"),
    ("stdout", '["\\ud800"]'),
    ("stdout", "[" * 1100 + "]" * 1100),
    ("stderr", "\x1b[31mERROR\x1b[0m disk full\ttab"),
    ("stdout", 'quote " backslash \\ control \x01 unicode ✓ \u2028'),
    ("stdout", ""),
]


def big_log(lines: int) -> list[tuple[str, str]]:
    """`lines` lines of ~200 bytes, a JSON one in five, one in four on stderr."""
    out = []
    for i in range(lines):
        stream = "stderr" if i % 4 == 3 else "stdout"
        if i % 5 == 0:
            out.append((stream, json.dumps({"i": i, "msg": "x" * 170})))
        else:
            out.append((stream, f"{i:07d} processed item " + "y" * 170))
    return out


async def pieces_of(
    services: Services, user: UserClient, wid: str, jid: str, **params: str
) -> list[bytes]:
    reads = services.reads
    download = await reads.download(user.user_id, wid, jid, DownloadParams(**params))
    return [piece async for piece in reads.body(download)]


@pytest.mark.parametrize(
    "params",
    [
        {"format": "jsonl"},
        {"format": "json"},
        {"timestamps": "true"},
        {"format": "jsonl", "q": "item"},
    ],
)
async def test_a_big_download_comes_in_bounded_pieces(
    alice: UserClient, services: Services, params: dict[str, str]
) -> None:
    """However big the batch read, the body is made a few hundred KiB at a time: no piece is
    over 4 x RENDER_BYTES while the whole body is many times that (memory stays flat)."""
    got = await written_log(alice, services, big_log(12_000), chunk_lines=100)
    pieces = await pieces_of(services, alice, got.job.workflow_id, got.job.id, **params)
    assert sum(len(p) for p in pieces) > 8 * RENDER_BYTES
    assert max(len(p) for p in pieces) <= 4 * RENDER_BYTES


def expected_entry(jid: str, seq: int, stream: str, message: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "sequence_num": seq,
        "stream": stream,
        "attempt": 1,
        "event_id": f"{jid}:{seq}",
        "message_raw": message,
    }
    valid, value = parse_json_message(message)
    if valid:
        entry["message_json"] = value
    return entry


@pytest.mark.parametrize(
    "params", [{}, {"stream": "stderr"}, {"q": "processed"}, {"ansi": "strip"}]
)
async def test_jsonl_json_and_txt_agree_line_for_line(
    alice: UserClient, services: Services, params: dict[str, str]
) -> None:
    """Across many chunks and batches (read two chunks at a time), `jsonl` has one entry per
    `txt` line with that line as `message_raw`, `message_json` exactly when it is valid JSON,
    consecutive fields in order; `json` parses and holds the same entries."""
    messages = TRICKY + big_log(600) + TRICKY
    got = await written_log(alice, services, messages, chunk_lines=23)
    wid, jid = got.job.workflow_id, got.job.id
    async with (
        log_server(services, batch_chunks=2) as (url, _),
        client_for(alice, url) as client,
    ):
        txt = await client.get(raw_url(wid, jid), params=params)
        jsonl = await client.get(raw_url(wid, jid), params={**params, "format": "jsonl"})
        document = await client.get(raw_url(wid, jid), params={**params, "format": "json"})
    assert txt.status_code == jsonl.status_code == document.status_code == 200
    lines = txt.content.decode().split("\n")
    assert lines.pop() == ""
    entries = [json.loads(line) for line in jsonl.content.decode().split("\n")[:-1]]
    assert [e["message_raw"] for e in entries] == lines
    assert len(lines) > 100
    for e in entries:
        timestamp = e.pop("timestamp")
        assert timestamp.endswith("Z")
        want = expected_entry(jid, e["sequence_num"], e["stream"], e["message_raw"])
        assert e == want
    assert document.json() == {"id": jid, "workflow_id": wid, "logs": document.json()["logs"]}
    assert [
        {k: v for k, v in e.items() if k != "timestamp"} for e in document.json()["logs"]
    ] == entries
    if "stream" in params:
        assert {e["stream"] for e in entries} == {"stderr"}


OVERSTRIKES = [
    ("stdout", "progress 10%\rprogress 55%\rprogress 100%"),
    ("stderr", "\x1b[31mfailed\x1b[0m\rFAILED"),
    ("stdout", "spinner |\x08/\x08-\x08\\"),
    ("stdout", "downloading...\r\x1b[Kdone"),
    ("stdout", "plain"),
]
SHOWN = ["progress 100%", "FAILED", "spinner \\", "done", "plain"]


async def test_ansi_strip_renders_overstrikes(alice: UserClient, services: Services) -> None:
    """`ansi=strip` leaves what a terminal shows: `\\r` and `\\b` overwrite, erase-in-line
    erases; in `txt` and as `jsonl`'s `message_raw` (`ansi=keep` keeps the bytes as written)."""
    got = await written_log(alice, services, OVERSTRIKES)
    url = raw_url(got.job.workflow_id, got.job.id)
    txt = await alice.get(url, params={"ansi": "strip"})
    assert txt.text == "".join(f"{line}\n" for line in SHOWN)
    jsonl = await alice.get(url, params={"ansi": "strip", "format": "jsonl"})
    assert [json.loads(line)["message_raw"] for line in jsonl.text.splitlines()] == SHOWN
    kept = await alice.get(url, headers={"Accept-Encoding": "identity"})
    assert kept.content == "".join(f"{m}\n" for _, m in OVERSTRIKES).encode()


@pytest.mark.parametrize(
    ("params", "headers", "ramp"),
    [
        ({}, {"Accept-Encoding": "identity"}, False),
        ({"format": "jsonl"}, {}, False),
        ({}, {"Range": "bytes=0-99999"}, True),
    ],
)
async def test_a_big_log_is_read_in_full_batches_after_the_first(
    alice: UserClient,
    services: Services,
    params: dict[str, str],
    headers: dict[str, str],
    ramp: bool,
) -> None:
    """A download expected to fill a full batch reads one small batch (the first byte leaves
    soon) then full ones, no doubling in between; a small range still doubles."""
    got = await written_log(alice, services, big_log(1500), chunk_lines=20)  # ~300 KB
    fetch = RecordingFetch()
    options = {"first_batch_chunks": 1, "batch_chunks": 4, "fetch": fetch}
    async with (
        log_server(services, **options) as (url, _),
        client_for(alice, url) as client,
    ):
        response = await client.get(
            raw_url(got.job.workflow_id, got.job.id), params=params, headers=headers
        )
    assert response.status_code in (200, 206)
    assert fetch.limits[:3] == ([1, 2, 4] if ramp else [1, 4, 4])
