"""`smsgw demo` made hard to break and easy to try.

* One demo per directory: `var/demo.lock` is held (flock) for the demo's life, taken before anything else is
  touched, and names the running demo (pid, address) to a second one, which stops in one line. The port is
  checked as well, before the emulated modems are made.
* Its credentials last: the admin API key and the status page's password are kept in `var/demo-credentials`
  (0600) and reused by the next start while they still work, so restarts add no keys.
* Inbound on demand: `DemoModems.inbound` (behind `POST /api/v1/demo/inbound`, the page's "an SMS arrives"
  form and `smsgw demo inject`) makes an emulated modem receive an SMS; and some recipients answer by
  themselves (`fake_modem`'s `reply_rate`).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, TextIO

from gateway.errors import GatewayError, ModemNotFound, ValidationError
from gateway.rules.apikeys import SCOPES

if TYPE_CHECKING:
    from fake_modem import FakeModem
    from gateway.core.service import GatewayService

LOCK_FILE = "demo.lock"
CREDENTIALS_FILE = "demo-credentials"
KEY_NAME = "demo-admin"
MAX_TEXT = 1600
_SENDER = re.compile(r"^(\+?[0-9]{3,20}|[A-Za-z0-9 ]{1,11})$")  # a number, or an alphanumeric sender ID


class DemoError(GatewayError):
    """The demo cannot start here (another holds the directory or the port), or cannot be reached."""

    code = "demo_error"
    http_status = 409
    exit_code = 1  # DESIGN.md: a demo that cannot start here exits 1, touching nothing


class DemoDirectory:
    """The demo's data directory (`var/` by default): its lock and its credentials."""

    def __init__(self, var: Path) -> None:
        self.var = var
        self._lock: TextIO | None = None

    def lock(self) -> None:
        """Hold the directory for this process; DemoError naming the holder when another demo has it."""
        self.var.mkdir(parents=True, exist_ok=True)
        handle = open(self.var / LOCK_FILE, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = _json(handle.read())
            handle.close()
            raise DemoError(
                f"a demo already runs from {self.var} (pid {holder.get('pid', '?')}, {holder.get('url', '?')}): "
                "use it, stop it (Ctrl-C in its terminal), or start another with its own port and directory: "
                "make run PORT=8081 VAR=var2") from None
        self._lock = handle

    def announce(self, url: str) -> None:
        """Say in the lock file who holds it, for a second demo to name."""
        if self._lock is not None:
            self._lock.seek(0)
            self._lock.truncate()
            self._lock.write(json.dumps({"pid": os.getpid(), "url": url}))
            self._lock.flush()

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing drops the flock
            self._lock = None

    def credentials(self) -> dict[str, str]:
        """What the last start saved (url, api_key, admin_password); empty when nothing was."""
        try:
            text = (self.var / CREDENTIALS_FILE).read_text()
        except OSError:
            return {}
        return dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line and not line.startswith("#"))

    def save_credentials(self, url: str, api_key: str, admin_password: str) -> Path:
        path = self.var / CREDENTIALS_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"# smsgw demo in {self.var}: its address, admin API key and status page password\n"
                      f"url = {url}\napi_key = {api_key}\nadmin_password = {admin_password}\n")
        return path


def _json(text: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def check_port_free(host: str, port: int) -> None:
    """DemoError when another program listens on `port` (port 0 asks for any free one: always free)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise DemoError(f"port {port} on {host} is taken by another program: pick another, e.g. "
                           f"make run PORT={port + 1} (or smsgw demo --port {port + 1})") from None


def demo_api_key(service: GatewayService, saved: Mapping[str, str]) -> str:
    """The saved admin key while it still works, else a new one (the old demo keys are revoked with it)."""
    token = saved.get("api_key", "")
    try:
        service.keys.authenticate(token, "admin")
        return token
    except GatewayError:
        pass
    for key in service.keys.list_keys():
        if key.name == KEY_NAME and key.revoked_at is None:
            service.keys.revoke_key(key.id)
    return service.keys.create_key(KEY_NAME, list(SCOPES))[1]


def demo_password(service: GatewayService, saved: Mapping[str, str], new_password: str) -> str:
    """The saved status page password while it still opens the page, else `new_password`, set now."""
    password = saved.get("admin_password", "")
    if password and service.admin.check_password(password):
        return password
    service.admin.set_password(new_password)
    return new_password


class DemoModems:
    """The demo's emulated modems, by name: an SMS arrives on one when someone asks."""

    def __init__(self, fakes: Mapping[str, FakeModem]) -> None:
        self._fakes = dict(fakes)

    def inbound(self, sender: str, text: str, modem: str | None = None) -> str:
        """`text` from `sender` arrives on `modem` (the first one by default); returns the modem's name."""
        sender, name = sender.strip(), modem or next(iter(self._fakes), "")
        if not _SENDER.match(sender):
            raise ValidationError("'from' must be a phone number (+447911123456) or a sender name of up to 11 "
                                  "letters and digits", field="from")
        if not text or len(text) > MAX_TEXT:
            raise ValidationError(f"'text' must hold 1 to {MAX_TEXT} characters", field="text")
        if name not in self._fakes:
            raise ModemNotFound(f"no demo modem named {name!r}; the demo has {', '.join(self._fakes)}", field="modem")
        self._fakes[name].inject_sms(sender, text)
        return name


def inject(var: Path, sender: str, text: str, modem: str | None, timeout_s: float = 10.0) -> str:
    """`smsgw demo inject`: ask the demo running from `var` (its saved address and key) to receive an SMS."""
    saved = DemoDirectory(var).credentials()
    if not saved.get("url") or not saved.get("api_key"):
        raise DemoError(f"no demo has run from {var}: start one first (make run)")
    body = json.dumps({"from": sender, "text": text, **({"modem": modem} if modem else {})}).encode()
    request = urllib.request.Request(f"{saved['url']}/api/v1/demo/inbound", data=body, method="POST", headers={
        "Authorization": f"Bearer {saved['api_key']}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310 - the demo's own URL
            return str(json.load(answer).get("modem", ""))
    except urllib.error.HTTPError as exc:
        error = _json(exc.read().decode(errors="replace")).get("error")
        message = error.get("message") if isinstance(error, dict) else None
        raise DemoError(f"the demo refused: {message or exc}") from None
    except OSError as exc:
        raise DemoError(f"the demo at {saved['url']} does not answer ({exc}): is it running?") from None
