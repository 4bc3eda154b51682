"""GET /metrics and GET /healthz: a whole gateway over fake modems scraped over real HTTP, and the failures a
load balancer must see (no modem online, the database gone)."""

import shutil

import requests
from prometheus_client.parser import text_string_to_metric_families

from gateway.version import VERSION
from gateway.appliance.runtime import open_store
from gateway.config import DatabaseSettings
from gateway.core.service import GatewayService
from tests.conftest import wait_until
from web.metrics import RequestWindow


def scrape(base: str) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}} from the Prometheus text format."""
    response = requests.get(f"{base}/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def modems_online(base, headers, count):
    modems = requests.get(f"{base}/api/v1/modems", headers=headers, timeout=10).json()["modems"]
    return len(modems) == count and all(m["state"] == "online" for m in modems)


def test_metrics_count_what_was_sent_and_healthz_is_ok(gateway_factory):
    gateway, fakes, token = gateway_factory(2)
    base, headers = f"http://127.0.0.1:{gateway.port}", {"Authorization": f"Bearer {token}"}
    wait_until(lambda: modems_online(base, headers, 2))
    ids = [requests.post(f"{base}/api/v1/messages", headers=headers, timeout=10,
                         json={"to": "+447911123456", "body": f"metric {i}", "via": "modem1" if i < 3 else "modem2",
                               "delivery_report": i == 0}).json()["id"] for i in range(4)]
    assert requests.post(f"{base}/api/v1/messages", headers=headers, json={"to": "x"}, timeout=10).status_code == 400
    wait_until(lambda: all(requests.get(f"{base}/api/v1/messages/{uid}", headers=headers, timeout=10)
                           .json()["state"] in ("sent", "delivered") for uid in ids))
    wait_until(lambda: requests.get(f"{base}/api/v1/messages/{ids[0]}", headers=headers,
                                    timeout=10).json()["state"] == "delivered")

    m = scrape(base)
    assert m["smsgw_store_up"][()] == 1
    sent = m["smsgw_messages_total"]
    assert sent[(("modem", "modem1"), ("state", "sent"))] == 3
    assert sent[(("modem", "modem2"), ("state", "sent"))] == 1
    assert sent[(("modem", ""), ("state", "queued"))] == 4
    assert sent[(("modem", "modem1"), ("state", "delivered"))] == 1
    assert m["smsgw_queue_depth"] == {(("state", s),): 0 for s in ("scheduled", "queued", "sending")}
    assert m["smsgw_modem_up"] == {(("modem", "modem1"),): 1, (("modem", "modem2"),): 1}
    assert set(m["smsgw_modem_signal_dbm"]) == {(("modem", "modem1"),), (("modem", "modem2"),)}
    assert m["smsgw_modem_state"][(("modem", "modem1"), ("state", "online"))] == 1
    assert m["smsgw_submit_to_sent_seconds_count"][()] == 4
    assert m["smsgw_submit_to_sent_seconds_bucket"][(("le", "+Inf"),)] == 4
    assert m["smsgw_sent_to_delivered_seconds_count"][()] == 1
    requests_total = m["smsgw_http_requests_total"]
    assert requests_total[(("method", "POST"), ("route", "/api/v1/messages"), ("status", "202"))] == 4
    assert requests_total[(("method", "POST"), ("route", "/api/v1/messages"), ("status", "400"))] == 1
    assert m["smsgw_http_request_duration_seconds_count"][(("route", "/api/v1/messages"),)] == 5

    fakes[0].inject_sms("+447911123456", "reply")
    wait_until(lambda: scrape(base)["smsgw_received_messages_total"][(("modem", "modem1"),)] == 1)

    health = requests.get(f"{base}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "database": "ok", "modems_online": ["modem1", "modem2"], "reason": None,
                             "version": VERSION}

    stats = gateway.store.stats
    now = gateway.service.clock()
    assert sum(stats.series(now, width_s=60, buckets=60).counts["sent"]) == 4
    day = stats.series(now, width_s=3600, buckets=24, with_received=True)
    assert sum(day.counts["delivered"]) == 1 and sum(day.counts["received"]) == 1
    delivery = stats.delivery(now)
    assert (delivery.finished, delivery.rate) == (4, 1.0) and 0 <= delivery.median_send_s < 5
    assert [d.sent_today for d in stats.modem_days(now)] == [3, 1]


def test_healthz_is_503_when_the_only_modem_is_unplugged(gateway_factory):
    gateway, fakes, _ = gateway_factory(1)
    base = f"http://127.0.0.1:{gateway.port}"
    wait_until(lambda: requests.get(f"{base}/healthz", timeout=10).status_code == 200)
    fakes[0].unplug()
    wait_until(lambda: requests.get(f"{base}/healthz", timeout=10).status_code == 503)
    answer = requests.get(f"{base}/healthz", timeout=10).json()
    assert answer["reason"] == "no modem is online" and answer["database"] == "ok"
    assert scrape(base)["smsgw_modem_up"] == {(("modem", "modem1"),): 0}


def test_healthz_is_503_without_modems(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "ok", "modems_online": [],
                                   "reason": "no modem is online", "version": VERSION}


def test_healthz_and_metrics_when_the_database_is_gone(settings, tmp_path):
    from web import create_app

    folder = tmp_path / "db"
    folder.mkdir()
    settings = settings.replace(database=DatabaseSettings(url=f"sqlite:///{folder / 'gone.db'}"))
    store = open_store(settings)
    client = create_app(settings, GatewayService(store, settings.messaging)).test_client()
    assert client.get("/healthz").get_json()["reason"] == "no modem is online"
    store.engine.dispose()
    shutil.rmtree(folder)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "error" and "database does not answer" in response.get_json()["reason"]
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(metrics.get_data(as_text=True))}
    assert families["smsgw_store_up"].samples[0].value == 0
    store.close()


def test_request_window_quantiles_and_expiry():
    now = [1_000_000.0]
    window = RequestWindow(window_s=3600, clock=lambda: now[0])
    for _ in range(98):
        window.observe(0.02, 200)  # in the (0.01, 0.025] bucket
    window.observe(3.0, 500)
    window.observe(3.0, 503)
    figures = window.figures()
    assert figures.requests == 100 and figures.errors == 2 and figures.error_rate == 0.02
    assert 0.01 < figures.p50_s <= 0.025
    assert 2.5 < figures.p99_s <= 5.0
    now[0] += 3600 + 60
    assert window.figures().requests == 0 and window.figures().p50_s is None


def test_request_labels_come_from_a_closed_set_whatever_clients_send(client):
    """Methods, paths, headers and key names from clients never become label values: a scrape's series stay the
    same however many odd requests arrive."""
    for i in range(30):
        client.open(f"/api/v1/odd-{i}/path", method=f"BREW{i}", headers={"X-Api-Key": f"name-{i}"})
        client.open(f"/nowhere/{i}", method="PROPFIND")
        client.get(f"/api/v1/messages/msg_{i}", headers={"Authorization": f"Bearer key-{i}"})
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))}
    samples = [s for name in ("smsgw_http_requests", "smsgw_http_request_duration_seconds") if name in families
               for s in families[name].samples]
    assert samples, sorted(families)
    methods = {s.labels["method"] for s in samples if "method" in s.labels}
    routes = {s.labels["route"] for s in samples if "route" in s.labels}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert "other" in methods
    assert all("odd-" not in r and "nowhere" not in r and "msg_" not in r for r in routes), routes
    assert len(routes) <= 3, routes  # unmatched, the message route, and at most the metrics route itself
