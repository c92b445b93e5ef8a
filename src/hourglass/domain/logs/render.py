"""Rendering stored lines for readers: the `txt` download of a chunk, ANSI stripping, JSON messages.

`render_txt` works run by run on slices of a chunk's `text` (see `chunks` for the meta format), so
a stream filter costs slicing and a query costs one scan per chunk, not one Python object per
line. `strip_ansi`/`strip_ansi_bytes` serve the download's `ansi=strip`; `parse_json_message`
decides when a line's `message_json` is given (the `jsonl`/`json` downloads).
"""

from __future__ import annotations

import json
import re
from typing import Final

import orjson

from hourglass.domain.logs.chunks import decode_meta
from hourglass.domain.logs.lines import Stream, Streams, format_epoch_us, stream_set
from hourglass.domain.logs.search import LogQuery


def render_txt(
    text: bytes,
    meta: bytes,
    *,
    stream: Stream | Streams | None = None,
    query: LogQuery | None = None,
    timestamps: bool = False,
    ansi_strip: bool = False,
) -> bytes:
    """The `format=txt` download bytes of one chunk under the given filters and options.

    With `timestamps`, each line starts with its RFC 3339 time stamp and a space; the stamp is
    shared by a whole run, so it is inserted with one `bytes.replace` per run. Matching uses the
    raw message (before ANSI stripping), as search does.
    """
    if stream is None and query is None and not timestamps:
        return strip_ansi_bytes(text) if ansi_strip else text
    pieces: list[bytes] = []
    wanted = stream_set(stream)
    for run in decode_meta(meta, len(text)):
        if wanted is not None and run.stream not in wanted:
            continue
        segment = text[run.byte_start : run.byte_end]
        if query is not None:
            hits = query.matching_lines(segment)
            if not hits:
                continue
            if len(hits) < run.count:
                lines = segment.split(b"\n")
                segment = b"".join([lines[i] + b"\n" for i in hits])
        if ansi_strip:
            segment = strip_ansi_bytes(segment)
        if timestamps:
            prefix = format_epoch_us(run.ts_us).encode("ascii") + b" "
            segment = prefix + segment[:-1].replace(b"\n", b"\n" + prefix) + b"\n"
        pieces.append(segment)
    return b"".join(pieces)


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


# an escape sequence or one of the two moves a line's text may hold
_CONTROL_STR: Final = re.compile(_ANSI_STR.pattern + r"|[\r\x08]")
# what makes a line need rendering rather than stripping: a move or an erase-in-line
# (as literals: `in` runs at memory speed, where a regex would try every position)
_ERASES: Final = tuple(f"{csi}{n}K" for csi in ("\x1b[", "\x9b") for n in ("", "0", "1", "2"))
_ERASES_BYTES: Final = tuple(e.encode() for e in _ERASES)


def _acts(text: str) -> bool:
    """Whether `text` holds a move (`\\r`, `\\b`) or an erase-in-line."""
    if "\r" in text or "\x08" in text:
        return True
    return ("\x1b[" in text or "\x9b" in text) and any(e in text for e in _ERASES)


def _acts_bytes(text: bytes) -> bool:
    """`_acts` of UTF-8 bytes."""
    if b"\r" in text or b"\x08" in text:
        return True
    return (b"\x1b[" in text or b"\xc2\x9b" in text) and any(e in text for e in _ERASES_BYTES)


def strip_ansi(text: str) -> str:
    """`text` (one line or several) as a terminal shows it, without ANSI escape sequences (CSI,
    OSC, string and other escapes): a line holding a carriage return, a backspace or an
    erase-in-line is rendered (`render_line`), the others only stripped."""
    if _acts(text):
        return "\n".join(
            [render_line(line) if _acts(line) else _strip(line) for line in text.split("\n")]
        )
    return _strip(text)


def _strip(text: str) -> str:
    if "\x1b" not in text and "\x9b" not in text and "\x9d" not in text:
        return text
    return _ANSI_STR.sub("", text)


def render_line(line: str) -> str:
    """One line as a terminal would leave it on screen, escapes stripped.

    Each character takes one column. `\\r` returns to column 0 and `\\b` moves back one column
    (not past 0); text written after them overwrites the columns it lands on and leaves the rest
    ("abc\\rX" is "Xbc"). Of the escape sequences only erase-in-line acts: `ESC [ K` (or `0K`)
    erases from the cursor to the end of the line, `1K` from its start to the cursor, `2K` the
    whole line; erased columns are spaces where text follows them and dropped at the line's end.
    Every other sequence is removed.
    """
    cells: list[str | None] = []  # None: an erased column
    col = at = 0
    for m in _CONTROL_STR.finditer(line):
        if m.start() > at:
            text = line[at : m.start()]
            cells[col : col + len(text)] = text
            col += len(text)
        at = m.end()
        control = m.group()
        if control == "\r":
            col = 0
        elif control == "\x08":
            col = max(0, col - 1)
        elif control.endswith("K"):
            _erase(cells, col, control.removeprefix("\x1b[").removeprefix("\x9b")[:-1])
    text = line[at:]
    cells[col : col + len(text)] = text
    while cells and cells[-1] is None:
        cells.pop()
    return "".join([" " if c is None else c for c in cells])


def _erase(cells: list[str | None], col: int, mode: str) -> None:
    """Erase in line (`ESC [ mode K`); other final-K sequences with parameters do nothing."""
    if mode in ("", "0"):
        del cells[col:]
    elif mode == "1":
        end = min(col + 1, len(cells))
        cells[:end] = [None] * end
    elif mode == "2":
        cells[:] = [None] * len(cells)


def strip_ansi_bytes(text: bytes) -> bytes:
    """UTF-8 `text` (e.g. a whole chunk) as `strip_ansi` renders it; never crosses a `\\n`.
    Without a carriage return, backspace or erase-in-line it is stripped as bytes; bytes that
    are not UTF-8 pass through unchanged."""
    if _acts_bytes(text):
        decoded = text.decode("utf-8", "surrogateescape")
        return strip_ansi(decoded).encode("utf-8", "surrogateescape")
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


_NUMBER_RE: Final = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
_NUMBER: Final = re.compile(rf"[ \t\r]*{_NUMBER_RE}[ \t\r]*")
_LITERALS: Final = frozenset(("true", "false", "null"))
# lines of a text that are a JSON scalar (number or literal) whole / that may be a JSON
# object, array or string
_SCALAR_LINE: Final = re.compile(
    rf"^[ \t\r]*(?:{_NUMBER_RE}|true|false|null)[ \t\r]*$", re.MULTILINE
)
_NESTED_LINE: Final = re.compile(r'^[ \t\r]*[{\["]', re.MULTILINE)


def is_json(message: str) -> bool:
    """Whether `message` is valid JSON: what `parse_json_message` says, without building the
    value or raising for most lines (the `jsonl`/`json` downloads ask it of every line).

    Numbers and literals are matched, objects, arrays and strings parsed by orjson (in C); the
    rare text orjson refuses that Python's parser accepts (nesting past orjson's limit, an
    unpaired surrogate escape, a number beyond a double) falls back to `parse_json_message`.
    """
    head = message.lstrip(" \t\r")
    if not head:
        return False
    first = head[0]
    if first in "-0123456789":
        return _NUMBER.fullmatch(message) is not None
    if first in "tfn":
        return head.rstrip(" \t\r") in _LITERALS
    if first not in '{["':
        return False
    try:
        orjson.loads(message)
    except orjson.JSONDecodeError:
        return parse_json_message(message)[0]
    return True


def json_line_indices(text: str) -> set[int]:
    """Indices of the lines of `text` (split at `\\n`) that are valid JSON, as `is_json` says.

    Two regular-expression passes over the whole text find the candidates, so a line that
    cannot be JSON (most log lines) costs nothing in Python.
    """
    starts = [m.start() for m in _SCALAR_LINE.finditer(text)]
    for m in _NESTED_LINE.finditer(text):
        end = text.find("\n", m.start())
        if is_json(text[m.start() : None if end < 0 else end]):
            starts.append(m.start())
    found: set[int] = set()
    at = index = 0
    for start in sorted(starts):
        index += text.count("\n", at, start)
        at = start
        found.add(index)
    return found
