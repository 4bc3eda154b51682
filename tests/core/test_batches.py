"""Bulk: CSV batches with per-row template parameters (bad rows reported, good rows sent at bulk priority),
and the enqueue time of a 10,000-recipient request."""

import time

from gateway.config import MessagingSettings
from gateway.core.service import GatewayService
from tests.api_client import Api
from tests.conftest import wait_until

BATCHES = "/api/v1/batches"


def upload(client, auth, csv_text, **query):
    return client.post(BATCHES, data=csv_text.encode(), query_string=query,
                       headers={**auth, "Content-Type": "text/csv"})


def test_a_csv_batch_fills_the_template_per_row_and_reports_bad_rows(client, auth, service):
    service.templates.add_template("remind", "Hi {name}, your visit is on {day}")
    csv_text = ("to,name,day\r\n+447911123456,Ann,Monday\r\nnot a number,Bob,Tuesday\r\n"
                "07911123457,Cy\r\n\r\n+12025550143,Dee,Friday\r\n")
    created = upload(client, auth, csv_text, template="remind")
    assert created.status_code == 202, created.json
    batch = created.json
    assert (batch["rows"], batch["accepted"]) == (4, 2)
    assert [(r["row"], r["field"]) for r in batch["rejected"]] == [(3, "to"), (4, "row")]
    assert batch["counts"] == {"queued": 2}
    fetched = client.get(created.headers["Location"], headers=auth).json
    assert fetched["counts"] == {"queued": 2} and fetched["id"] == batch["id"]
    bodies = sorted(m["body"] for m in client.get("/api/v1/messages", headers=auth).json["messages"])
    assert bodies == ["Hi Ann, your visit is on Monday", "Hi Dee, your visit is on Friday"]
    assert {m.priority for m in service.store.outbox.list_messages()} == {2}


def test_columns_must_match_the_template_and_csv_must_be_csv(client, auth, service):
    service.templates.add_template("remind", "Hi {name}")
    wrong = upload(client, auth, "to,nom\r\n+447911123456,Ann\r\n", template="remind")
    assert wrong.status_code == 422 and wrong.json["error"]["field"] in ("params.name", "params.nom")
    no_to = upload(client, auth, "number,body\r\n+447911123456,hi\r\n")
    assert no_to.status_code == 400 and no_to.json["error"]["field"] == "to"
    as_json = client.post(BATCHES, json={"to": ["+447911123456"]}, headers=auth)
    assert as_json.status_code == 400
    assert client.get(f"{BATCHES}/bat_nope", headers=auth).status_code == 404
    assert sum(service.store.outbox.count_by_state().values()) == 0


def test_a_plain_csv_has_a_body_column_and_marketing_skips_opted_out_rows(client, auth, service):
    service.consent.set_consent("+447911123457", opted_out=True)
    csv_text = "to,body\r\n+447911123456,Sale!\r\n+447911123457,Sale!\r\n"
    created = upload(client, auth, csv_text, **{"class": "marketing"})
    assert created.json["accepted"] == 1
    assert created.json["rejected"] == [{"row": 3, "field": "to", "code": "recipient_opted_out",
                                         "message": "+447911123457 opted out"}]


def test_ten_thousand_recipients_in_one_request_are_queued_fast(store, capsys):
    service = GatewayService(store, MessagingSettings())
    assert service.settings.max_recipients == 10_000
    numbers = [f"+4479{n:08d}" for n in range(10_000)]
    started = time.perf_counter()
    messages = service.messages.send(numbers, "Our shop opens at nine tomorrow.")
    elapsed_s = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n10,000-recipient send: {elapsed_s:.2f} s")
    assert len(messages) == 10_000 and store.outbox.count_by_state() == {"queued": 10_000}
    assert elapsed_s < 15


def test_a_batch_reaches_the_modem(gateway_factory):
    gateway, fakes, token = gateway_factory(1)
    api = Api(gateway, token)
    response = api.session.post(f"{api.base}/batches", data="to,body\n+447911123456,one\n+447911123457,two\n",
                                headers={"Content-Type": "text/csv"}, timeout=10)
    assert response.status_code == 202
    uid = response.json()["id"]
    wait_until(lambda: api.session.get(f"{api.base}/batches/{uid}", timeout=10).json()["counts"] == {"sent": 2})
    assert sorted((s.number, s.text) for s in fakes[0].sent) == [("+447911123456", "one"), ("+447911123457", "two")]
