"""`hourglass workflows …` and `hourglass jobs …` against a real server: flags and files in,
tables on a terminal, tab-separated lines when piped, JSON for scripts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.e2e.cli.conftest import Account, create_command, run_in_terminal, run_to_end


def test_create_from_flags_then_show_as_json(account: Account) -> None:
    """Flags per kind become the API's workflow: kind implied, interval in minutes, payload."""
    made = account.run(
        "workflows",
        "create",
        "--name",
        "site up",
        "--endpoint",
        "https://example.com/",
        "--every",
        "1h30m",
        "--header",
        "X-Probe: cli",
        "--expect-status",
        "204",
    )
    assert made.returncode == 0, made.stderr
    workflow_id = made.stdout.decode().strip()
    shown = json.loads(account.run("workflows", "show", workflow_id, "--json").stdout)
    assert (shown["name"], shown["kind"], shown["interval"]) == ("site up", "HEARTBEAT", 90)
    payload = json.loads(shown["payload"])
    assert payload["endpoint"] == "https://example.com/"
    assert payload["headers"] == {"X-Probe": "cli"}
    assert payload["expected_status_code"] == 204


def test_create_from_a_yaml_file_then_edit_it_with_flags_and_a_file(
    account: Account, tmp_path: Path
) -> None:
    """`--from` reads a YAML definition (payload as an object); `edit` replaces what its flags
    or file name (a cron in the file replaces the interval) and keeps the rest."""
    definition = tmp_path / "nightly.yaml"
    definition.write_text(
        "name: nightly\nkind: command\ninterval: 60\n"
        "payload:\n  cmd: [echo, hi]\n  env: {MODE: fast}\n"
    )
    made = account.run("workflows", "create", "--from", str(definition))
    assert made.returncode == 0, made.stderr
    workflow_id = made.stdout.decode().strip()
    edited = account.run("workflows", "edit", workflow_id, "--name", "nightly-2", "--env", "A=1")
    assert edited.returncode == 0, edited.stderr
    update = tmp_path / "cron.json"
    update.write_text(json.dumps({"cron": "0 3 * * *"}))
    assert account.run("workflows", "edit", workflow_id, "--from", str(update)).returncode == 0
    shown = json.loads(account.run("workflows", "show", workflow_id, "--json").stdout)
    assert (shown["name"], shown["cron"], shown["interval"]) == ("nightly-2", "0 3 * * *", None)
    assert json.loads(shown["payload"])["env"] == {"A": "1"}
    assert json.loads(shown["payload"])["cmd"] == ["echo", "hi"]


def test_edit_without_flags_opens_the_editor_on_yaml(account: Account, tmp_path: Path) -> None:
    """With no flags, `edit` hands the YAML to $EDITOR and sends what was saved."""
    workflow_id = create_command(account, "to edit", "print(1)")
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('name: to edit', 'name: edited'))\n"
    )
    env = account.env(EDITOR=f"{sys.executable} {editor}")
    assert account.run("workflows", "edit", workflow_id, env=env).returncode == 0
    shown = json.loads(account.run("workflows", "show", workflow_id, "--json").stdout)
    assert shown["name"] == "edited"


def test_list_is_tab_separated_when_piped_and_a_table_on_a_terminal(account: Account) -> None:
    """Piped: one tab-separated line per workflow, no header; on a terminal: a table with a
    header; --json: the API's objects."""
    workflow_id = create_command(account, "listed", "print(1)")
    piped = account.run("workflows", "list", "--query", "listed").stdout.decode()
    fields = piped.splitlines()[0].split("\t")
    assert fields[:4] == [workflow_id, "listed", "COMMAND", "every 1d"]
    code, shown, _ = run_in_terminal(["workflows", "list", "--query", "listed"], account.env())
    assert code == 0
    assert "NAME" in shown
    assert workflow_id in shown
    assert "\t" not in shown
    listed = json.loads(account.run("workflows", "list", "--query", "listed", "--json").stdout)
    assert [w["id"] for w in listed] == [workflow_id]


def test_terminate_then_delete_needs_yes_when_piped(account: Account) -> None:
    """terminate stops it; delete refuses without --yes off a terminal (exit 3), then deletes."""
    workflow_id = create_command(account, "doomed", "print(1)")
    assert account.run("workflows", "terminate", workflow_id).returncode == 0
    assert account.run("workflows", "delete", workflow_id).returncode == 3
    assert account.run("workflows", "delete", workflow_id, "--yes").returncode == 0
    assert account.run("workflows", "show", workflow_id).returncode == 5


def test_jobs_list_show_and_the_run_exit_codes(account: Account) -> None:
    """run --follow exits 0 for a completed job and 1 for a failed one; jobs list/show see them."""
    ok = create_command(account, "ok", "print('fine')")
    bad = create_command(account, "bad", "import sys; print('broken'); sys.exit(3)")
    ok_job, ok_run = run_to_end(account, ok)
    bad_job, bad_run = run_to_end(account, bad)
    assert ok_run.returncode == 0
    assert b"fine\n" in ok_run.stdout
    assert bad_run.returncode == 1
    assert b"broken\n" in bad_run.stdout
    job = json.loads(account.run("jobs", "show", bad, bad_job, "--json").stdout)
    assert (job["status"], job["exit_code"]) == ("FAILED", 3)
    listed = account.run("jobs", "list", ok).stdout.decode().splitlines()
    assert [line.split("\t")[:2] for line in listed] == [[ok_job, "COMPLETED"]]


def test_a_canceled_job_ends_its_follow_with_exit_2(account: Account) -> None:
    """`jobs cancel` stops a running job; the follower started before exits 2."""
    import subprocess

    from tests.e2e.processes import HOURGLASS

    workflow_id = create_command(account, "long", "import time; time.sleep(60)")
    job_id = account.run("workflows", "run", workflow_id).stdout.decode().strip()
    follower = subprocess.Popen(
        [HOURGLASS, "logs", workflow_id, job_id, "-f"],
        env=account.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert follower.stdout is not None
    first = follower.stdout.readline()  # the attempt's opening line: the job is running
    assert first.startswith(b"attempt 1 started")
    assert account.run("jobs", "cancel", workflow_id, job_id).returncode == 0
    assert follower.wait(30) == 2
    assert follower.stdout.read().endswith(b"canceled by request\n")
    follower.stdout.close()
    assert follower.stderr is not None
    follower.stderr.close()
