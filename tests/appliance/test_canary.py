"""The canary on fake modems wired as one network (fake_modem.network): probes between the SIMs arrive and stay
out of the inbox; a SIM that takes submits and delivers nothing is degraded after its first late probe, its
traffic goes through the other, and it comes back when a probe of its gets through again."""

from __future__ import annotations

import time

import pytest
from gpiozero.pins.mock import MockFactory

from gateway.config import CanarySettings, HardwareSettings, ModemSettings, Settings
from gateway.values import MessageState
from fake_modem import FakeNetwork
from tests.clock import at
from tests.conftest import wait_until

NUMBERS = ("+447911000001", "+447911000002")
FAULT_LED = 17
PINS = MockFactory()  # gpiozero's stand-in for the Pi's pins


@pytest.fixture
def networked(settings: Settings, modem_links):
    from gateway.appliance.runtime import Gateway

    fakes = [modem_links(1, own_number=number)[0] for number in NUMBERS]
    network = FakeNetwork(*fakes)
    gateway = Gateway(settings.replace(
        modems=tuple(ModemSettings(name=f"modem{i}", port=f.link) for i, f in enumerate(fakes, start=1)),
        canary=CanarySettings(interval_s=3600, late_after_s=1.0),  # the test runs the canary's checks itself
        hardware=HardwareSettings(fault_led=FAULT_LED)), pin_factory=PINS)
    with gateway.start(serve_http=False):
        wait_until(lambda: [(m.state.value, m.own_number) for m in gateway.store.modems.list_modems()]
                   == [("online", NUMBERS[0]), ("online", NUMBERS[1])], timeout_s=20)
        yield gateway, fakes, network
    PINS.reset()


def probes(gateway):
    from sqlalchemy import select

    from gateway.store.models import Probe

    with gateway.store.db.read() as s:
        return {(p.from_modem, p.to_modem): p.state for p in s.scalars(select(Probe).order_by(Probe.id))}


def degraded(gateway) -> dict[str, bool]:
    return {m.name: m.degraded_since is not None for m in gateway.store.modems.list_modems()}


def test_probes_reach_the_other_sim_and_stay_out_of_the_inbox(networked):
    gateway, fakes, _ = networked
    gateway.canary.check()
    wait_until(lambda: probes(gateway) == {("modem1", "modem2"): "arrived", ("modem2", "modem1"): "arrived"},
               timeout_s=30)  # two sends and two sweeps: seconds, more on a loaded machine
    assert [s.number for s in fakes[0].sent] == [NUMBERS[1]] and [s.number for s in fakes[1].sent] == [NUMBERS[0]]
    assert gateway.service.messages.list_inbox()[0] == []
    assert degraded(gateway) == {"modem1": False, "modem2": False}


def test_a_silent_sim_is_degraded_after_one_late_probe_and_recovers_when_one_arrives(networked):
    gateway, fakes, network = networked
    network.silence(fakes[0])
    gateway.canary.check()
    wait_until(lambda: probes(gateway).get(("modem2", "modem1")) == "arrived")
    assert probes(gateway)[("modem1", "modem2")] == "waiting"  # modem1 took it (+CMGS) and it went nowhere
    time.sleep(1.1)
    gateway.canary.check()  # late: modem1 is degraded; each sends its next probe
    assert degraded(gateway) == {"modem1": True, "modem2": False}
    wait_until(lambda: PINS.pin(FAULT_LED).state)  # online, yet the box's fault LED says something is wrong
    gateway.alerts.check()
    assert [a.key for a in gateway.store.alerts.open_alerts()] == ["modem_degraded:modem1"]

    sent = gateway.service.messages.send([f"+4479111234{i:02d}" for i in range(4)], "customer traffic")
    wait_until(lambda: all(gateway.service.messages.get_message(m.uid).state == MessageState.SENT for m in sent))
    assert {gateway.service.messages.get_message(m.uid).modem for m in sent} == {"modem2"}
    wait_until(lambda: len(fakes[0].sent) == 2)  # a degraded SIM sends its own probes only: the first and the next
    assert [s.number for s in fakes[0].sent] == [NUMBERS[1], NUMBERS[1]]

    network.restore(fakes[0])
    time.sleep(1.1)
    gateway.canary.check()  # the probe sent while silent is late (it was lost); the next one gets through
    wait_until(lambda: degraded(gateway)["modem1"] is False, timeout_s=10)
    wait_until(lambda: not PINS.pin(FAULT_LED).state)
    gateway.alerts.check()
    assert gateway.store.alerts.open_alerts() == []


@pytest.fixture
def lone_sim(settings: Settings, modem_links):
    """One fake modem whose SMS to ECHO come back from ECHO with "Echo: " before the text, as an echo service does;
    `echoing` says whether the echo answers."""
    from gateway.appliance.runtime import Gateway

    [fake] = modem_links(1, own_number=NUMBERS[0])
    echoing = [True]
    fake.on_sent(lambda sms: fake.inject_sms(ECHO, f"Echo: {sms.text}") if sms.number == ECHO and echoing[0] else None)
    gateway = Gateway(settings.replace(modems=(ModemSettings(name="modem1", port=fake.link),),
                                       canary=CanarySettings(interval_s=3600, late_after_s=1.0, echo_number=ECHO)))
    with gateway.start(serve_http=False):
        wait_until(lambda: [(m.state.value, m.own_number) for m in gateway.store.modems.list_modems()]
                   == [("online", NUMBERS[0])], timeout_s=20)
        yield gateway, fake, echoing


ECHO = "+447911000099"


def test_a_lone_sim_probes_through_an_echo_number_and_is_degraded_when_the_echo_stops(lone_sim):
    gateway, fake, echoing = lone_sim
    gateway.canary.check()
    wait_until(lambda: probes(gateway) == {("modem1", "modem1"): "arrived"})
    assert [s.number for s in fake.sent] == [ECHO]
    assert gateway.service.messages.list_inbox()[0] == []  # the echo is the probe's: not a person's SMS

    echoing[0] = False
    time.sleep(1.1)
    gateway.canary.check()  # the first probe arrived: the second goes out
    time.sleep(1.1)
    gateway.canary.check()
    assert degraded(gateway) == {"modem1": True}


def test_no_probe_is_sent_in_the_canarys_quiet_hours(settings, modem_links):
    from gateway.appliance.runtime import Gateway
    from gateway.core.canary import Canary

    fakes = [modem_links(1, own_number=number)[0] for number in NUMBERS]
    gateway = Gateway(settings.replace(modems=tuple(ModemSettings(name=f"modem{i}", port=f.link)
                                                    for i, f in enumerate(fakes, start=1))))
    with gateway.start(serve_http=False):
        wait_until(lambda: [m.state.value for m in gateway.store.modems.list_modems()] == ["online", "online"],
                   timeout_s=20)
        def check_at(now):
            Canary(gateway.store, CanarySettings(interval_s=60, quiet_hours="22:00-07:00"), lambda: now,
                   gateway.service.messages, box=gateway.store.db.box).check()

        check_at(at(11, 26, 3))  # 03:00 in London, where both SIMs' numbers live
        assert probes(gateway) == {} and all(f.sent == [] for f in fakes)
        check_at(at(11, 26, 12))
        wait_until(lambda: len(probes(gateway)) == 2)
