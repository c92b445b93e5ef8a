"""Benchmark of the client CLI: the real `hourglass` executable against real server processes;
prints JSON.

- `download`: `hourglass download WID JID -o FILE -q` of a finished job with `--lines` lines
  (~100 bytes each, one in ten on stderr, stored straight through the domain's ChunkBuilder as
  `bench/logs_read.py` does) from a `hourglass api` process on SQLite: MB/s of the file over
  the command's whole wall time (start-up included) and the command's peak RSS (`wait4`).
- `logs`: `hourglass logs WID JID > /dev/null` of the same job (standard output not a terminal,
  so ANSI is stripped, by the server), and with `--color` (the download's bytes as they are).
- `follow`: `hourglass workflows run WID --follow` against `hourglass up`: a COMMAND job prints a
  line with its `time.time_ns()` every 50 ms; latency = when the line came out of the CLI's
  standard output (read by this process) minus that stamp. It covers the worker's capture, the
  log writer's batching (≤ ~50 ms), the store, the wake-up, SSE and the CLI.
- `startup`: `hourglass --help`, wall time.

Usage: .venv/bin/python bench/cli.py [--lines N] [--runs N] [--ticks N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.e2e.processes import HOURGLASS, base_env, free_port, started
from tests.support import register

from hourglass.store.db import Database
from hourglass.store.migrate import migrate
from logs_read import finished_job

TARGETS = {
    "download_mb_s": 200,
    "download_peak_rss_mb": 100,
    "logs_mb_s": 100,
    "follow_p50_ms": 100,
    "follow_p95_ms": 100,
    "startup_ms": 300,
}
MB = 1_000_000


def timed(args: list[str], env: dict[str, str], stdout: Any) -> tuple[float, float]:
    """Run `hourglass ARGS` to its end: (wall seconds, peak RSS in MB of that process).

    The peak is the process's own VmHWM, polled until it exits (`wait4`'s ru_maxrss would
    count the forked copy of this big benchmark process before the exec)."""
    began = time.perf_counter()
    process = subprocess.Popen([HOURGLASS, *args], env=env, stdout=stdout)
    peak_kb = 0
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        with contextlib.suppress(OSError, ValueError):
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
        time.sleep(0.002)
    wall = time.perf_counter() - began
    assert process.returncode == 0, f"{args} exited {process.returncode}"
    return wall, peak_kb * 1024 / MB


def best(runs: list[tuple[float, float]], size: int) -> dict[str, Any]:
    wall = min(r[0] for r in runs)
    return {
        "mb": round(size / MB, 1),
        "seconds": round(wall, 3),
        "mb_s": round(size / wall / MB, 1),
        "peak_rss_mb": round(max(r[1] for r in runs), 1),
        "runs": len(runs),
    }


async def stored_log(tmp: Path, lines: int) -> tuple[dict[str, Any], dict[str, str], Any]:
    """A `hourglass api` on SQLite serving one finished job of `lines` lines, and the CLI's env."""
    database_url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    db = Database.connect(database_url)
    await migrate(db)
    port = free_port()
    env = base_env(
        HOURGLASS_PORT=str(port),
        HOURGLASS_DATA_DIR=str(tmp / "data"),
        HOURGLASS_DATABASE_URL=database_url,
        HOURGLASS_ACCESS_LOG="false",
        HOURGLASS_LOG_LEVEL="warning",
    )
    url = f"http://127.0.0.1:{port}"
    server = started(["api"], env, tmp / "api.log", url)
    server.__enter__()
    user = await register(url)
    wid, jid, count, size = await finished_job(db, user, lines)
    token = (await user.post("/tokens", json={"name": "bench"})).json()["token"]
    await user.client.aclose()
    await db.close()
    cli_env = base_env(HOURGLASS_URL=url, HOURGLASS_TOKEN=token, XDG_CONFIG_HOME=str(tmp))
    job = {"workflow_id": wid, "job_id": jid, "lines": count, "bytes": size}
    return job, cli_env, server


def bench_reads(lines: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        job, env, server = asyncio.run(stored_log(tmp, lines))
        try:
            ids = [job["workflow_id"], job["job_id"]]
            target = tmp / "log.txt"
            download = [
                timed(["download", *ids, "-o", str(target), "-q"], env, subprocess.DEVNULL)
                for _ in range(runs)
            ]
            assert target.stat().st_size == job["bytes"]
            with open(os.devnull, "wb") as null:
                piped = [timed(["logs", *ids], env, null) for _ in range(runs)]
                coloured = [timed(["logs", *ids, "--color"], env, null) for _ in range(runs)]
        finally:
            server.__exit__(None, None, None)
    return {
        "log": {"lines": job["lines"], "mb": round(job["bytes"] / MB, 1)},
        "download": best(download, job["bytes"]),
        "logs_to_dev_null": best(piped, job["bytes"]),
        "logs_to_dev_null_color": best(coloured, job["bytes"]),
    }


TICKER = """
import time
time.sleep(1)  # let the follower connect: every tick is then a live line
for k in range({ticks}):
    print(f"tick {{k}} {{time.time_ns()}}", flush=True)
    time.sleep(0.05)
"""


def bench_follow(ticks: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = base_env(
            HOURGLASS_PORT=str(port),
            HOURGLASS_DATA_DIR=str(tmp / "data"),
            HOURGLASS_ACCESS_LOG="false",
            HOURGLASS_LOG_LEVEL="warning",
        )
        with started(["up"], env, tmp / "up.log", url):
            token = asyncio.run(_token(url))
            cli_env = base_env(HOURGLASS_URL=url, HOURGLASS_TOKEN=token, XDG_CONFIG_HOME=name)
            script = TICKER.format(ticks=ticks)
            made = subprocess.run(
                [HOURGLASS, "workflows", "create", "--name", "ticker", "--every", "1d", "--",
                 sys.executable, "-c", script],
                env=cli_env, capture_output=True, check=True,
            )  # fmt: skip
            workflow_id = made.stdout.decode().strip()
            follower = subprocess.Popen(
                [HOURGLASS, "workflows", "run", workflow_id, "--follow"],
                env=cli_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            assert follower.stdout is not None
            latencies = []
            for line in follower.stdout:
                arrived = time.time_ns()
                if line.startswith(b"tick "):
                    latencies.append((arrived - int(line.split()[2])) / 1e6)
            assert follower.wait(60) == 0
    latencies.sort()
    return {
        "lines": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 1),
        "max_ms": round(latencies[-1], 1),
    }


async def _token(url: str) -> str:
    user = await register(url)
    try:
        token: str = (await user.post("/tokens", json={"name": "bench"})).json()["token"]
    finally:
        await user.client.aclose()
    return token


def bench_startup(runs: int) -> dict[str, Any]:
    walls = sorted(timed(["--help"], base_env(), subprocess.DEVNULL)[0] * 1000 for _ in range(runs))
    return {"p50_ms": round(statistics.median(walls), 1), "max_ms": round(walls[-1], 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ticks", type=int, default=100)
    args = parser.parse_args()
    reads = bench_reads(args.lines, args.runs)
    follow = bench_follow(args.ticks)
    startup = bench_startup(10)
    report: dict[str, Any] = {"benchmark": "cli", "targets": TARGETS, **reads}
    report |= {"follow_latency": follow, "startup": startup}
    report["meets_targets"] = {
        "download_mb_s>=200": reads["download"]["mb_s"] >= TARGETS["download_mb_s"],
        "download_peak_rss_mb<100": reads["download"]["peak_rss_mb"]
        < TARGETS["download_peak_rss_mb"],
        "logs_mb_s>=100": reads["logs_to_dev_null"]["mb_s"] >= TARGETS["logs_mb_s"],
        "follow_p50_ms<100": follow["p50_ms"] < TARGETS["follow_p50_ms"],
        "follow_p95_ms<100": follow["p95_ms"] < TARGETS["follow_p95_ms"],
        "startup_ms<300": startup["p50_ms"] < TARGETS["startup_ms"],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
