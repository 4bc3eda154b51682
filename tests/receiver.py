"""A real HTTP receiver on loopback for webhook tests: records what it is sent, answers what it is told."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# `[webhooks] allow` for tests whose receivers listen on loopback (refused by the default policy)
LOOPBACK = ("127.0.0.0/8", "::1/128")


class Receiver:
    """`answers` is a list of statuses (or "hang") used in turn, then 200. `down()`/`up()` close and reopen
    the port (same port, so queued deliveries find it again)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.answers: list[int | str] = []
        self.release = threading.Event()
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._cond:
                    answer = receiver.answers.pop(0) if receiver.answers else 200
                if answer == "hang":
                    receiver.release.wait(30)
                    answer = 200
                with receiver._cond:
                    if answer == 200:
                        receiver.received.append({"headers": dict(self.headers), "body": body,
                                                  "json": json.loads(body)})
                    receiver._cond.notify_all()
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="receiver", daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self, event_type: str | None = None) -> list[dict]:
        with self._cond:
            return [r["json"] for r in self.received if event_type in (None, r["json"]["type"])]

    def wait_for(self, predicate, timeout_s: float = 15.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout_s)
