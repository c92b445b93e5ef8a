"""The per-job cap over a real store and real HTTP: every line is stored live, past the half too;
a finished log is head + one omission line + tail within the cap, read right by every route;
retries keep one omission line; a writer that died mid-tail leaves a log that still reads right
and that the next attempt seals."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from hourglass.domain.jobs import LogState
from hourglass.domain.logs.lines import LogLine, Stream
from hourglass.services.container import Services
from hourglass.services.engine import Claim
from hourglass.services.logs.writer import JobLog
from hourglass.store.schema import jobs
from tests.integration.log_helpers import (
    ManualTimer,
    chunk_rows,
    claim,
    finish,
    manual_outputs,
    open_log,
    running_job,
    stored_lines,
)
from tests.integration.logstream_helpers import collect, events_url, raw_url
from tests.integration.workflow_helpers import job_row
from tests.support import UserClient

CAP = 2000  # head: 1000 bytes (50 lines of 20 bytes); tail: 1000 bytes in chunks of <= 250
IDENTITY = {"Accept-Encoding": "identity"}
OMISSION = re.compile(r"… (\d+) lines? \((\d+) bytes\) omitted …")


def message(i: int, tag: str = "line") -> str:
    return f"{tag} {i:05d} xxxxxxxx"  # 19 characters: 20 bytes stored


async def write_lines(out: JobLog, first: int, last: int, *, tag: str = "line") -> None:
    """Lines `first..last`, ten to a write, each write flushed (so each is a transaction)."""
    for start in range(first, last + 1, 10):
        block = "".join(message(i, tag) + "\n" for i in range(start, min(start + 10, last + 1)))
        await out.write("stdout", block.encode())
        await out.flush()


async def capped_job(user: UserClient, services: Services, cap: int = CAP) -> tuple[Claim, JobLog]:
    got = await running_job(user, services)
    return got, await open_log(manual_outputs(services, ManualTimer(), log_job_cap_bytes=cap), got)


def text_of(lines: list[LogLine]) -> bytes:
    return "".join(f"{line.message}\n" for line in lines).encode()


def omissions(lines: list[LogLine]) -> list[LogLine]:
    return [ln for ln in lines if ln.stream is Stream.SYSTEM and OMISSION.fullmatch(ln.message)]


async def walk(user: UserClient, path: str, **params: Any) -> list[int]:
    """Every sequence number the pages return, following cursors to the end."""
    seen: list[int] = []
    cursor = None
    while True:
        response = await user.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        seen += [line["sequence_num"] for line in response.json()["logs"]]
        cursor = response.json()["cursor"]
        if cursor is None:
            return seen


async def test_lines_past_the_half_are_readable_while_the_job_runs(
    alice: UserClient, services: Services
) -> None:
    """Past the cap, each flushed line is in the store, pages and the live stream at once, and
    the job reads `truncated` while it runs; nothing waits in the writer's memory."""
    got, out = await capped_job(alice, services)
    job_path = f"/workflows/{got.job.workflow_id}/jobs/{got.job.id}"
    async with alice.client.stream("GET", events_url(got.job.workflow_id, got.job.id)) as events:
        await collect(events, lambda f: f.event == "connected")
        await write_lines(out, 1, 300)  # 6000 bytes: three times the cap
        live = await collect(events, lambda f: f.id == "300")
    assert out.queued_bytes == 0
    newest = (await alice.get(f"{job_path}/logs", params={"limit": 3})).json()
    assert [line["message"] for line in newest["logs"]] == [message(i) for i in (300, 299, 298)]
    assert newest["log_state"] == "truncated"
    assert (await alice.get(job_path)).json()["status"] == "RUNNING"
    assert [f.json()["message"] for f in live if f.event == "log"][-1] == message(300)
    stored = await stored_lines(services, got.job.id)
    assert [ln.message for ln in stored[:50]] == [message(i) for i in range(1, 51)]
    assert len(omissions(stored)) == 1
    assert stored[50] == omissions(stored)[0]
    assert len(text_of(stored[51:])) <= CAP - CAP // 2
    await out.close()


async def finished_capped(alice: UserClient, services: Services) -> tuple[Claim, list[str]]:
    """A COMPLETED job that wrote 400 lines and a final system line past a 2000-byte cap;
    returns it and every message it wrote, in order."""
    got, out = await capped_job(alice, services)
    await write_lines(out, 1, 400)
    assert await out.close("exited with code 0") == LogState.TRUNCATED
    await finish(services, got, LogState.TRUNCATED)
    return got, [message(i) for i in range(1, 401)] + ["exited with code 0"]


async def test_a_finished_capped_log_is_head_omission_and_tail(
    alice: UserClient, services: Services
) -> None:
    """Head 1..50, one omission line at 51 counting exactly the lines and bytes gone, the tail
    up to the last line; within the cap; totals and log_state say what is stored."""
    got, written = await finished_capped(alice, services)
    stored = await stored_lines(services, got.job.id)
    head, omission, tail = stored[:50], stored[50], stored[51:]
    assert [(ln.sequence_num, ln.message) for ln in head] == [(i, message(i)) for i in range(1, 51)]
    assert omissions(stored) == [omission]
    assert omission.sequence_num == 51
    first_kept = tail[0].sequence_num
    assert [ln.sequence_num for ln in tail] == list(range(first_kept, len(written) + 1))
    assert [ln.message for ln in tail] == written[first_kept - 1 :]
    gone = written[50 : first_kept - 1]
    match = OMISSION.fullmatch(omission.message)
    assert match is not None
    assert (int(match[1]), int(match[2])) == (len(gone), sum(len(m) + 1 for m in gone))
    assert (omission.timestamp, omission.attempt) == (tail[0].timestamp, 1)
    assert CAP // 2 - 250 <= len(text_of(tail)) <= CAP // 2
    row = await job_row(services.db, got.job.id)
    assert (row.log_lines, row.log_bytes) == (len(stored), len(text_of(stored)))
    assert (row.status, row.log_state) == ("COMPLETED", "truncated")


async def test_every_route_reads_a_capped_log_right(alice: UserClient, services: Services) -> None:
    """Download (length, ranges across the omission line), pages both ways and filtered, pages
    starting inside the gap, search counts and the SSE replay all agree with the store."""
    got, _ = await finished_capped(alice, services)
    stored = await stored_lines(services, got.job.id)
    seqs = [ln.sequence_num for ln in stored]
    text = text_of(stored)
    wid, jid = got.job.workflow_id, got.job.id
    raw = await alice.get(raw_url(wid, jid), headers=IDENTITY)
    assert (raw.content, raw.headers["content-length"]) == (text, str(len(text)))
    across = len(text_of(stored[:50])) - 5  # from inside line 50, over the omission line
    for first, last in ((across, across + 80), (len(text) - 30, len(text) - 1)):
        ranged = await alice.get(raw_url(wid, jid), headers={"Range": f"bytes={first}-{last}"})
        assert (ranged.status_code, ranged.content) == (206, text[first : last + 1])
    path = f"/workflows/{wid}/jobs/{jid}/logs"
    assert await walk(alice, path, limit=7, order="asc") == seqs
    assert await walk(alice, path, limit=7) == seqs[::-1]
    assert await walk(alice, path, limit=7, order="asc", stream="stdout") == seqs[:50] + seqs[51:-1]
    gap = seqs[51] - 1  # a sequence number of an omitted line
    after = (await alice.get(path, params={"after": gap - 1, "order": "asc", "limit": 3})).json()
    assert [line["sequence_num"] for line in after["logs"]] == seqs[51:54]
    before = (await alice.get(path, params={"before": gap, "limit": 3})).json()
    assert [line["sequence_num"] for line in before["logs"]] == [51, 50, 49]
    assert before["total_lines"] == len(stored)
    found = (await alice.get(f"{path}/search", params={"q": "xxxxxxx"})).json()
    assert found["total_matches"] == len(stored) - 2
    unfiltered = (await alice.get(f"{path}/search", params={"limit": 1})).json()
    assert unfiltered["total_matches"] == len(stored)
    async with alice.client.stream("GET", events_url(wid, jid)) as response:
        frames = await collect(response)
    assert [int(f.id) for f in frames if f.event == "log" and f.id] == seqs
    assert frames[-1].json()["total_lines"] == len(stored)


async def test_retries_keep_one_omission_line_and_the_cap(
    alice: UserClient, services: Services
) -> None:
    """Three attempts past a 100-byte cap: one omission line counting every line gone, the head
    of attempt 1, the tail of attempt 3, within the cap; an attempt that adds little still
    reports the earlier truncation."""
    got, out = await capped_job(alice, services, cap=100)
    await write_lines(out, 1, 40, tag="a")  # 40 lines of 20 bytes: 8 times the cap
    assert await out.close() == LogState.TRUNCATED
    await finish(services, got, LogState.TRUNCATED, ok=False)
    outputs = manual_outputs(services, ManualTimer(), log_job_cap_bytes=100)
    second = await claim(services, got.job.id)
    out = await open_log(outputs, second)
    await out.write("stdout", (message(1, "b") + "\n").encode())
    assert await out.close() == LogState.TRUNCATED
    await finish(services, second, LogState.TRUNCATED, ok=False)
    third = await claim(services, got.job.id)
    out = await open_log(outputs, third)
    await write_lines(out, 1, 40, tag="c")
    assert await out.close() == LogState.TRUNCATED
    await finish(services, third, LogState.TRUNCATED)
    stored = await stored_lines(services, got.job.id)
    (omission,) = omissions(stored)
    assert [ln.message for ln in stored[: stored.index(omission)]] == [
        message(1, "a"),
        message(2, "a"),
    ]
    assert stored[-1].message == message(40, "c")
    assert [ln.attempt for ln in stored[-3:]] == [3, 3, 3]
    assert len(text_of(stored)) - len(text_of([omission])) <= 100
    written = 40 + 1 + 40
    kept = len(stored) - 1
    match = OMISSION.fullmatch(omission.message)
    assert match is not None
    size = len(message(1, "a")) + 1  # every line of this test has that size
    assert (int(match[1]), int(match[2])) == (written - kept, size * (written - kept))
    row = await job_row(services.db, got.job.id)
    assert (row.log_state, row.log_lines, row.log_bytes) == (
        "truncated",
        len(stored),
        len(text_of(stored)),
    )


async def abandon_mid_tail(alice: UserClient, services: Services) -> tuple[Claim, list[str]]:
    """A job whose writer stored 300 lines past the cap and then vanished without closing (as a
    killed worker does), its lease then expired; returns it and the messages written."""
    got, out = await capped_job(alice, services)
    await write_lines(out, 1, 300)
    async with services.db.write() as tx:
        await tx.execute(
            update(jobs)
            .where(jobs.c.id == got.job.id)
            .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    return got, [message(i) for i in range(1, 301)]


async def test_an_unsealed_tail_of_a_failed_job_downloads_exactly(
    alice: UserClient, services: Services
) -> None:
    """A job failed by lease recovery on its last attempt, its trimmed tail never sealed: the
    download and its ranges are still the stored lines, byte for byte."""
    got, _ = await abandon_mid_tail(alice, services)
    async with services.db.write() as tx:
        await tx.execute(update(jobs).where(jobs.c.id == got.job.id).values(attempts=3))
    assert await services.engine.recover_expired() == 1
    row = await job_row(services.db, got.job.id)
    assert (row.status, row.log_state) == ("FAILED", "truncated")
    text = text_of(await stored_lines(services, got.job.id))
    url = raw_url(got.job.workflow_id, got.job.id)
    raw = await alice.get(url, headers=IDENTITY)
    assert (raw.content, raw.headers["content-length"]) == (text, str(len(text)))
    for first, last in ((990, 1100), (len(text) - 45, len(text) - 1)):
        ranged = await alice.get(url, headers={"Range": f"bytes={first}-{last}"})
        assert (ranged.status_code, ranged.content) == (206, text[first : last + 1])


async def test_the_next_attempt_goes_on_from_an_unsealed_tail_and_seals_it(
    alice: UserClient, services: Services
) -> None:
    """After a writer died mid-tail, the retry reads the cap from the store: lines go on after
    the last stored one, one omission line stays, and its seal makes the offsets contiguous."""
    got, written = await abandon_mid_tail(alice, services)
    before = await stored_lines(services, got.job.id)
    assert before[-1].message == written[-1]  # everything it reported is there
    assert await services.engine.recover_expired() == 1
    retry = await claim(services, got.job.id)
    out = await open_log(manual_outputs(services, ManualTimer(), log_job_cap_bytes=CAP), retry)
    await write_lines(out, 301, 330)
    assert await out.close() == LogState.TRUNCATED
    stored = await stored_lines(services, got.job.id)
    assert len(omissions(stored)) == 1
    assert [ln.message for ln in stored[-30:]] == [message(i) for i in range(301, 331)]
    assert stored[-30].sequence_num == 301
    rows = await chunk_rows(services, got.job.id)
    assert [r[2] for r in rows] == [0] + [r[2] + r[3] for r in rows[:-1]]  # contiguous offsets
