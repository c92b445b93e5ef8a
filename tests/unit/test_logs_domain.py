"""Capture of job output: splitting into lines, the line cap, valid UTF-8 and secret masking."""

from __future__ import annotations

import random

import pytest

from hourglass.domain.logs.capture import LineSplitter, SecretMasker
from hourglass.domain.logs.lines import LineBatch, Stream

OUT, ERR, SYS = Stream.STDOUT, Stream.STDERR, Stream.SYSTEM


def capture(
    blocks: list[tuple[Stream, bytes]], splitter: LineSplitter | None = None
) -> list[tuple[Stream, str]]:
    """Feed blocks, flush, and return (stream, message) per line in emission order."""
    splitter = splitter or LineSplitter()
    batches: list[LineBatch] = []
    for stream, data in blocks:
        batch = splitter.feed(stream, data, 1)
        if batch is not None:
            batches.append(batch)
    batches += splitter.flush(2)
    return [(b.stream, m) for b in batches for m in b.messages()]


def lines_of(data: bytes, splitter: LineSplitter | None = None) -> list[str]:
    return [m for _, m in capture([(OUT, data)], splitter)]


def random_blocks(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(data)), k=min(len(data) - 1, rng.randint(0, 12))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


# --- splitting ---------------------------------------------------------------------------------


def test_splits_on_newline_and_keeps_empty_lines() -> None:
    """Lines split on `\\n`; empty lines, including consecutive ones, are kept."""
    assert lines_of(b"a\n\nb\n\n\n") == ["a", "", "b", "", ""]


def test_drops_exactly_one_trailing_carriage_return() -> None:
    """A trailing `\\r` is dropped once; other carriage returns stay in the message."""
    assert lines_of(b"a\r\nb\r\r\nc\rd\n\r\n") == ["a", "b\r", "c\rd", ""]


def test_crlf_split_across_blocks_is_still_one_line_end() -> None:
    """A `\\r` at the end of one read and `\\n` at the start of the next end one line."""
    assert capture([(OUT, b"a\r"), (OUT, b"\nb\n")]) == [(OUT, "a"), (OUT, "b")]


def test_final_line_without_newline_is_emitted_by_flush_only() -> None:
    """A last line without `\\n` waits for `flush()`, stamped when its last piece was read; its
    trailing `\\r` is dropped too."""
    splitter = LineSplitter()
    batch = splitter.feed(OUT, b"one\ntw", 5)
    assert batch is not None
    assert batch.messages() == ["one"]
    assert splitter.feed(OUT, b"o\r", 7) is None
    flushed = splitter.flush(9)
    assert [(b.messages(), b.ts_us) for b in flushed] == [(["two"], 7)]
    assert splitter.flush(10) == []


def test_feed_without_a_complete_line_returns_none() -> None:
    """A read that completes no line yields no batch."""
    assert LineSplitter().feed(OUT, b"partial", 1) is None


def test_streams_keep_separate_partial_lines() -> None:
    """Interleaved stdout and stderr reads never mix their partial lines."""
    got = capture([(OUT, b"out-1 "), (ERR, b"err-1 "), (OUT, b"end\n"), (ERR, b"end\nerr-2")])
    assert got == [(OUT, "out-1 end"), (ERR, "err-1 end"), (ERR, "err-2")]


def test_interleaved_streams_split_anywhere_give_each_streams_lines() -> None:
    """Randomly interleaved, randomly cut stdout/stderr reads give each stream's own lines."""
    rng = random.Random(7)
    out = b"".join(b"out %d\r\n" % i for i in range(50)) + b"out tail"
    err = b"".join(b"err %d\n" % i for i in range(30))
    for _ in range(200):
        blocks = {OUT: random_blocks(out, rng), ERR: random_blocks(err, rng)}
        order = [OUT] * len(blocks[OUT]) + [ERR] * len(blocks[ERR])
        rng.shuffle(order)  # interleave the streams; each keeps its own order
        reads = [(stream, blocks[stream].pop(0)) for stream in order]
        got = capture(reads)
        assert [m for s, m in got if s is OUT] == [f"out {i}" for i in range(50)] + ["out tail"]
        assert [m for s, m in got if s is ERR] == [f"err {i}" for i in range(30)]


def test_batch_carries_stream_time_attempt_and_count() -> None:
    """A batch is stamped with the read's time, the splitter's attempt and its line count."""
    batch = LineSplitter(attempt=3).feed(ERR, b"x\ny\n", 1234)
    assert batch == LineBatch(ERR, b"x\ny\n", 2, 1234, 3)


@pytest.mark.parametrize("limit", [32, 41, 200])
def test_block_boundaries_anywhere_give_identical_lines(limit: int) -> None:
    """Any splitting of the same output into reads gives the same lines (500 random splittings)."""
    rng = random.Random(limit)
    data = (
        "\u03b1\r\n\nplain line\r\r\nGröße 🎉 ÄÖÜ\ntoken=hunter2 and hunter2\n"
        + "x" * 40
        + "é" * 30
        + "\nlast\r"
    ).encode()
    masker = SecretMasker(["hunter2"])
    expected = lines_of(data, LineSplitter(line_limit=limit, masker=masker))
    for _ in range(500):
        splitter = LineSplitter(line_limit=limit, masker=masker)
        got = [m for _, m in capture([(OUT, b) for b in random_blocks(data, rng)], splitter)]
        assert got == expected
    long_line = "x" * 40 + "é" * 30
    kept = long_line.encode()[:limit].decode("utf-8", "ignore")
    omitted = len(long_line.encode()) - len(kept.encode())
    assert expected[5] == (
        kept + f" …[line truncated: {omitted} bytes omitted]" if omitted else kept
    )
    assert "hunter2" not in "".join(expected)


def test_invalid_utf8_is_replaced_and_valid_text_kept() -> None:
    """Invalid UTF-8 becomes U+FFFD; valid multi-byte text is untouched."""
    assert lines_of(b"ok \xc3\xa9\nbad \xff\xfe end\n") == ["ok é", "bad \ufffd\ufffd end"]


def test_multibyte_character_split_across_reads_is_kept() -> None:
    """A character whose bytes arrive in two reads is decoded whole."""
    euro = "€".encode()
    assert capture([(OUT, b"a" + euro[:1]), (OUT, euro[1:] + b"\n")]) == [(OUT, "a€")]


def test_lines_helper_applies_the_same_rules() -> None:
    """Whole messages (system lines) are split on newlines, masked and capped like output."""
    splitter = LineSplitter(masker=SecretMasker(["pw"]), line_limit=8)
    batch = splitter.lines(SYS, ["attempt 2 started", "a\nb pw"], 7)
    assert batch is not None
    assert batch.stream is SYS
    assert batch.ts_us == 7
    assert batch.messages() == ["attempt  …[line truncated: 9 bytes omitted]", "a", "b ***"]
    assert splitter.lines(SYS, [], 7) is None


# --- the line cap ------------------------------------------------------------------------------


def test_line_exactly_at_the_limit_is_kept_whole() -> None:
    """A line of exactly `line_limit` bytes is not cut."""
    assert lines_of(b"a" * 16 + b"\n", LineSplitter(line_limit=16)) == ["a" * 16]


def test_line_one_byte_over_the_limit_is_cut_and_marked() -> None:
    """One byte over: the first `limit` bytes and a marker saying how much was omitted."""
    got = lines_of(b"a" * 17 + b"\r\n", LineSplitter(line_limit=16))
    assert got == ["a" * 16 + " …[line truncated: 1 bytes omitted]"]


def test_cut_backs_off_to_a_character_boundary() -> None:
    """A multi-byte character at the cut is dropped whole, never split."""
    data = ("a" * 15 + "€" + "b").encode() + b"\n"  # the euro sign spans bytes 15..17
    got = lines_of(data, LineSplitter(line_limit=16))
    assert got == ["a" * 15 + " …[line truncated: 4 bytes omitted]"]


def test_stream_continues_after_an_over_long_line() -> None:
    """The rest of the long line is skipped and the following lines arrive intact."""
    got = lines_of(b"start\n" + b"z" * 100 + b"\nnext\n\nlast\n", LineSplitter(line_limit=10))
    assert got == ["start", "z" * 10 + " …[line truncated: 90 bytes omitted]", "next", "", "last"]


def test_long_line_over_many_reads_keeps_memory_bounded() -> None:
    """A 1 MB line fed in small reads is cut; the splitter holds about `line_limit` bytes."""
    splitter = LineSplitter(line_limit=64)
    for _ in range(1000):
        assert splitter.feed(OUT, b"q" * 1000, 1) is None
        assert splitter.pending_bytes <= 64 + 8
    batch = splitter.feed(OUT, b"q\r\nafter\n", 2)
    assert batch is not None
    assert batch.messages() == ["q" * 64 + " …[line truncated: 999937 bytes omitted]", "after"]


def test_long_line_without_final_newline_is_cut_at_flush() -> None:
    """An over-long last line is cut and marked when the stream ends."""
    splitter = LineSplitter(line_limit=4)
    assert splitter.feed(OUT, b"abcdefghij", 1) is None
    [batch] = splitter.flush(2)
    assert batch.messages() == ["abcd …[line truncated: 6 bytes omitted]"]


def test_secret_straddling_the_cut_is_not_partly_kept() -> None:
    """When the cut would fall inside a secret, the line is cut before the secret."""
    splitter = LineSplitter(line_limit=10, masker=SecretMasker(["SECRET"]))
    got = lines_of(b"12345678SECRET and more\n", splitter)
    assert got == ["12345678 …[line truncated: 15 bytes omitted]"]


# --- secret masking ----------------------------------------------------------------------------


def test_every_occurrence_of_a_secret_is_masked() -> None:
    """Each occurrence of each secret value becomes `***`."""
    masker = SecretMasker(["hunter2", "tok"])
    assert lines_of(b"hunter2 tok hunter2\ntok\n", LineSplitter(masker=masker)) == [
        "*** *** ***",
        "***",
    ]


def test_secret_fed_byte_by_byte_across_reads_is_masked() -> None:
    """A secret whose bytes arrive in separate reads is masked, as masking sees whole lines."""
    splitter = LineSplitter(masker=SecretMasker(["s3cr3t-välue"]))
    data = "before s3cr3t-välue after\n".encode()
    got = capture([(OUT, data[i : i + 1]) for i in range(len(data))], splitter)
    assert got == [(OUT, "before *** after")]


def test_overlapping_secrets_mask_their_union() -> None:
    """Two secrets overlapping in the text leave no fragment of either."""
    masker = SecretMasker(["abcd", "cdef"])
    assert masker.mask("xabcdefx") == "x***x"


def test_nested_secrets_mask_the_longest() -> None:
    """A secret inside a longer one is masked as part of the longer one."""
    masker = SecretMasker(["pass", "password123"])
    assert masker.mask("password123 pass") == "*** ***"


def test_self_overlapping_secret_masks_every_occurrence() -> None:
    """Overlapping occurrences of one secret are masked as one span."""
    assert SecretMasker(["aa"]).mask("aaa b aa") == "*** b ***"


def test_no_secrets_means_no_masking_work() -> None:
    """Without secrets the masker is falsy and lines pass through unchanged."""
    assert not SecretMasker([])
    assert not SecretMasker(["", "  ", "\n"])
    data = b"nothing to hide\n"
    batch = LineSplitter(masker=SecretMasker([])).feed(OUT, data, 1)
    assert batch is not None
    assert batch.text is data


def test_multi_line_secret_is_masked_line_by_line() -> None:
    """Each line of a multi-line secret (e.g. a PEM key) is masked where it appears."""
    masker = SecretMasker(["-----BEGIN KEY-----\r\nMIIBOgIBAAJ\n\n-----END KEY-----"])
    got = lines_of(
        b"-----BEGIN KEY-----\nMIIBOgIBAAJ\n-----END KEY-----\n", LineSplitter(masker=masker)
    )
    assert got == ["***", "***", "***"]


def test_masking_works_on_non_ascii_text() -> None:
    """Secrets and text with non-ASCII characters mask on character boundaries."""
    assert SecretMasker(["pässwörd"]).mask("ä pässwörd ö") == "ä *** ö"


@pytest.mark.parametrize("secret", ["x", "\x00"])
def test_tiny_secrets_are_still_masked(secret: str) -> None:
    """Short secrets are masked too: over-masking is preferred to leaking."""
    assert SecretMasker([secret]).mask(f"a{secret}b") == "a***b"
