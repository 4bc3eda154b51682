"""Modem discovery over real pseudo-terminals: fake modems that answer AT, a pty nobody answers, and a
FakeModem that hangs; `smsgw modems scan` as a subprocess; the pool adding and dropping modems at run time."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gateway.modem.atprobe import AtProbe
from gateway.modem.discovery import Discoverer, Probe, candidate_ports, group_modems, probe, scan
from tests.conftest import wait_until


@pytest.fixture
def silent_pty(tmp_path):
    """A pseudo-terminal nobody answers on (a modem's diagnostics port, or a GPS port)."""
    master, slave = pty.openpty()
    link = tmp_path / "silent0"
    link.symlink_to(os.ttyname(slave))
    yield str(link)
    os.close(slave)
    os.close(master)


def test_scan_finds_answering_modems_and_skips_silent_ports(modem_links, silent_pty, tmp_path):
    simcom, huawei, hung = modem_links(1)[0], *modem_links(1, profile="huawei"), modem_links(1)[0]
    hung.hang(True)
    found, probes = scan([str(tmp_path / "*")], timeout_s=0.3)
    status = {Path(p.path).name: p.status for p in probes}
    assert status == {"modem1": "modem", "modem2": "modem", "modem3": "silent", "silent0": "silent"}
    assert [(m.port, m.imei, m.manufacturer) for m in found] == [
        (simcom.link, simcom.imei, "SIMCOM_Ltd"), (huawei.link, huawei.imei, "huawei")]
    assert found[0].name == f"simcom-{simcom.imei[-6:]}" and found[1].name == f"huawei-{huawei.imei[-6:]}"


def test_a_port_held_by_another_process_is_reported_busy_and_left_alone(modem_links):
    [fake] = modem_links(1)
    with AtProbe(fake.link):
        result = probe(fake.link, timeout_s=0.3)
    assert result.status == "busy"
    assert "AT" not in fake.commands[-1:]  # nothing was written through the lock


def test_ports_of_one_stick_are_one_modem_on_the_vendors_at_interface():
    base = "/dev/serial/by-id/usb-Quectel_EG25-G-"
    probes = [Probe(base + f"if0{i}-port0", "modem", manufacturer="Quectel", model="EG25", imei="861234567890123")
              for i in (3, 2)] + [Probe(base + "if00-port0", "silent")]
    [modem] = group_modems(probes)
    assert modem.port == base + "if02-port0" and modem.also_answering == (base + "if03-port0",)
    block = tomllib.loads(modem.toml())["modems"][0]
    assert block == {"name": "quectel-890123", "port": base + "if02-port0", "baudrate": 115200}


def test_candidate_ports_prefer_the_stable_symlink(tmp_path):
    master, slave = pty.openpty()
    try:
        device = os.ttyname(slave)
        (tmp_path / "by-id-modem").symlink_to(device)
        assert candidate_ports([device, str(tmp_path / "*")]) == [str(tmp_path / "by-id-modem")]
    finally:
        os.close(slave)
        os.close(master)


def test_smsgw_modems_scan_prints_a_ready_modems_block(modem_links, silent_pty, tmp_path):
    [fake] = modem_links(1)
    result = subprocess.run([sys.executable, "-m", "gateway", "modems", "scan", "--only", "--path",
                             str(tmp_path / "*"), "--timeout", "0.3"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    config = tomllib.loads(result.stdout)
    assert config["modems"] == [{"name": f"simcom-{fake.imei[-6:]}", "port": fake.link, "baudrate": 115200}]
    assert f"# {silent_pty}: silent" in result.stdout


def test_scan_with_nothing_answering_exits_non_zero(silent_pty):
    result = subprocess.run([sys.executable, "-m", "gateway", "modems", "scan", "--only", "--path", silent_pty,
                             "--timeout", "0.2"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "no modem answered AT" in result.stdout


def test_auto_discovery_adds_a_plugged_modem_and_drops_it_when_it_vanishes(gateway_factory, settings, tmp_path):
    from fake_modem import FakeModem

    plugged = tmp_path / "plugged"
    plugged.mkdir()
    gateway, [configured], _ = gateway_factory(1)
    discoverer = Discoverer(gateway.pool, [str(plugged / "*"), str(tmp_path / "modem*")], interval_s=0.2,
                            configured=["modem1"], timeout_s=0.3).start()
    try:
        fake = FakeModem(link=str(plugged / "ttyUSB9"), seed=99).start()
        name = f"simcom-{fake.imei[-6:]}"
        wait_until(lambda: name in {w.name for w in gateway.pool.workers}, timeout_s=10)
        wait_until(lambda: {m.name: m.state.value for m in gateway.store.modems.list_modems()}.get(name) == "online")
        assert [w.name for w in gateway.pool.workers] == ["modem1", name]  # the configured one was not re-added
        message = gateway.service.messages.send("+447911123456", "via the new modem", via=name)[0]
        wait_until(lambda: fake.sent)
        assert gateway.service.messages.get_message(message.uid).modem == name
        fake.stop()  # unplugged: its port is gone
        wait_until(lambda: name not in {w.name for w in gateway.pool.workers}, timeout_s=10)
        assert [w.name for w in gateway.pool.workers] == ["modem1"]
    finally:
        discoverer.stop()
