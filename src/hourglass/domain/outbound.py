"""The outbound address policy: which IP addresses Hourglass may connect to on a user's behalf.

Every request Hourglass makes for a user (a HEARTBEAT, a webhook) goes through this policy, so
that no user can use Hourglass to reach what the server can reach and they cannot: its own
loopback services, the private network it sits in, the cloud's metadata service. Pure rules;
resolving names and connecting live in `runtime/outbound.py`.

Three classes of address:
- never: refused whatever the configuration says (`NEVER`): "this host" (0.0.0.0/8, ::),
  link-local and cloud metadata (169.254.0.0/16, fe80::/10, fd00:ec2::254, 100.100.100.200),
  multicast, broadcast and reserved ranges. No legitimate endpoint lives there.
- private: refused unless allowed (`PRIVATE`): loopback, RFC 1918, CGNAT, unique-local IPv6,
  and the special-purpose ranges that are not globally reachable (documentation, benchmarking…).
- public: everything else, always allowed.

An address that embeds an IPv4 address is judged by what it reaches: an IPv4-mapped IPv6
address (::ffff:a.b.c.d) is the IPv4 address itself; a NAT64 (64:ff9b::/96) or 6to4
(2002::/16) address is allowed only if its embedded IPv4 address is; the deprecated
IPv4-compatible form (::a.b.c.d) is refused.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

REFUSED: Final = "refused by the outbound policy"
# the allow-list keywords: every private range; nothing beyond public addresses
ALLOW_PRIVATE: Final = "private"
ALLOW_NONE: Final = "none"


def _networks(*items: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item) for item in items)


NEVER: Final = _networks(
    "0.0.0.0/8",  # "this network": connect() to 0.0.0.0 reaches this host
    "169.254.0.0/16",  # link-local: 169.254.169.254 is the metadata service of most clouds
    "100.100.100.200/32",  # Alibaba Cloud's metadata service (inside CGNAT space)
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, and 255.255.255.255 broadcast
    "::/128",  # unspecified
    "100::/64",  # discard-only
    "fe80::/10",  # link-local
    "fd00:ec2::254/128",  # AWS's IPv6 metadata service (inside unique-local space)
    "ff00::/8",  # multicast
)

PRIVATE: Final = _networks(
    "127.0.0.0/8",  # loopback
    "10.0.0.0/8",  # RFC 1918
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",  # carrier-grade NAT (RFC 6598)
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # documentation
    "198.51.100.0/24",
    "203.0.113.0/24",
    "198.18.0.0/15",  # benchmarking
    "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
    "::1/128",  # loopback
    "fc00::/7",  # unique local
    "fec0::/10",  # site-local (deprecated)
    "2001::/23",  # IETF protocol assignments (Teredo, benchmarking…)
    "2001:db8::/32",  # documentation
    "64:ff9b:1::/48",  # local-use NAT64
)

_IPV4_COMPATIBLE: Final = ipaddress.ip_network("::/96")
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR: Final = ipaddress.ip_network("2002::/16")
_LOOPBACK_V6: Final = ipaddress.ip_address("::1")

# the numeric host forms inet_aton() (hence getaddrinfo) reads as IPv4: 1 to 4 parts, each
# decimal, octal (leading 0) or hex (0x…): "2130706433", "127.1", "0x7f.0.0.1", "0177.1"
_INET_ATON: Final = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?")


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Public addresses, plus the non-public networks in `allowed`; never those in `NEVER`.

    `OutboundPolicy()` is the strict policy of an instance reachable by others.
    """

    allowed: tuple[Network, ...] = ()

    @classmethod
    def for_instance(cls, *, loopback_only: bool, allow: Sequence[str] | None) -> OutboundPolicy:
        """The policy of an instance: `allow` (the allow-list setting) when given, else every
        private range on an instance that listens only on loopback (its one user can reach them
        anyway) and none on any other."""
        if allow is None:
            allow = [ALLOW_PRIVATE] if loopback_only else []
        return cls(parse_allow_list(allow))

    def allows(self, address: IPAddress) -> bool:
        """Whether a connection to `address` may be made."""
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:
                return self.allows(address.ipv4_mapped)
            if address in _IPV4_COMPATIBLE and address != _LOOPBACK_V6:
                return False
            embedded = _embedded_ipv4(address)
            if embedded is not None and not self.allows(embedded):
                return False
        if _within(address, NEVER):
            return False
        return not _within(address, PRIVATE) or _within(address, self.allowed)

    def allows_host(self, host: str) -> bool:
        """Whether a URL's host may be used, as far as can be told without resolving it: a
        literal address (in any form getaddrinfo reads) or a `localhost` name is judged; any
        other name is judged at connect time, address by address."""
        address = literal_address(host)
        return address is None or self.allows(address)


def always_refused(address: IPAddress) -> bool:
    """Whether `address` is refused by every policy, whatever its allow-list."""
    return not _EVERY_PRIVATE.allows(address)


def host_refusal(host: str, policy: OutboundPolicy) -> str | None:
    """Why a URL's host is refused when the URL is saved (a HEARTBEAT endpoint, a webhook), or
    None: only a literal address (or `localhost`) is judged then; a name is judged at connect
    time, address by address."""
    address = literal_address(host)
    if address is None or policy.allows(address):
        return None
    if always_refused(address):
        why = "a link-local, metadata, multicast or reserved address, never reachable"
    else:
        why = "a loopback or private address (allowed only where HOURGLASS_OUTBOUND_ALLOW names it)"
    return f"{REFUSED}: {host} is {why}"


def parse_allow_list(items: Iterable[str]) -> tuple[Network, ...]:
    """The networks an allow-list names: IP addresses or networks (10.1.0.0/16, fd12::/64),
    `private` for every private range, `none` for nothing. `ValueError` names a bad item."""
    networks: list[Network] = []
    for item in (part.strip() for part in items):
        if item.lower() == ALLOW_PRIVATE:
            networks.extend(PRIVATE)
        elif item.lower() != ALLOW_NONE and item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
    return tuple(networks)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host stands for without a DNS lookup, else None (a name).

    Reads IP literals (brackets and an IPv6 zone are dropped), the numeric IPv4 forms of
    inet_aton ("2130706433", "0x7f.1"), and `localhost` / `*.localhost`, which always mean
    loopback (RFC 6761).
    """
    text = host.strip("[]").split("%", 1)[0].lower()
    name = text.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return ipaddress.IPv4Address("127.0.0.1")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if _INET_ATON.fullmatch(text):
        return _inet_aton(name)
    return None


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """inet_aton's reading of 1 to 4 numeric parts; the last one fills the remaining bytes."""
    try:
        parts = [
            int(p, 16) if p.startswith("0x") else int(p, 8 if p[:1] == "0" else 10)
            for p in text.split(".")
        ]
    except ValueError:
        return None  # "0x" alone, or an 8 or 9 in an octal part: getaddrinfo resolves it as a name
    *leading, last = parts
    if any(p > 255 for p in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = last
    for index, part in enumerate(leading):
        value += part << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


_EVERY_PRIVATE: Final = OutboundPolicy(PRIVATE)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _within(address: IPAddress, networks: Iterable[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)
