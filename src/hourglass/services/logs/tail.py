"""The live edge of each job's log, read once per process however many readers follow it.

A live reader (SSE) woken up for job J reads "lines after the last one I sent" from the store.
With 500 readers on one job, that would be 500 identical store reads and 500 identical decodes
per writer flush. `LiveTails` keeps, per job that has live readers in this process, the newest
few chunks already encoded as SSE frames, and lets concurrent readers share one store read
(single flight). It changes nothing about correctness: a reader still asks for exactly "after my
last sequence number", and the cache only ever answers with a contiguous run of lines starting
right there, or not at all (then the reader reads the store itself).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import NamedTuple


class FramedChunk(NamedTuple):
    """The SSE frames (`id: <seq>` … blank line) of lines `first_seq..last_seq` of a job."""

    first_seq: int
    last_seq: int
    frames: bytes

    def after(self, seq: int) -> bytes:
        """The frames of the lines with a sequence number above `seq`."""
        if seq < self.first_seq:
            return self.frames
        if seq >= self.last_seq:
            return b""
        # Frame data is JSON on one line, so a blank line followed by `id: N` only starts frame N.
        at = self.frames.find(b"\n\nid: %d\n" % (seq + 1))
        return self.frames[at + 2 :] if at >= 0 else b""


# Framed chunks kept per followed job (~64 KiB of text each, ~150 KiB framed: ~20 MB a job with
# live readers). A reader that falls behind the kept run reads and frames the store on its own,
# so the run must cover how far readers lag behind a fast writer: with 16, 500 readers of a job
# written at 50,000 lines/s mostly read for themselves, and framing the same lines over and over
# held `/healthz` at p50 30 ms; with 128, p50 1 ms and half the memory (bench/stress.py c).
KEEP_CHUNKS = 128

ReadFramed = Callable[[str, int], Awaitable[list[FramedChunk]]]
"""Reads the store: the framed chunks of job `job_id` holding lines after `seq`, ascending."""


class Tail:
    """One job's cache: its newest framed chunks (contiguous, ascending) and the read in flight."""

    __slots__ = (
        "cache",
        "inflight",
        "inflight_after",
        "inflight_started",
        "job_id",
        "joiners",
        "users",
    )

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.cache: list[FramedChunk] = []
        self.inflight: asyncio.Task[list[FramedChunk]] | None = None
        self.inflight_after = 0
        self.inflight_started = 0.0
        # readers waiting for the read in flight: one future each, given the chunks read (None
        # if the read failed); cancelling one cancels only that reader's wait
        self.joiners: list[asyncio.Future[list[FramedChunk] | None]] = []
        self.users = 0

    def cached_after(self, seq: int) -> tuple[list[bytes], int]:
        """(frames, new last seq) of the cached lines right after `seq`; ([], seq) if none."""
        cache = self.cache
        if not cache or cache[-1].last_seq <= seq or cache[0].first_seq > seq + 1:
            return [], seq
        pieces = [c.after(seq) for c in cache if c.last_seq > seq]
        return pieces, cache[-1].last_seq

    def remember(self, chunks: list[FramedChunk], keep: int) -> None:
        for chunk in chunks:
            cache = self.cache
            if not cache or chunk.first_seq > cache[-1].last_seq:
                if cache and chunk.first_seq != cache[-1].last_seq + 1:
                    cache.clear()  # a gap: keep only what is contiguous with the newest
                cache.append(chunk)
        if len(self.cache) > keep:
            del self.cache[: len(self.cache) - keep]


class LiveTails:
    """Per-process shared live edges, one `Tail` per job while it has live readers."""

    def __init__(self, read: ReadFramed, *, keep_chunks: int = KEEP_CHUNKS) -> None:
        self._read = read
        self._keep = keep_chunks
        self._tails: dict[str, Tail] = {}

    def __len__(self) -> int:
        return len(self._tails)

    @contextlib.asynccontextmanager
    async def use(self, job_id: str) -> AsyncIterator[Tail]:
        """The job's tail while the caller follows it; dropped (and its read cancelled) after."""
        tail = self._tails.get(job_id)
        if tail is None:
            tail = self._tails[job_id] = Tail(job_id)
        tail.users += 1
        try:
            yield tail
        finally:
            tail.users -= 1
            if not tail.users:
                self._tails.pop(job_id, None)
                if tail.inflight is not None and not tail.inflight.done():
                    tail.inflight.cancel()

    async def after(
        self, tail: Tail, seq: int, hint: int | None, *, since: float | None = None
    ) -> tuple[list[bytes], int]:
        """Frames of the lines after `seq` (as far as known), and the last sequence number in them.

        `hint` is the highest sequence number a wake-up announced: when the cache already holds
        it, no store read happens, and a read already in flight is shared. With `hint=None` the
        store is read by a read started at or after `since` (the caller's loop time when it
        learnt it must look), so it sees every line committed before then; without `since`, by a
        read started for this call.
        """
        joined = False
        while True:
            pieces, last = tail.cached_after(seq)
            if hint is not None and last >= hint:
                return pieces, last
            fresh = since is not None and tail.inflight_started >= since
            if (
                tail.inflight is not None
                and not joined
                and tail.inflight_after <= last
                and (hint is not None or fresh)
            ):
                # A read in flight started after `last`: its result extends what we have. With a
                # hint it may predate the commit of `hint`, so that is checked (once).
                joined = True
                started_at = tail.inflight_after
                waiter: asyncio.Future[list[FramedChunk] | None]
                waiter = asyncio.get_running_loop().create_future()
                tail.joiners.append(waiter)
                chunks = await waiter
                if chunks is not None:
                    more, new_last = _beyond(chunks, last)
                    # Without a hint, "nothing past `last`" is an answer only from a read that
                    # started right at `last`: one that started before it may have stopped short
                    # of it (reads are a few chunks long), so this caller reads for itself.
                    if hint is not None:
                        done = new_last >= hint
                    else:
                        done = new_last > last or started_at == last
                    if done:
                        return pieces + more, new_last
                continue
            loop = asyncio.get_running_loop()
            tail.joiners = []
            task = asyncio.ensure_future(self._fetch(tail, last, tail.joiners))
            tail.inflight, tail.inflight_after, tail.inflight_started = task, last, loop.time()
            more, new_last = _beyond(await asyncio.shield(task), last)
            return pieces + more, new_last

    async def _fetch(
        self, tail: Tail, after: int, joiners: list[asyncio.Future[list[FramedChunk] | None]]
    ) -> list[FramedChunk]:
        chunks: list[FramedChunk] | None = None
        try:
            chunks = await self._read(tail.job_id, after)
            tail.remember(chunks, self._keep)
            return chunks
        finally:
            if tail.inflight is asyncio.current_task():
                tail.inflight = None
            for waiter in joiners:
                if not waiter.done():
                    waiter.set_result(chunks)


def _beyond(chunks: list[FramedChunk], last: int) -> tuple[list[bytes], int]:
    """The frames of `chunks` after `last`, and the new last sequence number."""
    more = [c.after(last) for c in chunks if c.last_seq > last]
    return more, max([last, *(c.last_seq for c in chunks)])


__all__ = ["FramedChunk", "LiveTails", "ReadFramed", "Tail"]
