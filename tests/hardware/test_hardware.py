"""hardware/: LEDs, button and power pins on gpiozero's MockFactory (asserting pin states, pressing with
drive_low), and the whole gateway driving them from real modem state changes over fake modems."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from gpiozero.pins.mock import MockFactory

from gateway.config import HardwareSettings, ModemSettings, Settings
from gateway.values import ModemState
from hardware import FaultLed, ModemLed, ModemPower, Panel
from tests.conftest import wait_until

LED1, LED2, FAULT, BUTTON, POWER1 = 5, 6, 27, 17, 22


@pytest.fixture
def factory():
    factory = MockFactory()
    yield factory
    factory.reset()


def pin_is(factory, number, value):
    return lambda: factory.pin(number).state == value


def test_modem_led_on_online_blinking_sending_off_otherwise(factory):
    with ModemLed(LED1, pin_factory=factory) as led:
        led.show(ModemState.ONLINE)
        assert factory.pin(LED1).state
        led.show(ModemState.SENDING)
        wait_until(pin_is(factory, LED1, False))  # it blinks: off, then on again
        wait_until(pin_is(factory, LED1, True))
        led.show(ModemState.OFFLINE)
        assert not factory.pin(LED1).state
        led.show(ModemState.PIN_NEEDED)
        assert not factory.pin(LED1).state


def test_fault_led_is_on_while_any_modem_is_offline_pin_needed_or_unregistered(factory):
    with FaultLed(FAULT, pin_factory=factory) as fault:
        fault.show({"a": ModemState.ONLINE, "b": ModemState.SENDING})
        assert not factory.pin(FAULT).state
        for bad in (ModemState.OFFLINE, ModemState.PIN_NEEDED, ModemState.NOT_REGISTERED):
            fault.show({"a": ModemState.ONLINE, "b": bad})
            assert factory.pin(FAULT).state
        fault.show({"a": ModemState.CONNECTING})
        assert not factory.pin(FAULT).state
        fault.show({"a": ModemState.ONLINE}, degraded={"a"})
        assert factory.pin(FAULT).state


def test_power_switch_honours_active_low_relays(factory):
    with ModemPower(POWER1, active_high=False, pin_factory=factory) as power:
        assert power.is_on and factory.pin(POWER1).state is False  # powered on at start: low pin
        power.off()
        assert factory.pin(POWER1).state is True and not power.is_on


def panel_settings(**hardware) -> Settings:
    return Settings(hardware=HardwareSettings(fault_led=FAULT, button=BUTTON, **hardware),
                    modems=(ModemSettings("m1", "/dev/null", led_pin=LED1),
                            ModemSettings("m2", "/dev/null", led_pin=LED2, power_pin=POWER1)))


def test_panel_shows_pool_events_on_its_own_thread(factory):
    with Panel(panel_settings(), pin_factory=factory, on_shutdown=lambda: None) as panel:
        panel.on_state("m1", ModemState.ONLINE)
        panel.on_state("m2", ModemState.OFFLINE)
        wait_until(pin_is(factory, LED1, True))
        wait_until(pin_is(factory, FAULT, True))
        assert not factory.pin(LED2).state
        panel.on_state("m2", ModemState.ONLINE)
        wait_until(pin_is(factory, FAULT, False))
        wait_until(pin_is(factory, LED2, True))
        panel.on_degraded("m1", True)  # online, and its canary probe did not arrive: a SIM that delivers nothing
        wait_until(pin_is(factory, FAULT, True))
        panel.on_degraded("m1", False)
        wait_until(pin_is(factory, FAULT, False))
        assert panel.power_for(ModemSettings("m2", "/dev/null")) is panel.power["m2"]
        assert panel.power_for(ModemSettings("m1", "/dev/null")) is None


def test_button_press_shows_the_status_briefly_when_leds_are_dark(factory):
    settings = panel_settings(status_always=False, status_show_s=1.0)
    with Panel(settings, pin_factory=factory, on_shutdown=lambda: None) as panel:
        panel.on_state("m1", ModemState.ONLINE)
        wait_until(lambda: panel._events.empty())
        assert not factory.pin(LED1).state  # dark until asked
        factory.pin(BUTTON).drive_low()
        wait_until(pin_is(factory, LED1, True))  # shown for status_show_s (long enough for a loaded CI box)
        factory.pin(BUTTON).drive_high()
        wait_until(pin_is(factory, LED1, False))  # and dark again after status_show_s


def test_button_press_is_a_lamp_test_when_the_status_always_shows(factory):
    with Panel(panel_settings(), pin_factory=factory, on_shutdown=lambda: None) as panel:
        panel.on_state("m1", ModemState.OFFLINE)
        panel.on_state("m2", ModemState.ONLINE)
        wait_until(pin_is(factory, FAULT, True))
        factory.pin(BUTTON).drive_low()
        factory.pin(BUTTON).drive_high()
        wait_until(pin_is(factory, LED1, True))  # every lamp lights for the test
        wait_until(pin_is(factory, LED1, False), timeout_s=3)  # then the status again


def test_holding_the_button_asks_for_a_clean_shutdown(factory):
    asked = threading.Event()
    with Panel(panel_settings(button_hold_s=0.2), pin_factory=factory, on_shutdown=asked.set):
        factory.pin(BUTTON).drive_low()
        assert asked.wait(3)
        factory.pin(BUTTON).drive_high()


def test_no_pins_configured_means_no_panel_and_no_pin_factory(gateway_factory):
    import gpiozero

    gateway, _, _ = gateway_factory(1)
    assert not gateway.settings.has_pins and gateway.panel is None
    assert gpiozero.Device.pin_factory is None  # gpiozero was never asked for one


@pytest.fixture
def gateway_with_pins(settings, modem_links, factory):
    from gateway.appliance.runtime import Gateway

    running = []

    def start(pool_changes=None, **fake_kwargs):
        [fake] = modem_links(1, **fake_kwargs)
        pool = dataclasses.replace(settings.pool, **(pool_changes or {}))
        gw_settings = settings.replace(pool=pool, hardware=HardwareSettings(fault_led=FAULT, button=BUTTON),
                                       modems=(ModemSettings("modem1", fake.link, led_pin=LED1, power_pin=POWER1),))
        gateway = Gateway(gw_settings, pin_factory=factory).start()
        running.append(gateway)
        return gateway, fake

    yield start
    for gateway in running:
        gateway.stop()


def test_gateway_drives_the_leds_from_modem_states(gateway_with_pins, factory):
    gateway, fake = gateway_with_pins(latency_ms=400)
    wait_until(pin_is(factory, LED1, True))
    assert not factory.pin(FAULT).state and factory.pin(POWER1).state
    factory.pin(LED1).clear_states()
    gateway.service.messages.send("+447911123456", "blink while sending")
    wait_until(lambda: False in [s.state for s in factory.pin(LED1).states])  # it blinks while sending
    wait_until(lambda: fake.sent)
    wait_until(pin_is(factory, LED1, True))  # and is steady on once the message went
    fake.unplug()
    wait_until(pin_is(factory, FAULT, True))
    assert not factory.pin(LED1).state
    gateway.request_stop()  # what holding the button does; run_until_signalled would return


def test_the_pool_power_cycles_a_hung_modem(gateway_with_pins, factory):
    gateway, fake = gateway_with_pins({"command_timeout_s": 0.3, "power_cycle_after": 2, "power_off_s": 0.2,
                                       "reconnect_min_s": 0.05, "reconnect_max_s": 0.1})
    wait_until(pin_is(factory, LED1, True))
    factory.pin(POWER1).clear_states()
    fake.hang(True)
    gateway.pool.reset("modem1")
    wait_until(lambda: [s.state for s in factory.pin(POWER1).states][-2:] == [False, True], timeout_s=15)
    fake.hang(False)  # the cold boot brought it back
    wait_until(pin_is(factory, LED1, True), timeout_s=15)
