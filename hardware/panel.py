"""The front panel: modem LEDs, the fault LED and the button, driven by one owned thread.

The pool calls `on_state(name, state)` on its worker threads and gpiozero calls the button handlers on its
own; both only put a value on the panel's queue. The panel's thread alone decides what the LEDs show:
* modem LED: on online, blinking while sending, off otherwise (see `ModemLed`); with
  `[hardware] status_always = false` the modem LEDs stay dark except for `status_show_s` after a press;
* fault LED: on while any modem is offline, needs its PIN/PUK, is not registered, or is degraded by the canary
  (always live);
* button press: show the status (a lamp test of `LAMP_TEST_S` first when the status shows all the time);
  holding it `button_hold_s`: `on_shutdown()` (the runtime's clean stop).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable, Protocol, TypeVar

from gpiozero import Button
from gpiozero.pins import Factory

from gateway.config import ModemSettings, Settings
from gateway.values import ModemState
from hardware.leds import FaultLed, ModemLed
from hardware.power import ModemPower

log = logging.getLogger(__name__)

LAMP_TEST_S = 1.0
# ("press",), ("hold",), ("tick",), ("state", name, state), ("degraded", name, is_degraded)
_Event = tuple[str] | tuple[str, str, ModemState] | tuple[str, str, bool]
_STOP: _Event = ("stop",)


class _Pin(Protocol):
    def close(self) -> None: ...


_PinT = TypeVar("_PinT", bound=_Pin)


class Panel:
    """Owns the LEDs, the button and the power switches of the configured modems."""

    def __init__(self, settings: Settings, *, pin_factory: Factory, on_shutdown: Callable[[], None]) -> None:
        hw = settings.hardware
        self._hw = hw
        self._on_shutdown = on_shutdown
        self._events: queue.Queue[_Event] = queue.Queue()
        self._states: dict[str, ModemState] = {}
        self._degraded: set[str] = set()  # modems the canary found silent
        self._devices: list[_Pin] = []
        self.leds: dict[str, ModemLed] = {}
        self.power: dict[str, ModemPower] = {}
        try:
            for modem in settings.modems:
                if modem.led_pin >= 0:
                    self.leds[modem.name] = self._own(ModemLed(modem.led_pin, pin_factory=pin_factory))
                if modem.power_pin >= 0:
                    self.power[modem.name] = self._own(ModemPower(modem.power_pin,
                                                                  active_high=modem.power_active_high,
                                                                  pin_factory=pin_factory))
            self.fault = self._own(FaultLed(hw.fault_led, pin_factory=pin_factory)) if hw.fault_led >= 0 else None
            self.button = None
            if hw.button >= 0:
                self.button = self._own(Button(hw.button, pull_up=True, hold_time=hw.button_hold_s,
                                               pin_factory=pin_factory))
                self.button.when_pressed = lambda: self._events.put(("press",))
                self.button.when_held = lambda: self._events.put(("hold",))
        except BaseException:
            self.close()
            raise
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hardware-panel", daemon=True)

    def _own(self, device: _PinT) -> _PinT:
        self._devices.append(device)
        return device

    # --- what others call (any thread): hand the value over ----------------------------------------------

    def on_state(self, name: str, state: ModemState) -> None:
        """The pool's listener: a modem changed state."""
        self._events.put(("state", name, state))

    def on_degraded(self, name: str, degraded: bool) -> None:
        """The pool's listener: the canary found a modem's SIM silent (True), or its probe arrived again."""
        self._events.put(("degraded", name, degraded))

    def power_for(self, modem: ModemSettings) -> ModemPower | None:
        """The pool's power switch for `modem`, when it has a power pin."""
        return self.power.get(modem.name)

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> "Panel":
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and switch the LEDs off (power pins keep the modems powered)."""
        self._stop.set()
        self._events.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self.close()

    def close(self) -> None:
        """Release every pin; idempotent."""
        devices, self._devices = self._devices, []
        for device in reversed(devices):
            try:
                device.close()
            except Exception:  # closing a pin must not stop the others from closing
                log.exception("hardware: closing %r failed", device)

    def __enter__(self) -> "Panel":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the thread ---------------------------------------------------------------------------------------

    def _run(self) -> None:
        showing_until = lamp_until = 0.0
        self._render(show=self._hw.status_always)
        while not self._stop.is_set():
            now = time.monotonic()
            deadlines = [t for t in (showing_until, lamp_until) if t > now]
            try:
                event = self._events.get(timeout=(min(deadlines) - now) if deadlines else None)
            except queue.Empty:
                event = ("tick",)
            if event is _STOP:
                break
            now = time.monotonic()
            match event:
                case ("state", str() as name, ModemState() as state):
                    self._states[name] = state
                case ("degraded", str() as name, bool() as degraded):
                    (self._degraded.add if degraded else self._degraded.discard)(name)
                case ("press",):
                    if self._hw.status_always:
                        lamp_until = now + LAMP_TEST_S
                    else:
                        showing_until = now + self._hw.status_show_s
                case ("hold",):
                    log.warning("hardware: button held %.0f s: stopping the gateway", self._hw.button_hold_s)
                    self._on_shutdown()
            if lamp_until > now:
                self._lamp_test()
            else:
                self._render(show=self._hw.status_always or showing_until > now)

    def _render(self, *, show: bool) -> None:
        for name, led in self.leds.items():
            led.show(self._states.get(name) if show else None)
        if self.fault is not None:
            self.fault.show(self._states, self._degraded)

    def _lamp_test(self) -> None:
        for led in self.leds.values():
            led.on()
        if self.fault is not None:
            self.fault.on()
