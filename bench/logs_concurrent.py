"""Concurrent downloads of one big log through a real server, with `/healthz` probed meanwhile;
prints JSON.

For each engine (SQLite; PostgreSQL when `HOURGLASS_BENCH_POSTGRES_URL` or
`HOURGLASS_TEST_POSTGRES_URL` is set) one finished job with `--lines` lines is stored as
`bench/logs_read.py` stores it, a real `hourglass api` process serves it, and for each format of
`--formats` `--clients` raw-socket clients download `GET …/logs/raw?format=F` at once while one
more client sends `GET /healthz` over a keep-alive connection every 20 ms. Reported per format:
the server's peak anonymous RSS growth over the downloads (`memory_growth_mb`: `RssAnon`
polled, minus before; also the whole RSS's, VmHWM after a `clear_refs` reset, which counts the
pages of the mapped SQLite file too), `/healthz` p50/p95/max during them, and the downloads'
body bytes and seconds.

Usage: .venv/bin/python bench/logs_concurrent.py [--lines N] [--clients N] [--formats jsonl,json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.e2e.processes import base_env, free_port, started
from tests.support import register

from benchkit import engine_urls
from healthz import REQUEST, read_response
from hourglass.store.db import Database
from hourglass.store.migrate import migrate
from logs_read import MB, RssWatch, finished_job, raw_get

TARGETS = {"memory_growth_mb": 64, "healthz_p95_ms": 100}


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class AnonWatch:
    """Peak anonymous RSS of a process over a block (`RssAnon`, polled every 5 ms): the memory
    the server allocates, without the pages of the SQLite file it maps (`RssFile`), which a
    fresh server's first read of a big log brings in and `VmHWM` would count."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before_kb = self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.005):
            self.peak_kb = max(self.peak_kb, _status_kb(self.pid, "RssAnon"))

    def __enter__(self) -> AnonWatch:
        self.before_kb = self.peak_kb = _status_kb(self.pid, "RssAnon")
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return round((self.peak_kb - self.before_kb) * 1024 / MB, 1)


class HealthProbe:
    """`GET /healthz` every `interval` seconds over one keep-alive connection, in a thread."""

    def __init__(self, port: int, interval: float = 0.02) -> None:
        self.port, self.interval = port, interval
        self.latencies_ms: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        buffer = bytearray()
        with socket.create_connection(("127.0.0.1", self.port)) as sock:
            while not self._stop.is_set():
                started_at = time.perf_counter()
                sock.sendall(REQUEST)
                read_response(sock, buffer)
                self.latencies_ms.append((time.perf_counter() - started_at) * 1000)
                self._stop.wait(self.interval)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.latencies_ms)
        return {
            "requests": len(ordered),
            "p50_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
            "max_ms": round(ordered[-1], 2),
        }


async def concurrent(port: int, pid: int, path: str, cookie: str, clients: int) -> dict[str, Any]:
    await raw_get(port, path, cookie)  # warm-up
    with RssWatch(pid) as watch, AnonWatch(pid) as anon, HealthProbe(port) as probe:
        started_at = time.perf_counter()
        got = await asyncio.gather(*(raw_get(port, path, cookie) for _ in range(clients)))
        seconds = time.perf_counter() - started_at
    assert all(g.status == 200 for g in got), [g.status for g in got]
    return {
        "clients": clients,
        "body_mb_each": round(got[0].body_bytes / MB, 1),
        "seconds": round(seconds, 2),
        "memory_growth_mb": anon.growth_mb,
        "rss_growth_mb_with_mapped_file": watch.growth_mb,
        "healthz": probe.summary(),
    }


async def run_engine(label: str, database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """One log stored, then per format a fresh server process (so that what one format's
    downloads left allocated does not hide the next one's growth)."""
    db = Database.connect(database_url)
    await migrate(db)
    result: dict[str, Any] = {"engine": label}
    with tempfile.TemporaryDirectory() as tmp:
        env = base_env(
            HOURGLASS_DATA_DIR=str(Path(tmp) / "data"),
            HOURGLASS_DATABASE_URL=database_url,
            HOURGLASS_ACCESS_LOG="false",
            HOURGLASS_LOG_LEVEL="warning",
        )
        cookie = raw = ""
        for fmt in args.formats.split(","):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            env["HOURGLASS_PORT"] = str(port)
            with started(["api"], env, Path(tmp) / f"api-{fmt}.log", url) as server:
                if not raw:
                    user = await register(url)
                    wid, jid, lines, size = await finished_job(db, user, args.lines)
                    cookie = user.client.cookies["session"]
                    await user.client.aclose()
                    raw = f"/workflows/{wid}/jobs/{jid}/logs/raw"
                    result |= {"lines": lines, "log_mb": round(size / MB, 1)}
                path = f"{raw}?format={fmt}"
                result[fmt] = await concurrent(port, server.pid, path, cookie, args.clients)
    await db.close()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--formats", default="jsonl,json,txt")
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    results = [
        await run_engine(engine, url, args)
        async for engine, url in engine_urls(args.engines.split(","))
    ]
    print(json.dumps({"benchmark": "logs_concurrent", "targets": TARGETS, "results": results}))


if __name__ == "__main__":
    asyncio.run(main())
