"""Chunks: how numbered lines are packed into `log_chunks` rows, and read back.

A chunk row is `(first_seq, last_seq, byte_offset, text, meta)`. `text` is exactly the plain-text
download of its lines (each message plus `\\n`); `byte_offset` is the job's text size before it.

`meta`, format version 1 (little-endian, `struct`):

    byte 0        version = 1
    then runs     "<IIqI" (20 bytes each), in line order, until the end:
                  u32 line count, u32 byte count (of those lines in `text`),
                  i64 time stamp (µs since the epoch), u32 tag = attempt << 2 | stream code
                  (stream code 0 stdout, 1 stderr, 2 system)

A run covers consecutive lines sharing time stamp, stream and attempt; since every line of one pipe
read shares all three, a 64 KiB chunk usually needs one to three runs (~20-60 bytes). The byte
count makes each run a known slice of `text`: filtering by stream is slicing, and decoding a page
splits only the run that holds it.
"""

from __future__ import annotations

import struct
from collections.abc import Container, Sequence
from dataclasses import dataclass
from typing import Final

from hourglass.domain.logs.lines import (
    CHUNK_TARGET_BYTES,
    STREAM_CODE,
    STREAM_CODES,
    LineBatch,
    LogLine,
    Stream,
    Streams,
    format_epoch_us,
    stream_set,
)
from hourglass.errors import HourglassError

META_VERSION: Final = 1
_RUN: Final = struct.Struct("<IIqI")


class LogChunkCorrupt(HourglassError):
    """A stored log chunk cannot be decoded."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """One `log_chunks` row, ready to insert."""

    first_seq: int
    last_seq: int
    byte_offset: int
    text: bytes
    meta: bytes

    @property
    def line_count(self) -> int:
        return self.last_seq - self.first_seq + 1

    @property
    def end_offset(self) -> int:
        """The job's text size after this chunk (the next chunk's `byte_offset`)."""
        return self.byte_offset + len(self.text)


@dataclass(frozen=True, slots=True)
class MetaRun:
    """One decoded run: lines `[first_index, first_index + count)` of its chunk."""

    first_index: int
    count: int
    byte_start: int
    byte_len: int
    ts_us: int
    stream: Stream
    attempt: int

    @property
    def byte_end(self) -> int:
        return self.byte_start + self.byte_len


def encode_meta(batches: Sequence[LineBatch]) -> bytes:
    """The meta of the chunk made of `batches`, neighbours with equal keys merged into one run."""
    out = [bytes((META_VERSION,))]
    key: tuple[int, int] | None = None
    count = size = 0
    for b in batches:
        if not b.count:
            continue
        k = (b.ts_us, b.attempt << 2 | STREAM_CODE[b.stream])
        if k == key:
            count += b.count
            size += len(b.text)
            continue
        if key is not None:
            out.append(_RUN.pack(count, size, key[0], key[1]))
        key, count, size = k, b.count, len(b.text)
    if key is not None:
        out.append(_RUN.pack(count, size, key[0], key[1]))
    return b"".join(out)


def decode_meta(meta: bytes, text_size: int | None = None) -> list[MetaRun]:
    """The runs of a chunk's meta; `LogChunkCorrupt` if it is not a known, consistent format."""
    if not meta or meta[0] != META_VERSION or (len(meta) - 1) % _RUN.size:
        raise LogChunkCorrupt("unknown or damaged log chunk meta")
    runs: list[MetaRun] = []
    index = start = 0
    for count, size, ts_us, tag in _RUN.iter_unpack(memoryview(meta)[1:]):
        code = tag & 3
        if code >= len(STREAM_CODES):
            raise LogChunkCorrupt("unknown stream code in log chunk meta")
        runs.append(MetaRun(index, count, start, size, ts_us, STREAM_CODES[code], tag >> 2))
        index += count
        start += size
    if text_size is not None and start != text_size:
        raise LogChunkCorrupt("log chunk meta does not match its text")
    return runs


class ChunkBuilder:
    """Numbers lines and packs them into chunks of about `target_bytes` of text.

    Start it at the job's next sequence number and current text size (both 1 and 0 for a new job,
    else what the store holds), `add` batches as they are captured, and `flush` on the writer's
    timer. A batch is split at a line boundary so a chunk stays within the target, except that a
    single line longer than the target makes a chunk of its own.
    """

    def __init__(
        self, *, next_seq: int = 1, byte_offset: int = 0, target_bytes: int = CHUNK_TARGET_BYTES
    ) -> None:
        if next_seq < 1 or byte_offset < 0 or target_bytes < 1:
            raise ValueError("invalid chunk builder start")
        self.next_seq = next_seq
        self.byte_offset = byte_offset
        self.target_bytes = target_bytes
        self._batches: list[LineBatch] = []
        self._bytes = 0
        self._lines = 0

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    @property
    def pending_lines(self) -> int:
        return self._lines

    def add(self, batch: LineBatch | None) -> list[Chunk]:
        """Take `batch`; return the chunks it filled (usually none or one)."""
        chunks: list[Chunk] = []
        while batch is not None and batch.count:
            room = self.target_bytes - self._bytes
            if len(batch.text) <= room:
                self._take(batch)
                break
            cut = batch.text.rfind(b"\n", 0, max(room, 0)) + 1
            if not cut and not self._batches:
                cut = batch.text.find(b"\n") + 1
            if cut:
                head, rest = batch.split_at(cut)
                self._take(head)
                batch = rest
            chunk = self.flush()
            assert chunk is not None
            chunks.append(chunk)
        return chunks

    def flush(self) -> Chunk | None:
        """The chunk of everything added since the last one, or None if nothing is pending."""
        if not self._lines:
            return None
        batches = self._batches
        text = batches[0].text if len(batches) == 1 else b"".join(b.text for b in batches)
        first = self.next_seq
        chunk = Chunk(first, first + self._lines - 1, self.byte_offset, text, encode_meta(batches))
        self.next_seq += self._lines
        self.byte_offset += len(text)
        self._batches, self._bytes, self._lines = [], 0, 0
        return chunk

    def _take(self, batch: LineBatch) -> None:
        self._batches.append(batch)
        self._bytes += len(batch.text)
        self._lines += batch.count


def _run_messages(segment: bytes, count: int, lo: int, hi: int) -> list[str]:
    """Messages `lo..hi` (inclusive, 0-based) of a run's text, splitting only as far as needed."""
    text = segment.decode("utf-8", "replace")
    if hi < count // 2 or lo == 0:
        return text.split("\n", hi + 1)[lo : hi + 1]
    # Near the end of the run: split from the right so the lines before `lo` stay one string.
    parts = text.rsplit("\n", count - lo + 1)
    return parts[1 : 1 + hi - lo + 1]


def decode_chunk(
    first_seq: int,
    text: bytes,
    meta: bytes,
    *,
    lo: int | None = None,
    hi: int | None = None,
    stream: Stream | Streams | None = None,
    only: Container[int] | None = None,
) -> list[LogLine]:
    """The lines of a chunk with `lo <= sequence_num <= hi` (inclusive; None = open), ascending.

    `stream` keeps one stream (or a set of them), `only` keeps the given sequence numbers (e.g.
    search hits). Only the runs overlapping the range are decoded and split, so a 100-line page
    out of a 64 KiB chunk costs a fraction of a full decode.
    """
    lines: list[LogLine] = []
    wanted = stream_set(stream)
    for run in decode_meta(meta, len(text)):
        if wanted is not None and run.stream not in wanted:
            continue
        a = first_seq + run.first_index
        b = a + run.count - 1
        start = a if lo is None else max(lo, a)
        end = b if hi is None else min(hi, b)
        if start > end:
            continue
        messages = _run_messages(text[run.byte_start : run.byte_end], run.count, start - a, end - a)
        stamp = format_epoch_us(run.ts_us)
        ts, st, att = run.ts_us, run.stream, run.attempt
        if only is None:
            lines += [LogLine(start + i, stamp, ts, st, att, m) for i, m in enumerate(messages)]
        else:
            lines += [
                LogLine(start + i, stamp, ts, st, att, m)
                for i, m in enumerate(messages)
                if start + i in only
            ]
    return lines


def stream_text(text: bytes, meta: bytes, stream: Stream | Streams) -> bytes:
    """The download text of some streams' lines in a chunk: slices of `text`, no per-line work."""
    runs = decode_meta(meta, len(text))
    wanted = stream_set(stream) or frozenset()
    picked = [text[r.byte_start : r.byte_end] for r in runs if r.stream in wanted]
    if len(picked) == len(runs):
        return text
    return b"".join(picked)
