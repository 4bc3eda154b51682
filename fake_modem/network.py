"""Fake modems on one network: an SMS one of them sends to another's own number arrives at that one, as a real
SMS would (stored, announced), from the sender's own number. `silence(modem)` makes a SIM that takes every
submit (+CMGS answers, a reference) and delivers nothing: the silent failure a canary must catch.

    network = FakeNetwork(a, b)     # a.own_number and b.own_number must differ
    network.silence(a)              # a's SMS vanish from now on; network.restore(a) ends it
"""

from __future__ import annotations

import functools
import threading

from .messages import SentSms
from .modem import FakeModem


class FakeNetwork:
    def __init__(self, *modems: FakeModem) -> None:
        numbers = [m.own_number for m in modems]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"modems on one network need their own numbers, not {numbers}")
        self._by_number = {m.own_number: m for m in modems}
        self._silent: set[str] = set()
        self._lock = threading.Lock()
        for modem in modems:
            modem.on_sent(functools.partial(self._carry, modem))

    def silence(self, modem: FakeModem) -> None:
        with self._lock:
            self._silent.add(modem.own_number)

    def restore(self, modem: FakeModem) -> None:
        with self._lock:
            self._silent.discard(modem.own_number)

    def _carry(self, sender: FakeModem, sms: SentSms) -> None:
        """On the sender's thread: a single-part SMS to a modem of this network arrives there."""
        with self._lock:
            if sender.own_number in self._silent:
                return
        recipient = self._by_number.get(sms.number)
        if recipient is not None and sms.concat is None:
            recipient.inject_sms(sender.own_number, sms.text)
