"""The stand-ins `orderflow dev` and the tests run (localstripe, the sandbox carrier, the mail
sink) take anyone's calls, so they listen on the loopback interface only."""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from integrations.notifications.mail_sink import Collector

LISTEN = "0A"  # the TCP state LISTEN as /proc/net/tcp writes it

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="reads Linux's table of sockets"
)


def listening_addresses(port: int) -> set[str]:
    """Every local address a socket listens on at ``port``, IPv4 and IPv6, whichever process
    holds it: the kernel's table, so no server can claim one address and bind another."""
    found: set[str] = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for row in path.read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, port_hex = local.split(":")
            if state == LISTEN and int(port_hex, 16) == port:
                found.add(_decode(address, family))
    return found


def _decode(address: str, family: socket.AddressFamily) -> str:
    # The kernel writes each 32-bit word in the host's byte order.
    raw = bytes.fromhex(address)
    words = [raw[i : i + 4] for i in range(0, len(raw), 4)]
    if sys.byteorder == "little":
        words = [word[::-1] for word in words]
    return socket.inet_ntop(family, b"".join(words))


def assert_loopback_only(port: int) -> None:
    addresses = listening_addresses(port)
    assert addresses, f"nothing listens on port {port}"
    assert all(ipaddress.ip_address(a).is_loopback for a in addresses), addresses


def test_the_table_reader_sees_a_socket_listening_everywhere() -> None:
    """The control: a socket on every interface is reported as such, not as loopback."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert listening_addresses(port) == {"0.0.0.0"}


def test_localstripe_listens_on_loopback_only(localstripe_url: str) -> None:
    port = urlsplit(localstripe_url).port
    assert port is not None
    assert_loopback_only(port)


def test_the_sandbox_carrier_listens_on_loopback_only(sandbox_carrier_url: str) -> None:
    port = urlsplit(sandbox_carrier_url).port
    assert port is not None
    assert_loopback_only(port)


def test_the_mail_sink_listens_on_loopback_only(mail_sink: Collector) -> None:
    assert_loopback_only(mail_sink.port)
