"""`live.keep_streams`: a stream-filtered SSE reader keeps its streams' frames of a shared tail."""

from __future__ import annotations

from hourglass.domain.logs.chunks import ChunkBuilder
from hourglass.domain.logs.lines import LineBatch, Stream
from hourglass.services.logs.formats import sse_log_frames
from hourglass.services.logs.live import keep_streams

T0 = 1_767_225_600_000_000


def test_keep_streams_keeps_whole_frames_of_the_set_in_order() -> None:
    """Frames of other streams go; a message quoting `"stream":"stdout"` does not fool it."""
    builder = ChunkBuilder()
    sneaky = '{"a":1,"stream":"stdout"}'
    for stream, text in (
        (Stream.STDOUT, "out 1"),
        (Stream.STDERR, sneaky),
        (Stream.SYSTEM, "sys 3"),
        (Stream.STDOUT, "out 4"),
    ):
        builder.add(LineBatch(stream, (text + "\n").encode(), 1, T0))
    chunk = builder.flush()
    assert chunk is not None
    frames = sse_log_frames("job", chunk)
    assert keep_streams([frames], frozenset()) == b""
    whole = [frames]
    assert keep_streams(whole, frozenset(Stream)) == frames
    only = keep_streams(whole, frozenset((Stream.STDERR, Stream.SYSTEM)))
    assert only == sse_log_frames("job", chunk, streams=frozenset((Stream.STDERR, Stream.SYSTEM)))
    assert only.count(b"event: log") == 2
    assert b"id: 2\n" in only
    assert b"id: 3\n" in only
