"""Idempotency-Key (or client_ref): a retried POST gets the first answer; another body with the same key is
refused; concurrent duplicates send once."""

import json
import threading
from datetime import timedelta

import requests

from gateway.config import MessagingSettings
from gateway.core.service import GatewayService
from tests.clock import at

SEND = "/api/v1/messages"


def post(client, headers, payload, key=None):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post(SEND, data=json.dumps(payload), headers={**headers, **extra,
                                                                "Content-Type": "application/json"})


def count(service):
    return sum(service.store.outbox.count_by_state().values())


def test_a_retry_with_the_same_key_gets_the_first_answer_and_sends_nothing(client, auth, service):
    first = post(client, auth, {"to": "+447911123456", "body": "hi"}, key="k1")
    again = post(client, auth, {"to": "+447911123456", "body": "hi"}, key="k1")
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert count(service) == 1


def test_client_ref_in_the_body_works_like_the_header(client, auth, service):
    payload = {"to": "+447911123456", "body": "hi", "client_ref": "order-17"}
    assert post(client, auth, payload).json == post(client, auth, payload).json
    assert count(service) == 1


def test_the_same_key_with_another_body_is_refused(client, auth, service):
    post(client, auth, {"to": "+447911123456", "body": "hi"}, key="k1")
    reused = post(client, auth, {"to": "+447911123456", "body": "other"}, key="k1")
    assert reused.status_code == 422 and reused.json["error"]["code"] == "idempotency_key_reused"
    assert count(service) == 1


def test_keys_are_per_api_key_and_a_refused_request_does_not_hold_its_key(client, auth, service):
    _, other = service.keys.create_key("other", ["send"])
    post(client, auth, {"to": "+447911123456", "body": "hi"}, key="k1")
    assert post(client, {"X-API-Key": other}, {"to": "+447911123456", "body": "hi"}, key="k1").status_code == 202
    assert count(service) == 2
    assert post(client, auth, {"to": "not a number", "body": "hi"}, key="k2").status_code == 422
    assert post(client, auth, {"to": "+447911123457", "body": "hi"}, key="k2").status_code == 202


def test_otp_requests_are_idempotent_too(client, auth, service):
    payload = json.dumps({"to": "+447911123456"})
    headers = {**auth, "Content-Type": "application/json", "Idempotency-Key": "otp-1"}
    first = client.post("/api/v1/otp", data=payload, headers=headers)
    assert client.post("/api/v1/otp", data=payload, headers=headers).json == first.json
    assert count(service) == 1


def test_concurrent_duplicates_send_once(gateway_factory):
    gateway, _, token = gateway_factory(0)
    url = f"http://127.0.0.1:{gateway.port}{SEND}"
    answers, barrier = [], threading.Barrier(8)

    def send():
        barrier.wait()
        answers.append(requests.post(url, json={"to": "+447911123456", "body": "once"}, timeout=10,
                                     headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "race"}))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {a.status_code for a in answers} <= {202, 409}
    assert {a.json()["id"] for a in answers if a.status_code == 202} and \
        len({a.json()["id"] for a in answers if a.status_code == 202}) == 1
    assert sum(gateway.service.store.outbox.count_by_state().values()) == 1


def test_a_batch_retried_with_another_template_is_refused(client, auth, service):
    service.templates.add_template("a", "A {name}")
    service.templates.add_template("b", "B {name}")
    headers = {**auth, "Content-Type": "text/csv", "Idempotency-Key": "batch-1"}
    csv_text = b"to,name\r\n+447911123456,Ann\r\n"
    first = client.post("/api/v1/batches?template=a", data=csv_text, headers=headers)
    assert client.post("/api/v1/batches?template=a", data=csv_text, headers=headers).json == first.json
    assert client.post("/api/v1/batches?template=b", data=csv_text, headers=headers).status_code == 422
    assert count(service) == 1


def test_a_key_is_forgotten_after_its_time(store):
    now = [at(11, 26, 12)]
    service = GatewayService(store, MessagingSettings(), clock=lambda: now[0])
    key, _ = service.keys.create_key("k", ["send"])
    assert service.idempotency.claim_idempotency(key, "k1", "hash-a") is None
    service.idempotency.finish_idempotency(key, "k1", 202, "{}")
    assert service.idempotency.claim_idempotency(key, "k1", "hash-a") == (202, "{}")
    now[0] += timedelta(hours=24, seconds=1)
    assert service.idempotency.claim_idempotency(key, "k1", "hash-b") is None  # a new request may use the key again
