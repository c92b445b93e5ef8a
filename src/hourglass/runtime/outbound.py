"""HTTP clients for requests made on a user's behalf, held to the outbound address policy.

    client = outbound_client(policy_of(settings), timeout=10.0)
    async with client:
        response = await client.post(url, content=body)   # OutboundRefused if refused

Every connection the client opens resolves the host once, checks each address against the
`OutboundPolicy` and connects to an address it checked: nothing resolves the name a second time,
so a DNS answer that changes between check and connect (DNS rebinding) cannot slip through. The
URL is untouched, so the Host header, TLS SNI and the certificate check all use the host name.
Redirects, when followed, open their connections through the same check, hop by hop.

A connection whose addresses are all refused raises `OutboundRefused` (an `httpx.ConnectError`)
whose message is only `REFUSED`: nothing about the address or its ports reaches the user. The
server's proxy variables and .netrc are ignored: its credentials must never reach a user's
endpoint, and a proxy would connect to addresses no one checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence

import httpcore
import httpx

from hourglass.domain.outbound import REFUSED, IPAddress, OutboundPolicy
from hourglass.settings import Settings, is_loopback

__all__ = [
    "REFUSED",
    "OutboundPolicy",
    "OutboundRefused",
    "Resolver",
    "outbound_client",
    "policy_of",
    "system_resolver",
]

# host, port -> the host's addresses, in the order to try them
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


class OutboundRefused(httpx.ConnectError):
    """Every address of the host is refused by the outbound policy."""

    def __init__(self) -> None:
        super().__init__(REFUSED)


def policy_of(settings: Settings) -> OutboundPolicy:
    """The instance's policy: `HOURGLASS_OUTBOUND_ALLOW`, or its default for `HOURGLASS_HOST`."""
    return OutboundPolicy.for_instance(
        loopback_only=is_loopback(settings.host), allow=settings.outbound_allow
    )


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver (getaddrinfo), without duplicates."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def outbound_client(
    policy: OutboundPolicy,
    *,
    timeout: float | httpx.Timeout,
    resolver: Resolver | None = None,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` whose every connection is checked against `policy`.

    Redirects are not followed unless a request asks (`follow_redirects=True`); each hop is
    checked either way. `resolver` replaces the system resolver (tests give names they control).
    `verify` is httpx's: pass one `ssl.SSLContext` to many clients to load the CA bundle once
    (~20 ms) instead of once per client.
    """
    tls = httpx.create_ssl_context(verify=verify, trust_env=False)  # returns a context as is
    transport = _CheckedTransport(policy, resolver or system_resolver, tls)
    return httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, over a connection pool that connects through `_CheckedBackend`."""

    def __init__(self, policy: OutboundPolicy, resolver: Resolver, tls: ssl.SSLContext) -> None:
        super().__init__(verify=tls, trust_env=False)
        # httpx builds its pool without a way to pass a network backend: replace it with one
        # built the same way (the limits are httpx's defaults) that has ours
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=tls,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_CheckedBackend(policy, resolver),
        )


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves once, checks every address, connects only to checked ones."""

    def __init__(self, policy: OutboundPolicy, resolver: Resolver) -> None:
        self.policy = policy
        self.resolver = resolver
        self.inner: httpcore.AsyncNetworkBackend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        allowed = [str(a) for a in addresses if self.policy.allows(a)]
        if not allowed:
            raise OutboundRefused()
        failure: Exception | None = None
        for address in allowed:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        try:
            async with asyncio.timeout(timeout):
                found = await self.resolver(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError:
            raise httpcore.ConnectError(f"could not resolve {host}") from None
        addresses: list[IPAddress] = []
        for text in found:
            try:  # getaddrinfo spells a scoped IPv6 address "fe80::1%eth0"
                addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
            except ValueError:
                continue  # not an address at all: nothing to check, so nothing to connect to
        if not addresses:
            raise httpcore.ConnectError(f"could not resolve {host}")
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused()  # a local socket is never a user's endpoint

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
