"""`hourglass logs`, `search` and `download` against a real server: every byte checked against
the API's own download of the same finished job."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.cli.conftest import Account, create_command, run_in_terminal, run_to_end
from tests.e2e.cli.proxy import proxied

LINES = 2500
# stdout lines ~100 bytes, one in ten coloured, one in seven followed by a stderr warning
SCRIPT = f"""
import sys
for i in range(1, {LINES + 1}):
    text = f"line {{i}} " + "x" * 90
    print(f"\\x1b[31m{{text}}\\x1b[0m" if i % 10 == 0 else text)
    if i % 7 == 0:
        print(f"warn {{i}}", file=sys.stderr, flush=True)
"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Finished:
    """A finished job and the API's own download of its log."""

    workflow_id: str
    job_id: str
    raw: bytes  # GET …/logs/raw (ANSI kept)
    lines: list[dict[str, object]]  # the jsonl download's entries
    followed: bytes  # what `workflows run --follow` printed

    def path(self) -> str:
        return f"/workflows/{self.workflow_id}/jobs/{self.job_id}"

    def text(self, entries: list[dict[str, object]]) -> bytes:
        """What the CLI prints for these entries when piped (ANSI stripped)."""
        return "".join(ANSI.sub("", str(e["message_raw"])) + "\n" for e in entries).encode()


@pytest.fixture(scope="module")
def finished(account: Account) -> Finished:
    workflow_id = create_command(account, "logs", SCRIPT)
    job_id, run = run_to_end(account, workflow_id)
    assert run.returncode == 0, run.stderr
    with account.http() as http:
        path = f"/workflows/{workflow_id}/jobs/{job_id}/logs/raw"
        raw = http.get(path, headers={"Accept-Encoding": "identity"}).content
        jsonl = http.get(path, params={"format": "jsonl"}).text
    return Finished(
        workflow_id, job_id, raw, [json.loads(x) for x in jsonl.splitlines()], run.stdout
    )


def _logs(account: Account, finished: Finished, *args: str) -> bytes:
    done = account.run("logs", finished.workflow_id, finished.job_id, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_logs_prints_the_download_and_strips_colours_only_when_piped(
    account: Account, finished: Finished
) -> None:
    """Piped: the download's bytes without escape codes (as `ansi=strip`); --color: exactly the
    download's bytes; on a terminal the colours pass through. `run --follow` printed the same."""
    assert _logs(account, finished, "--color") == finished.raw
    stripped = finished.text(finished.lines)
    assert _logs(account, finished) == stripped
    assert finished.followed == stripped
    # the tail from the last coloured line on (where stderr's lines fall varies by run)
    last = max(i for i, e in enumerate(finished.lines) if "\x1b[" in str(e["message_raw"]))
    tail = finished.lines[last:]
    code, shown, _ = run_in_terminal(
        ["logs", finished.workflow_id, finished.job_id, "--tail", str(len(tail))], account.env()
    )
    assert code == 0
    assert shown == "".join(f"{e['message_raw']}\r\n" for e in tail)
    assert shown.startswith("\x1b[31mline ")


def test_slices_print_what_the_download_holds_for_those_lines(
    account: Account, finished: Finished
) -> None:
    """--tail (over several pages), --head, --since, --stream, --attempt and --timestamps pick
    the same lines, in the same bytes, as the download."""
    lines = finished.lines
    stderr = [e for e in lines if e["stream"] == "stderr"]
    assert _logs(account, finished, "--tail", "1200") == finished.text(lines[-1200:])
    assert _logs(account, finished, "--head", "3") == finished.text(lines[:3])
    assert _logs(account, finished, "--since", "100", "--head", "2") == finished.text(
        lines[100:102]
    )
    assert _logs(account, finished, "--stream", "stderr", "--tail", "2") == finished.text(
        stderr[-2:]
    )
    assert _logs(account, finished, "--attempt", "1", "--tail", "1") == finished.text(lines[-1:])
    assert _logs(account, finished, "--attempt", "2") == b""
    stamped = b"".join(f"{e['timestamp']} {e['message_raw']}\n".encode() for e in lines[:2])
    assert _logs(account, finished, "--timestamps", "--head", "2") == stamped


def test_failed_prints_the_summarys_error_lines(account: Account, finished: Finished) -> None:
    """--failed prints the error lines of the job's log summary and names the first error."""
    with account.http() as http:
        summary = http.get(f"/workflows/{finished.workflow_id}/jobs/{finished.job_id}/logs/summary")
    errors = summary.json()["errors"]
    assert errors
    done = account.run("logs", finished.workflow_id, finished.job_id, "--failed")
    assert done.returncode == 0
    assert done.stdout == b"".join(ANSI.sub("", e["message"]).encode() + b"\n" for e in errors)
    first = summary.json()["first_error"]["sequence_num"]
    assert f"first error at line {first}".encode() in done.stderr


def test_search_prints_numbered_matches_context_and_the_exact_total(
    account: Account, finished: Finished
) -> None:
    """Matching lines as `N:line`, context as `N-line` with `--` between groups, the server's
    total on standard error; --count prints only the number."""
    done = account.run("search", finished.workflow_id, finished.job_id, "warn 7\\b", "--regex")
    assert done.stdout == b"".join(
        f"{e['sequence_num']}:{e['message_raw']}\n".encode()
        for e in finished.lines
        if e["message_raw"] == "warn 7"
    )
    assert done.stderr == b"1 match\n"
    count = account.run("search", finished.workflow_id, finished.job_id, "WARN", "--count")
    assert count.stdout == f"{LINES // 7}\n".encode()
    context = account.run(
        "search", finished.workflow_id, finished.job_id, "^line (14|21) ", "-E", "-C", "1"
    )
    by_seq = {e["sequence_num"]: ANSI.sub("", str(e["message_raw"])) for e in finished.lines}
    hits = sorted(s for s, m in by_seq.items() if m.startswith(("line 14 ", "line 21 ")))
    expected, last = [], 0
    for hit in hits:
        for s in (hit - 1, hit, hit + 1):
            if s > last:
                expected += ["--"] if last and s > last + 1 else []
                expected.append(f"{s}{':' if s in hits else '-'}{by_seq[s]}")
                last = s
    assert "--" in expected
    assert context.stdout.decode().splitlines() == expected
    assert context.stderr == b"2 matches\n"


def test_download_writes_the_file_in_each_format(
    account: Account, finished: Finished, tmp_path: Path
) -> None:
    """The default name in the current folder holds the download's bytes; jsonl and `-o -`."""
    env = account.env()
    done = account.run("download", finished.workflow_id, finished.job_id, env=env)
    assert done.returncode == 0, done.stderr
    # the CLI ran in the test's working directory: move its file away at once
    default = Path(f"{finished.job_id}-logs.txt")
    try:
        assert default.read_bytes() == finished.raw
    finally:
        default.unlink()
    out = tmp_path / "log.jsonl"
    args = ("download", finished.workflow_id, finished.job_id)
    assert account.run(*args, "--format", "jsonl", "-o", str(out)).returncode == 0
    assert [json.loads(x) for x in out.read_text().splitlines()] == finished.lines
    assert account.run(*args, "-o", "-").stdout == finished.raw
    assert not list(tmp_path.glob("*.part*"))


def test_download_continue_resumes_a_cut_download_and_starts_over_on_a_changed_log(
    account: Account, finished: Finished, tmp_path: Path
) -> None:
    """A download cut by the server side keeps FILE.part (exit 7, saying --continue); --continue
    asks only for the rest (Range + If-Range); a part whose log changed is downloaded again."""
    out = tmp_path / "log.txt"
    part = tmp_path / "log.txt.part"
    args = ("download", finished.workflow_id, finished.job_id, "-o", str(out))
    with proxied(account.server.port) as proxy:
        proxy.limit_responses(len(finished.raw) // 3)
        cut = account.run(*args, env=account.env(HOURGLASS_URL=proxy.url))
    assert cut.returncode == 7
    assert b"--continue" in cut.stderr
    assert not out.exists()
    kept = part.stat().st_size
    assert 0 < kept < len(finished.raw)
    resumed = account.run(*args, "--continue")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed at byte {kept}".encode() in resumed.stderr
    assert out.read_bytes() == finished.raw
    assert not part.exists()
    part.write_bytes(b"not this log\n")
    Path(f"{part}.etag").write_text('"another-version"\n')
    again = account.run(*args, "--continue")
    assert again.returncode == 0, again.stderr
    assert b"starting over" in again.stderr
    assert out.read_bytes() == finished.raw


# prints a first half, waits for the test's signal (a file), then a second half
FOLLOWED = """
import os, sys, time
for i in range(1, 21):
    print(f"early {i}", flush=True)
deadline = time.monotonic() + 30
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
    time.sleep(0.01)
for i in range(1, 21):
    print(f"late {i}", flush=True)
"""


def test_follow_survives_a_dropped_connection_without_gap_or_duplicate(
    account: Account, tmp_path: Path
) -> None:
    """`logs -f` through a proxy that drops every connection mid-stream reconnects with
    Last-Event-ID: its output is the download, line for line, and it exits 0."""
    import subprocess

    from tests.e2e.processes import HOURGLASS

    go = tmp_path / "go"
    workflow_id = create_command(account, "followed", FOLLOWED, str(go))
    job_id = account.run("workflows", "run", workflow_id).stdout.decode().strip()
    with proxied(account.server.port) as proxy:
        follower = subprocess.Popen(
            [HOURGLASS, "logs", workflow_id, job_id, "-f"],
            env=account.env(HOURGLASS_URL=proxy.url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert follower.stdout is not None
        assert follower.stderr is not None
        seen = []
        while not seen or seen[-1] != b"early 20\n":
            seen.append(follower.stdout.readline())
            assert seen[-1], follower.stderr.read()
        connections = proxy.accepted
        assert proxy.cut() >= 1
        go.touch()
        rest = follower.stdout.read()
        assert follower.wait(30) == 0, follower.stderr.read()
        follower.stdout.close()
        follower.stderr.close()
        assert proxy.accepted > connections  # it did reconnect
    with account.http() as http:
        raw = http.get(f"/workflows/{workflow_id}/jobs/{job_id}/logs/raw").content
    assert b"".join(seen) + rest == raw
    assert raw.count(b"late ") == 20


def test_a_closed_pipe_ends_logs_quietly(account: Account, finished: Finished) -> None:
    """`hourglass logs … | head -1`: no traceback, no error line, exit 141 like a killed cat."""
    import subprocess

    from tests.e2e.processes import HOURGLASS

    reader_r, writer = os.pipe()
    process = subprocess.Popen(
        [HOURGLASS, "logs", finished.workflow_id, finished.job_id],
        env=account.env(),
        stdout=writer,
        stderr=subprocess.PIPE,
    )
    os.close(writer)
    with os.fdopen(reader_r, "rb") as reader:
        assert reader.readline().startswith(b"attempt 1 started")
    assert process.stderr is not None
    errors = process.stderr.read()
    process.stderr.close()
    assert process.wait(30) == 141
    assert errors == b""
