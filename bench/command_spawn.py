"""Benchmark of one COMMAND attempt's own cost (start `true`, watch it, clean up), printing JSON.

Runs `CommandKind.run` in this process, with job cgroups off (process group only) and on
(cgroup v2 where writable), so the difference is what a job cgroup costs per attempt: the exec
wrapper that enters the group, and creating, killing and removing the group.
Usage: `.venv/bin/python bench/command_spawn.py [--runs N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from hourglass.runtime.kinds import CommandKind


class _Discard:
    async def write(self, stream: str, data: bytes) -> None:
        pass


async def measure(mode: str, runs: int) -> dict[str, Any]:
    kind = CommandKind(job_cgroups=mode)
    used = mode != "off" and await kind.cgroups() is not None
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await kind.run({"cmd": ["true"]}, _Discard(), asyncio.Event())
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "job_cgroups": mode,
        "cgroups_used": used,
        "runs": runs,
        "p50_ms": round(statistics.median(times), 3),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 3),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    results = [await measure(mode, args.runs) for mode in ("off", "auto", "off", "auto")]
    print(json.dumps({"benchmark": "command_spawn", "results": results}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
