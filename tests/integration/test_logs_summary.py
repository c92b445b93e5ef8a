"""`GET …/logs/summary` over real HTTP on SQLite and PostgreSQL: the first error of a failed job
(keyword, then stderr, then the closing line), the last attempt's error-like lines, attempts
with their reasons, a capped log's gap, the bounded scan, the cache, and who may read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hourglass.domain.jobs import RunResult
from hourglass.services.container import Services
from hourglass.services.engine import Claim
from hourglass.services.logs.summary import LogSummaries
from hourglass.services.logs.writer import JobLog
from tests.integration.log_helpers import (
    ManualTimer,
    claim,
    finish,
    manual_outputs,
    open_log,
    running_job,
    written_log,
)
from tests.integration.workflow_helpers import job_row
from tests.support import UserClient

GHOST = "01JGXYZ5V8T3K9Q2M4N6P7R8S0"


def summary_url(got: Claim, job_id: str | None = None) -> str:
    return f"/workflows/{got.job.workflow_id}/jobs/{job_id or got.job.id}/logs/summary"


async def summary(user: UserClient, got: Claim) -> dict[str, Any]:
    response = await user.get(summary_url(got))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


async def write(out: JobLog, lines: list[tuple[str, str]]) -> None:
    for stream, message in lines:
        await out.write(stream, message.encode() + b"\n")
    await out.flush()


async def failed_job(
    user: UserClient, services: Services, lines: list[tuple[str, str]], code: int = 3
) -> Claim:
    """A job that wrote `lines` in one attempt (opened like a worker's) and exited with `code`."""
    got = await running_job(user, services)
    out = await services.logs.outputs.open(got.job, got.spec, got.token)
    await out.system("attempt 1 started on test:1 (manual run)")
    await write(out, lines)
    state = await out.close(f"failed: exited with code {code}")
    result = RunResult.workload_failure(f"exited with code {code}", code)
    assert await services.engine.finish(got, result, state) is not None
    return got


def seqs(items: list[dict[str, Any]]) -> list[int]:
    return [item["sequence_num"] for item in items]


async def test_a_failed_job_opens_at_its_first_keyword_line(
    alice: UserClient, services: Services
) -> None:
    """Stderr chatter before it does not win: the first line naming an error does."""
    lines = [
        ("stdout", "starting"),
        ("stderr", "INFO loading config"),
        ("stdout", "Traceback (most recent call last):"),
        ("stderr", "ValueError: bad input"),
    ]
    body = await summary(alice, await failed_job(alice, services, lines))
    assert body["job_status"] == "FAILED"
    assert body["first_error"] == {
        "sequence_num": 4,
        "stream": "stdout",
        "attempt": 1,
        "message": "Traceback (most recent call last):",
        "kind": "keyword",
    }
    assert [(e["sequence_num"], e["kind"]) for e in body["errors"]] == [
        (3, "stderr"),
        (4, "keyword"),
        (5, "keyword"),
    ]


async def test_whole_words_and_error_class_names_are_keywords(
    alice: UserClient, services: Services
) -> None:
    """`error`/`fatal`/`panicked` as words and `…Error`/`…Exception` names count; `terror`,
    `errorCount` and `mirrors` do not."""
    lines = [
        ("stdout", "terror errorCount mirrors"),
        ("stdout", "thread 'main' panicked at src/main.rs"),
        ("stdout", "java.lang.NullPointerException"),
        ("stdout", "FATAL: disk full"),
        ("stdout", "2 Errors found"),
    ]
    body = await summary(alice, await failed_job(alice, services, lines))
    assert seqs(body["errors"]) == [3, 4, 5, 6]


async def test_without_keywords_the_first_stderr_line_is_the_first_error(
    alice: UserClient, services: Services
) -> None:
    """No line names an error: the first stderr line is where the failure is."""
    lines = [("stdout", "ok"), ("stderr", "cannot open /data"), ("stderr", "giving up")]
    body = await summary(alice, await failed_job(alice, services, lines))
    assert (body["first_error"]["sequence_num"], body["first_error"]["kind"]) == (3, "stderr")


async def test_with_nothing_else_the_closing_line_is_the_first_error(
    alice: UserClient, services: Services
) -> None:
    """A quiet failure opens at the system line saying how the attempt failed."""
    body = await summary(alice, await failed_job(alice, services, [("stdout", "working")]))
    assert body["errors"] == []
    assert body["first_error"] == {
        "sequence_num": 3,
        "stream": "system",
        "attempt": 1,
        "message": "failed: exited with code 3",
        "kind": "exit",
    }


async def test_a_clean_log_has_no_first_error(alice: UserClient, services: Services) -> None:
    """A completed job without error-like lines: no first error, one attempt, no gap."""
    got = await written_log(alice, services, [("stdout", f"line {i}") for i in range(1, 101)])
    body = await summary(alice, got)
    assert (body["first_error"], body["errors"], body["omitted"]) == (None, [], None)
    assert (body["total_lines"], body["last_seq"], body["log_state"]) == (100, 100, "complete")
    assert body["attempts"] == [
        {
            "attempt": 1,
            "first_seq": 1,
            "last_seq": 100,
            "lines": 100,
            "started": None,
            "ended": None,
        }
    ]
    assert body["scanned"] == {
        "bytes": sum(len(f"line {i}\n") for i in range(1, 101)),
        "complete": True,
    }


async def test_attempts_carry_their_reasons_and_errors_come_from_the_last(
    alice: UserClient, services: Services
) -> None:
    """A retried job: each attempt's lines, opening and closing lines; the errors listed are
    the last attempt's, so the first error is where the job really failed."""
    got = await running_job(alice, services)
    out = await services.logs.outputs.open(got.job, got.spec, got.token)
    await out.system("attempt 1 started on a:1 (manual run)")
    await write(out, [("stderr", "error: worker lost its disk")])
    await finish(services, got, await out.close("system failure: worker lost"), ok=False)
    retry = await claim(services, got.job.id)
    out = await services.logs.outputs.open(retry.job, retry.spec, retry.token)
    await out.system("attempt 2 started on b:2 (retry after: system failure: worker lost)")
    await write(out, [("stdout", "fine"), ("stdout", "Exception: real failure")])
    state = await out.close("failed: exited with code 1")
    assert await services.engine.finish(retry, RunResult.workload_failure("x", 1), state)
    body = await summary(alice, got)
    assert body["attempts"] == [
        {
            "attempt": 1,
            "first_seq": 1,
            "last_seq": 3,
            "lines": 3,
            "started": "attempt 1 started on a:1 (manual run)",
            "ended": "system failure: worker lost",
        },
        {
            "attempt": 2,
            "first_seq": 4,
            "last_seq": 7,
            "lines": 4,
            "started": "attempt 2 started on b:2 (retry after: system failure: worker lost)",
            "ended": "failed: exited with code 1",
        },
    ]
    assert seqs(body["errors"]) == [6]
    assert body["first_error"]["sequence_num"] == 6


async def test_a_capped_log_names_its_gap(alice: UserClient, services: Services) -> None:
    """The omission line and the first line kept after it, so a reader can number rows."""
    got = await running_job(alice, services)
    out = await open_log(manual_outputs(services, ManualTimer(), log_job_cap_bytes=2000), got)
    for start in range(1, 401, 10):
        block = "".join(f"line {i:05d} xxxxxxxx\n" for i in range(start, start + 10))
        await out.write("stdout", block.encode())
        await out.flush()
    await finish(services, got, await out.close("exited with code 0"))
    body = await summary(alice, got)
    omitted = body["omitted"]
    assert omitted["sequence_num"] == 51
    assert omitted["message"].endswith("omitted …")
    assert omitted["next_seq"] > 52
    assert body["last_seq"] == 401
    assert body["total_lines"] == 51 + 401 - omitted["next_seq"] + 1
    assert body["log_state"] == "truncated"


async def test_the_scan_is_bounded_to_the_start_and_the_end(
    alice: UserClient, services: Services
) -> None:
    """Past the budget only the attempt's first and last parts are read: an error between
    them is not reported, the one at the end is, and the answer says the scan was partial."""
    filler = [("stdout", "x" * 999)] * 200  # 200 KB per block
    lines = [*filler, ("stdout", "error in the middle"), *filler, ("stdout", "error at the end")]
    got = await written_log(alice, services, lines, chunk_lines=10)
    summaries = LogSummaries(services.db, scan_bytes=100_000)
    found = await summaries.summary(alice.user_id, got.job.workflow_id, got.job.id)
    body = found.record()
    assert [e["message"] for e in body["errors"]] == ["error at the end"]
    assert body["scanned"]["complete"] is False
    assert 80_000 <= body["scanned"]["bytes"] <= 100_000  # whole chunks of ~10 KB


async def test_a_finished_jobs_summary_is_read_once(alice: UserClient, services: Services) -> None:
    """The second request of a finished job's summary is served without reading its log."""
    got = await written_log(alice, services, [("stderr", "error: once")])
    first = await summary(alice, got)
    scans = services.summaries.scans
    assert await summary(alice, got) == first
    assert services.summaries.scans == scans


async def test_a_running_jobs_summary_follows_its_log(
    alice: UserClient, services: Services
) -> None:
    """While the job runs, each request reads what is stored now."""
    got = await running_job(alice, services)
    out = await services.logs.outputs.open(got.job, got.spec, got.token)
    await write(out, [("stdout", "fine")])
    assert (await summary(alice, got))["errors"] == []
    await write(out, [("stderr", "panic: now")])
    assert seqs((await summary(alice, got))["errors"]) == [2]
    await out.close()


async def test_someone_elses_or_unknown_job_is_404(
    alice: UserClient, bob: UserClient, services: Services
) -> None:
    """Another user's job, an unknown job and a malformed id all answer 404."""
    got = await written_log(alice, services, [("stdout", "mine")])
    for user, job_id in ((bob, None), (alice, GHOST), (alice, "not-an-id")):
        response = await user.get(summary_url(got, job_id))
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"


async def test_without_log_retention_it_is_412(alice: UserClient, services: Services) -> None:
    """A workflow that keeps no logs answers 412, like the other retained-log routes."""
    got = await written_log(alice, services, [("stdout", "gone")], log_retention=False)
    response = await alice.get(summary_url(got))
    assert response.status_code == 412
    assert "retention" in response.json()["detail"]


async def test_expired_logs_are_412(alice: UserClient, services: Services) -> None:
    """Once a job's logs expired the summary is 412 too, even if it was cached before."""
    got = await written_log(alice, services, [("stdout", "old")], log_retention_days=1)
    await summary(alice, got)
    row = await job_row(services.db, got.job.id)
    assert await services.logs.sweep_expired(row.completed_at + timedelta(days=1)) == 1
    response = await alice.get(summary_url(got))
    assert response.status_code == 412
    assert "expired" in response.json()["detail"]
