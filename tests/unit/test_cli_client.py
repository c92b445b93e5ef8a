"""Pure parts of the client CLI: its help, its ANSI stripping (the server's, repeated), the
spellings it reads (schedules, pairs, definitions), problem+json as one line, and where the
connection comes from."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from hourglass.cli import main
from hourglass.client import config, workflows
from hourglass.client.errors import ClientError, problem_message
from hourglass.client.logs import strip_ansi
from hourglass.domain.logs.render import strip_ansi as server_strip_ansi

SERVER_COMMANDS = {"up", "api", "worker", "scheduler", "migrate"}


def _client_commands() -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []

    def walk(prefix: str, command: click.Command) -> None:
        found.append((prefix, command))
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(f"{prefix} {name}", sub)

    for name, command in main.commands.items():
        if name not in SERVER_COMMANDS:
            walk(name, command)
    return found


def test_every_client_command_has_an_example_in_its_help() -> None:
    """`--help` of each client command and group shows at least one example."""
    missing = [name for name, c in _client_commands() if "Example:" not in (c.help or "")]
    assert missing == []


SAMPLES = [
    "plain",
    "\x1b[31mred\x1b[0m and \x1b[1;4mbold\x1b[m",
    "\x1b]0;title\x07after \x1b]8;;https://x\x1b\\link\x1b]8;;\x1b\\",
    "\x9b31mC1 CSI\x9b0m \x9d2;osc\x9c",
    "\x1bPq#0;2;0;0;0\x1b\\dcs \x1b(B charset \x1b7save\x1b8",
    "unterminated \x1b[",
    "cursor \x1b[2J\x1b[H\x1b[?25l",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_strip_ansi_matches_the_servers(text: str) -> None:
    """A slice printed by the CLI loses the same escapes as the server's `ansi=strip`."""
    assert strip_ansi(text) == server_strip_ansi(text)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("15", 15), ("15m", 15), ("2h", 120), ("1h30m", 90), ("1d", 1440), (" 1D2H ", 1560)],
)
def test_every_reads_minutes_and_spans(text: str, minutes: int) -> None:
    """--every takes minutes or a d/h/m span."""
    assert workflows.parse_every(text) == minutes


@pytest.mark.parametrize("text", ["", "m", "1s", "1.5h", "-5", "h1"])
def test_every_refuses_other_spellings(text: str) -> None:
    """Anything else is a usage error naming the flag."""
    with pytest.raises(ClientError, match="--every"):
        workflows.parse_every(text)


def test_flags_imply_the_kind_and_replace_the_schedule() -> None:
    """--endpoint means HEARTBEAT; --cron over a file's interval drops the interval."""
    base = {"name": "x", "interval": 5, "payload": {"endpoint": "https://a/"}}
    body = workflows.apply(base, workflows.Flags(cron="0 3 * * *"))
    assert body["kind"] == "HEARTBEAT"
    assert (body["cron"], body["interval"]) == ("0 3 * * *", None)
    sent = workflows.request_body(body)
    assert "interval" not in sent
    assert sent["payload"] == '{"endpoint": "https://a/"}'


def test_no_payload_flags_and_no_kind_is_a_usage_error() -> None:
    """Nothing says what to run: the error lists the ways to say it."""
    with pytest.raises(ClientError, match="--endpoint URL"):
        workflows.apply({"name": "x"}, workflows.Flags(every="5m"))


def test_a_definition_file_with_an_unknown_field_is_refused() -> None:
    """A typo in a kept definition is caught before anything is sent."""
    with pytest.raises(ClientError, match="unknown field 'intreval'"):
        workflows.parse("name: x\nintreval: 5\n", "wf.yaml")


def test_a_secret_named_alone_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """--secret KEY takes $KEY, so the value is never on the command line."""
    monkeypatch.setenv("DB_PASSWORD", "s3cret")
    assert workflows.pairs(["DB_PASSWORD", "A=b=c"], "--secret", from_env=True) == {
        "DB_PASSWORD": "s3cret",
        "A": "b=c",
    }


def test_a_problem_is_one_line_with_each_field_error() -> None:
    """detail, then the field errors it does not already say; control characters removed."""
    body = {
        "detail": "payload.endpoint: bad URL",
        "errors": [
            {"field": "payload.endpoint", "message": "bad URL"},
            {"field": "interval", "message": "too big\n\x1b[2J"},
        ],
    }
    assert problem_message(400, "Bad Request", body) == (
        "payload.endpoint: bad URL (interval: too big  [2J)"
    )
    assert problem_message(502, "Bad Gateway", "<html>") == "502 Bad Gateway"


def test_the_environment_wins_over_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HOURGLASS_TOKEN wins; HOURGLASS_URL naming another server drops the file's token."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("HOURGLASS_URL", raising=False)
    monkeypatch.delenv("HOURGLASS_TOKEN", raising=False)
    config.write_file({"url": "http://a:1", "token": "hg_file", "token_id": "T"})
    assert (config.resolve().url, config.resolve().token) == ("http://a:1", "hg_file")
    monkeypatch.setenv("HOURGLASS_URL", "http://b:2/")
    assert (config.resolve().url, config.resolve().token) == ("http://b:2", None)
    monkeypatch.setenv("HOURGLASS_TOKEN", "hg_env")
    assert (config.resolve().url, config.resolve().token) == ("http://b:2", "hg_env")
    assert (tmp_path / "hourglass" / "config.toml").stat().st_mode & 0o077 == 0
