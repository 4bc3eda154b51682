"""The box's outbound HTTP for callbacks: every connection goes only to an address `[webhooks] allow` permits.

`CallbackDestinations.check_url` refuses a URL at request time (its host resolved now); `session()` gives a
requests session whose connections resolve the host again at connect time and connect to a checked address
only, so a name that later resolves elsewhere (DNS rebinding) reaches nothing the policy refuses. TLS still
verifies the certificate for the URL's host name. Environment proxies are ignored (a proxy would connect for us).
"""

from __future__ import annotations

import array
import fcntl
import ipaddress
import logging
import socket
import struct
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError
from urllib3.util import connection

from gateway.errors import CallbackNotAllowed
from gateway.rules.destinations import DestinationPolicy, IPAddress, parse_networks, plain_address

log = logging.getLogger(__name__)

_SIOCGIFADDR = 0x8915
_IF_INET6 = Path("/proc/net/if_inet6")


def own_addresses() -> frozenset[IPAddress]:
    """The addresses of this machine's interfaces (IPv4 by ioctl, IPv6 from /proc) and of its host name."""
    found: set[IPAddress] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            request = array.array("B", struct.pack("256s", name.encode()[:15]))
            try:
                fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
            except OSError:  # no IPv4 address on this interface
                continue
            found.add(ipaddress.ip_address(bytes(request[20:24])))
    try:
        for line in _IF_INET6.read_text().splitlines():
            found.add(ipaddress.ip_address(bytes.fromhex(line.split()[0])))
    except (OSError, ValueError, IndexError):  # no IPv6 on this machine
        pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(plain_address(str(info[4][0])))
    except (OSError, ValueError):
        pass
    return frozenset(found)


class DestinationRefused(NewConnectionError):
    """A connection the policy refused (no allowed address for the host)."""


class CallbackDestinations:
    """The `[webhooks] allow` policy applied to URLs (request time) and connections (send time)."""

    def __init__(self, allow: tuple[str, ...], own: frozenset[IPAddress] | None = None) -> None:
        self.policy = DestinationPolicy(parse_networks(allow), own_addresses() if own is None else own)

    def addresses(self, host: str, port: int) -> tuple[list[tuple[Any, ...]], str | None]:
        """The allowed socket addresses `host` resolves to (in resolver order), and why the others were refused."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            return [], f"{host} cannot be resolved ({exc})"
        allowed, refusal = [], None
        for family, _, _, _, sockaddr in infos:
            reason = self.policy.refusal(str(sockaddr[0]))
            if reason is None:
                allowed.append((family, sockaddr))
            else:
                refusal = refusal or reason
        return allowed, refusal

    def check_url(self, url: str, *, field: str) -> None:
        """CallbackNotAllowed unless every address the URL's host resolves to now is allowed."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise CallbackNotAllowed(f"{field}: the port is not a number", field=field) from None
        allowed, refusal = self.addresses(host, port)
        if refusal is not None or not allowed:
            raise CallbackNotAllowed(f"{field} may not be called: {refusal or host + ' has no address'}",
                                     field=field)

    def refusal(self, url: str) -> str | None:
        """Why a send to `url` would be refused now, or None."""
        try:
            self.check_url(url, field="url")
        except CallbackNotAllowed as exc:
            return exc.message
        return None

    def session(self) -> requests.Session:
        """A requests session that connects only to allowed addresses."""
        session = requests.Session()
        session.trust_env = False
        adapter = _CheckedAdapter(self)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session


class _CheckedConnect:
    """Replaces urllib3's connect: resolve, keep the allowed addresses, connect to the first that answers."""

    destinations: CallbackDestinations
    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        allowed, refusal = self.destinations.addresses(self._dns_host, self.port)
        if not allowed:
            raise DestinationRefused(self, f"callback destination refused: {refusal}")  # type: ignore[arg-type]
        error: OSError | None = None
        for _, sockaddr in allowed:
            try:
                return connection.create_connection((str(sockaddr[0]), self.port), self.timeout,
                                                    source_address=self.source_address,
                                                    socket_options=self.socket_options)
            except OSError as exc:
                error = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")  # type: ignore[arg-type]


class _CheckedAdapter(HTTPAdapter):
    """An HTTPAdapter whose pools make `_CheckedConnect` connections bound to one CallbackDestinations."""

    def __init__(self, destinations: CallbackDestinations) -> None:
        http_conn = type("CheckedHTTPConnection", (_CheckedConnect, HTTPConnection), {"destinations": destinations})
        https_conn = type("CheckedHTTPSConnection", (_CheckedConnect, HTTPSConnection),
                          {"destinations": destinations})
        self._pools = {"http": type("CheckedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
                       "https": type("CheckedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn})}
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pools
