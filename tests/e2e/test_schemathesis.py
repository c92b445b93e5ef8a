"""The API keeps its OpenAPI contract: Schemathesis over the whole `/openapi.json` of a real
`hourglass up` (SQLite), with every check, authenticated, its links followed (stateful phase).

It fails on any 500, any response the schema does not describe (status, content type, headers,
body), any schema-valid request refused (`schemathesis_hooks.UNSTATABLE` lists the few rules no
schema can state), any schema-invalid request accepted, a wrong `Allow` on a 405, or an operation
that answers without its authentication. The budget is small so the suite stays fast:
`HOURGLASS_SCHEMATHESIS_EXAMPLES` (default 5 examples per operation and phase) raises it, and
`HOURGLASS_SCHEMATHESIS_SEED` replays a run (tests/e2e/README.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import tomli_w

from tests.e2e.processes import base_env, free_port, started
from tests.e2e.schemathesis_hooks import LOOPBACK_URL
from tests.e2e.test_embedded import create, wait_for
from tests.support import UserClient, register

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
EXAMPLES = int(os.environ.get("HOURGLASS_SCHEMATHESIS_EXAMPLES", "5"))
SCRIPT = "import sys; print('hello'); print('\\x1b[31mERROR\\x1b[0m: on stderr', file=sys.stderr)"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """`hourglass up` on SQLite; its login limit raised, as the run tries many wrong logins
    from one address, and the test's own logins must still pass."""
    port = free_port()
    env = base_env(
        HOURGLASS_PORT=str(port),
        HOURGLASS_DATA_DIR=str(tmp_path / "data"),
        HOURGLASS_POLL_INTERVAL_SECONDS="0.5",
        HOURGLASS_LOGIN_RATE_LIMIT="1000000",
        HOURGLASS_ACCESS_LOG="false",
    )
    url = f"http://127.0.0.1:{port}"
    with started(["up"], env, tmp_path / "up.log", url):
        yield url


async def finished_job(user: UserClient) -> tuple[str, str]:
    """A workflow and one finished job of it with a few log lines (stdout and stderr)."""
    workflow_id = await create(user, "COMMAND", {"cmd": ["python3", "-c", SCRIPT]})
    await wait_for(user, f"/workflows/{workflow_id}", lambda w: w["build_status"] == "COMPLETED")
    scheduled = await user.post(
        f"/workflows/{workflow_id}/jobs/schedule", headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    job_id: str = scheduled.json()["id"]
    finished = {"COMPLETED", "FAILED"}
    await wait_for(
        user, f"/workflows/{workflow_id}/jobs/{job_id}", lambda j: j["status"] in finished
    )
    return workflow_id, job_id


def config(hooks: str, workflow_id: str, job_id: str) -> dict[str, object]:
    return {
        "hooks": hooks,
        # one: generating in two threads trips a race of CPython 3.11's `ast.parse` (hypothesis
        # describes lambdas with it), reported as a schema or runtime error of some operation
        "workers": 1,
        "request-timeout": 10,
        # the notification stream never ends by itself: read a few events, then move on
        "max-stream-events": 3,
        "max-failures": 50,
        "cache": {"enabled": False},  # every run starts afresh (and writes nothing in the tree)
        # generation's speed depends on the machine's load (2 cores shared in CI), not on the API
        "suppress-health-check": ["too_slow"],
        "generation": {
            "max-examples": EXAMPLES,
            # NUL is refused in every string of a body, unknown keys and nested values included
            # (docs/api.md "Text"); the schema states it for the known fields only
            "allow-x00": False,
            # HTTP requests are open to extra headers and query parameters: they are ignored
            "allow-extra-parameters": False,
        },
        "phases": {
            # it reads our 400s' field messages as schema rules; "payload: must be a JSON
            # object" (of the JSON inside the string) then contradicts `type: string`, and the
            # operation is reported as impossible to generate
            "fuzzing": {"error-feedback": {"enabled": False}},
            # scenarios are cheap (a few requests each) and the links are what they test
            "stateful": {"generation": {"max-examples": 10 * EXAMPLES}},
        },
        "checks": {
            # 400 is judged by `schemathesis_hooks.refused_for_an_unstated_rule` instead;
            # 409 (conflict), 412 (state) and 429 (rate limit) do not depend on the input's shape
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "409", "412", "429"]
            },
        },
        "operations": [
            {
                # the job routes on a real finished job (random ids are all 404), the others
                # on what the run creates through the links
                "include-path-regex": "\\{job_id\\}",
                "parameters": {"path.workflow_id": workflow_id, "path.job_id": job_id},
            }
        ],
    }


async def test_the_api_keeps_its_openapi_contract(server: str, tmp_path: Path) -> None:
    """Every operation, every check, every phase (examples, coverage, fuzzing, stateful): no
    failure."""
    user = await register(server)
    try:
        workflow_id, job_id = await finished_job(user)
    finally:
        await user.client.aclose()
    config_file = tmp_path / "schemathesis.toml"
    config_file.write_text(
        tomli_w.dumps(config("tests.e2e.schemathesis_hooks", workflow_id, job_id))
    )
    command = [SCHEMATHESIS, "--config-file", str(config_file), "run"]
    command += [f"{server}/openapi.json", "--checks", "all"]
    if seed := os.environ.get("HOURGLASS_SCHEMATHESIS_SEED"):
        command += ["--seed", seed]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HOURGLASS_ST_URL": server,
        "HOURGLASS_ST_EMAIL": user.email,
        "HOURGLASS_ST_PASSWORD": user.password,
        "NO_COLOR": "1",
    }
    result = await asyncio.to_thread(
        subprocess.run, command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=540
    )
    report = result.stdout + result.stderr
    (tmp_path / "schemathesis.txt").write_text(report)
    assert result.returncode == 0, report[-20000:]
    await only_loopback_was_saved(server, user)


async def only_loopback_was_saved(server: str, user: UserClient) -> None:
    """Every webhook and HEARTBEAT endpoint the run saved points at this machine
    (`schemathesis_hooks.before_call`): the server never reached out elsewhere."""
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        login = await client.post(
            "/auth/login", json={"email": user.email, "password": user.password}
        )
        assert login.status_code == 201, login.text
        hooks = (await client.get("/webhooks")).json()["webhooks"]
        assert {h["url"] for h in hooks} <= {LOOPBACK_URL}
        cursor: str | None = ""
        while cursor is not None:
            page = (await client.get("/workflows", params={"cursor": cursor})).json()
            for workflow in page["workflows"]:
                endpoint = json.loads(workflow["payload"]).get("endpoint")
                assert endpoint in (None, LOOPBACK_URL), workflow
            cursor = page["cursor"]
