"""Start-up mistakes, as a new operator makes them: the real `hourglass` program says what is
wrong in one line naming the setting (or `--port`), exits 1, and prints no traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.processes import HOURGLASS, base_env
from tests.support import free_socket


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    values = {"HOURGLASS_DATA_DIR": str(tmp_path / "data"), **env}
    return subprocess.run(
        [HOURGLASS, *args],
        env=base_env(**values),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The only line the program printed, after checking it failed cleanly."""
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert "Task was destroyed" not in output
    [line] = output.splitlines()
    return line


def test_an_unwritable_data_dir_names_the_setting(tmp_path: Path) -> None:
    """A data dir that cannot be created or written (here: under a regular file) is one line."""
    (tmp_path / "a-file").write_text("")
    line = one_line(run(["up"], tmp_path, HOURGLASS_DATA_DIR=str(tmp_path / "a-file" / "data")))
    assert line.startswith("Error: HOURGLASS_DATA_DIR: cannot write to ")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "is not a database URL"),
        ("postgresql://db:notaport/hourglass", "is not a database URL"),
        ("mysql://hourglass@db/hourglass", "'mysql' is not supported"),
        ("postgresql+psycopg://hourglass@db/hourglass", "the driver 'postgresql+psycopg'"),
    ],
)
def test_a_malformed_or_unsupported_database_url_names_the_setting(
    tmp_path: Path, url: str, says: str
) -> None:
    """A database URL that is not one, or names a database we do not run on, is one line."""
    line = one_line(run(["up"], tmp_path, HOURGLASS_DATABASE_URL=url))
    assert line.startswith("Error: HOURGLASS_DATABASE_URL")
    assert says in line


def test_an_unreachable_postgresql_names_the_setting_and_hides_the_password(
    tmp_path: Path,
) -> None:
    """Nothing listening at the URL: one line with the URL, its password masked."""
    url = "postgresql://hourglass:s3cret@127.0.0.1:1/hourglass"
    line = one_line(run(["api"], tmp_path, HOURGLASS_DATABASE_URL=url))
    assert line == (
        "Error: HOURGLASS_DATABASE_URL: cannot use "
        "postgresql://hourglass:***@127.0.0.1:1/hourglass: Connection refused"
    )


def test_migrate_says_the_same_about_an_unreachable_database(tmp_path: Path) -> None:
    """`hourglass migrate` fails the same way, in one line."""
    url = "postgresql://hourglass@127.0.0.1:1/hourglass"
    assert "Connection refused" in one_line(run(["migrate"], tmp_path, HOURGLASS_DATABASE_URL=url))


def test_a_port_in_use_names_the_option(tmp_path: Path) -> None:
    """Another program on the port: one line naming --port, without asyncio's noise."""
    taken = free_socket()
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        line = one_line(run(["up", "--port", str(port)], tmp_path))
    finally:
        taken.close()
    assert line == (
        f"Error: --port / HOURGLASS_PORT: cannot listen on 127.0.0.1:{port} "
        "(Address already in use)"
    )


def test_a_metrics_port_in_use_names_the_option(tmp_path: Path) -> None:
    """A worker whose --metrics-port is taken says so in one line, naming that option."""
    taken = free_socket()
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        line = one_line(run(["worker", "--metrics-port", str(port)], tmp_path))
    finally:
        taken.close()
    assert line.startswith("Error: --metrics-port / HOURGLASS_METRICS_PORT: cannot listen on ")
    assert line.endswith(f":{port} (Address already in use)")
