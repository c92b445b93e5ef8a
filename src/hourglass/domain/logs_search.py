"""Log search and rendering helpers: queries, highlights, whole-chunk scans, ANSI, JSON messages.

Semantics (one definition, used by search, the download's `q=` and highlights): a line matches a
query when `pattern.search(message)` finds something, where `pattern` is the literal `q` escaped,
or `q` itself with `regex=true`, compiled with `re.IGNORECASE` unless `case_sensitive`. Python's
IGNORECASE is simple (one-to-one) case folding: `ä`~`Ä`, final~medial sigma, `k`~Kelvin sign,
but `ß` does not match `ss` and `ﬁ` does not match `fi`. That keeps every highlight a span of
the original message. Offsets are in characters (Unicode code points, as Python indexes `str`; a
browser should index `Array.from(message)`, not UTF-16 units). Empty regex matches count for
matching but are not highlighted.

Whole-chunk scans find matching line indexes without making a Python object per line: literal
queries run on the chunk's UTF-8 bytes (`bytes.find`/`count`: UTF-8 is self-synchronizing, so a
byte match is a character match); case-insensitive ASCII queries run on `bytes.lower()` of the
chunk (exact unless the chunk holds one of the four non-ASCII letters IGNORECASE pairs with ASCII
ones); everything else decodes the chunk once and jumps from match to match with `re`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import AnyStr, Final

from hourglass.errors import ValidationError

# The only non-ASCII letters `re.IGNORECASE` matches to ASCII letters (U+0130, U+0131, U+017F,
# U+212A: dotted I, dotless i, long s, Kelvin sign), as UTF-8.
_ASCII_FOLD_TRAPS: Final = (b"\xc4\xb0", b"\xc4\xb1", b"\xc5\xbf", b"\xe2\x84\xaa")
# Patterns that can see past the edges of a line behave differently inside a whole chunk.
_CONTEXT_SENSITIVE: Final = ("(?=", "(?!", "(?<=", "(?<!", "\\A", "\\Z")
# Literal hits per line above which splitting the chunk beats jumping from hit to hit.
_DENSE: Final = 8


@dataclass(frozen=True, slots=True)
class LogQuery:
    """A compiled search query (build it with `compile_query`)."""

    q: str
    regex: bool
    case_sensitive: bool
    pattern: re.Pattern[str] = field(repr=False)
    _needle: bytes | None = field(repr=False)  # bytes to find, when matching is a byte search
    _lower: bool = field(repr=False)  # whether `_needle` is to be found in the lowered bytes
    _folded: str | None = field(repr=False)  # case-folded literal, to pre-filter folded text
    _scan: bool = field(repr=False)  # whether a whole-chunk regex scan agrees with per-line search

    def matches(self, message: str) -> bool:
        """Whether the line `message` matches."""
        return self.pattern.search(message) is not None

    def highlights(self, message: str) -> list[tuple[int, int]]:
        """Character `(start, end)` spans of the non-empty matches in `message`."""
        return [m.span() for m in self.pattern.finditer(message) if m.end() > m.start()]

    def chunk_may_match(self, text: bytes) -> bool:
        """Whether any line of the chunk text may match (one C-speed scan, no false negatives)."""
        needle = self._byte_needle(text)
        if needle is not None:
            return needle in (text.lower() if self._lower else text)
        decoded = text.decode("utf-8", "replace")
        if self._folded is not None:
            return self._folded in _fold(decoded)
        if not self._scan:
            return any(self.pattern.search(m) for m in decoded.split("\n"))
        return self.pattern.search(decoded) is not None

    def matching_lines(self, text: bytes) -> list[int]:
        """0-based indexes of the matching lines in `text` (whole lines, each ending `\\n`)."""
        needle = self._byte_needle(text)
        if needle is not None:
            return _literal_lines(text.lower() if self._lower else text, needle, b"\n")
        decoded = text.decode("utf-8", "replace")
        if self._folded is not None:
            # Folding can change lengths (ß → ss) but never the line count: find candidate lines
            # in the folded text, then confirm each with the exact pattern.
            candidates = _literal_lines(_fold(decoded), self._folded, "\n")
            if not candidates:
                return []
            lines = decoded.split("\n")
            return [i for i in candidates if self.pattern.search(lines[i])]
        if not self._scan:
            return [i for i, m in enumerate(decoded.split("\n")[:-1]) if self.pattern.search(m)]
        return _scan_lines(self.pattern, decoded)

    def _byte_needle(self, text: bytes) -> bytes | None:
        if self._lower and not text.isascii() and any(t in text for t in _ASCII_FOLD_TRAPS):
            return None
        return self._needle


def compile_query(q: str, *, regex: bool = False, case_sensitive: bool = False) -> LogQuery:
    """A query for `q`; `ValidationError` on field `q` if it is empty or an invalid regex."""
    if not q:
        raise ValidationError.field("q", "must not be empty")
    flags = re.MULTILINE if case_sensitive else re.MULTILINE | re.IGNORECASE
    try:
        pattern = re.compile(q if regex else re.escape(q), flags)
    except (re.error, OverflowError, RecursionError) as exc:
        raise ValidationError.field("q", f"invalid regular expression: {exc}") from exc
    needle: bytes | None = None
    lower = False
    folded: str | None = None
    if not regex and "\n" not in q:
        if case_sensitive:
            needle = q.encode("utf-8", "surrogatepass")
        else:
            folded = _fold(q)
            if q.isascii():
                needle, lower = q.lower().encode("ascii"), True
    scan = not (regex and any(c in q for c in _CONTEXT_SENSITIVE))
    return LogQuery(q, regex, case_sensitive, pattern, needle, lower, folded, scan)


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
    hits = text.count(needle)
    if not hits:
        return []
    if hits * _DENSE > text.count(newline):
        return [i for i, line in enumerate(text.split(newline)) if needle in line]
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
    return out


_ANSI_STR: Final = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erase
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"  # OSC: titles, hyperlinks
    r"|\x1b[PX^_][^\x1b\x9c\n]*(?:\x1b\\|\x9c)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]"  # every other escape: charset selection, keypad modes, ESC 7/8
)
_ANSI_BYTES: Final = re.compile(
    rb"(?:\x1b\[|\xc2\x9b)[0-?]*[ -/]*[@-~]"
    rb"|(?:\x1b\]|\xc2\x9d)[^\x07\x1b\n]*(?:\x07|\x1b\\|\xc2\x9c)?"
    rb"|\x1b[PX^_][^\x1b\n]*(?:\x1b\\|\xc2\x9c)?"
    rb"|\x1b[ -/]*[0-~]"
)


def strip_ansi(text: str) -> str:
    """`text` without ANSI escape sequences (CSI, OSC, string and other escapes)."""
    if "\x1b" not in text and "\x9b" not in text and "\x9d" not in text:
        return text
    return _ANSI_STR.sub("", text)


def strip_ansi_bytes(text: bytes) -> bytes:
    """UTF-8 `text` (e.g. a whole chunk) without ANSI escape sequences; never crosses a `\\n`."""
    if b"\x1b" not in text and b"\xc2\x9b" not in text and b"\xc2\x9d" not in text:
        return text
    return _ANSI_BYTES.sub(b"", text)


_JSON_FIRST: Final = frozenset('{["-0123456789tfn')


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def parse_json_message(message: str) -> tuple[bool, object]:
    """`(True, value)` if `message` is valid JSON (RFC 8259: no NaN/Infinity), else `(False, None)`.

    Any JSON value counts, scalars included, as API.md says "when the message is valid JSON".
    """
    head = message.lstrip(" \t\r")
    if not head or head[0] not in _JSON_FIRST:
        return False, None
    try:
        return True, json.loads(message, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return False, None


def is_json(message: str) -> bool:
    """Whether `message` is valid JSON (see `parse_json_message`)."""
    return parse_json_message(message)[0]
