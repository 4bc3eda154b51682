"""The production WSGI server: waitress, for HTTP and HTTPS alike, run on a thread we own and can stop cleanly.

waitress reads requests on one asynchronous loop (no thread is held by a slow client until its request head is
complete) and runs the app on a pool of threads. On top of it, this module promises what a hostile LAN needs:
- a connection from an address outside `[server] allow_from` is closed at accept, before TLS or any read;
- one address holds at most `max_connections_per_address` open connections (more are closed at accept);
- a connection whose request head (and, with TLS, its handshake) is not complete `header_timeout_s` after it
  began is closed, however slowly it trickles bytes;
- TLS is non-blocking: the handshake runs on the same loop, a step each time the socket is ready, so a client
  that connects and never speaks holds nothing but its socket.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence, cast

import waitress.server
from waitress.channel import HTTPChannel

from gateway.clock import utcnow

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from waitress.task import ThreadedTaskDispatcher

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 1000  # all addresses together (waitress stops accepting past this until some close)
CLEANUP_INTERVAL_S = 1  # how often idle and slow connections are looked for


class _Closable(Protocol):
    def close(self) -> None: ...


class _Trigger(Protocol):
    def pull_trigger(self, thunk: Callable[[], None]) -> None: ...


class _Waitress(Protocol):
    """The part of waitress's single-socket server used here, internals included (types-waitress leaves out
    `effective_port` and types `trigger` as an int)."""

    effective_port: str | int
    _map: dict[int, _Closable]  # its channels
    trigger: _Trigger
    task_dispatcher: ThreadedTaskDispatcher

    def run(self) -> None: ...


class GuardedChannel(HTTPChannel):
    """A waitress channel that knows since when its request head has been awaited (`head_since`, monotonic
    seconds; None while idle between requests or once the head is in), and speaks TLS when its socket is an
    SSLSocket made with `do_handshake_on_connect=False`."""

    def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:
        self.head_since: float | None = time.monotonic()
        self._tls = isinstance(sock, ssl.SSLSocket)
        self._handshaken = not self._tls
        self._handshake_wants_write = False
        self._counted = True
        super().__init__(server, sock, addr, adj, map=map)

    def received(self, data: bytes) -> bool:
        result = bool(super().received(data))
        if self.request is None or self.request.headers_finished:
            self.head_since = None
        elif self.head_since is None:
            self.head_since = time.monotonic()
        return result

    # --- TLS on the loop ----------------------------------------------------------------------------------

    def _handshake(self) -> bool:
        try:
            cast(ssl.SSLSocket, self.socket).do_handshake()
        except ssl.SSLWantReadError:
            self._handshake_wants_write = False
            return False
        except ssl.SSLWantWriteError:
            self._handshake_wants_write = True
            return False
        except OSError:  # not TLS, a bad certificate on the client's side, a reset: nothing to answer
            self.handle_close()
            return False
        self._handshaken, self._handshake_wants_write = True, False
        return True

    def readable(self) -> bool:
        return bool(super().readable()) if self._handshaken else True

    def writable(self) -> bool:
        return bool(super().writable()) if self._handshaken else self._handshake_wants_write or self.will_close

    def handle_write(self) -> None:
        if self._handshaken or self.will_close:
            super().handle_write()
        else:
            self._handshake()

    def handle_read(self) -> None:
        if not self._tls:
            super().handle_read()
            return
        if not self._handshaken and not self._handshake():
            return
        while self.connected:
            try:
                data = cast(ssl.SSLSocket, self.socket).recv(self.adj.recv_bytes)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except OSError:
                self.handle_close()
                return
            if not data:
                self.handle_close()
                return
            self.last_activity = utcnow().timestamp()  # waitress's idle timeout compares epoch seconds
            self.received(data)
            if not cast(ssl.SSLSocket, self.socket).pending():  # decrypted bytes select() does not see
                return

    def send(self, data: bytes, do_close: bool = True) -> int:
        if not self._tls:
            return int(super().send(data, do_close))
        if not self._handshaken:
            return 0
        try:
            return cast(ssl.SSLSocket, self.socket).send(data)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return 0
        except OSError:
            if do_close:
                self.handle_close()
            return 0

    def del_channel(self, map: Any = None) -> None:
        if self._counted:
            self._counted = False
            cast(GuardedServer, self.server).forget(self.addr)
        super().del_channel(map)


class GuardedServer(waitress.server.TcpWSGIServer):
    """waitress's TCP server with the allow list, the per-address cap, the head timeout and TLS (see the module)."""

    channel_class = GuardedChannel

    def __init__(self, app: WSGIApplication, *, allow_from: Sequence[str], max_per_address: int,
                 header_timeout_s: float, tls: ssl.SSLContext | None, **kwargs: Any) -> None:
        self._allowed = [ipaddress.ip_network(cidr, strict=False) for cidr in allow_from]
        self._max_per_address = max_per_address
        self._header_timeout_s = header_timeout_s
        self._tls = tls
        self._open: dict[str, int] = {}
        self._open_lock = threading.Lock()
        super().__init__(app, **kwargs)

    def _refuses(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return not any(address.version == net.version and address in net for net in self._allowed)

    def handle_accept(self) -> None:
        try:
            accepted = self.accept()
            if accepted is None:
                return
            conn, addr = accepted
        except OSError:
            return
        host = str(addr[0])
        with self._open_lock:
            refused = self._refuses(host) or self._open.get(host, 0) >= self._max_per_address
            if not refused:
                self._open[host] = self._open.get(host, 0) + 1
        if refused:  # costs nothing: no TLS, no read, no log line per connection
            conn.close()
            return
        try:
            self.set_socket_options(conn)
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=cast(Any, self)._map)
        except OSError:
            self.forget(addr)
            conn.close()

    def forget(self, addr: Any) -> None:
        """A connection from `addr` closed."""
        host = str(addr[0])
        with self._open_lock:
            left = self._open.get(host, 0) - 1
            if left > 0:
                self._open[host] = left
            else:
                self._open.pop(host, None)

    def maintenance(self, now: Any) -> None:
        super().maintenance(now)
        cutoff = time.monotonic() - self._header_timeout_s
        for channel in list(cast(dict[int, Any], self.active_channels).values()):
            since = getattr(channel, "head_since", None)
            if since is not None and since < cutoff and not channel.requests:
                channel.will_close = True


class HttpServer:
    """Serves a WSGI app on `host:port` (port 0 picks a free one), over TLS when `tls_cert` and `tls_key` are
    given (PEM files); the guards of the module's docstring apply to both."""

    def __init__(self, app: WSGIApplication, host: str, port: int, threads: int, *,
                 allow_from: Sequence[str] = ("0.0.0.0/0", "::/0"), max_per_address: int = 32,
                 header_timeout_s: float = 10.0, tls_cert: str = "", tls_key: str = "") -> None:
        context = None
        if tls_cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls_cert, tls_key)  # a bad certificate fails here, at start
        self._server = cast(_Waitress, GuardedServer(
            app, allow_from=allow_from, max_per_address=max_per_address, header_timeout_s=header_timeout_s,
            tls=context, host=host, port=port, threads=threads, connection_limit=MAX_CONNECTIONS,
            channel_timeout=60, cleanup_interval=CLEANUP_INTERVAL_S, asyncore_use_poll=True,
            url_scheme="https" if context is not None else "http", ident="smsgw"))
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)  # waitress gives the port as a string

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Close the listening socket and every connection from inside the server loop, then join."""
        if not self._thread.is_alive():
            return

        def close_all() -> None:
            for channel in list(self._server._map.values()):  # waitress keeps its channels here
                channel.close()

        try:
            self._server.trigger.pull_trigger(close_all)
        except OSError:  # the wake-up pipe is gone: close from here; the loop ends at its next timeout
            close_all()
        self._thread.join(timeout_s)
        self._server.task_dispatcher.shutdown()
