"""The canary on fake modems wired as one network (fake_modem.network): probes between the SIMs arrive and stay
out of the inbox; a SIM that takes submits and delivers nothing is degraded after its first late probe, its
traffic goes through the other, and it comes back when a probe of its gets through again."""

from __future__ import annotations

import time

import pytest

from gateway.config import CanarySettings, ModemSettings, Settings
from gateway.values import MessageState
from fake_modem import FakeNetwork
from tests.conftest import wait_until

NUMBERS = ("+447911000001", "+447911000002")


@pytest.fixture
def networked(settings: Settings, modem_links):
    from gateway.appliance.runtime import Gateway

    fakes = [modem_links(1, own_number=number)[0] for number in NUMBERS]
    network = FakeNetwork(*fakes)
    gateway = Gateway(settings.replace(
        modems=tuple(ModemSettings(name=f"modem{i}", port=f.link) for i, f in enumerate(fakes, start=1)),
        canary=CanarySettings(interval_s=3600, late_after_s=1.0)))  # the test runs the canary's checks itself
    with gateway.start(serve_http=False):
        wait_until(lambda: [(m.state.value, m.own_number) for m in gateway.store.modems.list_modems()]
                   == [("online", NUMBERS[0]), ("online", NUMBERS[1])], timeout_s=20)
        yield gateway, fakes, network


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
    wait_until(lambda: probes(gateway) == {("modem1", "modem2"): "arrived", ("modem2", "modem1"): "arrived"})
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
    gateway.alerts.check()
    assert gateway.store.alerts.open_alerts() == []
