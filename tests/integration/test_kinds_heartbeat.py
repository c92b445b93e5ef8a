"""HEARTBEAT kind against a real local HTTP server (no mock transport)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hourglass.domain.jobs import Outcome
from hourglass.domain.outbound import OutboundPolicy
from hourglass.runtime.kinds import HeartbeatKind

# the policy of a loopback-only instance: the local test server is reachable
LOOPBACK_ONLY = OutboundPolicy.for_instance(loopback_only=True, allow=None)


class Sink:
    """Collects blocks per stream."""

    def __init__(self) -> None:
        self.data: dict[str, bytearray] = {s: bytearray() for s in ("stdout", "stderr", "system")}

    async def write(self, stream: str, data: bytes) -> None:
        self.data[stream] += data

    def lines(self, stream: str = "stdout") -> list[str]:
        return self.data[stream].decode().splitlines()


class Server:
    """A threaded HTTP server on 127.0.0.1:0 that records what it received.

    Routes: /status/N answers N; /redirect/N redirects N more times, then 200; /slow answers once
    released (or after 10 s); anything else 200.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, list[tuple[str, str]]]] = []
        self.release = threading.Event()
        self.slow_started = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.requests.append((self.command, self.path, list(self.headers.items())))
                parts = self.path.strip("/").split("/")
                status, location = 200, None
                if parts[0] == "status":
                    status = int(parts[1])
                elif parts[0] == "redirect" and int(parts[1]) > 0:
                    status, location = 302, f"/redirect/{int(parts[1]) - 1}"
                elif parts[0] == "slow":
                    outer.slow_started.set()
                    outer.release.wait(10)
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(b"ok")

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> Server:
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as srv:
        yield srv


async def beat(payload: dict[str, object], sink: Sink | None = None):
    return await HeartbeatKind(LOOPBACK_ONLY).run(payload, sink or Sink(), asyncio.Event())


async def test_expected_status_succeeds_and_logs_the_request(server: Server):
    """A 200 where 200 is expected succeeds and logs method, URL, status and duration."""
    sink = Sink()
    result = await beat({"endpoint": f"{server.url}/health"}, sink)
    assert result.outcome is Outcome.SUCCESS
    [line] = sink.lines()
    assert line.startswith(f"GET {server.url}/health -> 200 OK in ")
    assert line.endswith(" ms")


async def test_unexpected_status_is_a_workload_failure(server: Server):
    """A 503 where 200 is expected fails the workload, naming both statuses."""
    sink = Sink()
    result = await beat({"endpoint": f"{server.url}/status/503"}, sink)
    assert result.outcome is Outcome.WORKLOAD_FAILURE
    assert result.reason == "unexpected status 503 (expected 200)"
    assert "-> 503 Service Unavailable" in sink.lines()[0]


async def test_expected_status_code_other_than_200(server: Server):
    """`expected_status_code` is what counts as success, even a 404."""
    result = await beat({"endpoint": f"{server.url}/status/404", "expected_status_code": 404})
    assert result.outcome is Outcome.SUCCESS


async def test_redirects_are_followed_and_each_hop_is_logged(server: Server):
    """Redirects are followed to the final answer, one log line per hop."""
    sink = Sink()
    result = await beat({"endpoint": f"{server.url}/redirect/2"}, sink)
    assert result.outcome is Outcome.SUCCESS
    assert [line.split(" in ")[0] for line in sink.lines()] == [
        f"GET {server.url}/redirect/2 -> 302 Found",
        f"GET {server.url}/redirect/1 -> 302 Found",
        f"GET {server.url}/redirect/0 -> 200 OK",
    ]


async def test_too_many_redirects_is_a_workload_failure(server: Server):
    """More than 5 redirects fail the workload."""
    sink = Sink()
    result = await beat({"endpoint": f"{server.url}/redirect/6"}, sink)
    assert result.outcome is Outcome.WORKLOAD_FAILURE
    assert result.reason == "too many redirects (more than 5)"
    assert sink.lines("stderr")


async def test_timeout_is_a_workload_failure(server: Server):
    """An endpoint slower than `timeout` fails the workload with "timed out after …"."""
    result = await beat({"endpoint": f"{server.url}/slow", "timeout": "1s"})
    assert result.outcome is Outcome.WORKLOAD_FAILURE
    assert result.reason == "timed out after 1s"


async def test_refused_connection_is_a_workload_failure():
    """A port nobody listens on fails the workload with "connection failed"."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await beat({"endpoint": f"http://127.0.0.1:{port}/"})
    assert result.outcome is Outcome.WORKLOAD_FAILURE
    assert (result.reason or "").startswith("connection failed")


async def test_headers_are_sent_including_repeated_values(server: Server):
    """Headers reach the server; a list value is sent once per element."""
    headers = {"X-Token": "abc", "X-Multi": ["one", "two"]}
    result = await beat({"endpoint": f"{server.url}/h", "headers": headers})
    assert result.outcome is Outcome.SUCCESS
    _method, _path, received = server.requests[0]
    assert ("X-Token", "abc") in received
    assert [v for k, v in received if k == "X-Multi"] == ["one", "two"]


async def test_post_method_is_used(server: Server):
    """`method: POST` sends a POST."""
    sink = Sink()
    result = await beat({"endpoint": f"{server.url}/p", "method": "POST"}, sink)
    assert result.outcome is Outcome.SUCCESS
    assert server.requests[0][:2] == ("POST", "/p")
    assert sink.lines()[0].startswith("POST ")


async def test_cancel_stops_a_pending_request(server: Server):
    """Setting cancel while the request is in flight returns CANCELED."""
    cancel = asyncio.Event()
    running = asyncio.create_task(
        HeartbeatKind(LOOPBACK_ONLY).run({"endpoint": f"{server.url}/slow"}, Sink(), cancel)
    )
    await asyncio.to_thread(server.slow_started.wait, 5)
    cancel.set()
    result = await running
    assert result.outcome is Outcome.CANCELED


async def test_build_has_nothing_to_do():
    """Build of a heartbeat succeeds without contacting the endpoint."""
    await HeartbeatKind(LOOPBACK_ONLY).build({"endpoint": "http://127.0.0.1:9/"})
