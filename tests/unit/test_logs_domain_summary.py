"""The summary's pure rules: error-like lines in a chunk (from any line on), the attempts and
gap read from chunk meta, and which line is the first error."""

from __future__ import annotations

from hourglass.domain.logs.chunks import encode_meta
from hourglass.domain.logs.lines import LineBatch, LogLine, Stream
from hourglass.domain.logs.summary import (
    ErrorHits,
    ErrorKind,
    ErrorLine,
    MetaOutline,
    clip,
    error_hits,
    first_error,
)

OUT, ERR, SYS = Stream.STDOUT, Stream.STDERR, Stream.SYSTEM


def batch(stream: Stream, *messages: str, attempt: int = 1) -> LineBatch:
    text = "".join(m + "\n" for m in messages).encode()
    return LineBatch(stream, text, len(messages), 0, attempt)


def chunk(*batches: LineBatch) -> tuple[bytes, bytes]:
    return b"".join(b.text for b in batches), encode_meta(batches)


def line(seq: int, stream: Stream, message: str) -> LogLine:
    return LogLine(seq, "", 0, stream, 1, message)


def test_hits_start_after_the_given_line_even_inside_a_run() -> None:
    """Lines at or before `after` are skipped, also in the middle of a run of one stream."""
    text, meta = chunk(batch(OUT, "error a", "fine", "error b"), batch(ERR, "e1", "e2"))
    hits = ErrorHits(10)
    error_hits(10, text, meta, hits, after=10)
    assert (hits.keyword, hits.stderr) == ([12], [13, 14])


def test_each_kind_stops_at_its_limit() -> None:
    """At most `limit` lines of each kind, the first ones."""
    text, meta = chunk(batch(ERR, *[f"Error {i}" for i in range(5)]))
    hits = ErrorHits(2)
    error_hits(1, text, meta, hits, after=0)
    assert (hits.keyword, hits.stderr, hits.full) == ([1, 2], [1, 2], True)
    assert hits.kind_of(1) is ErrorKind.KEYWORD


def test_system_lines_are_not_searched() -> None:
    """The worker's own lines (`system failure: …`) are not the workload's errors."""
    text, meta = chunk(batch(SYS, "error: system failure: worker lost"))
    hits = ErrorHits(5)
    error_hits(1, text, meta, hits, after=0)
    assert hits.seqs() == []


def test_the_outline_finds_attempts_and_the_gap() -> None:
    """Attempts with their opening and closing system lines; a jump in numbers is the gap."""
    outline = MetaOutline()
    _, first = chunk(batch(SYS, "attempt 1 started"), batch(OUT, "a", "b"), batch(SYS, "failed"))
    _, second = chunk(batch(SYS, "attempt 2 started", attempt=2), batch(OUT, "c", attempt=2))
    assert outline.add(1, 4, first) == len(b"attempt 1 started\na\nb\nfailed\n")
    outline.add(9, 10, second)
    assert outline.gap is not None
    assert (outline.gap.omission_seq, outline.gap.next_seq) == (4, 9)
    one, two = outline.attempts
    assert (one.first_seq, one.last_seq, one.lines, one.opening_seq, one.closing_seq) == (
        1,
        4,
        4,
        1,
        4,
    )
    assert (two.first_seq, two.last_seq, two.lines, two.opening_seq, two.closing_seq) == (
        9,
        10,
        2,
        9,
        9,
    )


def test_the_first_error_prefers_keywords_then_stderr_then_a_failed_closing() -> None:
    """Keyword over stderr whatever their order; with neither, a closing line saying failed."""
    noisy = ErrorLine(ErrorKind.STDERR, line(2, ERR, "INFO starting"))
    named = ErrorLine(ErrorKind.KEYWORD, line(5, OUT, "Error: bad"))
    assert first_error([noisy, named], None) == named
    assert first_error([noisy], None) == noisy
    failed = line(9, SYS, "failed: exited with code 3")
    assert first_error([], failed) == ErrorLine(ErrorKind.EXIT, failed)
    assert first_error([], line(9, SYS, "exited with code 0")) is None


def test_long_messages_are_clipped() -> None:
    """At most 500 characters, the cut said with an ellipsis."""
    assert clip("x" * 500) == "x" * 500
    assert clip("x" * 501) == "x" * 499 + "…"
