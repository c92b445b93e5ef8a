"""Benchmark of the streamed log reads (download, live events) through a real server; prints JSON.

For each engine (SQLite; PostgreSQL when `HOURGLASS_BENCH_POSTGRES_URL` or
`HOURGLASS_TEST_POSTGRES_URL` is set), one finished job with `--lines` lines of ~100 bytes (one line
in ten on stderr, as `bench/capture.py` makes them) is stored straight through the domain's
`ChunkBuilder` and `store.logs.writes.insert_chunks` (ingest is measured elsewhere), then a real
`hourglass api` process serves it:

- download: `GET …/logs/raw` unfiltered and `?stream=stderr`, read by a raw-socket client (no
  HTTP library in the way): `body_mb_s` (bytes of body received / time: what the client gets, and
  what the download targets are judged on, filtered too) and `log_scanned_mb_s` (bytes of the
  whole stored log / time: how fast the server goes through the log; for `stream=stderr` about
  ten times the body figure, since one line in ten is kept), time to the first body byte, and the
  server's peak RSS growth during the download (`/proc/<pid>/status` VmHWM after resetting it
  through `/proc/<pid>/clear_refs`, minus VmRSS before);
- SSE: write → client latency of live lines with 1 and with `--subscribers` concurrent streams
  (httpx on uvloop, one client process). The bench process writes one-line chunks to a RUNNING
  job and publishes the wake-up on Redis (`HOURGLASS_TEST_REDIS_URL`), as a worker process
  would; the server's RedisBus fans it out. Reported from the start of the write and from its
  commit (the part the read side is responsible for). Without Redis the SSE part is skipped.

Usage: .venv/bin/python bench/logs_read.py [--lines N] [--subscribers N] [--writes N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvloop
from sqlalchemy import update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.e2e.processes import base_env, free_port, started
from tests.integration.workflow_helpers import create, insert_job
from tests.support import UserClient, register

from benchkit import engine_urls
from capture import blocks_of
from hourglass.domain.logs.capture import LineSplitter
from hourglass.domain.logs.chunks import ChunkBuilder
from hourglass.domain.logs.lines import LineBatch, Stream
from hourglass.live import RedisBus, Wakeup
from hourglass.store.db import Database
from hourglass.store.logs import writes as log_writes
from hourglass.store.migrate import migrate
from hourglass.store.schema import jobs

TARGETS = {  # MB/s targets are of body bytes received (`body_mb_s`), not of log scanned
    "download_mb_s": 300,
    "filtered_mb_s": 50,
    "first_byte_ms": 50,
    "memory_growth_mb": 64,
    "sse_p95_ms_500": 100,
}
MB = 1_000_000


# preparing the log


LEASE = "bench-lease"


async def store_log(db: Database, job_id: str, lines: int) -> tuple[int, int]:
    """Store `lines` lines for the RUNNING job as its writer would; (lines, bytes)."""
    return await store_blocks(db, job_id, blocks_of(lines))


async def store_blocks(
    db: Database, job_id: str, blocks: Iterable[tuple[Stream, bytes]]
) -> tuple[int, int]:
    """Store the blocks' lines for the RUNNING job as its writer would (64 KiB chunks, written
    with `insert_chunks` under the job's lease, as the log writer does); (lines, bytes)."""
    splitter = LineSplitter()
    builder = ChunkBuilder()
    pending = []
    ts = 1_767_268_800_000_000
    async with db.write() as tx:
        await tx.execute(update(jobs).where(jobs.c.id == job_id).values(lease_token=LEASE))

    async def flush(chunks: list[Any]) -> None:
        async with db.write() as tx:
            assert await log_writes.insert_chunks(db, tx, job_id, chunks, LEASE)

    for stream, data in blocks:
        ts += 37
        pending += builder.add(splitter.feed(stream, data, ts))
        if len(pending) >= 64:
            await flush(pending)
            pending = []
    for batch in splitter.flush(ts):
        pending += builder.add(batch)
    last = builder.flush()
    await flush([*pending, *([last] if last else [])])
    return builder.next_seq - 1, builder.byte_offset


async def finished_job(db: Database, user: UserClient, lines: int) -> tuple[str, str, int, int]:
    workflow_id = await create(user, "COMMAND", payload={"cmd": ["true"]})
    job_id = await insert_job(db, workflow_id, user.user_id, "RUNNING")
    count, size = await store_log(db, job_id, lines)
    async with db.write() as tx:
        await tx.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(status="COMPLETED", completed_at=datetime.now(UTC), log_state="complete")
        )
    return workflow_id, job_id, count, size


# a raw HTTP/1.1 client: a blocking socket read into one preallocated buffer in a thread, so the
# client costs little more than the kernel's copy (client and server share this machine's 2 cores)


class RawResult:
    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.first_byte_s = 0.0
        self.total_s = 0.0
        self.body_bytes = 0


class _Chunked:
    """Counts the body bytes of a chunked body as it streams past (framing not counted)."""

    def __init__(self) -> None:
        self.left = 0  # body bytes left in the current chunk (+2 for its CRLF once reached)
        self.carry = b""
        self.done = False
        self.body = 0

    def feed(self, data: memoryview) -> None:
        at = 0
        while at < len(data) and not self.done:
            if self.left:
                take = min(self.left, len(data) - at)
                self.left -= take
                at += take
                continue
            line_end = bytes(data[at : at + 64]).find(b"\r\n")
            if line_end < 0:
                self.carry += bytes(data[at:])
                return
            head = self.carry + bytes(data[at : at + line_end])
            self.carry = b""
            at += line_end + 2
            if not head:  # the CRLF after a chunk's data
                continue
            size = int(head.split(b";")[0], 16)
            if size == 0:
                self.done = True
                return
            self.body += size
            self.left = size


def raw_get_blocking(port: int, path: str, cookie: str) -> RawResult:
    result = RawResult()
    buffer = bytearray(8 * 1024 * 1024)
    view = memoryview(buffer)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: session={cookie}\r\n"
            "Accept-Encoding: identity\r\nConnection: close\r\n\r\n"
        )
        started_at = time.perf_counter()
        sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            n = sock.recv_into(view)
            head += bytes(view[:n])
        head, _, rest = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        result.status = int(lines[0].split()[1])
        result.headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
        }
        chunked = _Chunked() if result.headers.get("transfer-encoding") == "chunked" else None
        remaining = int(result.headers.get("content-length", "-1"))
        received = 0

        def take(data: memoryview) -> None:
            nonlocal received
            if not result.first_byte_s and len(data):
                result.first_byte_s = time.perf_counter() - started_at
            if chunked is not None:
                chunked.feed(data)
            else:
                received += len(data)

        take(memoryview(rest))
        while True:
            if chunked is not None and chunked.done:
                break
            if chunked is None and received >= remaining >= 0:
                break
            n = sock.recv_into(view)
            if not n:
                break
            if chunked is not None and not result.first_byte_s and chunked.body == 0:
                # the first chunk-size line is framing: the body starts with its data
                take(view[:n])
                if chunked.body == 0:
                    result.first_byte_s = 0.0
                continue
            take(view[:n])
        result.total_s = time.perf_counter() - started_at
        result.body_bytes = chunked.body if chunked is not None else received
    return result


async def raw_get(port: int, path: str, cookie: str) -> RawResult:
    return await asyncio.to_thread(raw_get_blocking, port, path, cookie)


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class RssWatch:
    """Peak RSS of a process over a block: VmHWM reset first (clear_refs 5), also polled."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before_kb = 0
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.005):
            self.peak_kb = max(self.peak_kb, _status_kb(self.pid, "VmRSS"))

    def __enter__(self) -> RssWatch:
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self.before_kb = _status_kb(self.pid, "VmRSS")
        self.peak_kb = self.before_kb
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, _status_kb(self.pid, "VmHWM"))

    @property
    def growth_mb(self) -> float:
        return round((self.peak_kb - self.before_kb) * 1024 / MB, 1)


def _schedstat_ns(pid: int) -> tuple[int, int]:
    """(ns on a CPU, ns waiting for one) of the server's main thread (the event loop)."""
    on_cpu, waiting, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    return int(on_cpu), int(waiting)


async def download(
    port: int, pid: int, path: str, cookie: str, log_bytes: int, runs: int
) -> dict[str, Any]:
    await raw_get(port, path, cookie)  # warm-up: page cache, connection pool, code paths
    results = []
    loop_ms: list[tuple[float, float]] = []
    for _ in range(runs):
        cpu0, wait0 = _schedstat_ns(pid)
        with RssWatch(pid) as watch:
            got = await raw_get(port, path, cookie)
        cpu1, wait1 = _schedstat_ns(pid)
        assert got.status == 200, got.status
        results.append((got, watch.growth_mb))
        loop_ms.append(((cpu1 - cpu0) / 1e6, (wait1 - wait0) / 1e6))
    best = min(results, key=lambda r: r[0].total_s)[0]
    return {
        "body_mb": round(best.body_bytes / MB, 1),
        "log_mb": round(log_bytes / MB, 1),
        "body_mb_s": round(best.body_bytes / best.total_s / MB, 1),
        "log_scanned_mb_s": round(log_bytes / best.total_s / MB, 1),
        "seconds": round(best.total_s, 3),
        "first_byte_ms": round(statistics.median(r[0].first_byte_s for r in results) * 1000, 2),
        "memory_growth_mb": max(r[1] for r in results),
        "runs": runs,
        # the event loop thread's CPU time and run-queue wait per download (median): on a busy
        # machine the wall-clock figures above move with the other load, these much less
        "loop_cpu_ms": round(statistics.median(c for c, _ in loop_ms), 1),
        "loop_runqueue_wait_ms": round(statistics.median(w for _, w in loop_ms), 1),
    }


# SSE latency


async def sse_latency(
    base_url: str, db: Database, user: UserClient, redis_url: str, subscribers: int, writes: int
) -> dict[str, Any]:
    """Each write: a one-line chunk committed to a RUNNING job, then its wake-up published on
    Redis; each subscriber notes when the line's frame arrives. Latency from the start of the
    write (`write_to_client`) and from its commit (`commit_to_client`, what the read side adds)."""
    workflow_id = await create(user, "COMMAND", payload={"cmd": ["true"]})
    job_id = await insert_job(db, workflow_id, user.user_id, "RUNNING")
    path = f"/workflows/{workflow_id}/jobs/{job_id}/events"
    arrivals: list[tuple[int, int]] = []  # (write index, arrival ns)
    started_ns: list[int] = []
    committed_ns: list[int] = []
    connected = 0
    all_connected = asyncio.Event()
    received = [0] * subscribers
    limits = httpx.Limits(max_connections=subscribers + 10, max_keepalive_connections=0)
    # no read timeout: anyio's per-read cancel scope is a third of the client's CPU per event
    client = httpx.AsyncClient(
        base_url=base_url,
        cookies={"session": user.client.cookies["session"]},
        timeout=httpx.Timeout(None),
        limits=limits,
    )

    async def follow(index: int) -> None:
        nonlocal connected
        async with client.stream("GET", path) as response:
            assert response.status_code == 200
            async for data in response.aiter_raw():
                now = time.time_ns()
                if b"event: connected" in data:
                    connected += 1
                    if connected == subscribers:
                        all_connected.set()
                at = data.find(b"write=")
                while at >= 0:
                    end = data.find(b" ", at)
                    arrivals.append((int(data[at + 6 : end]), now))
                    received[index] += 1
                    at = data.find(b"write=", end)
                if b"event: end" in data:
                    return

    tasks = [asyncio.create_task(follow(i)) for i in range(subscribers)]
    await asyncio.wait_for(all_connected.wait(), 120)
    bus = RedisBus(redis_url)
    builder = ChunkBuilder()
    try:
        for k in range(writes):
            started_ns.append(time.time_ns())
            message = f"write={k} at {started_ns[-1]}\n".encode()
            batch = LineBatch(Stream.STDOUT, message, 1, started_ns[-1] // 1000)
            chunks = builder.add(batch) or [builder.flush()]
            async with db.write() as tx:
                for c in chunks:
                    if c is not None:
                        await log_writes.insert_chunks(db, tx, job_id, [c], None)
            committed_ns.append(time.time_ns())
            await bus.publish(Wakeup(job_id, last_seq=builder.next_seq - 1))
            await asyncio.sleep(0.1)
        deadline = time.monotonic() + 30
        while min(received) < writes and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        async with db.write() as tx:
            await tx.execute(update(jobs).where(jobs.c.id == job_id).values(status="COMPLETED"))
        await bus.publish(Wakeup(job_id, status="COMPLETED"))
        await asyncio.wait(tasks, timeout=30)
        for task in tasks:
            task.cancel()
        await bus.close()
        await client.aclose()
    from_write = sorted((t - started_ns[k]) / 1e6 for k, t in arrivals)
    from_commit = sorted((t - committed_ns[k]) / 1e6 for k, t in arrivals)
    commits = sorted((c - s) / 1e6 for s, c in zip(started_ns, committed_ns, strict=True))
    return {
        "subscribers": subscribers,
        "writes": writes,
        "deliveries": len(arrivals),
        "complete": min(received) == writes,
        "write_to_client_ms": _percentiles(from_write),
        "commit_to_client_ms": _percentiles(from_commit),
        "commit_ms": _percentiles(commits),
    }


def _percentiles(ordered: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "max": round(ordered[-1], 2),
    }


# engines


async def run_engine(label: str, database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    redis_url = os.environ.get("HOURGLASS_TEST_REDIS_URL")
    db = Database.connect(database_url)
    await migrate(db)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = base_env(
            HOURGLASS_PORT=str(port),
            HOURGLASS_DATA_DIR=str(Path(tmp) / "data"),
            HOURGLASS_DATABASE_URL=database_url,
            HOURGLASS_ACCESS_LOG="false",
            HOURGLASS_LOG_LEVEL="warning",
            **({"HOURGLASS_REDIS_URL": redis_url} if redis_url else {}),
        )
        url = f"http://127.0.0.1:{port}"
        with started(["api"], env, Path(tmp) / "api.log", url) as server:
            user = await register(url)
            try:
                prepared = time.perf_counter()
                wid, jid, lines, size = await finished_job(db, user, args.lines)
                prepare_s = time.perf_counter() - prepared
                cookie = user.client.cookies["session"]
                raw = f"/workflows/{wid}/jobs/{jid}/logs/raw"
                result: dict[str, Any] = {
                    "engine": label,
                    "lines": lines,
                    "log_mb": round(size / MB, 1),
                    "prepare_seconds": round(prepare_s, 1),
                    "download": await download(port, server.pid, raw, cookie, size, args.runs),
                    "download_stderr": await download(
                        port, server.pid, raw + "?stream=stderr", cookie, size, args.runs
                    ),
                }
                if redis_url:
                    result["sse_1"] = await sse_latency(url, db, user, redis_url, 1, args.writes)
                    result["sse_many"] = await sse_latency(
                        url, db, user, redis_url, args.subscribers, args.writes
                    )
            finally:
                await user.client.aclose()
    await db.close()
    return result


def verdict(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in results:
        checks = {
            "download_mb_s>=300": r["download"]["body_mb_s"] >= TARGETS["download_mb_s"],
            "filtered_body_mb_s>=50": r["download_stderr"]["body_mb_s"] >= TARGETS["filtered_mb_s"],
            "first_byte_ms<50": r["download"]["first_byte_ms"] < TARGETS["first_byte_ms"],
            "memory_growth_mb<64": max(
                r["download"]["memory_growth_mb"], r["download_stderr"]["memory_growth_mb"]
            )
            < TARGETS["memory_growth_mb"],
        }
        if "sse_many" in r:
            p95 = r["sse_many"]["write_to_client_ms"]["p95"]
            checks["sse_write_to_client_p95_ms<100@many"] = p95 < TARGETS["sse_p95_ms_500"]
        out[r["engine"]] = checks
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--writes", type=int, default=40)
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    results = [
        await run_engine(engine, url, args)
        async for engine, url in engine_urls(args.engines.split(","))
    ]
    report = {"benchmark": "logs_read", "targets": TARGETS, "results": results}
    report["meets_targets"] = verdict(results)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    # the client side runs on uvloop (as uvicorn would serve): 500 httpx streams in one process
    # are otherwise bound by the client's own event loop, not by the server under test
    uvloop.run(main())
