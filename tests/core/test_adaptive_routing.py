"""Adaptive routing over two fake modems, one of whose SIMs gets half its SMS reported "not delivered": traffic
moves off it within a bounded number of messages, a share still explores it, and when it delivers again it gets
its work back. The figures (ratio, latencies per target and destination) are read from the shared history."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.config import ModemSettings, RoutingSettings, Settings
from gateway.rules.adaptive import ALL, Figures, Outcome, deferred, figures, judged
from gateway.values import MessageState
from tests.conftest import wait_until

SETTLED = (MessageState.DELIVERED, MessageState.FAILED)


@pytest.fixture
def two_sims(settings: Settings, modem_links):
    from gateway.appliance.runtime import Gateway

    good, poor = modem_links(2)
    poor.set_undelivered_rate(0.5)
    gateway = Gateway(settings.replace(
        messaging=dataclasses.replace(settings.messaging, delivery_report=True),
        modems=(ModemSettings(name="good", port=good.link), ModemSettings(name="poor", port=poor.link)),
        routing=RoutingSettings(strategy="adaptive", min_reports=5, window=10, explore=0.3, refresh_s=3600)))
    with gateway.start(serve_http=False):  # the test refreshes the figures itself, after each message
        wait_until(lambda: [m.state.value for m in gateway.store.modems.list_modems()] == ["online", "online"],
                   timeout_s=20)
        yield gateway, good, poor


def send_one(gateway, i: int) -> str:
    """Send one message, wait for its report, refresh the figures; the modem that sent it."""
    [message] = gateway.service.messages.send(f"+4479111{i:05d}", f"message {i}")
    wait_until(lambda: gateway.service.messages.get_message(message.uid).state in SETTLED)
    gateway.service.routing.refresh()
    return gateway.service.messages.get_message(message.uid).modem


def send_burst(gateway, first: int, count: int = 4) -> list[str]:
    """`count` messages at once (so a busy SIM leaves work to the other), each reported; the figures refreshed."""
    sent = gateway.service.messages.send([f"+4479111{i:05d}" for i in range(first, first + count)], "burst")
    wait_until(lambda: all(gateway.service.messages.get_message(m.uid).state in SETTLED for m in sent))
    gateway.service.routing.refresh()
    return [gateway.service.messages.get_message(m.uid).modem for m in sent]


def test_traffic_moves_off_a_sim_that_delivers_half_and_comes_back_when_it_recovers(two_sims):
    gateway, good, poor = two_sims
    sent, verdicts = [], []  # the modem of each message; adaptive routing's reasons after each burst
    for burst in range(15):
        sent += send_burst(gateway, 4 * burst)
        verdicts.append(dict(gateway.service.routing.reasons))
    deferred_at = next(i for i in range(60) if sent[i:].count("poor") <= 0.3 * len(sent[i:]))
    assert deferred_at <= 30, sent
    after = sent[deferred_at:]
    assert after.count("poor") <= 0.3 * len(after), sent  # explored now and then, never its old half
    assert not any("good" in v for v in verdicts), verdicts
    # deferred after most bursts from then on (an exploring message that happened to arrive may lift it for a while:
    # its last 6 reports decide, and it delivers half)
    since = verdicts[deferred_at // 4:]
    assert sum("poor" in v for v in since) >= len(since) / 2, verdicts
    reason = next(v["poor"] for v in reversed(verdicts) if "poor" in v)
    assert "delivers" in reason and "good delivers 100%" in reason

    poor.set_undelivered_rate(0.0)  # topped up, or its SMS centre came back
    for burst in range(60):  # its explores find it delivering again
        send_burst(gateway, 100 + 4 * burst)
        if "poor" not in gateway.service.routing.reasons:
            break
    assert "poor" not in gateway.service.routing.reasons, "the recovered SIM was never measured again"
    recovered = [m for burst in range(10) for m in send_burst(gateway, 400 + 4 * burst)]
    assert recovered.count("poor") >= 4, recovered  # it takes its share of the work again


@pytest.mark.both_databases  # the figures' window query, on SQLite and on PostgreSQL
def test_figures_per_target_and_destination(two_sims):
    gateway, _, _ = two_sims
    for i in range(6):
        send_one(gateway, i)
    towards = gateway.service.routing.towards("+447911123456")
    assert set(towards) <= {"good", "poor"} and towards
    there, overall = next(iter(towards.values()))
    assert there is not None and overall is not None and there.destination == "+44" and overall.destination == ALL
    assert there.submit_p50_s is not None and there.report_p50_s is not None
    token = gateway.service.keys.create_key("reader", ["read"])[1]
    answer = gateway.app.test_client().get("/api/v1/routes?to=+447911123456",
                                           headers={"Authorization": f"Bearer {token}"}).get_json()
    measured = {c["name"]: c for c in answer["candidates"] if c["overall"] is not None}
    assert measured and all(c["towards"]["destination"] == "+44" and c["overall"]["destination"] == "*"
                            and c["deferred"] is None for c in measured.values())
    assert sum(c["overall"]["delivered"] + c["overall"]["failed"] for c in measured.values()) == 6


def outcome(target: str, fate: str) -> Outcome:
    return Outcome(target, "+447911123456", fate, 0.5, 2.0)  # type: ignore[arg-type]


def test_cost_per_delivered_sms_decides_and_a_lone_target_is_never_deferred():
    cheap_but_poor = [outcome("cheap", "delivered")] * 6 + [outcome("cheap", "failed")] * 4
    dear_and_good = [outcome("dear", "delivered")] * 10
    overall = [f for f in figures(cheap_but_poor + dear_and_good) if f.destination == ALL]
    assert deferred(overall, {"cheap": 0.01, "dear": 0.03}, min_reports=5, tolerance=0.25) == {
        "dear": "delivers 100% of its last 10 reported parts; cheap delivers 60% at a lower cost per delivered SMS"}
    assert deferred(overall, {}, min_reports=5, tolerance=0.25).keys() == {"cheap"}  # free SIMs: by ratio
    assert deferred(overall, {}, min_reports=11, tolerance=0.25) == {}  # too few reports to judge
    overdue = figures([outcome("a", "overdue")] * 5)
    assert [(f.delivered, f.failed, f.report_p50_s) for f in overdue] == [(0, 5, None), (0, 5, None)]
    assert isinstance(overdue[0], Figures) and deferred(overdue, {}, min_reports=1, tolerance=0) == {}


def test_a_deferred_target_is_judged_on_its_newest_reports_so_a_recovered_one_comes_back():
    newest_first = [outcome("poor", "delivered")] * 5 + [outcome("poor", "failed")] * 5 + [outcome("good", "delivered")]
    kept = judged(newest_first, {"poor"}, min_reports=5)
    assert [o.fate for o in kept if o.target == "poor"] == ["delivered"] * 5 and len(kept) == 6
    assert judged(newest_first, set(), min_reports=5) == newest_first  # not deferred: its whole window counts


def test_a_sim_too_slow_for_one_time_codes_leaves_them_to_a_faster_one_and_keeps_its_other_work(settings,
                                                                                                 modem_links):
    from gateway.appliance.runtime import Gateway

    [fast], [slow] = modem_links(1), modem_links(1, latency_ms=800)  # each of slow's submits takes 0.8 s
    gateway = Gateway(settings.replace(
        messaging=dataclasses.replace(settings.messaging, delivery_report=True, max_recipients=20),
        modems=(ModemSettings(name="fast", port=fast.link), ModemSettings(name="slow", port=slow.link)),
        routing=RoutingSettings(strategy="adaptive", min_reports=3, explore=0.0, urgent_latency_s=0.5,
                                refresh_s=3600)))
    with gateway.start(serve_http=False):
        wait_until(lambda: [m.state.value for m in gateway.store.modems.list_modems()] == ["online", "online"],
                   timeout_s=20)
        measured = [gateway.service.messages.send(f"+4479111234{i:02d}", "x", via=("fast", "slow")[i % 2])[0]
                    for i in range(6)]
        wait_until(lambda: all(gateway.service.messages.get_message(m.uid).state in SETTLED for m in measured))
        assert gateway.service.routing.refresh().keys() == {"slow"}
        assert gateway.service.routing.reasons["slow"].startswith("too slow for one-time codes")
        codes = [gateway.service.otp.send_otp(f"+4479111235{i:02d}")[1] for i in range(4)]
        bulk = gateway.service.messages.send([f"+4479111236{i:02d}" for i in range(12)], "news", priority="bulk")
        wait_until(lambda: all(gateway.service.messages.get_message(m.uid).state in SETTLED
                               for m in [*codes, *bulk]), timeout_s=30)
        assert {gateway.service.messages.get_message(m.uid).modem for m in codes} == {"fast"}
        assert "slow" in {gateway.service.messages.get_message(m.uid).modem for m in bulk}  # its other work goes on
