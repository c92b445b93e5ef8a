"""The job-log benchmark of the "Job logs" issue, printing one JSON document.

Runs `bench/logs_ingest.py` (ingest through a real COMMAND job, page and search latency, bytes
stored per byte), `bench/logs_read.py` (download MB/s unfiltered and filtered, first byte,
server memory growth, SSE delivery with 1 and 500 subscribers) and `bench/logs_concurrent.py`
(three concurrent downloads per format: server memory growth, `/healthz` p95), each against
real server processes on SQLite and — with `HOURGLASS_BENCH_POSTGRES_URL` or
`HOURGLASS_TEST_POSTGRES_URL` set — PostgreSQL, and prints the reports side by side with the
targets.

Usage: `.venv/bin/python bench/logs.py [--lines N]` (default 1,000,000 lines of ~100 bytes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

TARGETS = {
    "ingest_lines_per_s": ">= 500000",
    "download_unfiltered_mb_per_s": ">= 300",
    "download_stream_stderr_mb_per_s": ">= 50",
    "first_byte_ms": "< 50",
    "server_memory_growth_mb": "< 64",
    "page_p50_ms_any_depth": "< 5",
    "search_with_exact_count_ms": "< 250",
    "sse_p95_ms_500_subscribers": "< 100",
    "concurrent_downloads_memory_growth_mb": "< 64",
    "concurrent_downloads_healthz_p95_ms": "< 100",
}


def run(script: str, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, str(HERE / script), *args], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    lines = str(args.lines)
    report = {
        "benchmark": "logs",
        "lines": args.lines,
        "targets": TARGETS,
        "ingest_page_search": run("logs_ingest.py", "--lines", lines),
        "download_sse": run("logs_read.py", "--lines", lines),
        "concurrent_downloads": run("logs_concurrent.py", "--lines", lines),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
