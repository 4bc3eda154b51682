"""A modem that restarts by itself (brown-out, firmware watchdog) forgets its settings and, with a PIN-protected
SIM, wants the PIN again. Its banners are news: the worker re-initialises it within seconds and it sends again."""

from __future__ import annotations

import dataclasses
import time

import pytest

from gateway.values import MessageState, ModemState
from tests.api_client import Api
from tests.conftest import queue_text, wait_until

PIN = "1234"


def pins_entered(fake) -> int:
    return sum(c.startswith("AT+CPIN=") for c in fake.commands)


@pytest.mark.parametrize("pin", [PIN, None], ids=["with_pin", "without_pin"])
def test_a_modem_that_restarts_is_reinitialised_and_sends_again(gateway_factory, pin, caplog):
    gateway, [fake], _ = gateway_factory(1, pin=pin)

    def send(text: str) -> None:
        queue_text(gateway, text)
        wait_until(lambda: any(s.text == text for s in fake.sent), timeout_s=10)

    send("before")
    before = pins_entered(fake)
    opens = fake.commands.count("ATZ")
    restarted = time.monotonic()
    fake.restart()
    wait_until(lambda: fake.commands.count("ATZ") > opens
               and gateway.service.modems.list_modems()[0].state == ModemState.ONLINE, timeout_s=10)
    online_s = time.monotonic() - restarted
    send("after")  # PDU mode, CNMI and the PIN set again: the modem sends as before
    back_s = time.monotonic() - restarted
    assert pins_entered(fake) == before + (1 if pin else 0)
    assert "the modem restarted, switched its radio off or wants the PIN" in caplog.text
    assert back_s < 5, back_s
    print(f"restart → online {online_s:.2f} s, → the next message sent {back_s:.2f} s "
          f"({'with' if pin else 'without'} PIN)")


def test_a_part_whose_answer_the_restart_cut_off_is_unknown_and_the_modem_comes_back(settings, gateway_factory):
    quick = settings.replace(pool=dataclasses.replace(settings.pool, send_timeout_s=1.0))
    # the network takes its time: the restart comes before +CMGS
    gateway, [fake], _ = gateway_factory(1, settings_override=quick, latency_ms=1500)
    message = queue_text(gateway, "cut")
    wait_until(lambda: any(c.startswith("AT+CMGS") for c in fake.commands), timeout_s=10)
    fake.restart()
    wait_until(lambda: gateway.store.outbox.get_message(message.uid).state == MessageState.UNKNOWN, timeout_s=10)
    wait_until(lambda: gateway.service.modems.list_modems()[0].state == ModemState.ONLINE, timeout_s=10)
    assert gateway.store.outbox.get_message(message.uid).state == MessageState.UNKNOWN  # never re-sent


def test_a_restart_whose_banners_were_lost_is_found_by_the_health_poll(settings, gateway_factory):
    polled = settings.replace(pool=dataclasses.replace(settings.pool, health_interval_s=0.5))
    gateway, [fake], _ = gateway_factory(1, settings_override=polled, pin=PIN)
    wait_until(lambda: gateway.service.modems.list_modems()[0].state == ModemState.ONLINE)
    before = pins_entered(fake)
    fake.restart(banners=False)  # only `+CPIN: SIM PIN` and `+CMEE: 0` tell
    wait_until(lambda: pins_entered(fake) > before, timeout_s=10)
    queue_text(gateway, "found")
    wait_until(lambda: [s.text for s in fake.sent] == ["found"], timeout_s=10)


def test_a_radio_switched_off_is_switched_on_again(gateway_factory):
    gateway, [fake], _ = gateway_factory(1)
    queue_text(gateway, "before")
    wait_until(lambda: len(fake.sent) == 1, timeout_s=10)
    fake.set_radio(4)  # flight mode, as a stray script or a firmware fault sets it
    queue_text(gateway, "after")
    wait_until(lambda: [s.text for s in fake.sent] == ["before", "after"], timeout_s=10)
    assert "AT+CFUN=1" in fake.commands


def test_supply_warnings_are_said_and_a_power_down_reopens_the_modem(gateway_factory, caplog):
    gateway, [fake], _ = gateway_factory(1)

    def modem():
        return gateway.service.modems.list_modems()[0]

    wait_until(lambda: modem().state == ModemState.ONLINE)
    fake.emit(b"\r\nUNDER-VOLTAGE WARNNING\r\n")
    wait_until(lambda: modem().last_error == "power supply: UNDER-VOLTAGE WARNNING")
    assert modem().state == ModemState.ONLINE and "check its power supply" in caplog.text
    connects = sum(c == "ATZ" for c in fake.commands)
    fake.emit(b"\r\nUNDER-VOLTAGE POWER DOWN\r\n")
    wait_until(lambda: sum(c == "ATZ" for c in fake.commands) > connects, timeout_s=10)
    wait_until(lambda: modem().state == ModemState.ONLINE, timeout_s=10)


def test_the_at_log_shows_what_the_modem_said_before_it_was_reopened_redacted(gateway_factory):
    gateway, [fake], token = gateway_factory(1, pin=PIN)
    api = Api(gateway, token)
    queue_text(gateway, "logged")
    wait_until(lambda: len(fake.sent) == 1, timeout_s=10)
    fake.ring("+447911765432")
    wait_until(lambda: fake.ringing is None)  # refused
    fake.restart()
    wait_until(lambda: pins_entered(fake) == 2, timeout_s=10)
    log = api.session.get(f"{api.base}/modems/modem1/log", params={"limit": 200}, timeout=10).json()
    lines = [(line["direction"], line["text"]) for line in log["lines"]]
    assert ("sent", 'AT+CPIN="****"') in lines and ("received", "RDY") in lines
    assert any(text.startswith("AT+CMGS=") for _, text in lines)
    assert any(direction == "sent" and text.startswith("<PDU, ") for direction, text in lines)
    assert any(text.startswith('+CLIP: "+44 79** ***432"') for _, text in lines)
    shown = str(lines)
    assert PIN not in shown and "765432" not in shown and "logged" not in shown
    assert api.session.get(f"{api.base}/modems/modem9/log", timeout=10).status_code == 404
