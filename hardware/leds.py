"""Status LEDs: one per modem (on: online; blinking: sending; off: anything else) and one fault LED."""

from __future__ import annotations

from typing import Collection, Mapping

from gpiozero import LED
from gpiozero.pins import Factory

from gateway.values import ModemState

SENDING_BLINK_S = 0.1
FAULT_STATES = frozenset({ModemState.OFFLINE, ModemState.PIN_NEEDED, ModemState.NOT_REGISTERED})


class ModemLed:
    """One modem's LED. `show(state)` sets it; gpiozero's blink runs on gpiozero's own thread."""

    def __init__(self, pin: int, *, pin_factory: Factory) -> None:
        self._led = LED(pin, pin_factory=pin_factory)
        self._shown: object = object()  # what show() last set (a lamp test resets it)

    def show(self, state: ModemState | None) -> None:
        look = "blink" if state == ModemState.SENDING else "on" if state == ModemState.ONLINE else "off"
        if look == self._shown:
            return  # re-starting a blink on every event would make it stutter
        self._shown = look
        if state == ModemState.SENDING:
            self._led.blink(on_time=SENDING_BLINK_S, off_time=SENDING_BLINK_S, background=True)
        elif state == ModemState.ONLINE:
            self._led.on()
        else:
            self._led.off()

    def on(self) -> None:
        self._shown = None
        self._led.on()

    def close(self) -> None:
        self._led.close()

    def __enter__(self) -> "ModemLed":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FaultLed:
    """On while any modem is offline, waits for its PIN/PUK, is not registered on the network, or is degraded (its
    canary probe did not arrive): the one light a field engineer looks at first. Off when every known modem is
    connecting, online or sending, and delivering."""

    def __init__(self, pin: int, *, pin_factory: Factory) -> None:
        self._led = LED(pin, pin_factory=pin_factory)

    @staticmethod
    def is_fault(states: Mapping[str, ModemState], degraded: Collection[str] = ()) -> bool:
        return bool(degraded) or any(state in FAULT_STATES for state in states.values())

    def show(self, states: Mapping[str, ModemState], degraded: Collection[str] = ()) -> None:
        if self.is_fault(states, degraded):
            self._led.on()
        else:
            self._led.off()

    def on(self) -> None:
        self._led.on()

    def close(self) -> None:
        self._led.close()

    def __enter__(self) -> "FaultLed":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
