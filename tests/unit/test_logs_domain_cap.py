"""The per-job cap's pure rules: head or tail for every line, the stored cap state, the omission
line and its seal."""

from __future__ import annotations

import random

import pytest

from hourglass.domain.logs.cap import (
    CapLimits,
    CapState,
    TailStart,
    TruncationPolicy,
    omission_message,
)
from hourglass.domain.logs.chunks import LogChunkCorrupt, decode_chunk, decode_meta, encode_meta
from hourglass.domain.logs.lines import CHUNK_TARGET_BYTES, LineBatch, Stream

OUT = Stream.STDOUT
T0 = 1_767_225_600_000_000


def batch(*messages: str, ts: int = T0, attempt: int = 1) -> LineBatch:
    text = "".join(m + "\n" for m in messages).encode()
    return LineBatch(OUT, text, len(messages), ts, attempt)


def messages(part: LineBatch | None) -> list[str]:
    return [] if part is None else part.messages()


def test_lines_are_head_lines_while_they_fit_in_half_the_cap() -> None:
    """Batches within `cap // 2` are head; the batch crossing it is cut after its last line that
    fits; everything after is tail."""
    policy = TruncationPolicy(CapLimits(20))  # head: 10 bytes
    assert policy.admit(batch("ab", "cd")) == (batch("ab", "cd"), None)  # 6 bytes
    head, tail = policy.admit(batch("e", "fg", "h"))  # 2 + 3 fit, "h" would make 12
    assert (messages(head), messages(tail)) == (["e"], ["fg", "h"])
    assert policy.head_full
    assert policy.admit(batch("i")) == (None, batch("i"))


def test_a_first_line_too_long_for_the_head_goes_to_the_tail() -> None:
    """When not even the batch's first line fits, all of it is tail and the head is full."""
    policy = TruncationPolicy(CapLimits(10), head_bytes=3)
    assert policy.admit(batch("abc")) == (None, batch("abc"))
    assert policy.head_full


def test_a_resumed_policy_goes_on_from_what_the_store_holds() -> None:
    """Started with the stored head's size it fills the rest; told the head is full, all is tail."""
    assert TruncationPolicy(CapLimits(20), head_bytes=8).admit(batch("a", "b")) == (
        batch("a"),
        batch("b"),
    )
    full = TruncationPolicy(CapLimits(20), head_bytes=2, head_full=True)
    assert full.admit(batch("a")) == (None, batch("a"))


def test_head_and_tail_split_every_line_once_for_any_batching() -> None:
    """For random batches the head parts are the longest prefix within half the cap and the tail
    parts are every later line, in order."""
    rng = random.Random(5)
    for _ in range(300):
        cap = rng.randint(2, 300)
        lines = ["x" * rng.randint(0, 9) for _ in range(rng.randint(0, 80))]
        policy = TruncationPolicy(CapLimits(cap))
        head: list[str] = []
        tail: list[str] = []
        at = 0
        while at < len(lines):
            step = rng.randint(1, 10)
            got_head, got_tail = policy.admit(batch(*lines[at : at + step]))
            assert not (tail and got_head)
            head += messages(got_head)
            tail += messages(got_tail)
            at += step
        assert head + tail == lines
        sizes = [len(m) + 1 for m in lines]
        assert sum(sizes[: len(head)]) <= cap // 2
        assert len(head) == len(lines) or sum(sizes[: len(head) + 1]) > cap // 2


def test_cap_limits_halve_the_cap_and_size_tail_chunks_by_it() -> None:
    """Head and tail halves; tail chunks are a quarter of the tail at most, 64 KiB at most."""
    assert (CapLimits(101).head_bytes, CapLimits(101).tail_bytes) == (50, 51)
    assert CapLimits(100_000_000).tail_chunk_bytes == CHUNK_TARGET_BYTES
    assert CapLimits(100).tail_chunk_bytes == 12
    assert CapLimits(2).tail_chunk_bytes == 1
    assert CapLimits(10_000).trim_below(12_000) == 7_000
    with pytest.raises(ValueError, match="at least 2"):
        CapLimits(1)


def test_cap_state_round_trips_and_damage_is_caught() -> None:
    """The stored state decodes to itself; damaged bytes, or a chunk meta, fail to decode."""
    state = CapState(50, 1000, 3762, 1036, truncated=True, sealed=False)
    assert CapState.decode(state.encode()) == state
    assert CapState.decode(CapState.start(7, 99).encode()) == CapState(7, 99, 0, 99, False, True)
    with pytest.raises(LogChunkCorrupt):
        CapState.decode(state.encode()[:-1])
    with pytest.raises(LogChunkCorrupt):
        decode_meta(state.encode())


def tail_start(first_seq: int, byte_offset: int, ts: int = T0 + 5, attempt: int = 2) -> TailStart:
    return TailStart(first_seq, byte_offset, encode_meta([batch("kept", ts=ts, attempt=attempt)]))


def test_the_omission_line_counts_what_lies_between_head_and_tail() -> None:
    """At H + 1 and the head's end: lines H+1..G-1 and the bytes between the head's end and the
    tail's (as written), stamped and tagged like the first line kept."""
    state = CapState.start(50, 1000)
    chunk = state.omission(tail_start(250, 5000))
    (line,) = decode_chunk(chunk.first_seq, chunk.text, chunk.meta)
    assert (chunk.first_seq, chunk.last_seq, chunk.byte_offset) == (51, 51, 1000)
    assert line.message == omission_message(199, 4000)
    assert (line.stream, line.ts_us, line.attempt) == (Stream.SYSTEM, T0 + 5, 2)


def test_a_seal_moves_the_tail_behind_the_omission_line_and_can_be_replayed() -> None:
    """After the seal the tail starts at the omission line's end and counts stay the same; a
    second seal (a replayed transaction) changes nothing; a later trim adds to the count."""
    trimmed = CapState.start(50, 1000).trimmed()
    first = tail_start(250, 5000)
    omission = trimmed.omission(first)
    sealed = trimmed.sealed_with(omission, first)
    assert (sealed.omitted_before, sealed.tail_base) == (4000, omission.end_offset)
    assert (sealed.truncated, sealed.sealed) == (True, True)
    moved = tail_start(250, omission.end_offset)
    assert sealed.omission(moved) == omission
    assert sealed.sealed_with(sealed.omission(moved), moved) == sealed
    later = sealed.trimmed().omission(tail_start(260, omission.end_offset + 200))
    (line,) = decode_chunk(later.first_seq, later.text, later.meta)
    assert line.message == omission_message(209, 4200)


def test_omission_message_counts_lines_and_bytes() -> None:
    """The omission line states how many lines and bytes were dropped."""
    assert omission_message(1, 5) == "… 1 line (5 bytes) omitted …"
    assert omission_message(1200, 98765) == "… 1200 lines (98765 bytes) omitted …"
