"""Who holds a port: a refused exclusive lock names the holder, another process or this one (the fake modem,
running in this process, holds its own end of the pty too)."""

import subprocess
import sys

import pytest
import serial

from gateway.errors import ModemUnavailable, PortBusy
from gateway.modem.atprobe import AtProbe
from gateway.modem.gsmmodem import GsmModemDriver
from gateway.modem.holders import port_holders


def test_a_port_held_by_another_process_names_it(modem_links):
    [fake] = modem_links(1)
    holder = subprocess.Popen([sys.executable, "-c", "import serial, sys, time; "
                               f"s = serial.Serial({fake.link!r}, exclusive=True); print('open', flush=True); "
                               "time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        assert f"pid {holder.pid} (python" in " ".join(port_holders(fake.link))
        with pytest.raises(PortBusy) as busy:
            AtProbe(fake.link)
        assert f"pid {holder.pid}" in str(busy.value)
        with pytest.raises(ModemUnavailable) as refused:
            GsmModemDriver(fake.link, on_notice=lambda notice: None).open()
        assert "is in use by " in str(refused.value) and f"pid {holder.pid} (python" in str(refused.value)
    finally:
        holder.kill()
        holder.wait()


def test_a_port_this_process_still_holds_says_so(modem_links):
    [fake] = modem_links(1)
    with serial.Serial(fake.link, exclusive=True) as held:
        with pytest.raises(ModemUnavailable) as refused:
            GsmModemDriver(fake.link, on_notice=lambda notice: None).open()
        assert "in use by this process (fd " in str(refused.value) and str(held.fd) in str(refused.value)
    assert str(held.fd) not in " ".join(port_holders(fake.link))  # closed: no longer listed
