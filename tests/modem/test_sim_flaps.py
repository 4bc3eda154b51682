"""Modem faults are not message faults: a send refused because of the SIM or the network (+CMS ERROR 310 SIM not
inserted, 314 SIM busy, 331 no network service, +CME ERROR 10 …) puts the message back without spending an
attempt and re-initialises the modem; only errors about the message count against max_attempts. A SIM pulled out
is noticed from the modem's own words (+CPIN: NOT READY, ^SIMST: 255): the modem claims nothing until the SIM is
back, then re-initialises and sends."""

from __future__ import annotations

import dataclasses
import time

import pytest

from gateway.errors import ModemFaultSendError, PermanentSendError, TemporarySendError
from gateway.modem import replies
from gateway.values import MessageState, ModemState
from tests.conftest import queue_text, wait_until


@pytest.mark.parametrize(("kind", "code", "cls"), [
    ("CMS", 310, ModemFaultSendError), ("CMS", 314, ModemFaultSendError), ("CMS", 331, ModemFaultSendError),
    ("CME", 10, ModemFaultSendError), ("CME", 30, ModemFaultSendError),
    ("CMS", 42, TemporarySendError), ("CMS", 21, PermanentSendError), ("CME", 100, TemporarySendError),
])
def test_errors_about_the_sim_or_the_network_are_modem_faults(kind, code, cls):
    error = replies.send_error(kind, code)
    assert type(error) is cls and (error.error_kind, error.error_code) == (kind, code)  # named cms_N or cme_N


def test_three_sim_flaps_fail_no_message(settings, gateway_factory):
    strict = settings.replace(messaging=dataclasses.replace(settings.messaging, max_attempts=2))
    gateway, [fake], _ = gateway_factory(1, settings_override=strict)
    wait_until(lambda: gateway.service.modems.list_modems()[0].state == ModemState.ONLINE)
    fake.set_fail_next(3, "+CMS ERROR: 310")  # the SIM drops out three times, more than max_attempts
    message = queue_text(gateway, "flap")
    wait_until(lambda: gateway.store.outbox.get_message(message.uid).state not in (MessageState.QUEUED,
                                                                                    MessageState.SENDING),
               timeout_s=20)
    sent = gateway.store.outbox.get_message(message.uid)
    assert sent.state == MessageState.SENT and sent.attempts == 1  # the three refusals were not its fault
    assert [s.text for s in fake.sent] == ["flap"]
    assert sum(c.startswith("AT+CMGS") for c in fake.commands) == 4


@pytest.mark.parametrize("profile", ["simcom", "huawei"])
def test_a_pulled_sim_stops_claims_at_once_and_its_return_resumes_them(settings, gateway_factory, profile):
    slow_poll = settings.replace(pool=dataclasses.replace(settings.pool, health_interval_s=60.0))
    gateway, [fake], _ = gateway_factory(1, settings_override=slow_poll, profile=profile)

    def modem():
        return gateway.service.modems.list_modems()[0]

    wait_until(lambda: modem().state == ModemState.ONLINE)
    pulled = time.monotonic()
    fake.remove_sim()
    wait_until(lambda: modem().state == ModemState.NO_SIM, timeout_s=5)
    noticed_s = time.monotonic() - pulled
    assert "SIM absent" in modem().last_error
    message = queue_text(gateway, "after the SIM is back")
    time.sleep(0.5)
    assert not any(c.startswith("AT+CMGS") for c in fake.commands)
    inserted = time.monotonic()
    fake.insert_sim()
    wait_until(lambda: [s.text for s in fake.sent] == ["after the SIM is back"], timeout_s=5)
    back_s = time.monotonic() - inserted
    assert gateway.store.outbox.get_message(message.uid).attempts == 1
    assert noticed_s < 10.0 and back_s < 10.0, (noticed_s, back_s)  # from URCs: the health poll would take 60 s
    print(f"{profile}: SIM pulled → not claiming {noticed_s * 1000:.0f} ms; SIM back → sent {back_s * 1000:.0f} ms")


def test_a_modem_started_without_a_sim_says_so_and_comes_online_when_one_is_put_in(gateway_factory):
    gateway, [fake], _ = gateway_factory(1, sim="absent")
    wait_until(lambda: gateway.service.modems.list_modems()[0].state == ModemState.NO_SIM)
    assert "no SIM" in gateway.service.modems.list_modems()[0].last_error
    fake.insert_sim()
    wait_until(lambda: gateway.service.modems.list_modems()[0].state == ModemState.ONLINE, timeout_s=10)
