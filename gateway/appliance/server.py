"""The production WSGI server (waitress), run on a thread we own and can stop cleanly."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Protocol, cast

import waitress.server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from waitress.task import ThreadedTaskDispatcher


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


class HttpServer:
    """Serves a WSGI app with waitress on `host:port` (port 0 picks a free one)."""

    def __init__(self, app: WSGIApplication, host: str, port: int, threads: int) -> None:
        # one host:port gives a single-socket server (a MultiSocketServer only for several listen addresses)
        self._server = cast(_Waitress, waitress.server.create_server(app, host=host, port=port, threads=threads,
                                                                     connection_limit=256, channel_timeout=60))
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
