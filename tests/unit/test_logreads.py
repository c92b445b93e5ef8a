"""The pure parts of the streamed log reads: parameters, ranges, encodings, entry and frame
encoding, the shared live tail and the bus subscription's wait (no store, no HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from hourglass.domain.jobs import Job, JobStatus, LogState, Trigger
from hourglass.domain.logs.chunks import Chunk, ChunkBuilder, decode_chunk
from hourglass.domain.logs.lines import LineBatch, Stream
from hourglass.errors import StoreUnavailable, ValidationError
from hourglass.live import Subscription, Wakeup
from hourglass.services.logs.formats import (
    Download,
    DownloadOptions,
    DownloadParams,
    Format,
    json_entries,
    sse_log_frames,
)
from hourglass.services.logs.params import parse_resume
from hourglass.services.logs.tail import FramedChunk, LiveTails
from hourglass.web.downloads import ByteRange, Unsatisfiable, accepts_gzip, parse_range

JOB = "01JGABCDEFGHJKMNPQRSTVWXYZ"
TS = 1_767_268_800_123_456


def chunk_of(*lines: tuple[str, str], first_seq: int = 1) -> Chunk:
    builder = ChunkBuilder(next_seq=first_seq)
    for i, (stream, message) in enumerate(lines):
        builder.add(LineBatch(Stream(stream), (message + "\n").encode(), 1, TS + i, 1 + i % 2))
    chunk = builder.flush()
    assert chunk is not None
    return chunk


# parameters


def test_no_parameters_mean_the_plain_download() -> None:
    """Without parameters the download is unfiltered txt (the seed's bytes)."""
    options = DownloadOptions.parse(DownloadParams())
    assert options.plain
    assert options.format is Format.TXT


@pytest.mark.parametrize(
    "params",
    [
        DownloadParams(stream="stdout"),
        DownloadParams(q="x"),
        DownloadParams(timestamps="true"),
        DownloadParams(ansi="strip"),
        DownloadParams(format="jsonl"),
    ],
)
def test_any_filter_or_option_is_not_plain(params: DownloadParams) -> None:
    """Any filter, option or other format makes the download a rendered one."""
    assert not DownloadOptions.parse(params).plain


@pytest.mark.parametrize(
    ("params", "field"),
    [
        (DownloadParams(format="csv"), "format"),
        (DownloadParams(stream="all"), "stream"),
        (DownloadParams(q="a", regex="yes"), "regex"),
        (DownloadParams(q="[", regex="true"), "q"),
        (DownloadParams(timestamps="on"), "timestamps"),
        (DownloadParams(ansi="drop"), "ansi"),
    ],
)
def test_bad_parameters_name_their_field(params: DownloadParams, field: str) -> None:
    """A bad parameter is a ValidationError naming it."""
    with pytest.raises(ValidationError) as caught:
        DownloadOptions.parse(params)
    assert [e.field for e in caught.value.errors] == [field]


@pytest.mark.parametrize(
    ("last_event_id", "after", "expected"),
    [(None, None, 0), ("7", None, 7), (None, "9", 9), ("7", "9", 7), (" ", "9", 9)],
)
def test_the_resume_point(last_event_id: str | None, after: str | None, expected: int) -> None:
    """Last-Event-ID wins over ?after=, a blank header counts as absent, default 0."""
    assert parse_resume(last_event_id, after) == expected


@pytest.mark.parametrize(
    ("last_event_id", "after", "field"),
    [
        ("x", None, "Last-Event-ID"),
        (None, "-3", "after"),
        ("1e3", None, "Last-Event-ID"),
        (None, "١٢", "after"),
        (None, str(2**63), "after"),
    ],
)
def test_a_bad_resume_point(last_event_id: str | None, after: str | None, field: str) -> None:
    """Anything but a decimal sequence number is refused, naming the field."""
    with pytest.raises(ValidationError) as caught:
        parse_resume(last_event_id, after)
    assert caught.value.errors[0].field == field


# ranges and encodings


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", ByteRange(0, 9)),
        ("bytes=5-", ByteRange(5, 99)),
        ("bytes=-10", ByteRange(90, 99)),
        ("bytes=-500", ByteRange(0, 99)),
        ("bytes=90-1000", ByteRange(90, 99)),
        ("BYTES = 1-2", ByteRange(1, 2)),
        ("bytes=0-1,5-6", None),  # multiple ranges: ignored
        ("bytes=9-3", None),  # invalid: ignored
        ("items=0-1", None),
        ("bytes=a-b", None),
        ("bytes=-", None),
    ],
)
def test_parse_range(header: str, expected: ByteRange | None) -> None:
    """One byte range of a 100-byte body, clipped to it; anything else is ignored."""
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize(
    ("header", "length"), [("bytes=100-", 100), ("bytes=-0", 100), ("bytes=-5", 0)]
)
def test_unsatisfiable_ranges(header: str, length: int) -> None:
    """A range naming no byte of the body is unsatisfiable (416)."""
    with pytest.raises(Unsatisfiable):
        parse_range(header, length)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("*", True),
        ("x-gzip", True),
    ],
)
def test_accepts_gzip(header: str | None, expected: bool) -> None:
    """gzip is used when Accept-Encoding allows it with a non-zero quality."""
    assert accepts_gzip(header) is expected


# encoding entries and frames


TRICKY = [
    ("stdout", 'quote " backslash \\ tab \t bell \x07'),
    ("stderr", "ünïcödé ✓ 😀 \u2028"),
    ("stdout", '{"a": [1, 2.50, "x"], "b": null}'),
    ("stdout", "  [1,2]"),
    ("stdout", "NaN"),
    ("stdout", "42"),
    ("stdout", "{not json"),
    ("system", ""),
]


def test_json_entries_match_the_decoded_lines() -> None:
    """jsonl entries hold exactly the stored lines' fields; message_json only for valid JSON."""
    chunk = chunk_of(*TRICKY, first_seq=10)
    entries = [json.loads(e) for e in json_entries(JOB, chunk, DownloadOptions())]
    lines = decode_chunk(chunk.first_seq, chunk.text, chunk.meta)
    expected: list[dict[str, Any]] = []
    for line in lines:
        entry: dict[str, Any] = {
            "timestamp": line.timestamp,
            "sequence_num": line.sequence_num,
            "stream": line.stream.value,
            "attempt": line.attempt,
            "event_id": f"{JOB}:{line.sequence_num}",
            "message_raw": line.message,
        }
        with contextlib.suppress(ValueError):
            entry["message_json"] = json.loads(line.message, parse_constant=_refuse)
        expected.append(entry)
    assert entries == expected
    assert [("message_json" in e) for e in entries] == [
        False,
        False,
        True,
        True,
        False,
        True,
        False,
        False,
    ]


def _refuse(name: str) -> None:
    raise ValueError(name)


def test_json_entries_apply_stream_and_query() -> None:
    """Stream and query filters pick the same lines as search would."""
    chunk = chunk_of(("stdout", "an Error"), ("stderr", "error two"), ("stdout", "fine"))
    options = DownloadOptions.parse(DownloadParams(q="error", stream="stdout"))
    assert [json.loads(e)["sequence_num"] for e in json_entries(JOB, chunk, options)] == [1]


def test_sse_frames_carry_the_line_objects() -> None:
    """Each frame is id/event/data with the API's line object; `after` skips earlier lines."""
    chunk = chunk_of(*TRICKY, first_seq=5)
    text = sse_log_frames(JOB, chunk, after=6).decode()
    frames = text.split("\n\n")
    assert frames[-1] == ""
    lines = [
        ln for ln in decode_chunk(chunk.first_seq, chunk.text, chunk.meta) if ln.sequence_num > 6
    ]
    for frame, line in zip(frames[:-1], lines, strict=True):
        id_line, event_line, data_line = frame.split("\n")
        assert id_line == f"id: {line.sequence_num}"
        assert event_line == "event: log"
        assert json.loads(data_line.removeprefix("data: ")) == line.record(JOB)


def test_failure_tails() -> None:
    """The error tail per format: the seed's text, a final jsonl object, a closing json member."""
    job = finished_job()
    exc = StoreUnavailable("timeout")
    txt = Download(job, DownloadOptions()).failure_tail(exc)
    assert txt == b"\n--- ERROR: failed to fetch logs ---\ntimeout\n"
    jsonl = Download(job, DownloadOptions(Format.JSONL)).failure_tail(exc)
    assert json.loads(jsonl) == {"error": "failed to fetch logs", "message": "timeout"}
    tail = Download(job, DownloadOptions(Format.JSON)).failure_tail(exc)
    assert json.loads(b'{"logs":[' + tail) == {
        "logs": [],
        "error": "failed to fetch logs",
        "message": "timeout",
    }
    assert (
        Download(job, DownloadOptions())
        .failure_tail(RuntimeError("secret"))
        .endswith(b"internal error\n")
    )


def finished_job() -> Job:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Job(
        id=JOB,
        workflow_id=JOB,
        user_id=JOB,
        status=JobStatus.COMPLETED,
        trigger=Trigger.MANUAL,
        slot_at=None,
        generation=1,
        attempts=1,
        exit_code=0,
        failure_reason=None,
        scheduled_at=now,
        available_at=now,
        started_at=now,
        completed_at=now,
        created_at=now,
        updated_at=now,
        lease_token=None,
        lease_owner=None,
        lease_expires_at=None,
        cancel_requested_at=None,
        log_state=LogState.COMPLETE,
        log_lines=3,
        log_bytes=12,
        log_expires_at=None,
    )


def test_validators_exist_for_the_plain_download_only() -> None:
    """ETag/length/Last-Modified describe unfiltered txt; other variants have none."""
    plain = Download(finished_job(), DownloadOptions())
    assert (plain.etag, plain.length) == (f'"{JOB}-3-12"', 12)
    assert plain.last_modified is not None
    assert plain.filename == f"{JOB}-logs.txt"
    jsonl = Download(finished_job(), DownloadOptions(Format.JSONL))
    assert (jsonl.etag, jsonl.length, jsonl.last_modified) == (None, None, None)
    assert jsonl.filename == f"{JOB}-logs.jsonl"


# the shared live tail


def framed(first: int, last: int) -> FramedChunk:
    return FramedChunk(
        first,
        last,
        b"".join(b"id: %d\nevent: log\ndata: {}\n\n" % s for s in range(first, last + 1)),
    )


def test_framed_chunk_after() -> None:
    """A framed chunk gives the frames after any sequence number, whole frames only."""
    chunk = framed(10, 14)
    assert chunk.after(9) == chunk.frames
    assert chunk.after(12) == framed(13, 14).frames
    assert chunk.after(14) == b""


async def test_readers_at_the_live_edge_share_one_store_read() -> None:
    """Fifty readers woken for the same line cause one store read between them."""
    reads: list[int] = []
    started, gate = asyncio.Event(), asyncio.Event()

    async def read(job_id: str, after: int) -> list[FramedChunk]:
        reads.append(after)
        started.set()
        await gate.wait()
        return [framed(after + 1, after + 3)]

    tails = LiveTails(read)
    async with tails.use(JOB) as tail:
        waiting = [asyncio.create_task(tails.after(tail, 0, 3)) for _ in range(50)]
        await started.wait()  # the read runs after every reader took its first step
        assert len(tail.joiners) == 49
        gate.set()
        results = await asyncio.gather(*waiting)
        assert reads == [0]
        assert all(b"".join(p) == framed(1, 3).frames and last == 3 for p, last in results)
        # the next wake-up is served from the cache: still one read
        pieces, last = await tails.after(tail, 1, 3)
        assert (b"".join(pieces), last, reads) == (framed(2, 3).frames, 3, [0])
    assert len(tails) == 0


async def test_without_a_hint_a_reader_reads_the_store_itself() -> None:
    """`hint=None` never trusts the cache alone: it reads after what it has."""
    reads: list[int] = []

    async def read(job_id: str, after: int) -> list[FramedChunk]:
        reads.append(after)
        return [framed(after + 1, after + 1)] if after < 2 else []

    tails = LiveTails(read)
    async with tails.use(JOB) as tail:
        assert (await tails.after(tail, 0, None))[1] == 1
        assert (await tails.after(tail, 0, None))[1] == 2  # cache 1, then a read after 1
        assert (await tails.after(tail, 2, None))[1] == 2
    assert reads == [0, 1, 2]


async def test_a_read_that_stops_short_of_a_reader_is_no_answer_for_it() -> None:
    """A reader (no hint) that joins a read started before its own position, which stops short
    of it (reads are a few chunks long), reads the store itself instead of taking "nothing new"
    for the end of the log (a subscriber behind a fast writer once sent `end` early)."""
    reads: list[int] = []
    started, gate = asyncio.Event(), asyncio.Event()

    async def read(job_id: str, after: int) -> list[FramedChunk]:
        reads.append(after)
        if after == 0:
            started.set()
            await gate.wait()
        return [framed(after + 1, after + 2)]  # two lines a read: the log goes on

    tails = LiveTails(read)
    async with tails.use(JOB) as tail:
        since = asyncio.get_running_loop().time()
        behind = asyncio.create_task(tails.after(tail, 0, None, since=since))
        await started.wait()
        ahead = asyncio.create_task(tails.after(tail, 5, None, since=since))
        await asyncio.sleep(0)
        assert len(tail.joiners) == 1  # it joined the read in flight
        gate.set()
        assert (await behind)[1] == 2
        pieces, last = await ahead
        assert (b"".join(pieces), last) == (framed(6, 7).frames, 7)
    assert reads == [0, 5]


async def test_a_failed_shared_read_fails_every_reader() -> None:
    """When the store read fails, each waiting reader gets the failure (none hangs)."""

    started, gate = asyncio.Event(), asyncio.Event()

    async def read(job_id: str, after: int) -> list[FramedChunk]:
        started.set()
        await gate.wait()
        raise StoreUnavailable("down")

    tails = LiveTails(read)
    async with tails.use(JOB) as tail:
        waiting = [asyncio.create_task(tails.after(tail, 0, 1)) for _ in range(5)]
        await started.wait()
        assert len(tail.joiners) == 4  # four readers wait on the one read in flight
        gate.set()
        results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, StoreUnavailable) for r in results)


# the bus subscription


async def test_a_wakeup_before_wait_is_kept() -> None:
    """A wake-up delivered while nobody waits makes the next wait return at once."""
    sub = Subscription(JOB)
    sub._deliver(Wakeup(JOB, last_seq=4))
    assert await sub.wait(5)
    assert sub.last_seq == 4
    assert not await sub.wait(0.01)


async def test_every_waiter_wakes_and_status_changes_are_counted() -> None:
    """All concurrent waiters wake; status wake-ups bump `status_version`."""
    sub = Subscription(JOB)
    waiters = [asyncio.create_task(sub.wait(5)) for _ in range(3)]
    await asyncio.sleep(0)
    sub._deliver(Wakeup(JOB, status="RUNNING"))
    assert await asyncio.gather(*waiters) == [True, True, True]
    assert (sub.status, sub.status_version) == ("RUNNING", 1)


async def test_a_cancelled_wait_leaves_nothing_behind() -> None:
    """Cancelling a waiting reader removes its waiter."""
    sub = Subscription(JOB)
    task = asyncio.create_task(sub.wait(5))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sub._waiters == []
