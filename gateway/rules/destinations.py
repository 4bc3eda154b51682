"""Where the box's callbacks may connect (`[webhooks] allow`), decided on the addresses a host name resolves to.

An address is allowed when a network of the allow list holds it, and then only if it is none of these, unless
listed more narrowly:
- a special address (loopback, link-local, multicast, unspecified, reserved): allowed only by a listed network
  that lies inside that special block, so `0.0.0.0/0` opens the internet but never the box's loopback;
- one of the box's own addresses: allowed only when listed as that single address (`/32`, `/128`).
IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Iterable, Union
from urllib.parse import urlsplit, urlunsplit

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

SPECIAL_BLOCKS: tuple[tuple[IPNetwork, str], ...] = tuple((ipaddress.ip_network(cidr), name) for cidr, name in (
    ("0.0.0.0/8", "an unspecified address"), ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address"), ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"), ("::/128", "an unspecified address"), ("::1/128", "a loopback address"),
    ("fe80::/10", "a link-local address"), ("ff00::/8", "a multicast address")))


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """The networks of CIDR strings (a bare address is a single-address network); ValueError names a bad one."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except (TypeError, ValueError):
            raise ValueError(f"{cidr!r} is not an address range (CIDR)") from None
    return tuple(networks)


def plain_address(address: str | IPAddress) -> IPAddress:
    """`address` without an IPv6 zone, IPv4-mapped IPv6 unwrapped; ValueError when it is no address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@dataclass(frozen=True)
class DestinationPolicy:
    """The allow list and the box's own addresses; `refusal` decides one address."""

    allow: tuple[IPNetwork, ...]
    own: frozenset[IPAddress] = frozenset()

    def refusal(self, address: str | IPAddress) -> str | None:
        """None when a callback may connect to `address`, else why not (for the caller and the log)."""
        ip = plain_address(address)
        listed = [net for net in self.allow if net.version == ip.version and ip in net]
        special = next(((block, name) for block, name in SPECIAL_BLOCKS if block.version == ip.version
                        and ip in block), None)
        if special is not None:
            block, name = special
            if not any(net.subnet_of(block) for net in listed):  # type: ignore[arg-type]  # same version
                return f"{ip} is {name}; list it in [webhooks] allow to permit it"
            return None
        if not listed:
            return f"{ip} is not in [webhooks] allow"
        if ip in self.own and not any(net.num_addresses == 1 for net in listed):
            return f"{ip} is this box's own address; list it alone (/{ip.max_prefixlen}) in [webhooks] allow"
        return None


def without_queries(text: str) -> str:
    """`text` (an HTTP library's error, which quotes the URL's path) with every query string cut to `?…`."""
    return re.sub(r"\?[^\s'\")]*", "?…", text)


def redacted_url(url: str) -> str:
    """`url` for a log line: no user-info, no query string, no fragment (they may carry credentials)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    host = f"[{host}]" if ":" in host else host
    query = "?…" if parts.query else ""
    return urlunsplit((parts.scheme, host + port, parts.path, "", "")) + query
