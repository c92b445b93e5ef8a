"""A new user's first minutes with `hourglass up`, over real HTTP against a real process."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.support import UserClient

FINAL = {"COMPLETED", "FAILED", "CANCELED"}


async def create(user: UserClient, kind: str, payload: dict[str, Any], **extra: Any) -> str:
    body = {"name": f"{kind.lower()} e2e", "kind": kind, "payload": json.dumps(payload)}
    body.update({"interval": 1, **extra})
    response = await user.post(
        "/workflows", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert response.status_code == 201, response.text
    workflow_id: str = response.json()["id"]
    return workflow_id


async def wait_for(user: UserClient, path: str, check: Any, timeout: float = 30) -> Any:
    """Poll a resource over the API until `check(body)` holds (bounded); returns the body."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        body = (await user.get(path)).json()
        if check(body):
            return body
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting on {path}: {body}")
        await asyncio.sleep(0.05)


async def run_now(user: UserClient, workflow_id: str) -> dict[str, Any]:
    await wait_for(user, f"/workflows/{workflow_id}", lambda w: w["build_status"] == "COMPLETED")
    response = await user.post(
        f"/workflows/{workflow_id}/jobs/schedule", headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    job: dict[str, Any] = await wait_for(
        user, f"/workflows/{workflow_id}/jobs/{job_id}", lambda j: j["status"] in FINAL
    )
    return job


@pytest.fixture
def local_endpoint() -> Iterator[str]:
    """A stand-in for a user's remote web endpoint: a local HTTP server answering 200."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()


async def test_command_echo_completes_with_exit_code_zero(user: UserClient) -> None:
    """A COMMAND workflow running `echo hello` completes, exit code 0, and its log says hello."""
    workflow_id = await create(user, "COMMAND", {"cmd": ["echo", "hello"]})
    job = await run_now(user, workflow_id)
    assert (job["status"], job["exit_code"], job["trigger"]) == ("COMPLETED", 0, "MANUAL")
    assert job["log_lines"] >= 2


async def test_failing_command_fails_with_exit_code_and_reason(user: UserClient) -> None:
    """A command exiting 3 is FAILED with exit code 3 and a reason, after one attempt."""
    workflow_id = await create(user, "COMMAND", {"cmd": ["sh", "-c", "echo bad >&2; exit 3"]})
    job = await run_now(user, workflow_id)
    assert (job["status"], job["exit_code"], job["attempts"]) == ("FAILED", 3, 1)
    assert "3" in job["failure_reason"]


async def test_heartbeat_against_local_endpoint_completes(
    user: UserClient, local_endpoint: str
) -> None:
    """A HEARTBEAT workflow against a local endpoint answering 200 completes."""
    workflow_id = await create(user, "HEARTBEAT", {"endpoint": local_endpoint})
    job = await run_now(user, workflow_id)
    assert job["status"] == "COMPLETED"


async def test_unknown_program_fails_the_build(user: UserClient) -> None:
    """A COMMAND whose program does not exist ends with build FAILED and a reason."""
    workflow_id = await create(user, "COMMAND", {"cmd": ["no-such-program-xyz"]})
    workflow = await wait_for(
        user, f"/workflows/{workflow_id}", lambda w: w["build_status"] in ("COMPLETED", "FAILED")
    )
    assert workflow["build_status"] == "FAILED"
    assert "no-such-program-xyz" in workflow["build_reason"]


async def test_cancel_running_command_kills_it(user: UserClient) -> None:
    """Canceling a running `sleep 300` stops it quickly and the job is CANCELED."""
    workflow_id = await create(user, "COMMAND", {"cmd": ["sleep", "300"]})
    await wait_for(user, f"/workflows/{workflow_id}", lambda w: w["build_status"] == "COMPLETED")
    response = await user.post(
        f"/workflows/{workflow_id}/jobs/schedule", headers={"Idempotency-Key": "x"}
    )
    job_id = response.json()["id"]
    path = f"/workflows/{workflow_id}/jobs/{job_id}"
    await wait_for(user, path, lambda j: j["status"] == "RUNNING")
    assert (await user.post(f"{path}/cancel")).status_code == 202
    job = await wait_for(user, path, lambda j: j["status"] in FINAL, timeout=15)
    assert job["status"] == "CANCELED"


async def test_timeout_fails_the_job(user: UserClient) -> None:
    """A command running past its timeout is killed and FAILED with a timeout reason."""
    workflow_id = await create(user, "COMMAND", {"cmd": ["sleep", "300"], "timeout": "1s"})
    job = await run_now(user, workflow_id)
    assert job["status"] == "FAILED"
    assert "timed out" in job["failure_reason"]


async def test_process_reports_ready(embedded: str) -> None:
    """The API serves real HTTP and the process is healthy (readiness reports the store)."""
    async with httpx.AsyncClient(base_url=embedded) as client:
        assert (await client.get("/readyz")).json() == {"status": "ok"}
