"""The per-job size cap: keep the head and the tail, replace the middle by one `system` line.

Every line is stored as it is captured, so live readers see it within the writer's flush time
and a worker that dies loses nothing it reported. The cap is kept by deleting from the store:

- HEAD: while the job's text fits in `cap // 2` bytes, lines are head lines. The batch that
  crosses that mark is cut after its last line that fits (`TruncationPolicy.admit`), and the
  writer closes its chunk there, so the head is whole chunks `1..H` of `head_end` bytes.
- TAIL: every later line is stored at once too. When the tail's stored text passes
  `cap - cap // 2`, the writer deletes its oldest whole chunks and keeps one omission line at
  sequence number `H + 1` (the first omitted line's number): `… N lines (M bytes) omitted …`,
  stamped and tagged like the first line kept after it. Numbers of the other omitted lines are
  simply absent, so ascending sequence numbers stay the download order.
- SEAL: at the end of every attempt a last trim brings the tail within its half, then the tail's
  byte offsets are rewritten to follow the omission line, so the stored log is a contiguous byte
  sequence again (Content-Length, Range). Until then a trimmed tail keeps the offsets it was
  written with (`CapState.sealed` is false).

What the writer needs to go on (after a crash, or in a later attempt) is a `CapState`, stored
with the log (`store.logs.writes` keeps it in `jobs.log_cap`), so the cap holds across attempts: one
omission line, whatever the number of attempts. Bytes are those of the stored text (message +
`\\n`), after masking and the line cap; the omission line itself is not counted.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from typing import Final

from hourglass.domain.logs.chunks import Chunk, LogChunkCorrupt, decode_meta, encode_meta
from hourglass.domain.logs.lines import CHUNK_TARGET_BYTES, DEFAULT_CAP_BYTES, LineBatch, Stream

CAP_STATE_VERSION: Final = 0x81  # never a chunk meta version: decoding it as lines fails loudly
_STATE: Final = struct.Struct("<qqqqB")
_TRUNCATED, _SEALED = 1, 2


def omission_message(lines: int, nbytes: int) -> str:
    """The text of the line that stands for the dropped middle of a log."""
    noun = "line" if lines == 1 else "lines"
    return f"… {lines} {noun} ({nbytes} bytes) omitted …"


@dataclass(frozen=True, slots=True)
class CapLimits:
    """The halves of a per-job cap."""

    cap_bytes: int = DEFAULT_CAP_BYTES

    def __post_init__(self) -> None:
        if self.cap_bytes < 2:
            raise ValueError("cap_bytes must be at least 2")

    @property
    def head_bytes(self) -> int:
        return self.cap_bytes // 2

    @property
    def tail_bytes(self) -> int:
        return self.cap_bytes - self.head_bytes

    @property
    def tail_chunk_bytes(self) -> int:
        """Chunk size in the tail: the tail is trimmed by whole chunks, so they must be small
        next to it (64 KiB against the default cap's 50 MB tail)."""
        return max(1, min(CHUNK_TARGET_BYTES, self.tail_bytes // 4))

    def trim_below(self, end_offset: int) -> int:
        """Tail chunks starting before this offset are to be deleted (`end_offset`: where the
        log's text ends, in the offsets its tail chunks were written with)."""
        return end_offset - self.tail_bytes


@dataclass(frozen=True, slots=True)
class TailStart:
    """The first stored chunk after the head (and after the omission line, if any)."""

    first_seq: int
    byte_offset: int
    meta: bytes


@dataclass(frozen=True, slots=True)
class CapState:
    """What the store remembers of a job's cap once its head is full."""

    head_last_seq: int  # H: the head is lines 1..H; the omission line, if any, is H + 1
    head_end: int  # text bytes of the head
    omitted_before: int = 0  # bytes omitted before the offsets of the current tail began
    tail_base: int = 0  # offset where the current tail's offsets began (the omission line's end)
    truncated: bool = False  # lines were omitted: the omission line is stored at H + 1
    sealed: bool = True  # the tail's byte offsets follow the head (and omission line) contiguously

    @classmethod
    def start(cls, head_last_seq: int, head_end: int) -> CapState:
        """The state when the head has just filled: nothing omitted yet."""
        return cls(head_last_seq, head_end, 0, head_end)

    @property
    def omission_seq(self) -> int:
        return self.head_last_seq + 1

    @property
    def tail_after(self) -> int:
        """Tail chunks are those with a `first_seq` above this."""
        return self.omission_seq if self.truncated else self.head_last_seq

    def omitted_bytes(self, first: TailStart) -> int:
        """Bytes omitted between the head and a tail that now starts at `first`."""
        return self.omitted_before + first.byte_offset - self.tail_base

    def omission(self, first: TailStart) -> Chunk:
        """The omission line for a tail that now starts at `first`."""
        lines = first.first_seq - self.head_last_seq - 1
        text = omission_message(lines, self.omitted_bytes(first)).encode() + b"\n"
        run = decode_meta(first.meta)[0]
        meta = encode_meta([LineBatch(Stream.SYSTEM, text, 1, run.ts_us, run.attempt)])
        seq = self.omission_seq
        return Chunk(seq, seq, self.head_end, text, meta)

    def trimmed(self) -> CapState:
        """After a trim: an omission line exists and the tail's offsets are no longer sealed."""
        return dataclasses.replace(self, truncated=True, sealed=False)

    def sealed_with(self, omission: Chunk, first: TailStart) -> CapState:
        """After the seal: the tail's offsets start right after `omission`."""
        return dataclasses.replace(
            self,
            omitted_before=self.omitted_bytes(first),
            tail_base=omission.end_offset,
            truncated=True,
            sealed=True,
        )

    def encode(self) -> bytes:
        flags = (_TRUNCATED if self.truncated else 0) | (_SEALED if self.sealed else 0)
        fields = (self.head_last_seq, self.head_end, self.omitted_before, self.tail_base, flags)
        return bytes((CAP_STATE_VERSION,)) + _STATE.pack(*fields)

    @classmethod
    def decode(cls, data: bytes) -> CapState:
        if len(data) != 1 + _STATE.size or data[0] != CAP_STATE_VERSION:
            raise LogChunkCorrupt("unknown or damaged log cap state")
        head, end, before, base, flags = _STATE.unpack_from(data, 1)
        return cls(head, end, before, base, bool(flags & _TRUNCATED), bool(flags & _SEALED))


class TruncationPolicy:
    """Tells head lines from tail lines as batches are captured (the writer stores both)."""

    def __init__(self, limits: CapLimits, *, head_bytes: int = 0, head_full: bool = False) -> None:
        """`head_bytes`: text the job already has in the store; `head_full`: its head is full."""
        self.limits = limits
        self.head_bytes = head_bytes
        self.head_full = head_full or head_bytes > limits.head_bytes

    def admit(self, batch: LineBatch | None) -> tuple[LineBatch | None, LineBatch | None]:
        """`(head part, tail part)` of `batch`; the first tail part ever means the head is full."""
        if batch is None or not batch.count:
            return None, None
        if self.head_full:
            return None, batch
        room = self.limits.head_bytes - self.head_bytes
        if len(batch.text) <= room:
            self.head_bytes += len(batch.text)
            return batch, None
        self.head_full = True
        cut = batch.text.rfind(b"\n", 0, room) + 1
        if not cut:
            return None, batch
        head, rest = batch.split_at(cut)
        self.head_bytes += cut
        return head, rest
