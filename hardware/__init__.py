"""The appliance's own hardware over gpiozero: per-modem status LEDs, a fault LED, a button and per-modem
power switches. Every class takes `pin_factory=` (gpiozero's MockFactory in tests); `runtime` builds the
real factory only when a pin is configured, so a box without GPIO never asks gpiozero for one."""

from hardware.leds import FaultLed, ModemLed
from hardware.panel import Panel
from hardware.power import ModemPower

__all__ = ["FaultLed", "ModemLed", "ModemPower", "Panel"]
