"""The outbound address policy's pure rules: classes of address, allow-lists, host literals."""

from __future__ import annotations

import ipaddress

import pytest

from hourglass.domain.outbound import OutboundPolicy, literal_address, parse_allow_list
from hourglass.errors import ConfigError
from hourglass.settings import Settings

STRICT = OutboundPolicy()
LOOPBACK_ONLY = OutboundPolicy.for_instance(loopback_only=True, allow=None)
EVERYTHING = OutboundPolicy.for_instance(loopback_only=True, allow=["0.0.0.0/0", "::/0"])

NEVER = [
    "169.254.169.254",
    "169.254.0.1",
    "100.100.100.200",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "255.255.255.255",
    "240.0.0.1",
    "::",
    "fe80::1",
    "fd00:ec2::254",
    "ff02::1",
    "::ffff:169.254.169.254",
    "::ffff:0.0.0.0",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "::169.254.169.254",  # IPv4-compatible (deprecated)
    "::127.0.0.1",
]
PRIVATE = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "100.64.0.1",
    "198.18.0.1",
    "192.0.2.1",
    "::1",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
]
PUBLIC = [
    "93.184.216.34",
    "8.8.8.8",
    "172.32.0.1",
    "100.128.0.1",
    "2606:2800:220:1:248:1893:25c8:1946",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
]


@pytest.mark.parametrize("address", NEVER)
def test_never_addresses_are_refused_by_every_policy(address: str) -> None:
    """Link-local, metadata, "this host", multicast and reserved addresses are always refused."""
    ip = ipaddress.ip_address(address)
    assert not STRICT.allows(ip)
    assert not LOOPBACK_ONLY.allows(ip)
    assert not EVERYTHING.allows(ip)


@pytest.mark.parametrize("address", PRIVATE)
def test_private_addresses_need_loopback_only_or_an_allow_list(address: str) -> None:
    """Loopback and private addresses are refused unless the instance is loopback-only."""
    ip = ipaddress.ip_address(address)
    assert not STRICT.allows(ip)
    assert LOOPBACK_ONLY.allows(ip)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    """Globally reachable addresses are allowed by the strict policy."""
    assert STRICT.allows(ipaddress.ip_address(address))


def test_allow_list_opens_only_the_networks_it_names() -> None:
    """An allow-list naming 10.1.0.0/16 lets 10.1.2.3 through, not 10.2.0.1 nor 127.0.0.1."""
    policy = OutboundPolicy.for_instance(loopback_only=False, allow=["10.1.0.0/16"])
    assert policy.allows(ipaddress.ip_address("10.1.2.3"))
    assert policy.allows(ipaddress.ip_address("::ffff:10.1.2.3"))
    assert not policy.allows(ipaddress.ip_address("10.2.0.1"))
    assert not policy.allows(ipaddress.ip_address("127.0.0.1"))


def test_allow_list_replaces_the_loopback_default() -> None:
    """An allow-list given on a loopback-only instance is all it allows: `none` allows none."""
    policy = OutboundPolicy.for_instance(loopback_only=True, allow=["none"])
    assert policy == STRICT
    private = OutboundPolicy.for_instance(loopback_only=False, allow=["private"])
    assert private == LOOPBACK_ONLY


def test_allow_list_items_are_checked() -> None:
    """An allow-list item that is not a network is a ValueError naming it."""
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300'"):
        parse_allow_list(["10.0.0.0/8", "10.0.0.300"])


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::ffff:7f00:1", "::ffff:7f00:1"),
        ("fe80::1%25eth0", "fe80::1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("169.254.43518", "169.254.169.254"),
        ("localhost", "127.0.0.1"),
        ("LOCALHOST.", "127.0.0.1"),
        ("db.localhost", "127.0.0.1"),
        ("example.com", None),
        ("1.2.3.4.example", None),
        ("0x", None),
        ("08.1", None),
        ("256.1.1.1", None),
        ("1.2.3.4.5", None),
    ],
)
def test_literal_addresses_are_read_as_getaddrinfo_reads_them(
    host: str, address: str | None
) -> None:
    """IP literals in every inet_aton form, and localhost names, are addresses; others names."""
    expected = None if address is None else ipaddress.ip_address(address)
    assert literal_address(host) == expected


@pytest.mark.parametrize(
    ("host", "allowed"),
    [("example.com", True), ("8.8.8.8", True), ("0x7f.1", False), ("localhost", False)],
)
def test_allows_host_judges_literals_and_leaves_names(host: str, allowed: bool) -> None:
    """`allows_host` refuses refused literals and leaves names to connect time."""
    assert STRICT.allows_host(host) is allowed


def test_outbound_allow_setting_is_parsed_and_checked() -> None:
    """HOURGLASS_OUTBOUND_ALLOW is a comma-separated list; a bad item stops start-up."""
    settings = Settings.from_env({"HOURGLASS_OUTBOUND_ALLOW": "10.0.0.0/8, private"})
    assert settings.outbound_allow == ("10.0.0.0/8", "private")
    assert Settings.from_env({}).outbound_allow is None
    with pytest.raises(ConfigError, match="HOURGLASS_OUTBOUND_ALLOW: 'intranet'"):
        Settings.from_env({"HOURGLASS_OUTBOUND_ALLOW": "intranet"})
    with pytest.raises(ConfigError, match="'none' cannot be combined"):
        Settings.from_env({"HOURGLASS_OUTBOUND_ALLOW": "none,10.0.0.0/8"})
