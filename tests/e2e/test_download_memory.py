"""Three concurrent `jsonl` downloads of a big log from a real `hourglass api` process: the
server's memory stays flat (the body is rendered a few hundred KiB at a time)."""

from __future__ import annotations

import asyncio
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import update

from hourglass.domain.logs.chunks import ChunkBuilder
from hourglass.domain.logs.lines import LineBatch, Stream
from hourglass.store.db import Database
from hourglass.store.logs import writes as log_writes
from hourglass.store.migrate import migrate
from hourglass.store.schema import jobs
from tests.e2e.processes import base_env, free_port, started
from tests.integration.workflow_helpers import create, insert_job
from tests.support import register

LINES = 150_000
LIMIT_MB = 64


async def store_log(db: Database, job_id: str) -> None:
    """`LINES` lines of ~110 bytes (a JSON one in ten) as 64 KiB chunks, the job finished."""
    builder = ChunkBuilder()
    pending = []
    ts = 1_767_268_800_000_000
    for block in range(0, LINES, 500):
        lines = [
            f'{{"i":{i},"level":"info"}}' if i % 10 == 0 else f"{i:07d} processed " + "x" * 90
            for i in range(block, block + 500)
        ]
        ts += 1000
        stream = Stream.STDERR if block % 5000 == 0 else Stream.STDOUT
        data = ("\n".join(lines) + "\n").encode()
        pending += builder.add(LineBatch(stream, data, len(lines), ts))
    last = builder.flush()
    async with db.write() as tx:
        await log_writes.insert_chunks(db, tx, job_id, [*pending, *([last] if last else [])], None)
        await tx.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(status="COMPLETED", completed_at=datetime.now(UTC), log_state="complete")
        )


def rss_anon_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon")


def download(port: int, path: str, cookie: str) -> int:
    """GET `path` over a raw socket, the body read and dropped; the bytes received."""
    received = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nCookie: session={cookie}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        while data := sock.recv(1 << 20):
            received += len(data)
    return received


async def test_concurrent_jsonl_downloads_keep_server_memory_flat(tmp_path: Path) -> None:
    """While three clients download the same big log as `jsonl` at once, the server's
    anonymous memory (`RssAnon`, polled) grows by less than 64 MB."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'hourglass.db'}"
    db = Database.connect(db_url)
    await migrate(db)
    port = free_port()
    env = base_env(
        HOURGLASS_PORT=str(port),
        HOURGLASS_DATA_DIR=str(tmp_path / "data"),
        HOURGLASS_DATABASE_URL=db_url,
        HOURGLASS_ACCESS_LOG="false",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with started(["api"], env, tmp_path / "api.log", url) as server:
            user = await register(url)
            workflow_id = await create(user)
            job_id = await insert_job(db, workflow_id, user.user_id, "RUNNING")
            await store_log(db, job_id)
            cookie = user.client.cookies["session"]
            await user.client.aclose()
            path = f"/workflows/{workflow_id}/jobs/{job_id}/logs/raw?format=jsonl"
            single = await asyncio.to_thread(download, port, path, cookie)  # warm-up
            assert single > 2 * LINES * 100
            before = peak = rss_anon_kb(server.pid)
            stop = threading.Event()

            def poll() -> None:
                nonlocal peak
                while not stop.wait(0.005):
                    peak = max(peak, rss_anon_kb(server.pid))

            watcher = threading.Thread(target=poll, daemon=True)
            watcher.start()
            try:
                sizes = await asyncio.gather(
                    *(asyncio.to_thread(download, port, path, cookie) for _ in range(3))
                )
            finally:
                stop.set()
                watcher.join()
            assert sizes == [single] * 3
            growth_mb = (peak - before) * 1024 / 1_000_000
            assert growth_mb < LIMIT_MB, f"server memory grew {growth_mb:.1f} MB"
    finally:
        await db.close()
