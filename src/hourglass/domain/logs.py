"""The job-log domain: what happens to a line between a pipe and a reader, with no I/O.

Owns the rules of "The path of one log line" (DESIGN.md) and "Job logs" (API.md) that need no
store, clock or network, as one import for the runtime, the log writer and the read routes:

- capture (`logs_capture`): `LineSplitter` turns raw stdout/stderr/system blocks into
  `LineBatch`es of complete lines (CRLF, line cap, valid UTF-8); `SecretMasker` masks secrets;
- chunks (`logs_chunks`): `ChunkBuilder` numbers lines and packs them into `Chunk` rows (text +
  run-length encoded meta); `decode_chunk` and `stream_text` read them back, sub-ranges cheaply;
- the per-job cap (`logs_truncation`): `TruncationPolicy` tells head from tail lines, `CapState`
  is what the store keeps of a capped log (head end, omission line, whether offsets are sealed);
- search and rendering (`logs_search`, `logs_read`): `compile_query`, highlights, whole-chunk
  scans, `render_txt`, `strip_ansi`, `parse_json_message`.

The hot paths work on whole blocks of bytes with C-speed `bytes`/`str`/`re` calls and make no
Python object per line; time stamps are parameters (epoch microseconds), never read here.
Writer loop, in short::

    batch = splitter.feed(stream, data, ts_us)         # per pipe read (or splitter.lines(...))
    head, tail = policy.admit(batch)                   # a first tail part: close the head chunk
    chunks = builder.add(head) + builder.add(tail)     # store each, then publish its last_seq
    chunk = builder.flush()                            # on the ~50 ms timer
    # past the cap the writer trims the stored tail and keeps `CapState.omission(...)`
"""

from __future__ import annotations

from hourglass.domain.logs_capture import (
    MASK,
    TRUNCATION_MARK,
    LineSplitter,
    SecretMasker,
    clean_lines,
    valid_utf8,
)
from hourglass.domain.logs_chunks import (
    META_VERSION,
    Chunk,
    ChunkBuilder,
    LogChunkCorrupt,
    MetaRun,
    decode_chunk,
    decode_meta,
    encode_meta,
    stream_text,
)
from hourglass.domain.logs_lines import (
    CHUNK_TARGET_BYTES,
    DEFAULT_CAP_BYTES,
    DEFAULT_LINE_LIMIT,
    LineBatch,
    LogLine,
    Stream,
    format_epoch_us,
    from_epoch_us,
    to_epoch_us,
)
from hourglass.domain.logs_read import render_txt, search_chunk
from hourglass.domain.logs_search import (
    LogQuery,
    compile_query,
    find_highlights,
    is_json,
    parse_json_message,
    strip_ansi,
    strip_ansi_bytes,
)
from hourglass.domain.logs_truncation import (
    CapLimits,
    CapState,
    TailStart,
    TruncationPolicy,
    omission_message,
)

__all__ = [
    "CHUNK_TARGET_BYTES",
    "DEFAULT_CAP_BYTES",
    "DEFAULT_LINE_LIMIT",
    "MASK",
    "META_VERSION",
    "TRUNCATION_MARK",
    "CapLimits",
    "CapState",
    "Chunk",
    "ChunkBuilder",
    "LineBatch",
    "LineSplitter",
    "LogChunkCorrupt",
    "LogLine",
    "LogQuery",
    "MetaRun",
    "SecretMasker",
    "Stream",
    "TailStart",
    "TruncationPolicy",
    "clean_lines",
    "compile_query",
    "decode_chunk",
    "decode_meta",
    "encode_meta",
    "find_highlights",
    "format_epoch_us",
    "from_epoch_us",
    "is_json",
    "omission_message",
    "parse_json_message",
    "render_txt",
    "search_chunk",
    "stream_text",
    "strip_ansi",
    "strip_ansi_bytes",
    "to_epoch_us",
    "valid_utf8",
]
