"""The README's promises, kept: its curl walk-through runs against a real `hourglass up`, twice
in a row, and `make test` names the reason of every skipped test."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.processes import base_env

ROOT = Path(__file__).resolve().parents[2]


def walk_through() -> str:
    """The shell blocks of the README's "Five minutes with curl", as one script."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Five minutes with curl", 1)[1].split("\n## ", 1)[0]
    return "\n".join(re.findall(r"```sh\n(.*?)```", section, re.S))


def test_the_curl_walk_through_can_be_run_twice(embedded: str, tmp_path: Path) -> None:
    """First run signs up, the second logs in; both run a job and a workflow's whole life."""
    if not (shutil.which("curl") and shutil.which("bash")):
        pytest.skip("curl and bash are needed to run the README's walk-through")
    script = tmp_path / "walk.sh"
    script.write_text("set -eu\n" + walk_through())
    port = str(urlsplit(embedded).port)
    outputs = []
    for _ in range(2):
        run = subprocess.run(
            ["bash", str(script)],
            cwd=tmp_path,
            env=base_env(PORT=port),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        outputs.append(run.stdout)
    assert outputs[0].startswith("register: 201\nlogin: 201\n")
    assert outputs[1].startswith("register: 409\nlogin: 201\n")
    for output in outputs:
        assert '"status":"COMPLETED"' in output
        assert "\nhello\nexited with code 0\n" in output
        assert output.endswith("204\n204\n204\n")


def test_pytest_reports_the_reason_of_every_skip() -> None:
    """`-rs` is in pytest's options, so `make test` lists why each skipped test was skipped."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "-rs" in config["tool"]["pytest"]["ini_options"]["addopts"].split()
