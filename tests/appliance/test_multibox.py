"""Several boxes on one PostgreSQL database: exclusive claims across stores and processes, each box releasing
only its own claims, lease expiry (a dead box's `unknown` parts never re-sent), LISTEN/NOTIFY wake-ups,
ordered webhook deliveries across boxes, and two `smsgw run` processes under load with one killed mid-run."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from gateway.clock import utcnow
from gateway.config import MessagingSettings
from gateway.core.service import GatewayService
from gateway.representations import modem_json
from gateway.store import Store
from gateway.store.notify import OutboxListener
from gateway.values import DeliveryState, MessageDraft, MessageState, ModemState, PartState, StatusReport
from tests.clock import at
from tests.conftest import wait_until
from tests.ports import free_port
from tests.processes import stop

ROOT = Path(__file__).resolve().parents[2]
NOW = at(11, 26, 12, 0, 0)


def draft(i: int, parts=("hello",), report=False) -> MessageDraft:
    return MessageDraft(to_number=f"+4479111{i:05d}", body="".join(parts), encoding="gsm7", parts=tuple(parts),
                        delivery_report=report)


@pytest.fixture
def shared_url(pg_cluster):
    url = pg_cluster.create_database()
    yield url
    pg_cluster.drop_database(url)


@pytest.fixture
def key_file(tmp_path) -> str:
    """The box key file every box on the shared database reads."""
    return str(tmp_path / "box.key")


@pytest.fixture
def boxes(shared_url, key_file):
    """Two boxes' stores ("a" and "b") on one database."""
    stores = []
    for box in ("a", "b"):
        store = Store.from_url(shared_url, key_file=key_file)
        store.db.box = box
        stores.append(store)
    yield stores
    for store in stores:
        store.close()


def test_claims_are_exclusive_across_boxes(boxes):
    a, b = boxes
    a.outbox.enqueue([draft(i) for i in range(120)], NOW)
    claimed, lock = [], threading.Lock()

    def worker(store, name):
        while (job := store.outbox.claim_next(name, NOW, 60)) is not None:
            with lock:
                claimed.append(job.message_id)

    threads = [threading.Thread(target=worker, args=(store, f"{store.db.box}{i}")) for store in boxes for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 120 and len(set(claimed)) == 120


def test_a_starting_box_releases_only_its_own_modems_claims(boxes):
    a, b = boxes
    [mine, theirs] = a.outbox.enqueue([draft(1), draft(2)], NOW)
    a.outbox.claim_next("a1", NOW, 60)
    b.outbox.claim_next("b1", NOW, 60)
    assert a.outbox.release_claims(NOW, modems=["a1", "a2"]) == (1, 0)
    assert a.outbox.get_message(mine.uid).state == MessageState.QUEUED
    assert a.outbox.get_message(theirs.uid).state == MessageState.SENDING


def test_expired_leases_requeue_claims_and_never_resend_parts_in_flight(boxes):
    a, b = boxes
    [in_flight, claimed_only, renewed] = a.outbox.enqueue([draft(1), draft(2), draft(3, parts=("x" * 153, "y"))], NOW)
    job = a.outbox.claim_next("a1", NOW, 60)
    a.outbox.mark_part_submitting(job, 1, "a1", NOW)  # then box a dies with the part in the modem
    a.outbox.claim_next("a2", NOW, 60)  # claimed, nothing written
    long_job = a.outbox.claim_next("a3", NOW, 60)
    a.outbox.record_part_sent(long_job, 1, "a3", 9, NOW)
    a.outbox.mark_part_submitting(long_job, 2, "a3", NOW + timedelta(seconds=50),
                                  lease_until=NOW + timedelta(seconds=110))  # a slow multi-part message renews
    assert b.outbox.release_expired(NOW + timedelta(seconds=59)) == (0, 0, 0)
    assert b.outbox.release_expired(NOW + timedelta(seconds=61)) == (1, 1, 0)
    first = b.outbox.get_message(in_flight.uid)
    assert first.state == MessageState.UNKNOWN and first.parts[0].state == PartState.UNKNOWN
    assert b.outbox.get_message(claimed_only.uid).state == MessageState.QUEUED
    assert b.outbox.get_message(renewed.uid).state == MessageState.SENDING
    later = NOW + timedelta(seconds=62)
    assert b.outbox.claim_next("b1", later, 60).message_id == claimed_only.id
    assert b.outbox.claim_next("b1", later, 60) is None  # the unknown one is never claimed again


def test_webhook_deliveries_are_claimed_once_and_in_order_across_boxes(boxes):
    a, b = boxes
    a.events.add_webhook("http://127.0.0.1:9/hook", ["message.sent", "message.delivered"], NOW)
    for i, message in enumerate(a.outbox.enqueue([draft(i, report=True) for i in range(20)], NOW)):
        job = a.outbox.claim_next("a1", NOW, 60)
        a.outbox.record_part_sent(job, 1, "a1", i, NOW)
        a.reports.record_status_report("a1", StatusReport(None, None, i, job.to_number, 0, NOW, NOW), NOW)
    seen: list[tuple[str, str]] = []  # (event uid, type) in the order they were claimed
    lock = threading.Lock()

    def dispatcher(store):
        while True:
            jobs = store.events.claim_deliveries(NOW, 4, 60)
            if not jobs:
                with lock:
                    if len(seen) == 40:
                        return
                time.sleep(0.005)
                continue
            with lock:
                seen.extend((job.uid, job.event_type) for job in jobs)
            for job in jobs:
                store.events.record_attempt(job, NOW, status_code=204, error=None, duration_ms=1,
                                            outcome=DeliveryState.DELIVERED)

    threads = [threading.Thread(target=dispatcher, args=(store,)) for store in boxes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(seen) == 40 and len({uid for uid, _ in seen}) == 40  # each delivery claimed once
    import json

    order: dict[str, list[str]] = collections.defaultdict(list)
    with a.engine.connect() as conn:
        from sqlalchemy import text

        rows = conn.execute(text("SELECT d.uid, e.subject, e.type, d.id FROM deliveries d "
                                 "JOIN events e ON e.id = d.event_id")).all()
    by_uid = {r.uid: r for r in rows}
    for uid, _ in seen:
        order[by_uid[uid].subject].append(by_uid[uid].type)
    assert all(types == ["message.sent", "message.delivered"] for types in order.values()), json.dumps(order)


def test_an_expired_delivery_lease_is_due_again(boxes):
    a, b = boxes
    a.events.add_webhook("http://127.0.0.1:9/hook", ["message.sent"], NOW)
    a.outbox.enqueue([draft(1)], NOW)
    a.outbox.record_part_sent(a.outbox.claim_next("a1", NOW, 60), 1, "a1", 1, NOW)
    [job] = a.events.claim_deliveries(NOW, 10, 30)  # box a dies while posting
    # a starting box leaves the live ones alone (lease not passed)
    assert b.events.release_deliveries(NOW, at_start=True) == 0
    assert b.outbox.release_expired(NOW + timedelta(seconds=31)) == (0, 0, 1)
    assert [j.uid for j in b.events.claim_deliveries(NOW + timedelta(seconds=31), 10, 30)] == [job.uid]


def test_an_enqueue_on_one_box_wakes_the_other_through_notify(boxes, shared_url):
    a, b = boxes
    woken_b, woken_a = threading.Event(), threading.Event()
    with OutboxListener(shared_url, "b", woken_b.set) as listener_b, \
            OutboxListener(shared_url, "a", woken_a.set) as listener_a:
        assert listener_b.wait_listening(5) and listener_a.wait_listening(5)
        woken_a.clear(), woken_b.clear()
        a.outbox.enqueue([draft(1)], NOW)
        assert woken_b.wait(5)
        assert not woken_a.wait(0.3)  # its own notice: the box's pool was woken in-process already


def test_a_url_naming_a_failover_pair_follows_the_host_that_answers(pg_cluster, shared_url, key_file):
    # host=a,b with target_session_attrs=read-write: the first host is down (a failed primary), the second takes
    # the store's connections and the LISTEN connection alike
    database = shared_url.rsplit("/", 1)[1]
    pair = (f"postgresql+psycopg://postgres@/{database}?host=127.0.0.1:{free_port()}"
            f"&host=127.0.0.1:{pg_cluster.port}&target_session_attrs=read-write")
    store = Store.from_url(pair, key_file=key_file)
    woken = threading.Event()
    try:
        with OutboxListener(pair, "b", woken.set) as listener:
            assert listener.wait_listening(5)
            store.db.box = "a"
            store.outbox.enqueue([draft(1)], NOW)
            assert woken.wait(5)
        assert store.outbox.count_by_state() == {"queued": 1}
    finally:
        store.close()


def test_a_pooled_connection_that_died_while_idle_is_replaced_before_anyone_uses_it(shared_url, monkeypatch):
    # (a PostgreSQL restart or failover ends every connection; the pool pings one that sat idle, not every one)
    from sqlalchemy.exc import OperationalError

    from gateway.store import database

    def used_once_then_killed(engine):
        with engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with database.make_engine(shared_url).connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        return pid

    engine = database.make_engine(shared_url)
    try:
        monkeypatch.setattr(database, "PING_AFTER_IDLE_S", 0.0)  # idle long enough: pinged, replaced, unseen
        dead = used_once_then_killed(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != dead
        monkeypatch.setattr(database, "PING_AFTER_IDLE_S", 3600.0)  # used a moment ago: no ping, one failure
        used_once_then_killed(engine)
        with pytest.raises(OperationalError), engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        with engine.connect() as conn:  # that disconnect emptied the pool: the next one is fresh
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        engine.dispose()


def test_each_box_records_its_modems_and_the_api_shows_every_box(boxes, settings):
    from gateway.rules.apikeys import SCOPES
    from web import create_app

    a, b = boxes
    a.modems.save_modem("a1", "/dev/ttyUSB0", NOW, state=ModemState.ONLINE)
    b.modems.save_modem("b1", "/dev/ttyUSB0", NOW, state=ModemState.ONLINE)
    assert [(m.name, m.box) for m in a.modems.list_modems()] == [("a1", "a"), ("b1", "b")]
    service = GatewayService(a, settings.messaging)
    app = create_app(settings, service)
    token = service.keys.create_key("t", list(SCOPES))[1]
    body = app.test_client().get("/api/v1/modems", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [(m["name"], m["box"]) for m in body["modems"]] == [("a1", "a"), ("b1", "b")]
    assert modem_json(a.modems.list_modems()[0])["box"] == "a"


# --- two `smsgw run` processes ------------------------------------------------------------------------


class Box:
    """`smsgw run` in a child process, with its fake modems in this one (the test sees what they sent)."""

    def __init__(self, name: str, url: str, fakes, tmp_path: Path, token: str, key_file: str, *,
                 lease_s: float = 2.0, dead_after_s: float = 10.0) -> None:
        self.name, self.fakes, self.port = name, fakes, free_port()
        self.config = config = tmp_path / f"{name}.toml"
        config.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = {self.port}\nbox = "{name}"\n'
            f'heartbeat_s = {dead_after_s / 4}\nbox_dead_after_s = {dead_after_s}\n'
            f'[database]\nurl = "{url}"\n'
            f'[security]\nkey_file = "{key_file}"\n'
            f'[pool]\nlease_s = {lease_s}\nsweep_interval_s = 30.0\n'
            '[messaging]\nmax_recipients = 1000\n'
            '[webhooks]\nallow = ["127.0.0.0/8"]\n'  # the tests' receivers are on loopback
            + "".join(f'[[modems]]\nname = "{name}{i}"\nport = "{f.link}"\n' for i, f in enumerate(fakes, 1)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway", "--log-level", "WARNING", "run",
                                      "--config", str(config)], env=env, cwd=ROOT)
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def api(self, method: str, path: str, **kwargs):
        return self.http.request(method, f"http://127.0.0.1:{self.port}/api/v1{path}", timeout=30, **kwargs)

    def modems(self) -> dict:
        try:
            return {m["name"]: m for m in self.api("GET", "/modems").json()["modems"]}
        except (requests.ConnectionError, ValueError):
            return {}

    def stop(self) -> None:
        stop(self.proc)


def test_two_gateway_processes_share_the_outbox_and_a_killed_box_loses_nothing(shared_url, modem_links,
                                                                                tmp_path, key_file):
    store = Store.from_url(shared_url, key_file=key_file)
    token = GatewayService(store, MessagingSettings()).keys.create_key("multibox", ["send", "read", "admin"])[1]
    fakes = modem_links(4, latency_ms=40)
    boxes = [Box(name, shared_url, share, tmp_path, token, key_file) for name, share in (("a", fakes[:2]),
                                                                                        ("b", fakes[2:]))]
    try:
        wait_until(lambda: all(sum(m["state"] == "online" for m in box.modems().values()) == 4 for box in boxes),
                   timeout_s=30)
        assert {(m["name"], m["box"]) for m in boxes[1].modems().values()} == {
            ("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b")}
        total = 400
        uids: list[str] = []

        def client(box: Box, first: int) -> None:  # load on both boxes' APIs at once
            for start in range(first, total, 40):
                response = box.api("POST", "/messages", json={
                    "to": [f"+4479111{i:05d}" for i in range(start, start + 20)],
                    "body": "load"})
                assert response.status_code == 202, response.text
                uids.extend(m["id"] for m in response.json()["messages"])

        clients = [threading.Thread(target=client, args=(boxes[0], 0)),
                   threading.Thread(target=client, args=(boxes[1], 20))]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        # box a dies mid-run, with work claimed (SIGKILL: no clean shutdown, no release)
        wait_until(lambda: all(len(f.sent) >= 15 for f in fakes), timeout_s=30)
        assert sum(len(f.sent) for f in fakes) < total
        boxes[0].proc.kill()
        boxes[0].proc.wait()

        def settled():
            counts = store.outbox.count_by_state()
            return counts.get("sent", 0) + counts.get("unknown", 0) == total and counts

        counts = wait_until(settled, timeout_s=60)
        assert counts.get("unknown", 0) <= 2  # at most one part in flight per modem of the dead box
        on_air = collections.Counter(s.number for f in fakes for s in f.sent)
        assert max(on_air.values()) == 1  # nothing sent twice
        sent_numbers = {m.to_number for m in store.outbox.list_messages(state=MessageState.SENT, limit=1000)}
        assert len(sent_numbers) == counts["sent"] and sent_numbers <= set(on_air)  # every sent one went out
        assert all(len(f.sent) >= 15 for f in fakes)  # every modem of both boxes worked
    finally:
        for box in boxes:
            box.stop()
        store.close()


@pytest.fixture
def live_boxes(shared_url, modem_links, tmp_path, key_file):
    """Boxes "a" and "b" (two fake modems each, 150 ms a send) that declare a box dead after 2 s of silence, with
    300 s leases (so only liveness can settle a dead box's claims in time), both modems of b online; and a store."""
    store = Store.from_url(shared_url, key_file=key_file)
    token = GatewayService(store, MessagingSettings()).keys.create_key("live", ["send", "read", "admin"])[1]
    fakes = modem_links(4, latency_ms=150)
    boxes = [Box(name, shared_url, share, tmp_path, token, key_file, lease_s=300.0, dead_after_s=2.0)
             for name, share in (("a", fakes[:2]), ("b", fakes[2:]))]
    try:
        wait_until(lambda: sum(m["state"] == "online" for m in boxes[1].modems().values()) == 4, timeout_s=30)
        yield store, fakes, boxes
    finally:
        for box in boxes:
            box.stop()
        store.close()


def test_a_killed_box_is_noticed_in_seconds_and_what_it_held_settled_long_before_its_leases_end(live_boxes):
    store, fakes, boxes = live_boxes
    store.outbox.enqueue([draft(i) for i in range(200)], utcnow())  # the boxes' clock; NOTIFY wakes them
    wait_until(lambda: all(len(f.sent) >= 3 for f in fakes[:2]), timeout_s=30)
    boxes[0].proc.kill()  # SIGKILL: no clean stop, its claims (lease 300 s) left behind
    killed = time.monotonic()
    boxes[0].proc.wait()

    def settled() -> bool:
        held = [m for m in store.outbox.list_messages(state=MessageState.SENDING, limit=1000)
                if m.modem in ("a1", "a2")]
        offline = {m.name: m.state for m in store.modems.list_modems() if m.box == "a"}
        return not held and set(offline.values()) == {ModemState.OFFLINE}

    wait_until(settled, timeout_s=30)
    settle_s = time.monotonic() - killed
    assert [(b.name, b.state) for b in store.boxes.list_boxes()] == [("a", "dead"), ("b", "alive")]
    counts = wait_until(lambda: (c := store.outbox.count_by_state()).get("sent", 0) + c.get("unknown", 0) == 200
                        and c, timeout_s=60)
    on_air = collections.Counter(s.number for f in fakes for s in f.sent)
    assert max(on_air.values()) == 1 and counts.get("unknown", 0) <= 2  # nothing twice; in flight: unknown
    assert settle_s < 15, settle_s
    print(f"SIGKILL → the dead box's claims settled and its modems offline: {settle_s:.1f} s "
          f"(dead after 2 s of silence, leases 300 s)")


def test_a_second_box_with_a_live_boxs_name_refuses_to_start(shared_url, modem_links, tmp_path, key_file):
    store = Store.from_url(shared_url, key_file=key_file)
    token = GatewayService(store, MessagingSettings()).keys.create_key("names", ["read"])[1]
    [first_fake, second_fake] = modem_links(2)
    first = Box("same", shared_url, [first_fake], tmp_path, token, key_file)
    try:
        wait_until(lambda: first.modems().get("same1", {}).get("state") == "online", timeout_s=30)
        second = tmp_path / "second.toml"  # the same name, its own port and modem
        second.write_text(first.config.read_text().replace(f"port = {first.port}", f"port = {free_port()}")
                          .replace(first_fake.link, second_fake.link))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
        refused = subprocess.run([sys.executable, "-m", "gateway", "run", "--config", str(second)], env=env,
                                 cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert "box 'same' already runs on" in refused.stderr and "[server] box" in refused.stderr
        assert not second_fake.commands  # it touched no modem
        listing = subprocess.run([sys.executable, "-m", "gateway", "boxes", "--config", str(first.config)], env=env,
                                 cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert "same" in listing.stdout and "alive" in listing.stdout and "same1" in listing.stdout
    finally:
        first.stop()
        store.close()


def test_a_box_paused_past_the_dead_threshold_sends_nothing_another_box_handled(live_boxes):
    store, fakes, boxes = live_boxes
    long = "x" * 300  # two parts: a pause may fall between them
    store.outbox.enqueue([draft(i, parts=(long[:153], long[153:])) for i in range(60)], utcnow())
    wait_until(lambda: all(len(f.sent) >= 2 for f in fakes[:2]), timeout_s=30)
    boxes[0].proc.send_signal(signal.SIGSTOP)  # paused, not dead: it will wake with claims it no longer has
    wait_until(lambda: [(b.name, b.state) for b in store.boxes.list_boxes()][0] == ("a", "dead"), timeout_s=15)
    time.sleep(1.0)
    boxes[0].proc.send_signal(signal.SIGCONT)
    wait_until(lambda: [(b.name, b.state) for b in store.boxes.list_boxes()][0] == ("a", "alive"), timeout_s=15)
    counts = wait_until(lambda: (c := store.outbox.count_by_state()).get("sent", 0) + c.get("unknown", 0) == 60
                        and c, timeout_s=90)
    parts_on_air = collections.Counter((s.number, s.concat) for f in fakes for s in f.sent)
    assert max(parts_on_air.values()) == 1  # no part twice, whichever box took the message up again
    assert counts.get("unknown", 0) <= 2


def test_without_a_configured_name_two_instances_on_one_host_take_different_names(shared_url, key_file, tmp_path):
    import socket

    from gateway.appliance.runtime import default_box_name, open_store
    from gateway.config import DatabaseSettings, SecuritySettings, ServerSettings, Settings

    def settings(port: int) -> Settings:
        return Settings(server=ServerSettings(host="127.0.0.1", port=port), database=DatabaseSettings(url=shared_url),
                        security=SecuritySettings(key_file=key_file))

    host = socket.gethostname()
    stores = [open_store(settings(port)) for port in (8080, 8081)]
    try:
        assert [s.db.box for s in stores] == [f"{host}-8080", f"{host}-8081"]
    finally:
        for store in stores:
            store.close()
    assert default_box_name(settings(8080), is_sqlite=True) == host  # one box per SQLite file: the host names it
