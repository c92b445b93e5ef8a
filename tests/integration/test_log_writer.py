"""The log writer over a real store: numbering, flushing by size and by time, backpressure,
idempotent replays, fencing, secret masking, the line cap and a real job past the job cap
(`test_log_cap.py` has the cap's details)."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import update

from hourglass.domain.jobs import LogState
from hourglass.domain.logs.lines import Stream
from hourglass.services.container import Services
from hourglass.services.logs.writer import LogOutputs
from hourglass.store.db import Database
from hourglass.store.logs import reads as log_reads
from hourglass.store.logs import writes as log_writes
from hourglass.store.schema import jobs, log_chunks
from tests.integration.log_helpers import (
    ManualTimer,
    chunk_sizes,
    claim,
    command,
    finish,
    manual_outputs,
    open_log,
    run_job,
    running_job,
    stored_lines,
    wakeups,
)
from tests.integration.workflow_helpers import count_rows, job_row
from tests.support import UserClient


async def test_lines_are_numbered_once_across_stdout_stderr_and_system(
    alice: UserClient, services: Services
) -> None:
    """stdout, stderr and system lines share one gapless sequence 1..N, each tagged."""
    got = await running_job(alice, services)
    out = await services.logs.outputs.open(got.job, got.spec, got.token)
    await out.system("attempt 1 started")
    await out.write("stdout", b"one\ntw")
    await out.write("stderr", b"err\n")
    await out.write("stdout", b"o\nthree")
    state = await out.close()
    lines = await stored_lines(services, got.job.id)
    assert state == LogState.COMPLETE
    assert [(ln.sequence_num, ln.stream, ln.message) for ln in lines] == [
        (1, Stream.SYSTEM, "attempt 1 started"),
        (2, Stream.STDOUT, "one"),
        (3, Stream.STDERR, "err"),
        (4, Stream.STDOUT, "two"),
        (5, Stream.STDOUT, "three"),
    ]
    assert {ln.attempt for ln in lines} == {1}
    row = await job_row(services.db, got.job.id)
    assert (row.log_lines, row.log_bytes) == (5, len("attempt 1 started\none\nerr\ntwo\nthree\n"))


async def test_a_retried_job_continues_the_numbering_with_its_attempt_tag(
    alice: UserClient, services: Services
) -> None:
    """Attempt 2 numbers its lines after attempt 1's and tags them with attempt 2."""
    first = await running_job(alice, services)
    out = await services.logs.outputs.open(first.job, first.spec, first.token)
    await out.write("stdout", b"a\nb\n")
    await finish(services, first, await out.close(), ok=False)
    second = await claim(services, first.job.id)
    out = await services.logs.outputs.open(second.job, second.spec, second.token)
    await out.write("stdout", b"c\n")
    await out.system("exited with code 0")
    await out.close()
    lines = await stored_lines(services, first.job.id)
    assert [(ln.sequence_num, ln.attempt, ln.message) for ln in lines] == [
        (1, 1, "a"),
        (2, 1, "b"),
        (3, 2, "c"),
        (4, 2, "exited with code 0"),
    ]


async def test_a_full_chunk_is_committed_without_waiting_for_the_timer(
    alice: UserClient, services: Services
) -> None:
    """64 KiB of lines are committed as one chunk while the flush timer has not fired."""
    timer = ManualTimer()
    got = await running_job(alice, services)
    out = await open_log(manual_outputs(services, timer), got)
    block = b"".join(b"line %05d %s\n" % (i, b"x" * 88) for i in range(1000))  # 100 KB
    async with wakeups(services, got.job.id) as until:
        await out.write("stdout", block)
        await until(1)
    sizes = await chunk_sizes(services, got.job.id)
    assert len(sizes) == 1
    first, last, size = sizes[0]
    assert first == 1
    assert 64 * 1024 - 100 <= size <= 64 * 1024
    assert size == 100 * (last - first + 1)
    await out.close()


async def test_a_quiet_line_is_committed_when_the_timer_fires(
    alice: UserClient, services: Services
) -> None:
    """A lone line waits in memory until the flush timer fires, then is committed and announced."""
    timer = ManualTimer()
    got = await running_job(alice, services)
    out = await open_log(manual_outputs(services, timer), got)
    async with wakeups(services, got.job.id) as until:
        await out.write("stdout", b"hello\n")
        assert await count_rows(services.db, log_chunks, job_id=got.job.id) == 0
        timer.release()
        await until(1)
    assert [ln.message for ln in await stored_lines(services, got.job.id)] == ["hello"]
    await out.close()


async def test_a_replayed_flush_stores_no_line_twice(
    alice: UserClient, services: Services, db: Database
) -> None:
    """Inserting the same chunks again (an at-least-once retry) changes nothing."""
    got = await running_job(alice, services)
    out = await services.logs.outputs.open(got.job, got.spec, got.token)
    await out.write("stdout", b"a\nb\n")
    await out.flush()
    await out.write("stdout", b"c\n")
    await out.close()
    async with db.read() as tx:
        chunks = await log_reads.chunks_after(tx, got.job.id, 0, 100)
    async with db.write() as tx:
        assert await log_writes.insert_chunks(db, tx, got.job.id, chunks, got.token)
        assert await log_writes.insert_chunks(db, tx, got.job.id, chunks[:1], got.token)
    assert [ln.message for ln in await stored_lines(services, got.job.id)] == ["a", "b", "c"]
    row = await job_row(db, got.job.id)
    assert (row.log_lines, row.log_bytes) == (3, 6)


async def test_a_writer_with_a_stale_lease_token_stores_nothing(
    alice: UserClient, services: Services
) -> None:
    """Output written under a lease that is not the job's current one is dropped, not stored."""
    got = await running_job(alice, services)
    out = await open_log(services.logs.outputs, got, token="0" * 32)
    await out.write("stdout", b"ghost line\n")
    await out.close()
    assert out.fenced
    assert await count_rows(services.db, log_chunks, job_id=got.job.id) == 0
    assert (await job_row(services.db, got.job.id)).log_lines == 0


async def test_a_secret_split_across_two_blocks_is_masked(
    alice: UserClient, services: Services
) -> None:
    """A secret value cut in two by a pipe read is still stored as `***`."""
    got = await running_job(alice, services, command("pass", secrets={"TOKEN": "hunter2"}))
    out = await services.logs.outputs.open(got.job, got.spec, got.token)
    await out.write("stdout", b"token=hun")
    await out.write("stdout", b"ter2 ok\nhunter2\n")
    await out.close()
    assert [ln.message for ln in await stored_lines(services, got.job.id)] == [
        "token=*** ok",
        "***",
    ]


async def test_a_command_printing_its_secret_stores_it_masked(
    alice: UserClient, services: Services
) -> None:
    """A real COMMAND job echoing its secret env var (whole and in two writes) stores `***`."""
    script = (
        "import os, sys, time; s = os.environ['API_KEY']; print('key', s, flush=True); "
        "sys.stdout.write('half ' + s[:4]); sys.stdout.flush(); time.sleep(0.2); "
        "sys.stdout.write(s[4:] + ' done\\n')"
    )
    _, job_id = await run_job(alice, services, command(script, secrets={"API_KEY": "s3cr3t-v4lue"}))
    messages = [ln.message for ln in await stored_lines(services, job_id)]
    assert "key ***" in messages
    assert "half *** done" in messages
    assert not any("s3cr" in m or "v4lue" in m for m in messages)


async def test_an_over_long_line_is_cut_and_marked(alice: UserClient, services: Services) -> None:
    """A line past the line limit keeps its head plus a marker; the next line is intact."""
    got = await running_job(alice, services)
    outputs = manual_outputs(services, ManualTimer(), log_line_limit_bytes=1000)
    out = await open_log(outputs, got)
    await out.write("stdout", b"y" * 5000 + b"\nnext\n")
    await out.close()
    first, second = await stored_lines(services, got.job.id)
    assert first.message.startswith("y" * 1000)
    assert first.message.endswith("[line truncated: 4000 bytes omitted]")
    assert (second.sequence_num, second.message) == (2, "next")


async def test_a_command_past_the_cap_keeps_head_and_tail_with_an_omission_line(
    alice: UserClient, services: Services
) -> None:
    """A real COMMAND job past the job cap stores head 1..H, one omission line at H + 1, then a
    gapless tail ending with its exit line; the omitted lines' numbers are simply absent."""
    script = "import sys; sys.stdout.write(''.join(f'line {i:05d}\\n' for i in range(2000)))"
    _, job_id = await run_job(alice, services, command(script), log_job_cap_bytes=10_000)
    lines = await stored_lines(services, job_id)
    omission = [ln for ln in lines if ln.stream is Stream.SYSTEM and "omitted" in ln.message]
    assert len(omission) == 1
    assert re.fullmatch(r"… \d+ lines \(\d+ bytes\) omitted …", omission[0].message)
    at = lines.index(omission[0])
    head, tail = lines[:at], lines[at + 1 :]
    assert [ln.sequence_num for ln in head] == list(range(1, at + 1))
    assert omission[0].sequence_num == at + 1
    assert [ln.sequence_num for ln in tail] == list(range(tail[0].sequence_num, 2003))
    assert tail[0].sequence_num > at + 2
    out = [ln.message for ln in lines if ln.stream is Stream.STDOUT]
    assert out[0] == "line 00000"
    assert out[-1] == "line 01999"
    numbers = [int(m.split()[1]) for m in out]
    assert numbers == sorted(numbers)
    assert len(numbers) < 2000
    assert lines[-1].message == "exited with code 0"
    row = await job_row(services.db, job_id)
    assert row.log_state == "truncated"
    assert row.status == "COMPLETED"


async def test_capture_waits_while_too_much_is_uncommitted(
    alice: UserClient, services: Services, db: Database
) -> None:
    """Past `max_pending_bytes` awaiting commit, `write()` waits for the store, then resumes."""
    got = await running_job(alice, services)
    outputs = LogOutputs(
        db, services.settings, services.clock, services.bus, max_pending_bytes=64 * 1024
    )
    out = await open_log(outputs, got)
    block = b"".join(b"%099d\n" % i for i in range(2000))  # 200 KB: three full chunks
    async with db.write() as tx:  # holds the job row (and SQLite's writer) until the end
        await tx.execute(update(jobs).where(jobs.c.id == got.job.id).values(attempts=1))
        writing = asyncio.create_task(out.write("stdout", block))
        done, _ = await asyncio.wait([writing], timeout=0.5)
        assert not done
        assert out.queued_bytes > 64 * 1024
    await writing
    await out.close()
    assert len(await stored_lines(services, got.job.id)) == 2000
