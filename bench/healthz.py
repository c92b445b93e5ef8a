"""The floor of every request: `GET /healthz` latency over one keep-alive connection.

Starts a real `hourglass up` process (SQLite in a temporary data dir) on a free loopback port,
sends `--requests` sequential GETs from a raw socket (so the client adds almost nothing), and
prints JSON: p50/p95/p99 in ms and requests per second. Also the same over fresh connections
(one request per connection), which is what the connection cap and read timeout touch.
Usage: `.venv/bin/python bench/healthz.py [--requests N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_response(sock: socket.socket, buffer: bytearray) -> None:
    """Reads one response with a Content-Length body off `sock` (leftovers stay in buffer)."""
    while True:
        head_end = buffer.find(b"\r\n\r\n")
        if head_end >= 0:
            head = bytes(buffer[:head_end]).lower()
            length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
            total = head_end + 4 + length
            if len(buffer) >= total:
                del buffer[:total]
                return
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buffer += chunk


def wait_up(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(REQUEST)
                read_response(sock, bytearray())
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("hourglass did not start")


def keep_alive(port: int, n: int) -> list[float]:
    times = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray()
        for _ in range(n):
            t0 = time.perf_counter()
            sock.sendall(REQUEST)
            read_response(sock, buffer)
            times.append(time.perf_counter() - t0)
    return times


def fresh_connections(port: int, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(REQUEST)
            read_response(sock, bytearray())
        times.append(time.perf_counter() - t0)
    return times


def figures(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)  # noqa: E731
    return {
        "p50_ms": pick(0.50),
        "p95_ms": pick(0.95),
        "p99_ms": pick(0.99),
        "mean_ms": round(statistics.fmean(times) * 1000, 3),
        "per_second": round(len(times) / sum(times)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    port = free_port()
    exe = Path(sys.executable).with_name("hourglass")
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "HOURGLASS_DATA_DIR": tmp,
            "HOURGLASS_PORT": str(port),
            "HOURGLASS_ACCESS_LOG": "false",
            "HOURGLASS_LOG_LEVEL": "warning",
        }
        env.pop("HOURGLASS_DATABASE_URL", None)
        server = subprocess.Popen([str(exe), "up"], env=env)
        try:
            wait_up(port, time.monotonic() + 30)
            keep_alive(port, 200)  # warm-up
            result = {
                "requests": args.requests,
                "keep_alive": figures(keep_alive(port, args.requests)),
                "new_connection_each": figures(fresh_connections(port, args.requests // 5)),
            }
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
