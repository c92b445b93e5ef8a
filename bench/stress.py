"""Stress benchmark of the "Job logs" issue (issue 7, "Done when"): does one user's heavy log
reading hurt everyone else? Prints one JSON document.

A real `hourglass up` process (API, scheduler and worker in one; SQLite, or PostgreSQL with
`--engine postgres` and `HOURGLASS_BENCH_POSTGRES_URL` / `HOURGLASS_TEST_POSTGRES_URL`) serves
two finished jobs whose logs the bench stores straight through the domain's `ChunkBuilder` and
`store.logs.writes.insert_chunks` (ingest is measured by `bench/logs_ingest.py`):

- an "evil" log of `--lines` lines: one in ten is `aaaaaaaaaaaaaaaaaaaaaaaaaaa!` (27 a's and a
  `!`, which makes a backtracking engine take exponential time on `(a+)+$`), one in a thousand is
  `x` and 27 a's (a match), the rest ~100-byte log lines;
- a plain log of `--lines` lines of ~100 bytes (one in ten on stderr, as `bench/capture.py`).

Scenarios (`--scenario`), each on a fresh server process (a server wedged by one scenario cannot
spoil the next), each measured while its load runs:

- `a`: four concurrent clients, each sending search requests back to back for `--seconds`
  (`GET …/logs/search?regex=true`, first page with the exact count): two with `q=(a+)+$`, two with
  `q=\\w+` (every line matches) over the evil log;
- `b`: three concurrent `GET …/logs/raw?format=jsonl` downloads of the plain log, read to the end
  by raw-socket clients;
- `c`: `--subscribers` SSE clients (`GET …/events`, one connection each) follow one COMMAND job
  that writes `--rate` lines a second for `--seconds` (a `python3 -c` script paced every 10 ms,
  started only once every subscriber is connected). The subscribers run in a separate process on
  uvloop with raw `asyncio.Protocol`s: the chunked body is de-framed per read and only the `id:`
  lines are parsed (one regex per read), so the client costs little per line. Every subscriber's
  ids must be 1, 2, 3, … : a jump forward counts its missing lines as `gaps`, an id not above the
  last one as a `duplicate`. Lines that arrive by the end of the window count towards
  `delivered_lines_per_s_per_subscriber`; afterwards the subscribers keep reading for at most
  `--timeout` seconds to reach `event: end` (`ended`), and one that ended must have received
  `total_lines` (else `missing_at_end`). `client_cpu_share` is the CPU time the subscriber
  process used over that time: near 1.0, the client (one core) set the pace, not the server;
- `combined`: a, b and c at once on one server;
- `all` (default): a, b, c, then combined.

For each scenario: `GET /healthz` sampled every ~20 ms over one keep-alive connection from a
separate process (so the clients of the load cannot delay the sampler), p50/p99/max in ms; a
probe that gets no answer within `--healthz-timeout` (or whose connection is refused or reset)
is `failed` and counts at that many ms (so with failures p99 is a lower bound); the sampler then
reconnects. Also the server's RSS before, peak
(VmRSS polled every 5 ms and VmHWM after resetting it) and growth, the growth of its anonymous
RSS alone (`anon_growth`: RssAnon, what the server allocated, without the pages of the SQLite
file it maps, which VmRSS counts as a big log is read), and the requests completed and
timed out. Every request is bounded by `--timeout` seconds: on a server that hangs, the figures
say so and the bench goes on. A server whose RSS passes `--max-rss-mb` (default 4096) is killed
(`server_killed_at_rss_mb`; `/healthz` probes sent after the kill are left out, and the loads
then fail fast): the machine may be shared, and past that size the figure has made its point.

Targets: `/healthz` p99 < 100 ms in every scenario; RSS growth < 64 MB for b.

Usage: .venv/bin/python bench/stress.py [--engine sqlite|postgres] [--lines N]
       [--scenario a|b|c|all|combined] [--seconds S] [--subscribers N] [--rate LINES_PER_S]
       [--timeout S] [--healthz-timeout S] [--max-rss-mb MB]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import re
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any, cast

import httpx
import uvloop
from sqlalchemy import update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.e2e.processes import Process, base_env, free_port, wait_healthy
from tests.integration.workflow_helpers import insert_job
from tests.support import register

from benchkit import admin_postgres_url, postgres_database
from capture import blocks_of, make_output
from healthz import REQUEST as HEALTHZ_REQUEST
from healthz import read_response
from hourglass.domain.logs.lines import Stream
from hourglass.store.db import Database
from hourglass.store.migrate import migrate
from hourglass.store.schema import jobs
from logs_concurrent import AnonWatch
from logs_read import RssWatch, _Chunked, _status_kb, store_blocks

TARGETS = {
    "healthz_p99_ms": "< 100 in every scenario",
    "rss_growth_mb_b": "< 64 (three concurrent jsonl downloads)",
}
MB = 1_000_000
BLOCK = 64 * 1024
EVIL_LINE = "a" * 27 + "!"
MATCH_LINE = "x" + "a" * 27
SEARCHES = (
    ("catastrophic", {"q": "(a+)+$", "regex": "true"}),
    ("every_line", {"q": r"\w+", "regex": "true"}),
)
YEARLY = "0 0 1 1 *"  # the bench's workflows never run on their own while it runs


def log(message: str) -> None:
    print(f"[stress {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentiles_ms(seconds: list[float]) -> dict[str, float | None]:
    if not seconds:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(seconds)
    pick = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {
        "p50": round(statistics.median(ordered) * 1000, 2),
        "p99": round(pick * 1000, 2),
        "max": round(ordered[-1] * 1000, 2),
    }


# preparing the logs (straight into the store, as the log writer would write them)


def evil_blocks(lines: int) -> list[tuple[Stream, bytes]]:
    normal = make_output(lines).decode().splitlines(keepends=True)
    for i in range(0, lines, 10):
        normal[i] = EVIL_LINE + "\n"
    for i in range(5, lines, 1000):
        normal[i] = MATCH_LINE + "\n"
    data = "".join(normal).encode()
    return [(Stream.STDOUT, data[at : at + BLOCK]) for at in range(0, len(data), BLOCK)]


def evil_matches(lines: int) -> int:
    return len(range(5, lines, 1000))


async def workflow(client: httpx.AsyncClient, cmd: list[str]) -> str:
    payload = json.dumps({"cmd": cmd})
    body = {"name": "stress", "kind": "COMMAND", "payload": payload, "cron": YEARLY}
    response = await client.post(
        "/workflows", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert response.status_code == 201, response.text
    workflow_id: str = response.json()["id"]
    return workflow_id


async def finished_job(
    db: Database, client: httpx.AsyncClient, user_id: str, blocks: list[tuple[Stream, bytes]]
) -> tuple[str, str, int]:
    workflow_id = await workflow(client, ["true"])
    job_id = await insert_job(db, workflow_id, user_id, "RUNNING", trigger="MANUAL")
    lines, _ = await store_blocks(db, job_id, blocks)
    async with db.write() as tx:
        await tx.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(status="COMPLETED", completed_at=jobs.c.created_at, log_state="complete")
        )
    return workflow_id, job_id, lines


@dataclass
class Prepared:
    cookie: str
    csrf: str
    evil_path: str  # …/jobs/{id}/logs
    evil_lines: int
    plain_path: str
    plain_lines: int


# one server per scenario


@dataclass
class Server:
    process: Process
    port: int
    url: str
    cookie: str
    csrf: str
    args: argparse.Namespace
    tmp: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self, timeout: float = 30) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url,
            cookies={"session": self.cookie, "csrf": self.csrf},
            headers={"X-CSRF-Token": self.csrf},
            timeout=timeout,
        )


@contextlib.contextmanager
def serving(args: argparse.Namespace, tmp: Path, database_url: str, label: str) -> Iterator[Any]:
    port = free_port()
    env = base_env(
        HOURGLASS_PORT=str(port),
        HOURGLASS_DATA_DIR=str(tmp / "data"),
        HOURGLASS_DATABASE_URL=database_url,
        HOURGLASS_ACCESS_LOG="false",
        HOURGLASS_LOG_LEVEL="warning",
        HOURGLASS_POLL_INTERVAL_SECONDS="0.1",
    )
    url = f"http://127.0.0.1:{port}"
    process = Process(["up"], env, tmp / f"up-{label}.log")
    try:
        wait_healthy(url, process, timeout=60)
        yield process, port, url
    finally:
        # a wedged event loop never handles SIGTERM: SIGKILL after 10 s
        process.stop(timeout=10)


# /healthz sampler (its own process)


def sample_healthz(
    port: int, stop: EventType, out: Connection, every: float, timeout: float
) -> None:
    """Probe `/healthz` every `every` s over one keep-alive connection until `stop` is set; send
    "ready" after the first probe, then [(sent at, seconds, failed)] at the end (`perf_counter`,
    the same clock in every process)."""
    samples: list[tuple[float, float, bool]] = []  # (sent at, seconds, failed)
    sock: socket.socket | None = None
    buffer = bytearray()
    next_at = time.monotonic()
    ready = False
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            if sock is None:
                sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buffer = bytearray()
            sock.settimeout(timeout)
            sock.sendall(HEALTHZ_REQUEST)
            read_response(sock, buffer)
            samples.append((t0, time.perf_counter() - t0, False))
        except OSError:  # timeout, refused, reset: a failed probe, then a new connection
            samples.append((t0, max(time.perf_counter() - t0, timeout), True))
            if sock is not None:
                sock.close()
            sock = None
        if not ready:
            out.send("ready")
            ready = True
            samples.clear()  # the first probe (connection set-up) is not a sample
        next_at = max(next_at + every, time.monotonic())
        stop.wait(max(0.0, next_at - time.monotonic()))
    if sock is not None:
        sock.close()
    out.send(samples)
    out.close()


class HealthzSampler:
    """`sample_healthz` in a process of its own (spawned: no state of this one leaks in)."""

    def __init__(self, port: int, timeout: float, every: float = 0.02) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=sample_healthz, args=(port, self._stop, send, every, timeout), daemon=True
        )
        self._proc.start()
        send.close()
        self.samples: list[tuple[float, float, bool]] = []

    @classmethod
    async def start(cls, port: int, timeout: float) -> HealthzSampler:
        sampler = cls(port, timeout)
        if not await asyncio.to_thread(sampler._recv.poll, 60):
            raise RuntimeError("the /healthz sampler did not start")
        sampler._recv.recv()
        return sampler

    async def finish(self, until: float | None = None) -> dict[str, Any]:
        """Stop and summarise the probes (those over by `until`, a `perf_counter`, if given)."""
        self._stop.set()
        if await asyncio.to_thread(self._recv.poll, 60):
            self.samples = self._recv.recv()
        await asyncio.to_thread(self._proc.join, 10)
        if self._proc.is_alive():
            self._proc.kill()
        kept = [x for x in self.samples if until is None or x[0] + x[1] <= until]
        times = [s for _, s, _ in kept]
        return {
            **percentiles_ms(times),
            "samples": len(times),
            "failed": sum(1 for _, _, failed in kept if failed),
            "over_100ms": sum(1 for s in times if s >= 0.1),
        }


# (a) searches


@dataclass
class Tally:
    completed: int = 0
    timeouts: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    total_matches: set[int] = field(default_factory=set)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def report(self) -> dict[str, Any]:
        return {
            "completed": self.completed,
            "timeouts": self.timeouts,
            "errors": self.errors,
            "latency_ms": percentiles_ms(self.seconds),
        }


async def search_loop(
    client: httpx.AsyncClient, path: str, params: dict[str, str], until: float, tally: Tally
) -> None:
    timeout = client.timeout.read or 60.0
    while time.monotonic() < until:
        t0 = time.monotonic()
        try:
            response = await asyncio.wait_for(client.get(path, params=params), timeout)
        except (TimeoutError, httpx.TimeoutException):
            tally.timeouts += 1
            continue
        except httpx.HTTPError as exc:
            tally.error(type(exc).__name__)
            await asyncio.sleep(0.1)  # a refused connection fails at once: do not spin
            continue
        if response.status_code != 200:
            tally.error(f"status {response.status_code}")
            continue
        tally.completed += 1
        tally.seconds.append(time.monotonic() - t0)
        tally.total_matches.add(response.json().get("total_matches", -1))


async def searches(server: Server, prepared: Prepared, seconds: float) -> dict[str, Any]:
    path = prepared.evil_path + "/search"
    until = time.monotonic() + seconds
    tallies = {label: Tally() for label, _ in SEARCHES}
    limits = httpx.Limits(max_connections=8)
    async with httpx.AsyncClient(
        base_url=server.url,
        cookies={"session": server.cookie},
        timeout=server.args.timeout,
        limits=limits,
    ) as client:
        await asyncio.gather(
            *(
                search_loop(client, path, params, until, tallies[label])
                for _ in range(2)
                for label, params in SEARCHES
            )
        )
    expected = {
        "catastrophic": evil_matches(prepared.evil_lines),
        "every_line": prepared.evil_lines,
    }
    result: dict[str, Any] = {
        "clients": 2 * len(SEARCHES),
        "completed": sum(t.completed for t in tallies.values()),
        "timeouts": sum(t.timeouts for t in tallies.values()),
    }
    for label, tally in tallies.items():
        result[label] = tally.report() | {
            "query": dict(SEARCHES)[label]["q"],
            "total_matches_seen": sorted(tally.total_matches),
            "total_matches_expected": expected[label],
        }
    return result


# (b) downloads


@dataclass
class Download:
    status: int = 0
    body_bytes: int = 0
    seconds: float = 0.0
    completed: bool = False
    timed_out: bool = False
    error: str | None = None


def _read_head(sock: socket.socket, deadline: float) -> tuple[int, dict[str, str], bytes]:
    head = b""
    while b"\r\n\r\n" not in head:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before the headers")
        head += data
    head, _, rest = head.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
    }
    return int(lines[0].split()[1]), headers, rest


def _read_body(
    sock: socket.socket, chunked: _Chunked, first: bytes, deadline: float, result: Download
) -> None:
    buffer = bytearray(1024 * 1024)
    view = memoryview(buffer)
    tail = first[-256:]
    chunked.feed(memoryview(first))
    while not chunked.done:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        n = sock.recv_into(view)
        if not n:
            result.error = "closed before the end of the body"
            break
        chunked.feed(view[:n])
        tail = (tail + bytes(view[max(0, n - 256) : n]))[-256:]
    result.body_bytes = chunked.body
    if b'{"error"' in tail or b"--- ERROR" in tail:
        result.error = "the body ends with the error tail"
    result.completed = chunked.done and result.error is None


def download_blocking(port: int, path: str, cookie: str, timeout: float) -> Download:
    """GET `path` and read the chunked body to its end within `timeout` seconds in all."""
    result = Download()
    t0 = time.monotonic()
    deadline = t0 + timeout
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            request = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: session={cookie}\r\n"
                "Accept-Encoding: identity\r\nConnection: close\r\n\r\n"
            )
            sock.sendall(request.encode())
            result.status, headers, rest = _read_head(sock, deadline)
            if result.status != 200 or headers.get("transfer-encoding") != "chunked":
                result.error = f"status {result.status}, {headers.get('transfer-encoding')}"
            else:
                _read_body(sock, _Chunked(), rest, deadline, result)
    except TimeoutError:
        result.timed_out = True
    except OSError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.monotonic() - t0
    return result


async def downloads(server: Server, prepared: Prepared, count: int = 3) -> dict[str, Any]:
    path = prepared.plain_path + "/raw?format=jsonl"
    got = await asyncio.gather(
        *(
            asyncio.to_thread(
                download_blocking, server.port, path, server.cookie, server.args.timeout
            )
            for _ in range(count)
        )
    )
    return {
        "downloads": count,
        "completed": sum(d.completed for d in got),
        "timeouts": sum(d.timed_out for d in got),
        "errors": [d.error for d in got if d.error],
        "body_mb": [round(d.body_bytes / MB, 1) for d in got],
        "seconds": [round(d.seconds, 2) for d in got],
        "mb_per_s_each": [round(d.body_bytes / MB / d.seconds, 1) if d.seconds else 0 for d in got],
    }


# (c) SSE subscribers (their own process)

ID_LINE = re.compile(rb"\nid: (\d+)\n")
END_DATA = re.compile(rb'\ndata: \{"status":"stream_ended"[^\n]*"total_lines":(\d+)')


class Window:
    def __init__(self) -> None:
        self.end = float("inf")


class Subscriber(asyncio.Protocol):
    """One `GET …/events` on a raw connection: de-chunks each read and checks the `id:` lines."""

    def __init__(self, request: bytes, window: Window) -> None:
        self.request = request
        self.window = window
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.status = 0
        self.chunked = False
        self.left = 0  # data bytes left in the current chunk
        self.skip = 0  # the CRLF after a chunk's data
        self.size_line = b""
        self.body_done = False
        self.carry = b"\n"  # an incomplete SSE line, after the newline that ended the last one
        self.last = 0
        self.lines = 0
        self.in_window = 0
        self.gaps = 0
        self.duplicates = 0
        self.bytes = 0
        self.connected = False
        self.ended = False
        self.total_lines: int | None = None
        self.error: str | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ended and self.error is None:
            self.error = f"closed: {exc}" if exc else "closed by the server"
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.bytes += len(data)
        if not self.status:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data, self.head = self.head[:end].lower(), self.head[end + 4 :], b""
            self.status = int(head[9:12])
            self.chunked = b"transfer-encoding: chunked" in head
            if self.status != 200:
                self.error = f"status {self.status}"
                assert self.transport is not None
                self.transport.close()
                return
        self.frames(self.dechunk(data) if self.chunked else data)

    def dechunk(self, data: bytes) -> bytes:
        if self.body_done:
            return b""
        if self.size_line:
            data, self.size_line = self.size_line + data, b""
        out = []
        at, n = 0, len(data)
        while at < n:
            if self.skip:
                take = min(self.skip, n - at)
                self.skip -= take
                at += take
            elif self.left:
                take = min(self.left, n - at)
                out.append(data[at : at + take])
                self.left -= take
                at += take
                if not self.left:
                    self.skip = 2
            else:
                end = data.find(b"\r\n", at)
                if end < 0:
                    self.size_line = data[at:]
                    break
                self.left = int(data[at:end].split(b";")[0], 16)
                at = end + 2
                if not self.left:  # the last chunk: what follows is its trailer
                    self.body_done = True
                    break
        return b"".join(out)

    def frames(self, payload: bytes) -> None:
        text = self.carry + payload
        cut = text.rfind(b"\n")
        body, self.carry = text[: cut + 1], text[cut:]
        if not self.connected and b"event: connected" in body:
            self.connected = True
        ids = list(map(int, ID_LINE.findall(body)))
        if ids:
            self.check(ids)
        end = END_DATA.search(body)
        if end is not None:
            self.ended = True
            self.total_lines = int(end.group(1))
        elif b"\nevent: error\n" in body:
            self.error = "event: error"

    def check(self, ids: list[int]) -> None:
        first = self.last + 1
        count = len(ids)
        if (
            ids[0] != first
            or ids[-1] != first + count - 1
            or ids != list(range(first, first + count))
        ):
            for value in ids:
                if value <= self.last:
                    self.duplicates += 1
                    count -= 1
                    continue
                self.gaps += value - self.last - 1
                self.last = value
        else:
            self.last = ids[-1]
        self.lines += count
        if time.monotonic() <= self.window.end:
            self.in_window += count

    def stats(self) -> dict[str, Any]:
        missing_at_end = 0
        if self.ended and self.total_lines is not None:
            missing_at_end = max(0, self.total_lines - self.last)
        return {
            "connected": self.connected,
            "ended": self.ended,
            "lines": self.lines,
            "in_window": self.in_window,
            "gaps": self.gaps,
            "duplicates": self.duplicates,
            "missing_at_end": missing_at_end,
            "bytes": self.bytes,
            "error": self.error,
        }


async def _fleet(port: int, path: str, cookie: str, count: int, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    window = Window()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: session={cookie}\r\n"
        "Accept: text/event-stream\r\nAccept-Encoding: identity\r\n\r\n"
    ).encode()
    subs = [Subscriber(request, window) for _ in range(count)]
    sem = asyncio.Semaphore(64)

    async def connect(sub: Subscriber) -> None:
        async with sem:
            try:
                await asyncio.wait_for(loop.create_connection(lambda: sub, "127.0.0.1", port), 30)
            except (OSError, TimeoutError) as exc:
                sub.error = f"connect: {type(exc).__name__}"

    await asyncio.gather(*(connect(s) for s in subs))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(s.connected or s.error for s in subs):
        await asyncio.sleep(0.05)
    pipe.send({"connected": sum(s.connected for s in subs)})
    plan = await asyncio.to_thread(pipe.recv)  # {"window_end", "drain_until"} (monotonic)
    window.end = plan["window_end"]
    cpu0, wall0 = time.process_time(), time.monotonic()
    while time.monotonic() < plan["drain_until"] and not all(s.ended or s.error for s in subs):
        await asyncio.sleep(0.05)
    for s in subs:
        if s.transport is not None:
            s.transport.abort()
    cpu = {"cpu_s": time.process_time() - cpu0, "wall_s": time.monotonic() - wall0}
    pipe.send(([s.stats() for s in subs], cpu))


def subscriber_fleet(port: int, path: str, cookie: str, count: int, pipe: Connection) -> None:
    uvloop.run(_fleet(port, path, cookie, count, pipe))


STREAM_WRITER = r"""
import os, sys, time
go, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
give_up = time.monotonic() + 900
while not os.path.exists(go):
    if time.monotonic() > give_up:
        sys.exit(3)
    time.sleep(0.005)
out = sys.stdout.buffer
total = int(rate * seconds)
start = time.monotonic()
n = 0
while n < total:
    due = min(total, int((time.monotonic() - start) * rate) + rate // 100)
    if due > n:
        out.write(b"".join(b"stress line %09d\n" % i for i in range(n, due)))
        out.flush()
        n = due
    time.sleep(0.01)
elapsed = time.monotonic() - start
sys.stderr.write(f"stress writer: {n} lines in {elapsed:.3f} s\n")
"""


@dataclass
class Live:
    """A COMMAND job waiting for its go file, and the subscriber process following it."""

    workflow_path: str
    job_path: str
    go: Path
    proc: Any
    pipe: Connection
    connected: int = 0
    go_at: float = 0.0


async def live_setup(server: Server, seconds: float) -> Live:
    args = server.args
    go = server.tmp / f"go-{uuid.uuid4().hex[:8]}"
    async with server.client() as client:
        cmd = [sys.executable, "-c", STREAM_WRITER, str(go), str(args.rate), str(seconds)]
        workflow_id = await workflow(client, cmd)
        wpath = f"/workflows/{workflow_id}"
        while (await client.get(wpath)).json()["build_status"] != "COMPLETED":
            await asyncio.sleep(0.05)
        response = await client.post(
            wpath + "/jobs/schedule", headers={"Idempotency-Key": uuid.uuid4().hex}
        )
        assert response.status_code == 201, response.text
        job_path = f"{wpath}/jobs/{response.json()['id']}"
        deadline = time.monotonic() + 60
        while (await client.get(job_path)).json()["status"] != "RUNNING":
            assert time.monotonic() < deadline, "the job did not start"
            await asyncio.sleep(0.05)
    ctx = multiprocessing.get_context("spawn")
    pipe, child = ctx.Pipe()
    proc = ctx.Process(
        target=subscriber_fleet,
        args=(server.port, job_path + "/events", server.cookie, args.subscribers, child),
        daemon=True,
    )
    proc.start()
    child.close()
    live = Live(wpath, job_path, go, proc, pipe)
    if await asyncio.to_thread(pipe.poll, 120):
        live.connected = pipe.recv()["connected"]
    return live


async def live_load(
    live: Live, server: Server, seconds: float
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    live.go.touch()
    live.go_at = time.monotonic()
    window_end = live.go_at + seconds
    live.pipe.send({"window_end": window_end, "drain_until": window_end + server.args.timeout})
    stats: tuple[list[dict[str, Any]], dict[str, float]] = ([], {})
    if await asyncio.to_thread(live.pipe.poll, seconds + server.args.timeout + 60):
        stats = live.pipe.recv()
    live.proc.join(10)
    if live.proc.is_alive():
        live.proc.kill()
    return stats


async def live_job(server: Server, live: Live) -> dict[str, Any]:
    """The job's end (canceled if still running) and what its writer said it wrote."""
    out: dict[str, Any] = {}
    try:
        async with server.client(timeout=10) as client:
            job = (await client.get(live.job_path)).json()
            if job["status"] not in ("COMPLETED", "FAILED", "CANCELED"):
                await client.post(live.job_path + "/cancel")
            out = {"job_status": job["status"], "job_log_lines": job.get("log_lines")}
            page = await client.get(live.job_path + "/logs", params={"limit": 5})
            for line in page.json().get("logs", []):
                if line["message"].startswith("stress writer:"):
                    out["writer"] = line["message"].removeprefix("stress writer: ")
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def live_report(
    live: Live, stats: list[dict[str, Any]], seconds: float, subscribers: int
) -> dict[str, Any]:
    per_sub = [s["in_window"] / seconds for s in stats]
    return {
        "subscribers": subscribers,
        "connected": live.connected,
        "ended": sum(s["ended"] for s in stats),
        "errors": sorted({s["error"] for s in stats if s["error"] and not s["ended"]}),
        "cut_off_at_deadline": sum(1 for s in stats if not s["ended"] and not s["error"]),
        "window_seconds": seconds,
        "delivered_lines_per_s_per_subscriber": {
            "mean": round(statistics.fmean(per_sub)) if per_sub else None,
            "min": round(min(per_sub)) if per_sub else None,
            "p50": round(statistics.median(per_sub)) if per_sub else None,
            "max": round(max(per_sub)) if per_sub else None,
        },
        "delivered_lines_total": sum(s["lines"] for s in stats),
        "delivered_mb_total": round(sum(s["bytes"] for s in stats) / MB, 1),
        "violations": {
            "gaps": sum(s["gaps"] for s in stats),
            "duplicates": sum(s["duplicates"] for s in stats),
            "missing_at_end": sum(s["missing_at_end"] for s in stats),
            "subscribers_with_any": sum(
                1 for s in stats if s["gaps"] or s["duplicates"] or s["missing_at_end"]
            ),
        },
    }


async def live_scenario(server: Server, live: Live, seconds: float) -> dict[str, Any]:
    stats, cpu = await live_load(live, server, seconds)
    report = live_report(live, stats, seconds, server.args.subscribers)
    if cpu:  # near 1.0: the subscriber process, not the server, set the pace
        report["client_cpu_share"] = round(cpu["cpu_s"] / cpu["wall_s"], 2)
    report["target_lines_per_s"] = server.args.rate
    report |= await live_job(server, live)
    return report


# scenarios


async def run_scenario(name: str, server: Server, prepared: Prepared) -> dict[str, Any]:
    args = server.args
    idle = await HealthzSampler.start(server.port, args.healthz_timeout)
    await asyncio.sleep(1)
    result: dict[str, Any] = {"healthz_idle_ms": await idle.finish()}
    live = await live_setup(server, args.seconds) if name in ("c", "combined") else None
    loads: dict[str, Any] = {}
    if name in ("a", "combined"):
        loads["searches"] = searches(server, prepared, args.seconds)
    if name in ("b", "combined"):
        loads["downloads"] = downloads(server, prepared)
    if live is not None:
        loads["subscribers"] = live_scenario(server, live, args.seconds)
    sampler = await HealthzSampler.start(server.port, args.healthz_timeout)
    t0 = time.monotonic()
    with RssWatch(server.pid) as rss, AnonWatch(server.pid) as anon:
        guard = asyncio.create_task(rss_guard(server, args.max_rss_mb))
        done = await asyncio.gather(*loads.values())
        killed = guard.result() if guard.done() else None
        guard.cancel()
    result["seconds"] = round(time.monotonic() - t0, 1)
    if killed:
        result["server_killed_at_rss_mb"] = killed[0]
    result["healthz_ms"] = await sampler.finish(until=killed[1] if killed else None)
    result["rss_mb"] = {
        "before": round(rss.before_kb * 1024 / MB, 1),
        "peak": round(rss.peak_kb * 1024 / MB, 1),
        "growth": rss.growth_mb,
        # what the server allocated, without the pages of the SQLite file it maps (RssFile)
        "anon_growth": anon.growth_mb,
    }
    result |= dict(zip(loads, done, strict=True))
    result["meets_targets"] = verdict(name, result)
    return result


async def rss_guard(server: Server, cap_mb: float) -> tuple[float, float]:
    """SIGKILL the server once its RSS passes `cap_mb` (the machine is shared: a server that
    grows without bound must not take it down); the RSS it was killed at (MB), and when
    (`perf_counter`)."""
    while True:
        rss_mb = _status_kb(server.pid, "VmRSS") * 1024 / MB
        if rss_mb > cap_mb:
            server.process.popen.send_signal(signal.SIGKILL)
            log(f"server killed at {rss_mb:.0f} MB RSS (--max-rss-mb {cap_mb:.0f})")
            return round(rss_mb, 1), time.perf_counter()
        await asyncio.sleep(0.05)


def verdict(name: str, result: dict[str, Any]) -> dict[str, bool]:
    healthz = result["healthz_ms"]
    checks = {"healthz_p99_ms<100": healthz["p99"] is not None and healthz["p99"] < 100}
    if name == "b":
        checks["rss_growth_mb<64"] = result["rss_mb"]["growth"] < 64
        checks["anon_rss_growth_mb<64"] = result["rss_mb"]["anon_growth"] < 64
    return checks


# engines and main


async def prepare(db: Database, url: str, lines: int) -> Prepared:
    user = await register(url)
    try:
        t0 = time.perf_counter()
        wid, jid, evil = await finished_job(db, user.client, user.user_id, evil_blocks(lines))
        evil_path = f"/workflows/{wid}/jobs/{jid}/logs"
        wid, jid, plain = await finished_job(db, user.client, user.user_id, blocks_of(lines))
        log(f"prepared two logs of {lines} lines in {time.perf_counter() - t0:.1f} s")
        return Prepared(
            user.client.cookies["session"],
            user.csrf,
            evil_path,
            evil,
            f"/workflows/{wid}/jobs/{jid}/logs",
            plain,
        )
    finally:
        await user.client.aclose()


SCENARIOS = {
    "a": ["a"],
    "b": ["b"],
    "c": ["c"],
    "combined": ["combined"],
    "all": ["a", "b", "c", "combined"],
}


async def run_engine(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    db = Database.connect(database_url)
    try:
        await migrate(db)
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir)
            with serving(args, tmp, database_url, "prepare") as (_, _, url):
                prepared = await prepare(db, url, args.lines)
            results: dict[str, Any] = {}
            for name in SCENARIOS[args.scenario]:
                with serving(args, tmp, database_url, name) as (process, port, url):
                    server = Server(process, port, url, prepared.cookie, prepared.csrf, args, tmp)
                    log(f"scenario {name}")
                    results[name] = await run_scenario(name, server, prepared)
                    log(f"scenario {name}: {json.dumps(results[name])}")
            return results
    finally:
        await db.close()


@contextlib.asynccontextmanager
async def database(engine: str, tmp: Path) -> AsyncIterator[str]:
    if engine == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp / 'hourglass.db'}"
        return
    admin = admin_postgres_url()
    if not admin:
        raise SystemExit("--engine postgres needs HOURGLASS_TEST_POSTGRES_URL")
    async with postgres_database(admin) as url:
        yield url


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        async with database(args.engine, Path(tmp)) as url:
            scenarios = await run_engine(url, args)
    return {
        "benchmark": "stress",
        "engine": args.engine,
        "lines": args.lines,
        "seconds": args.seconds,
        "subscribers": args.subscribers,
        "rate_lines_per_s": args.rate,
        "timeout_s": args.timeout,
        "targets": TARGETS,
        "scenarios": scenarios,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--scenario", choices=list(SCENARIOS), default="all")
    parser.add_argument("--seconds", type=float, default=10.0, help="load window of a and c")
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--rate", type=int, default=50_000, help="lines/s the c job writes")
    parser.add_argument("--timeout", type=float, default=120.0, help="bound of each request")
    parser.add_argument("--healthz-timeout", type=float, default=2.0)
    parser.add_argument(
        "--max-rss-mb", type=float, default=4096, help="kill the server past this RSS"
    )
    return parser.parse_args()


if __name__ == "__main__":
    print(json.dumps(uvloop.run(main(parse_args())), indent=2))
