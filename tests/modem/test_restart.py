"""A modem that restarts by itself (brown-out, firmware watchdog) forgets its settings and, with a PIN-protected
SIM, wants the PIN again. Its banners are news: the worker re-initialises it within seconds and it sends again."""

from __future__ import annotations

import dataclasses
import time

import pytest

from gateway.appliance.runtime import Gateway
from gateway.config import ModemSettings
from gateway.values import MessageDraft
from tests.conftest import wait_until

PIN = "1234"


@pytest.mark.parametrize("pin", [PIN, None], ids=["with_pin", "without_pin"])
def test_a_modem_that_restarts_is_reinitialised_and_sends_again(settings, modem_links, pin, caplog):
    [fake] = modem_links(1, pin=pin)
    gateway = Gateway(settings.replace(modems=(ModemSettings(name="m1", port=fake.link, pin=pin or ""),))).start()
    try:
        store = gateway.store

        def send(text: str) -> None:
            [message] = store.outbox.enqueue([MessageDraft(to_number="+447911123456", body=text, encoding="gsm7",
                                                           parts=(text,), delivery_report=False)],
                                             gateway.service.clock())
            gateway.pool.wake()
            wait_until(lambda: any(s.text == text for s in fake.sent), timeout_s=10)

        send("before")
        pins_entered = sum(c.startswith("AT+CPIN=") for c in fake.commands)
        restarted = time.monotonic()
        fake.restart()
        send("after")  # PDU mode, CNMI and the PIN set again: the modem sends as before
        back_s = time.monotonic() - restarted
        assert sum(c.startswith("AT+CPIN=") for c in fake.commands) == pins_entered + (1 if pin else 0)
        assert "the modem restarted or its SIM needs it again" in caplog.text
        assert back_s < 5, back_s
        print(f"restart → sending again: {back_s:.2f} s ({'with' if pin else 'without'} PIN)")
    finally:
        gateway.stop()


def test_a_part_whose_answer_the_restart_cut_off_is_unknown_and_the_modem_comes_back(settings, modem_links):
    [fake] = modem_links(1, latency_ms=1500)  # the network takes its time: the restart comes before +CMGS
    quick = settings.replace(pool=dataclasses.replace(settings.pool, send_timeout_s=1.0),
                             modems=(ModemSettings(name="m1", port=fake.link),))
    gateway = Gateway(quick).start()
    try:
        store = gateway.store
        [message] = store.outbox.enqueue([MessageDraft(to_number="+447911123456", body="cut", encoding="gsm7",
                                                       parts=("cut",), delivery_report=False)], gateway.service.clock())
        gateway.pool.wake()
        wait_until(lambda: any(c.startswith("AT+CMGS") for c in fake.commands), timeout_s=10)
        fake.restart()
        wait_until(lambda: store.outbox.get_message(message.uid).state.value == "unknown", timeout_s=10)
        wait_until(lambda: gateway.service.modems.list_modems()[0].state.value == "online", timeout_s=10)
        assert store.outbox.get_message(message.uid).state.value == "unknown"  # never re-sent
    finally:
        gateway.stop()


def test_a_restart_whose_banners_were_lost_is_found_by_the_health_poll(settings, modem_links):
    [fake] = modem_links(1, pin=PIN)
    polled = settings.replace(pool=dataclasses.replace(settings.pool, health_interval_s=0.5),
                              modems=(ModemSettings(name="m1", port=fake.link, pin=PIN),))
    gateway = Gateway(polled).start()
    try:
        wait_until(lambda: gateway.service.modems.list_modems()[0].state.value == "online")
        pins_entered = sum(c.startswith("AT+CPIN=") for c in fake.commands)
        fake.restart(banners=False)  # only `+CPIN: SIM PIN` and `+CMEE: 0` tell
        wait_until(lambda: sum(c.startswith("AT+CPIN=") for c in fake.commands) > pins_entered, timeout_s=10)
        [message] = gateway.store.outbox.enqueue([MessageDraft(
            to_number="+447911123456", body="found", encoding="gsm7", parts=("found",), delivery_report=False)],
            gateway.service.clock())
        gateway.pool.wake()
        wait_until(lambda: [s.text for s in fake.sent] == ["found"], timeout_s=10)
    finally:
        gateway.stop()
