"""Modem faults are not message faults: a send refused because of the SIM or the network (+CMS ERROR 310 SIM not
inserted, 314 SIM busy, 331 no network service, +CME ERROR 10 …) puts the message back without spending an
attempt and re-initialises the modem; only errors about the message count against max_attempts."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.appliance.runtime import Gateway
from gateway.config import ModemSettings
from gateway.errors import ModemFaultSendError, PermanentSendError, TemporarySendError
from gateway.modem import replies
from gateway.values import MessageDraft, MessageState
from tests.conftest import wait_until


@pytest.mark.parametrize(("kind", "code", "cls"), [
    ("CMS", 310, ModemFaultSendError), ("CMS", 314, ModemFaultSendError), ("CMS", 331, ModemFaultSendError),
    ("CME", 10, ModemFaultSendError), ("CME", 30, ModemFaultSendError),
    ("CMS", 42, TemporarySendError), ("CMS", 21, PermanentSendError), ("CME", 100, TemporarySendError),
])
def test_errors_about_the_sim_or_the_network_are_modem_faults(kind, code, cls):
    error = replies.send_error(kind, code)
    assert type(error) is cls and (error.error_kind, error.error_code) == (kind, code)  # named cms_N or cme_N


def test_three_sim_flaps_fail_no_message(settings, modem_links):
    [fake] = modem_links(1)
    strict = settings.replace(messaging=dataclasses.replace(settings.messaging, max_attempts=2),
                              modems=(ModemSettings(name="m1", port=fake.link),))
    gateway = Gateway(strict).start()
    try:
        wait_until(lambda: gateway.service.modems.list_modems()[0].state.value == "online")
        fake.set_fail_next(3, "+CMS ERROR: 310")  # the SIM drops out three times, more than max_attempts
        [message] = gateway.store.outbox.enqueue([MessageDraft(
            to_number="+447911123456", body="flap", encoding="gsm7", parts=("flap",), delivery_report=False)],
            gateway.service.clock())
        gateway.pool.wake()
        wait_until(lambda: gateway.store.outbox.get_message(message.uid).state not in (MessageState.QUEUED,
                                                                                        MessageState.SENDING),
                   timeout_s=20)
        sent = gateway.store.outbox.get_message(message.uid)
        assert sent.state == MessageState.SENT and sent.attempts == 1  # the three refusals were not its fault
        assert [s.text for s in fake.sent] == ["flap"]
        assert sum(c.startswith("AT+CMGS") for c in fake.commands) == 4
    finally:
        gateway.stop()
