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
