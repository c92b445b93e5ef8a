"""Log search (highlights, whole-chunk scans), plain-text rendering, ANSI stripping, JSON lines."""

from __future__ import annotations

import random

import pytest

from hourglass.domain.logs.chunks import ChunkBuilder
from hourglass.domain.logs.lines import LineBatch, Stream
from hourglass.domain.logs.render import (
    is_json,
    json_line_indices,
    parse_json_message,
    render_txt,
    strip_ansi,
    strip_ansi_bytes,
)
from hourglass.domain.logs.search import (
    compile_query,
    count_chunk,
    find_highlights,
    search_chunk,
)
from hourglass.errors import ValidationError

OUT, ERR = Stream.STDOUT, Stream.STDERR
T0 = 1_767_225_600_000_000


def chunk_text(messages: list[str]) -> bytes:
    return "".join(m + "\n" for m in messages).encode()


# --- highlights --------------------------------------------------------------------------------


def test_literal_search_is_case_insensitive_by_default() -> None:
    """A literal query matches regardless of case and highlights every occurrence."""
    assert find_highlights("Error: error ERROR", "error") == [(0, 5), (7, 12), (13, 18)]


def test_case_sensitive_literal_matches_exact_case_only() -> None:
    """With case_sensitive the query matches its exact spelling only."""
    assert find_highlights("Error: error", "error", case_sensitive=True) == [(7, 12)]


def test_literal_query_is_not_a_pattern() -> None:
    """Regex metacharacters in a literal query match themselves."""
    assert find_highlights("a.b axb (x)", "a.b") == [(0, 3)]
    assert find_highlights("a.b axb (x)", "(x)") == [(8, 11)]


def test_highlights_are_character_offsets_in_unicode_text() -> None:
    """Offsets count characters (code points), not bytes, with umlauts and emoji."""
    assert find_highlights("Größe ÄÖÜ", "äöü") == [(6, 9)]
    assert find_highlights("Größe ÄÖÜ", "GRÖSSE") == []  # ß folds one-to-one only
    assert find_highlights("Größe ÄÖÜ", "GRÖẞE") == [(0, 5)]
    assert find_highlights("🎉 done 🎉 DONE", "done") == [(2, 6), (9, 13)]
    message = "🚀→ σΣς"
    assert find_highlights(message, "ΣΣΣ") == [(3, 6)]
    assert message[3:6] == "σΣς"


def test_regex_highlights_each_non_empty_match() -> None:
    """A regex query highlights its matches; empty matches count as a match but no highlight."""
    assert find_highlights("id=12 id=345", r"id=\d+", regex=True) == [(0, 5), (6, 12)]
    assert find_highlights("abc", "x*", regex=True) == []
    assert compile_query("x*", regex=True).matches("abc")


@pytest.mark.parametrize("q", ["(", "a{2,1}", "[z-a]", "a**"])
def test_invalid_regex_is_a_validation_error_on_q(q: str) -> None:
    """An invalid pattern raises ValidationError naming the field `q`."""
    with pytest.raises(ValidationError) as caught:
        compile_query(q, regex=True)
    assert caught.value.errors[0].field == "q"
    assert "invalid regular expression" in caught.value.errors[0].message


def test_empty_query_is_a_validation_error_on_q() -> None:
    """An empty query is refused (a route without `q` filters by stream only)."""
    with pytest.raises(ValidationError) as caught:
        compile_query("")
    assert caught.value.errors[0].field == "q"


# --- whole-chunk scans -------------------------------------------------------------------------

WORDS = [
    "error",
    "Error",
    "ERRORS",
    "warn",
    "İstanbul",
    "\u0131i",
    "\u212aelvin",
    "kelvin",
    "\u017ftraße",
    "STRASSE",
    "Größe",
    "ÄÖÜ",
    "äöü",
    "σς",
    "ΣΣ",
    "🎉",
    "item 0299",
    "x.y",
    "line\r",
    "",
]
QUERIES = [
    ("error", False, False),
    ("error", False, True),
    ("ERROR", False, False),
    ("i", False, False),
    ("k", False, False),
    ("s", False, False),
    ("straße", False, False),
    ("äöü", False, False),
    ("\u03c3\u03c3", False, False),
    ("🎉", False, False),
    ("299", False, False),
    ("x.y", False, False),
    ("a\nb", False, False),
    (r"err(or|ors)\b", True, False),
    (r"^warn$", True, False),
    (r"(?:error|warn)", True, False),
    (r"\d{3}9", True, True),
    (r"\Aerror", True, False),
    (r"ERROR\z", True, True),
    (r"r\s+w", True, False),
    (r"(?i)KELVIN", True, True),
    (r"(?s)r.w", True, False),
    (r"x*", True, False),
    (r"(?-i:Error)s?", True, False),
    (r"İ", True, False),
    (r"\pL+\s\d", True, False),
    (r"[[:digit:]]{3}9", True, False),
    (r"(?U)e.+r", True, False),
    (r"(a+)+$", True, False),
    (r"$", True, False),
    ("^(?:\u0130|\u0131)", True, False),
    (r"\Cx", True, False),
]


@pytest.mark.parametrize(("q", "regex", "cs"), QUERIES)
def test_matching_lines_agree_with_searching_each_line(q: str, regex: bool, cs: bool) -> None:
    """Whole-chunk scans find exactly the lines a per-line search matches (random chunks)."""
    rng = random.Random(q)
    query = compile_query(q, regex=regex, case_sensitive=cs)
    for _ in range(150):
        messages = [
            " ".join(rng.choices(WORDS, k=rng.randint(0, 4))) for _ in range(rng.randint(1, 40))
        ]
        text = chunk_text(messages)
        expected = [i for i, m in enumerate(messages) if query.matches(m)]
        assert query.matching_lines(text) == expected
        assert query.count_lines(text) == len(expected)
        if expected:
            assert query.chunk_may_match(text)


def test_catastrophic_patterns_run_in_linear_time() -> None:
    """`(a+)+$` (exponential for a backtracking engine) answers right away and correctly."""
    query = compile_query("(a+)+$", regex=True)
    text = chunk_text(["a" * 27 + "!", "a" * 4, "a" * 5000 + "!"] * 200)
    assert query.matching_lines(text) == list(range(1, 600, 3))
    assert not query.matches("a" * 27 + "!")


@pytest.mark.parametrize(
    ("q", "what"),
    [
        ("x(?=y)", "lookahead"),
        ("x(?!y)", "negative lookahead"),
        ("(?<=y)x", "lookbehind"),
        ("(?<!y)x", "negative lookbehind"),
        (r"(x)\1", "a backreference"),
        ("(?P<n>x)(?P=n)", "a backreference"),
        ("x*+", "a possessive quantifier"),
        ("(?>x)", "an atomic group"),
        ("(?(1)x|y)", "a conditional group"),
    ],
)
def test_constructs_needing_backtracking_are_refused_by_name(q: str, what: str) -> None:
    """What RE2 lacks is a ValidationError on `q` naming the construct."""
    with pytest.raises(ValidationError) as caught:
        compile_query(q, regex=True)
    assert caught.value.errors[0].field == "q"
    assert caught.value.errors[0].message == f"{what} is not supported (linear-time engine)"


def test_dense_hits_switch_to_line_splitting_with_same_result() -> None:
    """A query matching most lines of a big chunk gives the same lines as per-line search."""
    messages = [f"row {i} {'hit' if i % 5 else 'miss'}" for i in range(2000)]
    text = chunk_text(messages)
    for query in (compile_query("hit"), compile_query(r"h\w?t", regex=True)):
        assert query.matching_lines(text) == [i for i, m in enumerate(messages) if query.matches(m)]


@pytest.mark.parametrize(
    ("q", "regex", "cs"),
    [
        ("hit", False, False),
        ("HIT", False, True),
        ("hit hit", False, False),
        ("ß", False, False),
        (r"h\w?t", True, False),
        (r"^row \d+5 ", True, False),
        (r"(hit|miss)$", True, False),
        (r"\Arow", True, False),
    ],
)
def test_counts_of_dense_and_sparse_hits_match_the_lines_found(
    q: str, regex: bool, cs: bool
) -> None:
    """`count_lines` (marks for literals, runs of lines for regexes) counts exactly the lines
    `matching_lines` lists: every line, most lines, runs broken by misses, several hits a line."""
    rng = random.Random(q)
    for every in (1, 2, 5, 97):
        messages = [
            f"row {i} " + " ".join(rng.choice(["hit", "HIT", "miss", "ß", "hit hit"]) for _ in "ab")
            if i % every
            else f"row {i} hit"
            for i in range(1500)
        ]
        text = chunk_text(messages)
        query = compile_query(q, regex=regex, case_sensitive=cs)
        expected = [i for i, m in enumerate(messages) if query.matches(m)]
        assert query.matching_lines(text) == expected
        assert query.count_lines(text) == len(expected)


def test_count_chunk_counts_the_lines_of_the_kept_streams() -> None:
    """`count_chunk` is `search_chunk`'s length, with and without a stream set."""
    first, text, meta = make_chunk(
        [batch(OUT, "hit", "no"), batch(ERR, "hit", "hit"), batch(Stream.SYSTEM, "hit")]
    )
    query = compile_query("hit")
    for stream in (None, OUT, frozenset((OUT, Stream.SYSTEM)), frozenset((ERR,))):
        found = search_chunk(first, text, meta, query, stream=stream)
        assert count_chunk(text, meta, query, stream=stream) == len(found)
    assert search_chunk(first, text, meta, query, stream=frozenset((OUT, ERR))) == [11, 13, 14]


def test_chunk_without_a_match_is_rejected_by_the_pre_filter() -> None:
    """The pre-filter says no for a chunk that holds no match."""
    text = chunk_text(["alpha", "beta"])
    assert not compile_query("gamma").chunk_may_match(text)
    assert not compile_query("gam+a|delta", regex=True).chunk_may_match(text)


def make_chunk(batches: list[LineBatch]) -> tuple[int, bytes, bytes]:
    builder = ChunkBuilder(next_seq=11)
    for b in batches:
        builder.add(b)
    chunk = builder.flush()
    assert chunk is not None
    return chunk.first_seq, chunk.text, chunk.meta


def batch(stream: Stream, *messages: str, ts: int = T0) -> LineBatch:
    return LineBatch(stream, chunk_text(list(messages)), len(messages), ts)


def test_search_chunk_returns_sequence_numbers_and_honours_stream() -> None:
    """Search hits are sequence numbers; a stream filter keeps that stream's hits only."""
    first, text, meta = make_chunk([batch(OUT, "ok", "fail 1"), batch(ERR, "fail 2", "ok")])
    query = compile_query("FAIL")
    assert search_chunk(first, text, meta, query) == [12, 13]
    assert search_chunk(first, text, meta, query, stream=ERR) == [13]
    assert search_chunk(first, text, meta, query, stream=Stream.SYSTEM) == []


# --- rendering ---------------------------------------------------------------------------------


def test_render_txt_unfiltered_is_the_chunk_text() -> None:
    """Without options the txt rendering is the stored text itself."""
    _, text, meta = make_chunk([batch(OUT, "a", "b")])
    assert render_txt(text, meta) is text


def test_render_txt_filters_by_stream_and_query_and_adds_timestamps() -> None:
    """Stream and query filters keep matching lines; timestamps prefix each line with RFC 3339."""
    _, text, meta = make_chunk([batch(OUT, "o-hit", "o"), batch(ERR, "e-hit", "e", ts=T0 + 1)])
    assert render_txt(text, meta, stream=ERR) == b"e-hit\ne\n"
    assert render_txt(text, meta, query=compile_query("HIT")) == b"o-hit\ne-hit\n"
    assert render_txt(text, meta, stream=ERR, timestamps=True) == (
        b"2026-01-01T00:00:00.000001Z e-hit\n2026-01-01T00:00:00.000001Z e\n"
    )


def test_render_txt_strips_ansi_after_matching() -> None:
    """`ansi_strip` removes escapes from the output; matching used the raw message."""
    _, text, meta = make_chunk([batch(OUT, "\x1b[31mred\x1b[0m", "plain")])
    assert render_txt(text, meta, ansi_strip=True) == b"red\nplain\n"
    assert render_txt(text, meta, query=compile_query("[31m"), ansi_strip=True) == b"red\n"


# --- ANSI and JSON -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\x1b[1;31mERROR\x1b[0m done", "ERROR done"),
        ("\x1b[38;5;196mx\x1b[K", "x"),
        ("\x1b]0;title\x07text", "text"),
        ("\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("\x1b(Bcharset \x1b7saved\x1b8", "charset saved"),
        ("\x9b32mC1 csi", "C1 csi"),
        ("no escapes ✓", "no escapes ✓"),
    ],
)
def test_strip_ansi_removes_csi_osc_and_other_escapes(raw: str, clean: str) -> None:
    """CSI, OSC (BEL or ST terminated), charset and C1 escapes are removed; text stays."""
    assert strip_ansi(raw) == clean
    assert strip_ansi_bytes(raw.encode()) == clean.encode()


def test_strip_ansi_bytes_never_crosses_a_line_end() -> None:
    """An unterminated OSC is stripped to its line's end only; the next line survives."""
    assert strip_ansi_bytes(b"a\x1b]0;unterminated\nnext\n") == b"a\nnext\n"


@pytest.mark.parametrize(
    ("message", "value"),
    [
        ('{"level": "info", "n": 1}', {"level": "info", "n": 1}),
        ("[1, 2]", [1, 2]),
        ("42", 42),
        (" true", True),
        ('"quoted"', "quoted"),
        ("null", None),
    ],
)
def test_valid_json_messages_parse(message: str, value: object) -> None:
    """Any valid JSON message parses to its value."""
    assert parse_json_message(message) == (True, value)
    assert is_json(message)


@pytest.mark.parametrize(
    "message", ["", "plain text", "{not json}", "NaN", "-Infinity", "[1,", "12 apples"]
)
def test_non_json_messages_do_not_parse(message: str) -> None:
    """Text, broken JSON and the non-standard NaN/Infinity are not JSON."""
    assert parse_json_message(message) == (False, None)
    assert not is_json(message)


JSONISH = [
    '{"level": "info", "n": 1}',
    "[1, 2]",
    "42",
    " -0.5e+3 \t",
    "1e400",
    "01",
    "-",
    "1.",
    "true",
    " null ",
    "nullish",
    '"quoted"',
    '"unterminated',
    '["\\ud800"]',
    "[" * 1100 + "]" * 1100,
    "{not json}",
    "NaN",
    "[NaN]",
    "12 apples",
    "2026-01-01T12:00:00Z INFO",
    "",
    "\x01",
    '{"a": "\x01"}',
]


@pytest.mark.parametrize("message", JSONISH)
def test_is_json_agrees_with_parse_json_message(message: str) -> None:
    """The fast check says what parsing says, on the cases where orjson and Python differ too."""
    assert is_json(message) is parse_json_message(message)[0]


def test_json_line_indices_are_the_lines_that_parse() -> None:
    """Over a whole text, the indices found are exactly the lines `parse_json_message` accepts."""
    text = "".join(f"{m}\n" for m in JSONISH * 2)
    want = {i for i, m in enumerate(JSONISH * 2) if parse_json_message(m)[0]}
    assert json_line_indices(text) == want
    assert json_line_indices(text.removesuffix("\n")) == want
