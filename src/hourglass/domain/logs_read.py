"""Reading chunks in bulk for the read routes: search hits and rendered plain-text downloads.

Both work run by run on slices of a chunk's `text` (see `logs_chunks` for the meta format), so a
stream filter costs slicing and a query costs one scan per chunk, not one Python object per line.
"""

from __future__ import annotations

from hourglass.domain.logs_chunks import decode_meta
from hourglass.domain.logs_lines import Stream, format_epoch_us
from hourglass.domain.logs_search import LogQuery, strip_ansi_bytes


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


def render_txt(
    text: bytes,
    meta: bytes,
    *,
    stream: Stream | None = None,
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
    for run in decode_meta(meta, len(text)):
        if stream is not None and run.stream is not stream:
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
