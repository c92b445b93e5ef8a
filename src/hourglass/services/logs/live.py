"""What the live event stream of a job log (`GET …/events`, SSE) sends, and when.

Subscribe to the bus first, then send the backlog read straight from the store, then loop "read
the store after the last sequence number sent → send → wait for a wake-up (at most until the
next keep-alive)". Because every read starts after the last line sent and the subscription
exists before the backlog read, the hand-off from backlog to live lines can neither skip nor
repeat a line. Readers at the live edge share their store reads and frame encoding through
`tail.LiveTails`; a reader filtering by stream drops the other streams' frames from what they
share. HTTP itself (headers, disconnects) is `web.sse`'.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Final

from hourglass.domain.jobs import FINISHED
from hourglass.domain.logs.lines import Streams
from hourglass.services.logs.formats import (
    SSE_RETRY_MS,
    EventTarget,
    describe,
    sse_frame,
    sse_log_frames,
)
from hourglass.services.logs.tail import FramedChunk

if TYPE_CHECKING:  # reads.LogReads calls in here
    from hourglass.services.logs.reads import LogReads


# Chunks per store read of a subscriber (~64 KiB of text each), for its backlog and for the live
# edge when the shared tail does not hold what it needs (it fell behind a fast writer). Small, so
# that 500 subscribers reading on their own hold a few hundred MB between them, not gigabytes;
# an SSE client reads far slower than the store serves a batch, so larger reads buy nothing.
READ_CHUNKS: Final = 4


async def read_framed(reads: LogReads, job_id: str, after: int) -> list[FramedChunk]:
    chunks = await reads.read(job_id, after, READ_CHUNKS)
    return [
        FramedChunk(max(c.first_seq, after + 1), c.last_seq, sse_log_frames(job_id, c, after))
        for c in chunks
    ]


async def events(reads: LogReads, target: EventTarget) -> AsyncGenerator[bytes, None]:
    """The SSE frames of the stream, until the job is finished and every line was sent."""
    job_id = target.job.id
    loop = asyncio.get_running_loop()
    yield f"retry: {SSE_RETRY_MS}\n\n".encode()
    async with reads.bus.subscribe(job_id) as sub, reads.tails.use(job_id) as tail:
        seen = sub.status_version
        job = await reads.job(job_id)  # after subscribing: no status change can slip by
        announced = job.status
        yield sse_frame("connected", {"status": "connected", "job_status": announced.value})
        last, streams = target.after, target.streams
        # A chunk's frames at a time, from small batches: a subscriber behind the live edge holds
        # at most two batches and one chunk's frames, however many subscribers there are.
        async for chunks in reads.batches(job_id, last, most=READ_CHUNKS):
            for c in chunks:
                yield sse_log_frames(job_id, c, last, streams)
                last = max(last, c.last_seq)
        keepalive_at = loop.time() + reads.keepalive_seconds
        hint: int | None = sub.last_seq
        since = loop.time()
        while True:
            # Lines first: everything committed before `job` was read is sent before its status.
            while hint is None or last < hint:
                pieces, new_last = await reads.tails.after(tail, last, hint, since=since)
                if new_last <= last:
                    break
                for piece in pieces if streams is None else [keep_streams(pieces, streams)]:
                    yield piece  # unfiltered: the shared frames themselves, a chunk's at a time
                last = new_last
            if job.status is not announced:
                announced = job.status
                yield sse_frame("status", {"job_status": announced.value})
            if announced in FINISHED:
                end = {"status": "stream_ended", "job_status": announced.value}
                yield sse_frame("end", {**end, "total_lines": job.log_lines})
                return
            timeout = keepalive_at - loop.time()
            if timeout > 0:
                await sub.wait(timeout)
            poll = loop.time() >= keepalive_at
            if poll:
                yield b": keep-alive\n\n"
                keepalive_at = loop.time() + reads.keepalive_seconds
            if poll or sub.status_version != seen:
                # a status change (or a poll for ones nobody announced): read the job, then
                # the store until it has nothing more
                seen = sub.status_version
                job = await reads.job(job_id)
                since = loop.time()  # a store read started from now on sees every line
                hint = None
            else:
                hint = sub.last_seq


def keep_streams(pieces: list[bytes], streams: Streams) -> bytes:
    """The `log` frames of `pieces` (shared, unfiltered frames) whose line is of `streams`.

    A frame's data is one line of JSON whose `"stream"` member comes before the message, so the
    first `,"stream":"` of a frame is its own."""
    kept: list[bytes] = []
    names = {s.value.encode() for s in streams}
    for frames in pieces:
        for frame in frames.split(b"\n\n"):
            at = frame.find(b',"stream":"') + 11
            if at > 10 and frame[at : frame.index(b'"', at)] in names:
                kept.append(frame + b"\n\n")
    return b"".join(kept)


def error_frame(exc: BaseException) -> bytes:
    return sse_frame("error", {"error": describe(exc)})
