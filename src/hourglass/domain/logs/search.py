"""Log search: compiled queries, highlights, and the whole-chunk scans that find matching lines.

Semantics (one definition, used by search, the download's `q=` and highlights): a line matches a
query when `pattern.search(message)` finds something, where `pattern` is the literal `q` escaped,
or `q` itself with `regex=true`, compiled with `re.IGNORECASE` unless `case_sensitive`. Python's
IGNORECASE is simple (one-to-one) case folding: `ä`~`Ä`, final~medial sigma, `k`~Kelvin sign,
but `ß` does not match `ss` and `ﬁ` does not match `fi`. That keeps every highlight a span of
the original message. Offsets are in characters (Unicode code points, as Python indexes `str`; a
browser should index `Array.from(message)`, not UTF-16 units). Empty regex matches count for
matching but are not highlighted.

Whole-chunk scans find matching line indexes without making a Python object per line, jumping
from hit to hit (and splitting into lines only where hits are dense):
- literal queries run on the chunk's UTF-8 bytes (`bytes.find`: UTF-8 is self-synchronizing, so a
  byte match is a character match); case-insensitive ASCII ones on `bytes.lower()` of the chunk,
  which is exact unless the chunk holds one of the four non-ASCII letters IGNORECASE pairs with
  ASCII ones; other case-insensitive literals on the case-folded text, confirmed line by line;
- a regex first looks for the plain strings every match must contain (read from its parse tree,
  e.g. `error` in `\berror\b`, `error`/`warn` in `error|warn`) and runs `re` only on the lines
  holding one; without such strings it scans the decoded chunk with `re` from match to match.

`search_chunk` applies a query (and a stream filter, run by run on slices of the chunk's `text`)
to one stored chunk: the search route, the download's `q=` and the JSON formats all use it or
`LogQuery.matching_lines`.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Any, AnyStr, Final

from hourglass.domain.logs.chunks import decode_meta
from hourglass.domain.logs.lines import Stream
from hourglass.errors import ValidationError

# The only non-ASCII letters `re.IGNORECASE` matches to ASCII letters (U+0130, U+0131, U+017F,
# U+212A: dotted I, dotless i, long s, Kelvin sign), as UTF-8.
_ASCII_FOLD_TRAPS: Final = (b"\xc4\xb0", b"\xc4\xb1", b"\xc5\xbf", b"\xe2\x84\xaa")
# Patterns that can see past the edges of a line behave differently inside a whole chunk.
_CONTEXT_SENSITIVE: Final = ("(?=", "(?!", "(?<=", "(?<!", "\\A", "\\Z")
# Hits per line above which splitting the rest of a chunk into lines beats jumping hit to hit.
_DENSE: Final = 3


@dataclass(frozen=True, slots=True)
class LogQuery:
    """A compiled search query (build it with `compile_query`)."""

    q: str
    regex: bool
    case_sensitive: bool
    pattern: re.Pattern[str] = field(repr=False)
    # Every matching line contains one of these (after ASCII lowering if `_lower`); for a literal
    # query (`_exact`) containing it is matching, for a regex it only picks the lines to check.
    _needles: tuple[bytes, ...] = field(repr=False)
    _lower: bool = field(repr=False)
    _exact: bool = field(repr=False)
    _folded: str | None = field(repr=False)  # case-folded literal, to pre-filter folded text
    _scan: bool = field(repr=False)  # whether a whole-chunk regex scan agrees with per-line search
    # Case-insensitive queries: caseless ASCII runs (digits, punctuation) one of which every
    # match contains byte for byte; a chunk without any is skipped before lowering or decoding.
    _anchors: tuple[bytes, ...] = field(repr=False, default=())

    def matches(self, message: str) -> bool:
        """Whether the line `message` matches."""
        return self.pattern.search(message) is not None

    def highlights(self, message: str) -> list[tuple[int, int]]:
        """Character `(start, end)` spans of the non-empty matches in `message`."""
        return [m.span() for m in self.pattern.finditer(message) if m.end() > m.start()]

    def chunk_may_match(self, text: bytes) -> bool:
        """Whether any line of the chunk text may match (one C-speed scan, no false negatives)."""
        if self._anchors and not any(a in text for a in self._anchors):
            return False
        needles = self._byte_needles(text)
        if needles:
            hay = text.lower() if self._lower else text
            return any(n in hay for n in needles)
        decoded = text.decode("utf-8", "replace")
        if self._folded is not None:
            return self._folded in _fold(decoded)
        if not self._scan:
            return any(self.pattern.search(m) for m in decoded.split("\n"))
        return self.pattern.search(decoded) is not None

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
            return self._confirm(text.decode("utf-8", "replace"), found)
        decoded = text.decode("utf-8", "replace")
        if self._folded is not None:
            # Folding can change lengths (ß → ss) but never the line count: find candidate lines
            # in the folded text, then confirm each with the exact pattern.
            found = _literal_lines(_fold(decoded), self._folded, "\n")
            return self._confirm(decoded, found) if found else []
        if not self._scan:
            return [i for i, m in enumerate(decoded.split("\n")[:-1]) if self.pattern.search(m)]
        return _scan_lines(self.pattern, decoded)

    def _confirm(self, decoded: str, candidates: list[int]) -> list[int]:
        lines = decoded.split("\n")
        search = self.pattern.search
        return [i for i in candidates if search(lines[i])]

    def _byte_needles(self, text: bytes) -> tuple[bytes, ...]:
        if self._lower and not text.isascii() and any(t in text for t in _ASCII_FOLD_TRAPS):
            return ()
        return self._needles


def compile_query(q: str, *, regex: bool = False, case_sensitive: bool = False) -> LogQuery:
    """A query for `q`; `ValidationError` on field `q` if it is empty or an invalid regex."""
    if not q:
        raise ValidationError.field("q", "must not be empty")
    flags = re.MULTILINE if case_sensitive else re.MULTILINE | re.IGNORECASE
    try:
        pattern = re.compile(q if regex else re.escape(q), flags)
    except (re.error, OverflowError, RecursionError) as exc:
        raise ValidationError.field("q", f"invalid regular expression: {exc}") from exc
    folds = bool(pattern.flags & re.IGNORECASE)
    literals = _required_literals(q, flags) if regex else [q]
    needles: tuple[bytes, ...] = ()
    lower = False
    if literals and not any("\n" in x for x in literals):
        if not folds:
            needles = tuple(x.encode("utf-8", "surrogatepass") for x in literals)
        elif all(x.isascii() for x in literals):
            # Needles without letters have no case: search them as they are, without lowering.
            lower = any(x.lower() != x.upper() for x in literals)
            needles = tuple(x.lower().encode("ascii") for x in literals)
    folded = _fold(q) if folds and not regex and "\n" not in q else None
    scan = not (regex and any(c in q for c in _CONTEXT_SENSITIVE))
    anchors = _caseless_anchors(literals) if folds and literals and (lower or not needles) else ()
    return LogQuery(
        q, regex, case_sensitive, pattern, needles, lower, not regex, folded, scan, anchors
    )


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


def _required_literals(q: str, flags: int) -> list[str] | None:
    """Strings (>= 2 characters, at most 16) one of which every match of regex `q` contains.

    Read from the parse tree: literals at the top level of a pattern, or of a group at the top
    level, are in every match; a top-level alternation needs one string from each branch. Optional
    and repeated parts are skipped. The parser is CPython's private `re._parser`; if it is missing
    or changes shape, there is simply no pre-filter.
    """
    try:
        parser: Any = importlib.import_module("re._parser")
        ops: Any = importlib.import_module("re._constants")
        found = _alternatives(parser.parse(q, flags), ops)
    except Exception:
        return None
    if not found or len(found) > 16 or min(map(len, found)) < 2:
        return None
    return found


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


def _fold(text: str) -> str:
    # Full case folding agrees with IGNORECASE on every pair it makes equal except the dotted and
    # dotless i, which IGNORECASE pairs with `i`; map those first. The result is a superset
    # filter: what IGNORECASE matches, the folded text contains.
    if text.isascii():
        return text.lower()
    return text.replace("\u0130", "i").replace("\u0131", "i").casefold()


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


def _scan_lines(pattern: re.Pattern[str], text: str) -> list[int]:
    # Jump from match to match over the whole text; a match that runs past its line's end is
    # re-checked inside the line alone, and the scan resumes at the next line either way.
    out: list[int] = []
    size = len(text)
    index = done = 0
    while done < size:
        m = pattern.search(text, done)
        if m is None or m.start() >= size:
            break
        at = m.start()
        index += text.count("\n", done, at)
        start = text.rfind("\n", done, at) + 1 or done
        end = text.find("\n", at)
        if end < 0:
            end = size
        if m.end() <= end or pattern.search(text, start, end) is not None:
            out.append(index)
        done, index = end + 1, index + 1
        if not len(out) % 64 and len(out) * _DENSE > index:
            rest = text[done:].split("\n")[:-1]
            out += [index + i for i, line in enumerate(rest) if pattern.search(line)]
            break
    return out


def search_chunk(
    first_seq: int, text: bytes, meta: bytes, query: LogQuery, *, stream: Stream | None = None
) -> list[int]:
    """Sequence numbers of the chunk's lines that match `query` (and `stream`), ascending."""
    if stream is None:
        return [first_seq + i for i in query.matching_lines(text)]
    hits: list[int] = []
    for run in decode_meta(meta, len(text)):
        if run.stream is stream:
            base = first_seq + run.first_index
            hits += [base + i for i in query.matching_lines(text[run.byte_start : run.byte_end])]
    return hits
