"""`smsgw doctor`: each finding shown by a fake modem (on a real pty) configured to have that problem, plus
the fake_modem knobs that make them (no SIM, PUK, SMS centre unset, storage full)."""

from __future__ import annotations

import dataclasses
import os
import pty
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from gateway.appliance import doctor
from gateway.config import ModemSettings
from gateway.modem.atprobe import AtProbe
from tests.clock import at
from tests.conftest import wait_until

NOW = at(6, 1, 12)


def findings_for(settings, store, *modems, check_api=False, now=NOW):
    return doctor.run(settings.replace(modems=tuple(modems)), clock=lambda: now, modem_timeout_s=0.5,
                      check_api=check_api)


def by_check(findings, subject="m"):
    return {f.check: f for f in findings if f.subject == subject}


@pytest.fixture
def check(settings, store, modem_links):
    """check(**fake_kwargs) -> {check: Finding} for one fake modem named "m"."""

    def run(pin="", **fake_kwargs):
        [fake] = modem_links(1, **fake_kwargs)
        return by_check(findings_for(settings, store, ModemSettings("m", fake.link, pin=pin)))

    return run


# --- the fake modem's knobs ---------------------------------------------------------------------------------

def test_fake_modem_without_sim_answers_cme_10(modem_links):
    [fake] = modem_links(1, sim="absent")
    with AtProbe(fake.link) as at:
        assert at.wake()
        assert at.command("AT+CPIN?").final == "+CME ERROR: 10"
        assert at.command("AT+CSCA?").final == "+CME ERROR: 10"


def test_fake_modem_puk_unlocks_with_puk_and_new_pin(modem_links):
    [fake] = modem_links(1, sim="puk")
    with AtProbe(fake.link) as at:
        at.wake()
        assert at.command("AT+CPIN?").lines == ("+CPIN: SIM PUK",)
        assert at.command("AT+CSQ").ok and at.command("AT+CNUM").final == "+CME ERROR: 12"
        assert at.command('AT+CPIN="00000000","4321"').final == "+CME ERROR: 16"
        assert at.command('AT+CPIN="12345678","4321"').ok
        assert at.command("AT+CPIN?").lines == ("+CPIN: READY",)


def test_fake_modem_smsc_unset_and_small_storage(modem_links):
    [fake] = modem_links(1, smsc="", storage_capacity={"SM": 2})
    fake.inject_sms("+447911123456", "one")
    with AtProbe(fake.link) as at:
        at.wake()
        assert at.command("AT+CSCA?").lines == ('+CSCA: "",129',)
        assert at.command("AT+CPMS?").lines == ('+CPMS: "SM",1,2,"SM",1,2,"SM",1,2',)


# --- modem findings -------------------------------------------------------------------------------------------

def test_a_healthy_modem_passes_every_check(check):
    found = check()
    assert {c: f.level for c, f in found.items()} == {
        "port": "ok", "at": "ok", "sim": "ok", "network": "ok", "radio": "ok", "signal": "ok", "smsc": "ok",
        "storage": "ok", "pdu": "ok"}
    assert "Fake Telecom" in found["network"].detail and "-73 dBm" in found["signal"].detail


def test_no_sim(check):
    found = check(sim="absent")
    assert found["sim"].level == "fail" and found["sim"].detail == "no SIM card"
    assert "insert a SIM" in found["sim"].fix
    assert "network" not in found  # nothing that needs a SIM is asked


def test_pin_needed_and_none_configured(settings, store, modem_links):
    [fake] = modem_links(1, pin="1234")  # the SIM has a PIN; the config gives none
    missing = by_check(findings_for(settings, store, ModemSettings("m", fake.link)))
    assert missing["sim"].level == "fail" and 'set pin = "<PIN>"' in missing["sim"].fix


def test_pin_configured_is_only_a_warning(settings, store, modem_links):
    [fake] = modem_links(1, pin="1234")
    found = by_check(findings_for(settings, store, ModemSettings("m", fake.link, pin="1234")))
    assert found["sim"].level == "warn"


def test_puk_needed(check):
    found = check(sim="puk")
    assert found["sim"].level == "fail" and "PUK" in found["sim"].detail and "AT+CPIN=" in found["sim"].fix


@pytest.mark.parametrize("registration, level, words", [
    (5, "warn", "roaming"), (3, "fail", "denied"), (0, "fail", "not registered"), (2, "fail", "not registered")])
def test_network_registration(check, registration, level, words):
    found = check(registration=registration)
    assert found["network"].level == level and words in found["network"].detail and found["network"].fix


@pytest.mark.parametrize("profile, ims, level, words", [
    ("simcom", True, "ok", "GSM (2G): SMS over the circuit-switched domain"),
    ("huawei", True, "ok", "UMTS (3G): SMS over the circuit-switched domain"),
    ("quectel", True, "ok", "LTE (4G): SMS over the circuit-switched domain"),
    ("lte", True, "ok", "LTE (4G) only: SMS over IMS"),
    ("lte", False, "fail", "LTE (4G) only, without SMS over IMS: no SMS can be sent or received"),
])
def test_the_radio_and_whether_sms_works_on_it(settings, store, modem_links, profile, ims, level, words):
    [fake] = modem_links(1, profile=profile)
    fake.set_ims(ims)
    found = by_check(findings_for(settings, store, ModemSettings("m", fake.link)))
    assert (found["network"].level, found["radio"].level, found["radio"].detail) == ("ok", level, words)
    assert level == "ok" or "IMS" in found["radio"].fix


@pytest.mark.parametrize("rssi, level, words", [(99, "fail", "no signal"), (5, "warn", "weak signal (-103 dBm)")])
def test_signal(check, rssi, level, words):
    found = check(rssi=rssi)
    assert found["signal"].level == level and found["signal"].detail == words and found["signal"].fix


def test_sms_centre_unset(check):
    found = check(smsc="")
    assert found["smsc"].level == "fail" and "AT+CSCA=" in found["smsc"].fix


def test_storage_full(settings, store, modem_links):
    [fake] = modem_links(1, storage_capacity={"SM": 1})
    fake.inject_sms_silently("+447911123456", "fills the SIM")
    found = by_check(findings_for(settings, store, ModemSettings("m", fake.link)))
    assert found["storage"].level == "fail" and "SM 1/1" in found["storage"].detail
    assert "AT+CMGD=1,4" in found["storage"].fix


def test_missing_port_and_silent_port(settings, store, tmp_path):
    master, slave = pty.openpty()
    try:
        link = tmp_path / "silent"
        link.symlink_to(os.ttyname(slave))
        found = findings_for(settings, store, ModemSettings("gone", str(tmp_path / "nothing")),
                             ModemSettings("mute", str(link)))
    finally:
        os.close(slave)
        os.close(master)
    assert by_check(found, "gone")["port"].level == "fail" and "smsgw modems scan" in by_check(found, "gone")["port"].fix
    assert by_check(found, "mute")["at"].level == "fail" and by_check(found, "mute")["at"].detail == "no answer to AT"


def test_a_port_the_running_gateway_holds_is_read_from_the_database(gateway_factory, settings):
    gateway, [fake], _ = gateway_factory(1)
    wait_until(lambda: gateway.store.modems.list_modems()[0].state.value == "online")
    before = len(fake.commands)
    served = gateway.settings.replace(server=dataclasses.replace(gateway.settings.server, port=gateway.port))
    found = doctor.run(served, clock=lambda: datetime.now(timezone.utc), modem_timeout_s=0.5)
    modem = by_check(found, "modem1")
    assert modem["port"].level == "info" and "held by another process" in modem["port"].detail
    assert modem["state"].level == "ok" and "online on Fake Telecom" in modem["state"].detail
    assert by_check(found, "api")["api"].level == "ok"
    assert len(fake.commands) == before or all(not c.startswith("AT+CPIN") for c in fake.commands[before:])


def test_last_known_states_explain_themselves():
    from gateway.store.models import Modem
    from gateway.values import ModemState

    row = Modem(name="m", port="/dev/x", state=ModemState.PIN_NEEDED, updated_at=NOW, last_error="SIM PIN")
    [finding] = doctor.from_database("m", row)
    assert finding.level == "fail" and "pin" in finding.fix
    assert doctor.from_database("m", None)[0].level == "warn"


# --- the box ---------------------------------------------------------------------------------------------------

def test_database_clock_disk_and_api(settings, store, tmp_path):
    found = findings_for(settings, store, check_api=True)
    assert by_check(found, "database")["database"].level == "ok"
    assert by_check(found, "disk")["disk"].level in ("ok", "warn")
    assert by_check(found, "clock")["clock"].level == "ok"
    api = by_check(found, "api")["api"]
    assert api.level == "fail" and "systemctl start smsgw" in api.fix  # nothing listens on port 0
    assert by_check(found, "modems")["config"].level == "fail"


def test_clock_never_set_or_behind_the_database(settings, store):
    assert doctor.check_clock(datetime(1970, 1, 1, tzinfo=timezone.utc))[0].level == "fail"
    store.modems.save_modem("m", "/dev/x", NOW)
    [finding] = doctor.check_clock(NOW - timedelta(days=2), store.modems.list_modems())
    assert finding.level == "fail" and "timedatectl" in finding.fix


def test_database_missing_or_behind(settings, tmp_path):
    missing = settings.replace(database=settings.database.__class__(url=f"sqlite:///{tmp_path / 'none.db'}"))
    found = doctor.run(missing, clock=lambda: NOW, check_api=False)
    assert by_check(found, "database")["database"].level == "fail"
    assert not (tmp_path / "none.db").exists()  # the doctor created nothing

    from gateway.store import Store
    from gateway.store.migrate import upgrade

    old = Store.from_url(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(old.engine, "0001")
    old.close()
    behind = settings.replace(database=settings.database.__class__(url=f"sqlite:///{tmp_path / 'old.db'}"))
    db = by_check(doctor.run(behind, clock=lambda: NOW, check_api=False), "database")["database"]
    assert db.level == "fail" and db.fix == "run `smsgw db upgrade`"


def test_smsgw_doctor_exits_non_zero_and_prints_fixes(modem_links, tmp_path, store, settings):
    [fake] = modem_links(1, sim="absent")
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{settings.database.url}"\n'
                      f'[security]\nkey_file = "{store.box_key.path}"\n'
                      f'[[modems]]\nname = "m"\nport = "{fake.link}"\n')
    result = subprocess.run([sys.executable, "-m", "gateway", "doctor", "--config", str(config), "--no-api",
                             "--timeout", "0.5"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL  m: no SIM card\n      fix: power the modem off, insert a SIM" in result.stdout
    assert result.stdout.rstrip().endswith("1 problem(s), 0 warning(s)")
