"""One upstream provider behind the `ModemDriver` seam, so the pool runs it as it runs a modem: a worker claims its
messages (under its group, cost, rate cap, and `use`), its state shows on the status page, and a failing one goes
offline and is reopened with the pool's backoff (the circuit breaker).

It takes whole messages (`send_message`), never PDUs. Its requests' fates: an answer is read by
`gateway.upstream.providers`; a connection that could not be made sent nothing (`ModemFaultSendError`: the message
goes back, this upstream rests); a request that got no answer may have been taken (`SendOutcomeUnknown`: the message
is `unknown`, never re-sent). `breaker_after` failed requests in a row (no answer, 408, 429, 5xx) open the breaker:
`is_alive` turns false, the worker closes it, and `open` (a probe that sends nothing) is tried again after the
backoff."""

from __future__ import annotations

import socket
from typing import Callable
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NewConnectionError

from gateway.config import UpstreamSettings
from gateway.errors import ModemFaultSendError, ModemUnavailable, SendOutcomeUnknown, TemporarySendError, UssdError
from gateway.modem.driver import ModemInfo, ModemStatus, StoredItem
from gateway.upstream.providers import HttpRequest, Outgoing, accepted_id, message_request, probe_request
from gateway.values import PartReceipt, SubmitPdu

ReceiptUrl = Callable[[str, str], str]  # (upstream name, message uid) → the signed URL its receipt goes to


class UpstreamDriver:
    """An upstream provider as the pool's worker sees a modem (see the module's docstring)."""

    def __init__(self, upstream: UpstreamSettings, receipt_url: ReceiptUrl | None = None) -> None:
        self.upstream = upstream
        self._receipt_url = receipt_url if upstream.receipts_to else None
        self._http = requests.Session()
        self._http.trust_env = False  # the configured URL is the provider: no proxy from the environment
        self._failures = 0  # failed requests in a row

    # --- what the pool asks of any driver ------------------------------------------------------------

    def open(self) -> ModemInfo:
        self._failures = 0
        self._probe()
        return ModemInfo(manufacturer=self.upstream.kind, model=urlsplit(self.upstream.url).hostname or "",
                         revision="", imei="")

    def close(self) -> None:
        self._http.close()

    def is_alive(self) -> bool:
        return self._failures < self.upstream.breaker_after

    def status(self) -> ModemStatus:
        """Reachable (and, where the kind can tell, taking our credentials): "home"; else ModemUnavailable."""
        self._probe()
        return ModemStatus(rssi=None, signal_dbm=None, registration="home", operator=f"upstream {self.upstream.kind}")

    def read_stored(self) -> list[StoredItem]:
        return []  # an upstream keeps nothing for us to collect: its receipts come to web/receipts.py

    def delete_stored(self, item: StoredItem) -> None:
        raise ValueError("an upstream stores nothing")

    def send_pdu(self, pdu: SubmitPdu, timeout_s: float,
                 meanwhile: Callable[[], None] | None = None) -> PartReceipt:
        raise TypeError("an upstream takes whole messages (send_message), not PDUs")

    def ussd(self, code: str, timeout_s: float) -> str:
        raise UssdError(f"upstream {self.upstream.name} has no USSD")

    def reject_call(self) -> None:
        """No calls come to an upstream."""

    # --- sending -------------------------------------------------------------------------------------

    def send_message(self, uid: str, to: str, text: str, *, unicode: bool, receipt: bool) -> str | None:
        """Hand one whole message to the provider; its id for it (None when it gives none). Raises the send errors
        of the module's docstring."""
        receipt_url = self._receipt_url(self.upstream.name, uid) if receipt and self._receipt_url else None
        request = message_request(self.upstream, Outgoing(uid, to, text, unicode, receipt_url))
        try:
            response = self._request(request)
        except requests.RequestException as exc:
            self._failures += 1
            if _sent_nothing(exc):
                raise ModemFaultSendError(f"upstream {self.upstream.name} cannot be reached: {_reason(exc)}") from exc
            raise SendOutcomeUnknown(f"upstream {self.upstream.name} gave no answer: {_reason(exc)}") from exc
        try:
            provider_id = accepted_id(self.upstream, response.status_code, response.headers, response.text)
        except TemporarySendError:
            self._failures += 1
            raise
        self._failures = 0
        return provider_id

    def _request(self, request: HttpRequest) -> requests.Response:
        return self._http.request(request.method, request.url, params=request.params or None, data=request.data,
                                  headers=request.headers, auth=request.auth, timeout=self.upstream.timeout_s,
                                  allow_redirects=False)

    def _probe(self) -> None:
        """ModemUnavailable unless the provider answers (and takes our credentials, where the kind can tell)."""
        request = probe_request(self.upstream)
        try:
            if request is None:
                parts = urlsplit(self.upstream.url.replace("$", ""))
                port = parts.port or (443 if parts.scheme == "https" else 80)
                socket.create_connection((parts.hostname or "", port), timeout=self.upstream.timeout_s).close()
                return
            response = self._request(request)
        except (OSError, requests.RequestException) as exc:
            raise ModemUnavailable(f"upstream {self.upstream.name} cannot be reached: {_reason(exc)}") from exc
        if response.status_code in (401, 403, 404):
            raise ModemUnavailable(f"upstream {self.upstream.name} refuses our account: HTTP {response.status_code}")
        if response.status_code >= 500:
            raise ModemUnavailable(f"upstream {self.upstream.name} answers HTTP {response.status_code}")


def _sent_nothing(exc: requests.RequestException) -> bool:
    """The request never left: no connection was made (refused, unreachable, timed out connecting)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return str(reason or exc)
