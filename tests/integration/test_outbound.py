"""The outbound address policy at connect time: heartbeats and `outbound_client` against real
local servers, with names resolved by a resolver the test controls."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator

import httpx
import pytest
import trustme

from hourglass.domain.jobs import Outcome, RunResult
from hourglass.domain.outbound import REFUSED, OutboundPolicy
from hourglass.runtime.kinds import HeartbeatKind, kinds_for
from hourglass.runtime.outbound import OutboundRefused, Resolver, outbound_client
from hourglass.settings import Settings
from tests.integration.outbound_helpers import Endpoint, Names, Sink

STRICT = OutboundPolicy()  # an instance reachable by others, no allow-list
ONLY_127_0_0_1 = OutboundPolicy.for_instance(loopback_only=False, allow=["127.0.0.1/32"])


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with Endpoint() as server:
        yield server


@pytest.fixture
def other_endpoint() -> Iterator[Endpoint]:
    """A second server on 127.0.0.2: loopback too, but outside ONLY_127_0_0_1."""
    with Endpoint("127.0.0.2") as server:
        yield server


async def beat(
    policy: OutboundPolicy, url: str, sink: Sink | None = None, resolver: Resolver | None = None
) -> RunResult:
    kind = HeartbeatKind(policy, resolver=resolver)
    return await kind.run({"endpoint": url}, sink or Sink(), asyncio.Event())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_loopback_endpoint_is_refused_without_a_request(endpoint: Endpoint):
    """On an instance reachable by others, 127.0.0.1 is refused before any connection."""
    sink = Sink()
    result = await beat(STRICT, f"{endpoint.url}/health", sink)
    assert (result.outcome, result.reason) == (Outcome.WORKLOAD_FAILURE, REFUSED)
    assert sink.text("stderr") == f"GET {endpoint.url}/health -> {REFUSED}\n"
    assert endpoint.requests == []


async def test_open_and_closed_ports_fail_alike(endpoint: Endpoint):
    """A refused address says the same whether its port is open or closed: no port oracle."""
    reasons = set()
    for port in (endpoint.port, closed_port()):
        sink = Sink()
        result = await beat(STRICT, f"http://127.0.0.1:{port}/", sink)
        reasons.add((result.reason, sink.text("stderr").replace(str(port), "PORT")))
    assert reasons == {(REFUSED, f"GET http://127.0.0.1:PORT/ -> {REFUSED}\n")}


async def test_name_resolving_to_a_refused_address_is_refused(endpoint: Endpoint):
    """A host name is judged by the addresses it resolves to: `localhost` is refused."""
    result = await beat(STRICT, f"http://localhost:{endpoint.port}/")
    assert result.reason == REFUSED
    assert endpoint.requests == []


async def test_name_from_the_resolver_is_refused_at_connect(endpoint: Endpoint):
    """A name only the injected resolver knows, pointing at loopback, is refused at connect."""
    names = Names({"internal.test": ["127.0.0.1"]})
    result = await beat(STRICT, f"http://internal.test:{endpoint.port}/", resolver=names)
    assert result.reason == REFUSED
    assert names.lookups == {"internal.test": 1}
    assert endpoint.requests == []


async def test_connection_goes_to_the_checked_address_with_the_name_as_host(endpoint: Endpoint):
    """The name is resolved once, by the checked resolver, and the request goes to the address
    it gave (no second lookup to rebind), with the name in the Host header."""
    names = Names({"service.test": ["127.0.0.1"]})
    result = await beat(ONLY_127_0_0_1, f"http://service.test:{endpoint.port}/x", resolver=names)
    assert result.outcome is Outcome.SUCCESS
    assert names.lookups == {"service.test": 1}
    assert endpoint.requests == [("GET", "/x", f"service.test:{endpoint.port}")]


async def test_only_allowed_addresses_of_a_name_are_tried(endpoint: Endpoint):
    """Of a name's addresses, a refused one is skipped even when listed first."""
    names = Names({"both.test": ["127.0.0.2", "127.0.0.1"]})
    with Endpoint("127.0.0.2", port=endpoint.port) as decoy:  # the same port on 127.0.0.2
        result = await beat(ONLY_127_0_0_1, f"http://both.test:{endpoint.port}/", resolver=names)
    assert result.outcome is Outcome.SUCCESS
    assert decoy.requests == []
    assert len(endpoint.requests) == 1


async def test_redirect_to_a_refused_address_is_refused(
    endpoint: Endpoint, other_endpoint: Endpoint
):
    """A redirect to a refused address is not followed: that hop fails, the first is logged."""
    sink = Sink()
    start = f"{endpoint.url}/to?{other_endpoint.url}/secret"
    result = await beat(ONLY_127_0_0_1, start, sink)
    assert result.reason == REFUSED
    assert other_endpoint.requests == []
    assert sink.text("stdout").startswith(f"GET {start} -> 302 Found in ")
    assert sink.text("stderr") == f"GET {other_endpoint.url}/secret -> {REFUSED}\n"


async def test_allow_list_lets_a_named_network_through(other_endpoint: Endpoint):
    """An allow-list naming 127.0.0.0/8 lets a non-loopback instance reach 127.0.0.2."""
    policy = OutboundPolicy.for_instance(loopback_only=False, allow=["127.0.0.0/8"])
    result = await beat(policy, f"{other_endpoint.url}/")
    assert result.outcome is Outcome.SUCCESS
    assert len(other_endpoint.requests) == 1


@pytest.mark.parametrize(
    ("host", "allow", "outcome"),
    [
        ("127.0.0.1", None, Outcome.SUCCESS),
        ("0.0.0.0", None, Outcome.WORKLOAD_FAILURE),
        ("0.0.0.0", ("127.0.0.1",), Outcome.SUCCESS),
        ("127.0.0.1", ("none",), Outcome.WORKLOAD_FAILURE),
    ],
    ids=["loopback-only", "listening-widely", "widely-with-allow-list", "loopback-allow-none"],
)
async def test_settings_decide_the_heartbeat_policy(
    endpoint: Endpoint, host: str, allow: tuple[str, ...] | None, outcome: Outcome
):
    """`kinds_for` gives HEARTBEAT the policy of HOURGLASS_HOST and HOURGLASS_OUTBOUND_ALLOW."""
    kind = kinds_for(Settings(host=host, outbound_allow=allow))["HEARTBEAT"]
    result = await kind.run({"endpoint": f"{endpoint.url}/"}, Sink(), asyncio.Event())
    assert result.outcome is outcome


async def test_tls_is_checked_against_the_host_name():
    """HTTPS to a name resolved by the checked resolver sends the name as SNI and verifies the
    certificate against the name, not against the address it connected to."""
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("service.test").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    names = Names({"service.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    kind = HeartbeatKind(ONLY_127_0_0_1, resolver=names, verify=client_tls)
    with Endpoint(tls=server_tls) as server:
        good = await kind.run(
            {"endpoint": f"https://service.test:{server.port}/"}, Sink(), asyncio.Event()
        )
        bad = await kind.run(
            {"endpoint": f"https://other.test:{server.port}/"}, Sink(), asyncio.Event()
        )
    assert good.outcome is Outcome.SUCCESS
    assert bad.outcome is Outcome.WORKLOAD_FAILURE
    assert "certificate verify failed" in (bad.reason or "")


async def test_outbound_client_refuses_redirect_hops_it_follows(
    endpoint: Endpoint, other_endpoint: Endpoint
):
    """`outbound_client` (the webhooks' client) raises OutboundRefused, an httpx.ConnectError,
    on a refused redirect hop it follows."""
    async with outbound_client(ONLY_127_0_0_1, timeout=5) as client:
        reached = await client.get(f"{endpoint.url}/")
        with pytest.raises(httpx.ConnectError, match=f"^{REFUSED}$") as refused:
            await client.get(f"{endpoint.url}/to?{other_endpoint.url}/", follow_redirects=True)
    assert reached.status_code == 200
    assert isinstance(refused.value, OutboundRefused)
    assert other_endpoint.requests == []
