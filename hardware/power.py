"""A modem's power switch: a relay or a USB hub port's power, on one GPIO pin."""

from __future__ import annotations

from gpiozero import DigitalOutputDevice
from gpiozero.pins import Factory


class ModemPower:
    """Powered on at construction. `off()`/`on()` are called by the modem's pool worker (its power cycle);
    `active_high=False` for relay boards that switch on a low pin."""

    def __init__(self, pin: int, *, active_high: bool = True, pin_factory: Factory) -> None:
        self._device = DigitalOutputDevice(pin, active_high=active_high, initial_value=True,
                                           pin_factory=pin_factory)

    @property
    def is_on(self) -> bool:
        return bool(self._device.value)

    def on(self) -> None:
        self._device.on()

    def off(self) -> None:
        self._device.off()

    def close(self) -> None:
        """Releases the pin (the modem keeps whatever power the pin's default gives it)."""
        self._device.close()

    def __enter__(self) -> "ModemPower":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
