"""Chunks of numbered lines: text, run-length meta, offsets, partial decoding."""

from __future__ import annotations

import itertools
import random
import struct
from datetime import UTC, datetime

import pytest

from hourglass.domain.logs.chunks import (
    Chunk,
    ChunkBuilder,
    LogChunkCorrupt,
    decode_chunk,
    encode_meta,
    stream_text,
)
from hourglass.domain.logs.lines import (
    LineBatch,
    LogLine,
    Stream,
    format_epoch_us,
    from_epoch_us,
    to_epoch_us,
)

OUT, ERR, SYS = Stream.STDOUT, Stream.STDERR, Stream.SYSTEM
T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in epoch microseconds


def batch(stream: Stream, *messages: str, ts: int = T0, attempt: int = 1) -> LineBatch:
    text = "".join(m + "\n" for m in messages).encode()
    return LineBatch(stream, text, len(messages), ts, attempt)


def build(batches: list[LineBatch], **kwargs: int) -> list[Chunk]:
    builder = ChunkBuilder(**kwargs)
    chunks = [c for b in batches for c in builder.add(b)]
    last = builder.flush()
    return chunks + ([last] if last else [])


def decode_all(chunks: list[Chunk]) -> list[LogLine]:
    return [line for c in chunks for line in decode_chunk(c.first_seq, c.text, c.meta)]


def mixed_batches(rng: random.Random, n: int = 60) -> list[LineBatch]:
    out = []
    for i in range(n):
        stream = rng.choice([OUT, OUT, ERR, SYS])
        msgs = [
            f"{i}-{k} " + "é" * rng.randint(0, 3) * rng.randint(0, 1)
            for k in range(rng.randint(1, 9))
        ]
        out.append(batch(stream, *msgs, ts=T0 + i // 3, attempt=1 + i // 40))
    return out


# --- building chunks ---------------------------------------------------------------------------


def test_chunk_text_is_the_plain_text_download() -> None:
    """A chunk's text is exactly its messages, each followed by `\\n`, in order."""
    [chunk] = build([batch(OUT, "a", ""), batch(ERR, "ß")])
    assert chunk.text == "a\n\nß\n".encode()
    assert (chunk.first_seq, chunk.last_seq, chunk.byte_offset) == (1, 3, 0)


def test_chunks_stay_within_the_target_and_split_on_line_ends() -> None:
    """Chunks close at the target size on a line boundary; sequence numbers stay contiguous."""
    chunks = build([batch(OUT, *[f"line {i:03d}" for i in range(100)])], target_bytes=50)
    assert all(len(c.text) <= 50 and c.text.endswith(b"\n") for c in chunks)
    assert chunks[0].first_seq == 1
    assert chunks[-1].last_seq == 100
    assert all(a.last_seq + 1 == b.first_seq for a, b in itertools.pairwise(chunks))
    assert [m.message for m in decode_all(chunks)] == [f"line {i:03d}" for i in range(100)]


def test_byte_offset_is_the_text_before_the_chunk() -> None:
    """Each chunk's byte_offset is the total text size of the job before it."""
    rng = random.Random(1)
    chunks = build(mixed_batches(rng), target_bytes=64)
    total = 0
    for chunk in chunks:
        assert chunk.byte_offset == total
        total += len(chunk.text)
        assert chunk.end_offset == total


def test_a_line_longer_than_the_target_gets_a_chunk_of_its_own() -> None:
    """One line bigger than the target is never split; it fills a chunk alone."""
    chunks = build([batch(OUT, "a", "b" * 30, "c")], target_bytes=8)
    assert [c.text for c in chunks] == [b"a\n", b"b" * 30 + b"\n", b"c\n"]


def test_builder_resumes_from_the_stored_position() -> None:
    """A builder started at next_seq/byte_offset continues numbering and offsets from there."""
    [chunk] = build([batch(OUT, "x")], next_seq=41, byte_offset=1000)
    assert (chunk.first_seq, chunk.last_seq, chunk.byte_offset) == (41, 41, 1000)


def test_flush_with_nothing_pending_returns_none() -> None:
    """`flush()` on an empty builder makes no chunk."""
    builder = ChunkBuilder()
    assert builder.flush() is None
    assert builder.add(None) == []
    assert builder.pending_lines == 0


# --- meta codec --------------------------------------------------------------------------------


def test_meta_round_trips_time_stream_and_attempt_of_every_line() -> None:
    """Decoding gives each line's own sequence number, time stamp, stream and attempt."""
    rng = random.Random(2)
    batches = mixed_batches(rng)
    expected = [(b.ts_us, b.stream, b.attempt, m) for b in batches for m in b.messages()]
    lines = decode_all(build(batches, target_bytes=100))
    assert [(x.ts_us, x.stream, x.attempt, x.message) for x in lines] == expected
    assert [x.sequence_num for x in lines] == list(range(1, len(expected) + 1))


def test_meta_is_run_length_encoded() -> None:
    """Consecutive lines with equal time, stream and attempt share one 20-byte run."""
    meta = encode_meta(
        [batch(OUT, "a", "b"), batch(OUT, "c"), batch(ERR, "d"), batch(ERR, "e", ts=T0 + 1)]
    )
    assert meta[0] == 1
    runs = [struct.unpack_from("<IIqI", meta, 1 + 20 * i) for i in range((len(meta) - 1) // 20)]
    assert runs == [(3, 6, T0, 1 << 2 | 0), (1, 2, T0, 1 << 2 | 1), (1, 2, T0 + 1, 1 << 2 | 1)]


def test_sub_range_decode_equals_slicing_the_full_decode() -> None:
    """Decoding any [lo, hi] of a multi-run chunk gives exactly that slice of the full decode."""
    rng = random.Random(3)
    [chunk] = build(mixed_batches(rng, 12), target_bytes=10**6)
    full = decode_chunk(chunk.first_seq, chunk.text, chunk.meta)
    first, last = chunk.first_seq, chunk.last_seq
    for lo in range(first - 1, last + 2):
        for hi in range(lo - 1, last + 2):
            got = decode_chunk(first, chunk.text, chunk.meta, lo=lo, hi=hi)
            assert got == [x for x in full if lo <= x.sequence_num <= hi]


def test_decode_filters_by_stream_and_by_sequence_numbers() -> None:
    """`stream` keeps one stream's lines; `only` keeps the given sequence numbers."""
    [chunk] = build([batch(OUT, "o1", "o2"), batch(ERR, "e1"), batch(OUT, "o3")])
    err = decode_chunk(1, chunk.text, chunk.meta, stream=ERR)
    assert [(x.sequence_num, x.message) for x in err] == [(3, "e1")]
    picked = decode_chunk(1, chunk.text, chunk.meta, only={2, 4})
    assert [x.message for x in picked] == ["o2", "o3"]


def test_stream_text_is_the_concatenation_of_one_streams_lines() -> None:
    """`stream_text` returns the download bytes of one stream's lines only."""
    [chunk] = build([batch(OUT, "o1"), batch(ERR, "e1", "e2"), batch(OUT, "o2"), batch(ERR, "e3")])
    assert stream_text(chunk.text, chunk.meta, ERR) == b"e1\ne2\ne3\n"
    assert stream_text(chunk.text, chunk.meta, SYS) == b""


@pytest.mark.parametrize(
    ("meta", "text"),
    [
        (b"", b""),
        (b"\x02" + struct.pack("<IIqI", 1, 2, 0, 4), b"a\n"),
        (b"\x01" + struct.pack("<IIqI", 1, 2, 0, 4)[:-1], b"a\n"),
        (b"\x01" + struct.pack("<IIqI", 1, 3, 0, 4), b"a\n"),
        (b"\x01" + struct.pack("<IIqI", 1, 2, 0, 7), b"a\n"),
    ],
)
def test_damaged_meta_is_refused(meta: bytes, text: bytes) -> None:
    """Unknown versions, truncated runs, wrong sizes and unknown streams raise LogChunkCorrupt."""
    with pytest.raises(LogChunkCorrupt):
        decode_chunk(1, text, meta)


def test_decoded_line_carries_rfc3339_time_and_api_record() -> None:
    """A decoded line formats its time as RFC 3339 and renders the API's line object."""
    moment = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    [chunk] = build([batch(ERR, "boom", ts=to_epoch_us(moment), attempt=2)], next_seq=7)
    [line] = decode_chunk(7, chunk.text, chunk.meta)
    assert line.timestamp == "2026-03-04T05:06:07.890123Z"
    assert line.moment == moment
    assert line.record("J1") == {
        "sequence_num": 7,
        "timestamp": "2026-03-04T05:06:07.890123Z",
        "stream": "stderr",
        "message": "boom",
        "attempt": 2,
        "event_id": "J1:7",
    }


def test_epoch_microseconds_convert_exactly() -> None:
    """Time stamps convert to and from epoch microseconds without float rounding."""
    moment = datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=UTC)
    assert from_epoch_us(to_epoch_us(moment)) == moment
    assert to_epoch_us(datetime(1970, 1, 1, 0, 0, 0, 1)) == 1
    assert format_epoch_us(0) == "1970-01-01T00:00:00.000000Z"
