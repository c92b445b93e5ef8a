"""Log search: compiled queries, highlights, and the whole-chunk scans that find matching lines.

Semantics (one definition, used by search, the download's `q=` and highlights): a line matches a
query when the pattern finds something in its message, where the pattern is the literal `q`, or
`q` itself with `regex=true`, run by Google RE2 (https://github.com/google/re2/wiki/Syntax): a
linear-time engine, so no pattern can make a scan backtrack for ever. What it lacks (lookaround,
backreferences, possessive quantifiers, atomic and conditional groups) is a `ValidationError` on
`q` saying so. Matching is case-insensitive unless `case_sensitive`, with RE2's simple case
folding: `ä`~`Ä`, final~medial sigma, `k`~Kelvin sign, `s`~long s, but `ß` does not match `ss`,
`ﬁ` does not match `fi` (and the Turkish dotted/dotless i match only themselves). That keeps every
highlight a span of the original message. `\\d`, `\\w`, `\\s` and `\\b` are ASCII classes (RE2's);
`\\pL`, `\\p{Greek}` and `[[:alpha:]]` name Unicode and POSIX classes. Offsets are in characters
(Unicode code points, as Python indexes `str`; a browser should index `Array.from(message)`, not
UTF-16 units). Empty matches count for matching but are not highlighted.

Whole-chunk scans find matching line indexes without making a Python object per line: RE2 runs
on the chunk's UTF-8 bytes in multi-line mode with `never_nl` (no match crosses a line end), so
one call jumps to the next matching line; where hits are dense, a second program matching whole
runs of consecutive matching lines (`^(?:[^\\n]*(?:q)[^\\n]*$\\C)+`) takes a run per call.
Literal queries (and regexes with plain strings every match must contain) first look for those
strings with `bytes.find` (UTF-8 is self-synchronizing, so a byte match is a character match);
case-insensitive ASCII ones on `bytes.lower()` of the chunk, which is exact unless the chunk holds
one of the non-ASCII letters that fold to ASCII ones.

`search_chunk` applies a query (and a stream filter, run by run on slices of the chunk's `text`)
to one stored chunk: the search route, the download's `q=` and the JSON formats all use it or
`LogQuery.matching_lines`; `LogQuery.count_lines` counts without listing.
"""

from __future__ import annotations

import importlib
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, AnyStr, Final

import re2

from hourglass.domain.logs.chunks import decode_meta
from hourglass.domain.logs.lines import Stream, Streams, stream_set
from hourglass.errors import ValidationError

# Non-ASCII letters that fold to ASCII letters under some engine's case-insensitive matching
# (U+0130, U+0131, U+017F, U+212A: dotted I, dotless i, long s, Kelvin sign), as UTF-8: a chunk
# holding one is searched by RE2 itself, not on `bytes.lower()`.
_ASCII_FOLD_TRAPS: Final = (b"\xc4\xb0", b"\xc4\xb1", b"\xc5\xbf", b"\xe2\x84\xaa")
# Hits per line above which runs of matching lines are taken a run per call.
_DENSE: Final = 3
# A byte UTF-8 never uses, to mark a literal's occurrences with; and a table deleting every byte
# but it and the newline.
_MARK: Final = b"\xff"
_ALL_BUT_MARKS: Final = bytes(b for b in range(256) if b not in (0x0A, 0xFF))

_UNANCHORED: Final = re2._re2.RE2.Anchor.UNANCHORED
_ANCHOR_START: Final = re2._re2.RE2.Anchor.ANCHOR_START
_NO_MATCH: Final = (-1, -1)

# RE2's parse errors for the constructs a backtracking engine has and a linear-time one cannot.
_UNSUPPORTED: Final = (
    ("invalid perl operator: (?=", "lookahead"),
    ("invalid perl operator: (?!", "negative lookahead"),
    ("invalid perl operator: (?<=", "lookbehind"),
    ("invalid perl operator: (?<!", "negative lookbehind"),
    ("invalid perl operator: (?>", "an atomic group"),
    ("invalid perl operator: (?(", "a conditional group"),
    ("invalid perl operator: (?R", "a recursive pattern"),
    ("invalid perl operator: (?#", "an inline comment"),
    ("invalid escape sequence: \\k", "a backreference"),
    ("invalid escape sequence: \\g", "a backreference"),
    ("invalid escape sequence: \\Z", "\\Z (end of text: use \\z, or $ for the line's end)"),
    ("invalid escape sequence: \\G", "\\G"),
)
_BACKREFERENCE: Final = re.compile(r"invalid escape sequence: \\[1-9]")
_POSSESSIVE: Final = re.compile(r"bad repetition operator: [*+?}]\+")
# Constructs that see past a line's edges (text anchors, any byte, multi-line mode turned off):
# patterns using them are run line by line.
_CONTEXT: Final = re.compile(r"\\[ACz]|\(\?[a-zA-Z]*-[a-zA-Z]*m")


def _options(case_sensitive: bool, *, capture: bool = False) -> Any:
    options = re2.Options()
    options.log_errors = False
    options.never_nl = True
    options.never_capture = not capture  # group 0 only: RE2 answers from its DFA alone
    options.case_sensitive = case_sensitive
    return options


def _explain(error: str, pattern: str) -> str:
    if error.startswith("invalid perl operator: (?P"):  # RE2 quotes no more than `(?P`
        if "(?P=" in pattern:
            return "a backreference is not supported (linear-time engine)"
        if "(?P>" in pattern:
            return "a recursive pattern is not supported (linear-time engine)"
    for prefix, what in _UNSUPPORTED:
        if error.startswith(prefix):
            return f"{what} is not supported (linear-time engine)"
    if _BACKREFERENCE.match(error):
        return "a backreference is not supported (linear-time engine)"
    if _POSSESSIVE.match(error):
        return "a possessive quantifier is not supported (linear-time engine)"
    if error.startswith("invalid perl operator: (?"):
        group = error.removeprefix("invalid perl operator: ")
        return f"{group}…) is not supported (RE2 knows the flags i, m, s, U and (?P<name>…) groups)"
    if error.startswith("pattern too large"):
        return "the regular expression is too large for the linear-time engine"
    return f"invalid regular expression: {error}"


def _program(pattern: str, case_sensitive: bool, *, capture: bool = False) -> Any:
    """An RE2 program over UTF-8 bytes; `ValidationError` on `q` if RE2 refuses `pattern`."""
    options = _options(case_sensitive, capture=capture)
    try:
        program = re2._re2.RE2(pattern.encode("utf-8", "surrogatepass"), options)
    except (re2.error, UnicodeEncodeError) as exc:
        raise ValidationError.field("q", f"invalid regular expression: {exc}") from exc
    if not program.ok():
        error = program.error().decode("utf-8", "replace")
        raise ValidationError.field("q", _explain(error, pattern))
    return program


@dataclass(frozen=True, slots=True)
class LogQuery:
    """A compiled search query (build it with `compile_query`)."""

    q: str
    regex: bool
    case_sensitive: bool
    # RE2 programs: `_find` finds the next match (multi-line mode), `_runs` a run of consecutive
    # matching lines (anchored at a line start).
    _find: Any = field(repr=False)
    _runs: Any = field(repr=False)
    # Every matching line contains one of these (after ASCII lowering if `_lower`); for a literal
    # query (`_exact`) containing it is matching, for a regex it only picks the lines to check.
    _needles: tuple[bytes, ...] = field(repr=False)
    _lower: bool = field(repr=False)
    _exact: bool = field(repr=False)
    _scan: bool = field(repr=False)  # whether a whole-chunk scan agrees with per-line search
    # Case-insensitive queries: caseless ASCII runs (digits, punctuation) one of which every
    # match contains byte for byte; a chunk without any is skipped before lowering or scanning.
    _anchors: tuple[bytes, ...] = field(repr=False, default=())

    def matches(self, message: str) -> bool:
        """Whether the line `message` matches."""
        data = message.encode("utf-8", "surrogatepass")
        return bool(self._find.Match(_UNANCHORED, data, 0, len(data))[0] != _NO_MATCH)

    def highlights(self, message: str) -> list[tuple[int, int]]:
        """Character `(start, end)` spans of the non-empty matches in `message`."""
        data = message.encode("utf-8", "surrogatepass")
        size = len(data)
        spans: list[tuple[int, int]] = []
        pos = 0
        while pos <= size:
            start, end = self._find.Match(_UNANCHORED, data, pos, size)[0]
            if start < 0:
                break
            if end > start:
                spans.append((start, end))
                pos = end
            else:  # an empty match: step over one character
                pos = end + 1
                while pos < size and 0x80 <= data[pos] < 0xC0:
                    pos += 1
        if message.isascii() or not spans:
            return spans
        return _char_spans(data, spans)

    def chunk_may_match(self, text: bytes) -> bool:
        """Whether any line of the chunk text may match (one C-speed scan, no false negatives)."""
        if self._anchors and not any(a in text for a in self._anchors):
            return False
        needles = self._byte_needles(text)
        if needles:
            hay = text.lower() if self._lower else text
            return any(n in hay for n in needles)
        if not self._scan:
            return bool(self._line_by_line(text))
        return bool(self._find.Match(_UNANCHORED, text, 0, len(text))[0] != _NO_MATCH)

    def matching_lines(self, text: bytes) -> list[int]:
        """0-based indexes of the matching lines in `text` (whole lines, each ending `\\n`)."""
        if self._anchors and not any(a in text for a in self._anchors):
            return []
        needles = self._byte_needles(text)
        if needles:
            hay = text.lower() if self._lower else text
            if len(needles) == 1:
                found = _literal_lines(hay, needles[0], b"\n")
            else:
                found = sorted({i for n in needles for i in _literal_lines(hay, n, b"\n")})
            if self._exact or not found:
                return found
            return self._confirm(text, found)
        if not self._scan:
            return self._line_by_line(text)
        return self._scan_lines(text)

    def count_lines(self, text: bytes) -> int:
        """How many lines of `text` match: `len(matching_lines(text))` without listing them.

        No Python work per line: a literal's lines are counted in C (its occurrences replaced by
        a mark byte, everything but marks and newlines deleted, then `mark + newline` counted:
        one per line holding the literal); a regex takes whole runs of matching lines per RE2
        call and counts their newlines."""
        if self._anchors and not any(a in text for a in self._anchors):
            return 0
        needles = self._byte_needles(text)
        if needles:
            hay = text.lower() if self._lower else text
            if self._exact and len(needles) == 1:
                return _count_literal_lines(hay, needles[0])
            if not any(n in hay for n in needles):
                return 0
        if not self._scan:
            return len(self._line_by_line(text))
        return self._count_runs(text)

    def _count_runs(self, text: bytes) -> int:
        count = done = 0
        size = len(text)
        find, runs = self._find.Match, self._runs.Match
        while done < size:
            at = find(_UNANCHORED, text, done, size)[0][0]
            if not 0 <= at < size:
                break
            start = text.rfind(b"\n", done, at) + 1 or done
            end = runs(_ANCHOR_START, text, start, size)[0][1]
            if end <= start:  # (cannot happen: the line at `at` matches) one line, then on
                end = text.find(b"\n", at) + 1 or size
                count += 1
            else:
                count += text.count(b"\n", start, end)
            done = end
        return count

    def _confirm(self, text: bytes, candidates: list[int]) -> list[int]:
        lines = text.split(b"\n")
        match = self._find.Match
        return [
            i for i in candidates if match(_UNANCHORED, lines[i], 0, len(lines[i]))[0] != _NO_MATCH
        ]

    def _line_by_line(self, text: bytes) -> list[int]:
        match = self._find.Match
        lines = text.split(b"\n")[:-1]
        return [i for i, m in enumerate(lines) if match(_UNANCHORED, m, 0, len(m))[0] != _NO_MATCH]

    def _scan_lines(self, text: bytes) -> list[int]:
        # Jump from match to match (no match crosses a line end); once hits turn out dense, take
        # whole runs of matching lines per call.
        out: list[int] = []
        size = len(text)
        index = done = 0
        find = self._find.Match
        while done < size:
            at = find(_UNANCHORED, text, done, size)[0][0]
            if not 0 <= at < size:  # (an empty match after the last line is not in a line)
                break
            index += text.count(b"\n", done, at)
            done = text.rfind(b"\n", done, at) + 1 or done
            if len(out) >= 64 and len(out) * _DENSE > index:
                end = self._runs.Match(_ANCHOR_START, text, done, size)[0][1]
                if end > done:
                    run = text.count(b"\n", done, end)
                    out += range(index, index + run)
                    done, index = end, index + run
                    continue
            out.append(index)
            done, index = (text.find(b"\n", at) + 1 or size), index + 1
        return out

    def _byte_needles(self, text: bytes) -> tuple[bytes, ...]:
        if self._lower and not text.isascii() and any(t in text for t in _ASCII_FOLD_TRAPS):
            return ()
        return self._needles


def _char_spans(data: bytes, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Byte spans of UTF-8 `data` as character spans (counted incrementally, left to right)."""
    out: list[tuple[int, int]] = []
    at_byte = at_char = 0
    for start, end in spans:
        at_char += len(data[at_byte:start].decode("utf-8", "replace"))
        first = at_char
        at_char += len(data[start:end].decode("utf-8", "replace"))
        at_byte = end
        out.append((first, at_char))
    return out


def compile_query(q: str, *, regex: bool = False, case_sensitive: bool = False) -> LogQuery:
    """A query for `q`; `ValidationError` on field `q` if it is empty or a regex RE2 refuses."""
    if not q:
        raise ValidationError.field("q", "must not be empty")
    source = q if regex else re2.escape(q)
    _program(
        source, case_sensitive, capture=True
    )  # alone first: a refusal names what in `q` is wrong
    find = _program("(?m)" + source, case_sensitive)
    runs = _program(r"(?m)^(?:[^\n]*(?:" + source + r")[^\n]*$\C)+", case_sensitive)
    literals, folds_all = _required_literals(q) if regex else ([q], False)
    folds = not case_sensitive or folds_all
    needles: tuple[bytes, ...] = ()
    lower = False
    if literals and not any("\n" in x for x in literals):
        if not folds:
            needles = tuple(x.encode("utf-8", "surrogatepass") for x in literals)
        elif all(x.isascii() for x in literals):
            # Needles without letters have no case: search them as they are, without lowering.
            lower = any(x.lower() != x.upper() for x in literals)
            needles = tuple(x.lower().encode("ascii") for x in literals)
    scan = not (regex and _CONTEXT.search(q))
    anchors = _caseless_anchors(literals) if folds and literals and (lower or not needles) else ()
    return LogQuery(q, regex, case_sensitive, find, runs, needles, lower, not regex, scan, anchors)


_CASELESS_RUN: Final = re.compile(r"[\x00-\x09\x0b-\x40\x5b-\x60\x7b-\x7f]{3,}")


def _caseless_anchors(literals: list[str]) -> tuple[bytes, ...]:
    """The longest run of ASCII non-letters (3+) of each literal, or () if one has none.

    No character folds to or from an ASCII digit or punctuation mark, so every case-insensitive
    match of a literal contains its run exactly: a plain `bytes` search can rule chunks out.
    """
    anchors: set[bytes] = set()
    for literal in literals:
        runs = _CASELESS_RUN.findall(literal)
        if not runs:
            return ()
        anchors.add(max(runs, key=len).encode("ascii"))
    return tuple(sorted(anchors))


def _required_literals(q: str) -> tuple[list[str] | None, bool]:
    """Strings (>= 2 characters, at most 16) one of which every match of regex `q` contains,
    and whether `q` turns case folding on for the whole pattern (a leading `(?i)`).

    Read from the parse tree: literals at the top level of a pattern, or of a group at the top
    level, are in every match; a top-level alternation needs one string from each branch. Optional
    and repeated parts are skipped. The parser is CPython's private `re._parser`, run on a pattern
    RE2 accepted: the two syntaxes agree on literals and groups, except for POSIX classes nested
    in a set (`[[:alpha:]]`), which `re` reads as a set and a literal `]`, so a pattern with `[:`
    gets no pre-filter; so does one the parser refuses or that changes shape.
    """
    if "[:" in q:
        return None, False
    try:
        parser: Any = importlib.import_module("re._parser")
        ops: Any = importlib.import_module("re._constants")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = parser.parse(q, 0)
        found = _alternatives(parsed, ops)
        folds = bool(parsed.state.flags & re.IGNORECASE)
    except Exception:
        return None, False
    if not found or len(found) > 16 or min(map(len, found)) < 2:
        return None, folds
    return found, folds


def _alternatives(items: Any, ops: Any) -> list[str] | None:
    best: list[str] | None = None
    run = ""
    for op, arg in items:
        found: list[str] | None = None
        if op is ops.LITERAL:
            run += chr(arg)
            found = [run]
        else:
            run = ""
            if op is ops.BRANCH:
                found = []
                for branch in arg[1]:
                    sub = _alternatives(branch, ops)
                    if not sub:
                        found = None
                        break
                    found += sub
            elif op is ops.SUBPATTERN and not arg[1] and not arg[2]:  # no scoped flags
                found = _alternatives(arg[3], ops)
        if found and (best is None or min(map(len, found)) > min(map(len, best))):
            best = found
    return best


def find_highlights(
    message: str, q: str, regex: bool = False, case_sensitive: bool = False
) -> list[tuple[int, int]]:
    """Character `(start, end)` spans of `q` in `message` (see the module docstring)."""
    return compile_query(q, regex=regex, case_sensitive=case_sensitive).highlights(message)


def _literal_lines(text: AnyStr, needle: AnyStr, newline: AnyStr) -> list[int]:
    # Jump from hit to hit, counting newlines in between; once hits turn out dense, splitting the
    # rest into lines is cheaper than a few C calls per hit.
    out: list[int] = []
    index = done = 0
    at = text.find(needle)
    while at >= 0:
        index += text.count(newline, done, at)
        out.append(index)
        end = text.find(newline, at)
        if end < 0:
            break
        done, index = end + 1, index + 1
        if not len(out) % 64 and len(out) * _DENSE > index:
            rest = text[done:].split(newline)
            out += [index + i for i, line in enumerate(rest) if needle in line]
            break
        at = text.find(needle, done)
    return out


def _count_literal_lines(hay: bytes, needle: bytes) -> int:
    """How many lines of `hay` contain `needle` (which holds no newline)."""
    if needle not in hay:
        return 0
    if _MARK in hay or _MARK in needle:
        return len(_literal_lines(hay, needle, b"\n"))
    return hay.replace(needle, _MARK).translate(None, _ALL_BUT_MARKS).count(_MARK + b"\n")


def count_chunk(
    text: bytes, meta: bytes, query: LogQuery, *, stream: Stream | Streams | None = None
) -> int:
    """How many of the chunk's lines match `query` (and `stream`): `search_chunk`'s length."""
    return sum(
        query.count_lines(text if end - start == len(text) else text[start:end])
        for _, start, end in kept_slices(text, meta, stream)
    )


def search_chunk(
    first_seq: int,
    text: bytes,
    meta: bytes,
    query: LogQuery,
    *,
    stream: Stream | Streams | None = None,
) -> list[int]:
    """Sequence numbers of the chunk's lines that match `query` (and `stream`), ascending."""
    hits: list[int] = []
    for first_index, start, end in kept_slices(text, meta, stream):
        segment = text if end - start == len(text) else text[start:end]
        base = first_seq + first_index
        hits += [base + i for i in query.matching_lines(segment)]
    return hits


def kept_slices(
    text: bytes, meta: bytes, stream: Stream | Streams | None
) -> list[tuple[int, int, int]]:
    """`(first line index, byte start, byte end)` of the parts of a chunk whose lines are of the
    kept streams (all of it without a filter): neighbouring runs are merged into one slice."""
    wanted = stream_set(stream)
    if wanted is None:
        return [(0, 0, len(text))]
    out: list[tuple[int, int, int]] = []
    for run in decode_meta(meta, len(text)):
        if run.stream not in wanted:
            continue
        if out and out[-1][2] == run.byte_start:
            out[-1] = (out[-1][0], out[-1][1], run.byte_end)
        else:
            out.append((run.first_index, run.byte_start, run.byte_end))
    return out
