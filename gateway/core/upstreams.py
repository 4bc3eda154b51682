"""Upstream providers' delivery receipts: the signed address each message's receipt is sent to, and a receipt
read onto its message (delivered or failed, as a modem's status report would make it).

The address is `<receipts_to>/receipts/<upstream>/<message uid>/<signature>`, the signature an HMAC of the
upstream's name and the message's uid under the callback secret (kept in the database, so any box sharing it can
take the receipt). A receipt at an address the box did not give changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime
from typing import Callable, Mapping, Sequence

from gateway.config import UpstreamSettings
from gateway.errors import ReceiptNotExpected
from gateway.store import Store
from gateway.upstream.providers import Receipt, read_receipt

log = logging.getLogger(__name__)
SIGNATURE_HEX = 32


class UpstreamReceipts:
    """Receipts of the configured upstreams (see the module's docstring)."""

    def __init__(self, store: Store, upstreams: Sequence[UpstreamSettings], secret: Callable[[], str],
                 clock: Callable[[], datetime]) -> None:
        self._store, self._secret, self._clock = store, secret, clock
        self._upstreams = {u.name: u for u in upstreams}

    def url(self, upstream: str, uid: str) -> str:
        """Where `upstream` is to send the receipt of message `uid`."""
        base = self._upstreams[upstream].receipts_to.rstrip("/")
        return f"{base}/receipts/{upstream}/{uid}/{self._signature(upstream, uid)}"

    def record(self, upstream: str, uid: str, signature: str, fields: Mapping[str, str]) -> Receipt:
        """Apply a receipt that came to `url(upstream, uid)`; ReceiptNotExpected for any other address. A receipt
        that is not final, repeats one already applied, or is for a message settled otherwise changes nothing."""
        settings = self._upstreams.get(upstream)
        if settings is None or not hmac.compare_digest(signature, self._signature(upstream, uid)):
            raise ReceiptNotExpected("no receipt is expected at this address")
        receipt = read_receipt(settings, fields)
        if receipt.delivered is not None:
            applied = self._store.reports.record_receipt(upstream, uid, receipt.delivered, receipt.detail,
                                                         self._clock())
            if not applied:
                log.info("upstream %s: receipt for message %s changes nothing (%s)", upstream, uid, receipt.detail)
        return receipt

    def _signature(self, upstream: str, uid: str) -> str:
        mac = hmac.new(self._secret().encode(), f"upstream-receipt:{upstream}:{uid}".encode(), hashlib.sha256)
        return mac.hexdigest()[:SIGNATURE_HEX]
