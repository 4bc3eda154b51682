"""A modem that loses its network says so (`+CREG: 2` after AT+CREG=1): it stops claiming work at once, not at
the next health poll, and takes it up again as soon as it says it is back."""

from __future__ import annotations

import dataclasses
import time

from gateway.values import ModemState
from tests.conftest import queue_text, wait_until


def test_losing_the_network_stops_claims_at_once_and_regaining_it_resumes(settings, gateway_factory):
    slow_poll = settings.replace(pool=dataclasses.replace(settings.pool, health_interval_s=60.0))
    gateway, [fake], _ = gateway_factory(1, settings_override=slow_poll)

    def state() -> ModemState:
        return gateway.service.modems.list_modems()[0].state

    wait_until(lambda: state() == ModemState.ONLINE)
    lost = time.monotonic()
    fake.set_registration(2)  # searching
    wait_until(lambda: state() == ModemState.SEARCHING, timeout_s=5)
    noticed_s = time.monotonic() - lost
    queue_text(gateway, "wait")
    time.sleep(0.5)
    assert not any(c.startswith("AT+CMGS") for c in fake.commands)  # no claim while it has no network
    fake.set_registration(1)
    wait_until(lambda: [s.text for s in fake.sent] == ["wait"], timeout_s=5)
    assert noticed_s < 10.0, noticed_s  # from the URC: the health poll would have taken 60 s
    print(f"+CREG: 2 → not claiming: {noticed_s * 1000:.0f} ms")


def test_an_lte_only_modem_claims_work_only_while_sms_over_ims_is_up(settings, gateway_factory):
    slow_poll = settings.replace(pool=dataclasses.replace(settings.pool, health_interval_s=60.0))
    gateway, [fake], _ = gateway_factory(1, settings_override=slow_poll, profile="lte")

    def modem():
        return gateway.service.modems.list_modems()[0]

    wait_until(lambda: modem().state == ModemState.ONLINE)
    fake.set_ims(False)  # +CIREGU: 0: registered on LTE, but no way for an SMS
    wait_until(lambda: (modem().state, modem().registration) == (ModemState.NOT_REGISTERED, "no_sms"), timeout_s=5)
    queue_text(gateway, "over IMS")
    time.sleep(0.5)
    assert not any(c.startswith("AT+CMGS") for c in fake.commands)
    fake.set_ims(True)
    wait_until(lambda: [s.text for s in fake.sent] == ["over IMS"], timeout_s=5)
