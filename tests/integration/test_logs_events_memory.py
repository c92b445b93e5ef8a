"""A live stream's memory per subscriber stays small whatever the log's size: its backlog is
read a few chunks at a time and sent a chunk's frames at a time (500 subscribers catching up on
a big log once held ~8 MB each, gigabytes between them)."""

from __future__ import annotations

from hourglass.domain.logs.lines import CHUNK_TARGET_BYTES
from hourglass.services.container import Services
from hourglass.services.logs.live import READ_CHUNKS
from hourglass.services.logs.reads import LogReads
from tests.integration.log_helpers import written_log
from tests.integration.logstream_helpers import RecordingFetch
from tests.support import UserClient


async def test_a_backlog_is_read_in_small_batches_and_sent_a_chunk_at_a_time(
    alice: UserClient, services: Services
) -> None:
    lines = [("stdout", f"{i:07d} " + "x" * 200) for i in range(6000)]  # ~1.2 MB
    got = await written_log(alice, services, lines, chunk_lines=100)
    fetch = RecordingFetch()
    reads = LogReads(services.db, services.bus, batch_chunks=64, fetch=fetch)
    job = got.job
    target = await reads.event_target(
        alice.user_id, job.workflow_id, job.id, last_event_id=None, after=None
    )
    pieces = [piece async for piece in reads.events(target)]
    body = b"".join(pieces)
    ids = [int(line[4:]) for line in body.split(b"\n") if line.startswith(b"id: ")]
    assert ids == list(range(1, len(lines) + 1))  # every line once, in order
    assert fetch.limits
    assert max(fetch.limits) <= READ_CHUNKS
    # no piece holds more than about one chunk's frames (a frame is ~1.5x its line)
    assert max(len(p) for p in pieces) <= 2 * CHUNK_TARGET_BYTES
    assert len(body) > 8 * 2 * CHUNK_TARGET_BYTES
