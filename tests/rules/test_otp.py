"""One-time codes: stored hashed with a per-code salt, masked in the message list, real on the air only until
it has left (then nowhere in the database); attempts, expiry and single use; sent with high priority."""

import json
import logging
from datetime import timedelta

import pytest

from gateway.config import MessagingSettings
from gateway.core.service import GatewayService
from gateway.rules.otp import code_hash, matches, new_code
from tests.api_client import Api
from tests.clock import Clock

OTP = "/api/v1/otp"


def post(client, auth, url, payload):
    return client.post(url, data=json.dumps(payload), headers={**auth, "Content-Type": "application/json"})


def test_codes_use_their_alphabet_and_hash_with_their_own_salt():
    assert new_code(8, "digits").isdigit() and len(new_code(10, "alnum")) == 10
    pepper = b"p" * 32
    assert code_hash("123456", "00" * 16, pepper) != code_hash("123456", "11" * 16, pepper)
    assert matches(" abc123 ", "00" * 16, code_hash("ABC123", "00" * 16, pepper), pepper)
    assert not matches("ABC123", "00" * 16, code_hash("ABC123", "00" * 16, pepper), b"q" * 32)  # another box's key


def sent_code(service, message_uid):
    """What went to the modem: the part texts (the body only shows the code masked)."""
    return "".join(p.text for p in service.store.outbox.get_message(message_uid).parts)


def test_the_code_is_masked_in_the_message_and_kept_only_as_a_hash(client, auth, service, caplog):
    caplog.set_level(logging.DEBUG)
    created = post(client, auth, OTP, {"to": "+447911123456", "length": 8})
    assert created.status_code == 202 and created.json["attempts_left"] == 5
    message = client.get(f"/api/v1/messages/{created.json['message_id']}", headers=auth).json
    assert message["body"] == "Your code is ********"
    real = sent_code(service, created.json["message_id"])
    code = real.removeprefix("Your code is ")
    assert code.isdigit() and len(code) == 8
    listed = client.get("/api/v1/messages", headers=auth).get_data(as_text=True)
    assert code not in listed and code not in caplog.text
    assert service.store.outbox.get_message(created.json["message_id"]).priority == 0
    verified = post(client, auth, f"{OTP}/{created.json['id']}/verify", {"code": code})
    assert verified.json == {"verified": True, "attempts_left": 0, "expired": False}
    again = post(client, auth, f"{OTP}/{created.json['id']}/verify", {"code": code})
    assert again.json["verified"] is False  # single use


def test_wrong_codes_use_up_attempts(client, auth, service):
    created = post(client, auth, OTP, {"to": "+447911123456"}).json
    code = sent_code(service, created["message_id"]).removeprefix("Your code is ")
    answers = [post(client, auth, f"{OTP}/{created['id']}/verify", {"code": "x"}).json for _ in range(5)]
    assert [a["attempts_left"] for a in answers] == [4, 3, 2, 1, 0]
    assert post(client, auth, f"{OTP}/{created['id']}/verify", {"code": code}).json["verified"] is False
    assert post(client, auth, f"{OTP}/otp_nope/verify", {"code": code}).status_code == 404


def test_an_expired_code_does_not_verify(store):
    clock = Clock()
    service = GatewayService(store, MessagingSettings(otp_max_attempts=3), clock=clock)
    record, message = service.otp.send_otp("+447911123456", ttl_s=60, alphabet="alnum", length=5)
    code = "".join(p.text for p in message.parts).removeprefix("Your code is ")
    clock.now += timedelta(seconds=61)
    result = service.otp.verify_otp(record.uid, code)
    assert (result.verified, result.expired, result.attempts_left) == (False, True, 3)


@pytest.mark.parametrize("payload, field", [
    ({"to": "+447911123456", "length": 3}, "length"), ({"to": "+447911123456", "length": 11}, "length"),
    ({"to": "+447911123456", "alphabet": "emoji"}, "alphabet"), ({"to": "+447911123456", "ttl": 5}, "ttl"),
    ({"to": "+447911123456", "template": "plain"}, "template"),
])
def test_bad_otp_requests_name_their_field(client, auth, service, payload, field):
    service.templates.add_template("plain", "Hello {name}")
    refused = post(client, auth, OTP, payload)
    assert refused.status_code in (400, 422) and refused.json["error"]["field"] == field
    assert sum(service.store.outbox.count_by_state().values()) == 0


def test_the_real_code_goes_to_the_modem_from_a_template(gateway_factory):
    gateway, fakes, token = gateway_factory(1)
    api = Api(gateway, token)
    api.session.post(f"{api.base}/templates", json={"name": "login", "body": "Login code: {code}. Ignore if not you."},
                     timeout=10)
    created = api.session.post(f"{api.base}/otp", json={"to": "+447911123456", "template": "login", "length": 4},
                               timeout=10).json()
    sent = api.wait_state(created["message_id"], "sent")
    assert sent["body"] == "Login code: ****. Ignore if not you."
    [on_air] = fakes[0].sent
    code = on_air.text.removeprefix("Login code: ").removesuffix(". Ignore if not you.")
    assert code.isdigit() and len(code) == 4
    verify = api.session.post(f"{api.base}/otp/{created['id']}/verify", json={"code": code}, timeout=10).json()
    assert verify["verified"] is True


# --- the plain code is in the database only while it may still be sent ----------------------------------

def database_text(store) -> str:
    """Every row of every table, as text."""
    from sqlalchemy import select

    from gateway.store.models import Base

    with store.engine.connect() as db:
        return "\n".join(str(tuple(row)) for table in Base.metadata.sorted_tables
                         for row in db.execute(select(table)))


def part_rows(store, message_uid):
    from sqlalchemy import text

    def opened(value):  # the parts' texts are sealed under the box key
        return value if value is None else store.box_key.open(value)

    with store.engine.connect() as db:
        rows = db.execute(text("SELECT parts.text, parts.masked_text FROM parts JOIN messages ON "
                               "messages.id = parts.message_id WHERE messages.uid = :uid"), {"uid": message_uid})
        return [(opened(part_text), opened(masked)) for part_text, masked in rows]


def test_once_sent_the_code_is_nowhere_in_the_database(gateway_factory):
    gateway, fakes, token = gateway_factory(1)
    api = Api(gateway, token)
    created = api.session.post(f"{api.base}/otp", json={"to": "+447911123456", "alphabet": "alnum", "length": 10},
                               timeout=10).json()
    api.wait_state(created["message_id"], "sent")
    code = fakes[0].sent[0].text.removeprefix("Your code is ")
    assert len(code) == 10
    assert part_rows(gateway.store, created["message_id"]) == [("Your code is **********", None)]
    assert code not in database_text(gateway.store)
    assert api.session.post(f"{api.base}/otp/{created['id']}/verify", json={"code": code},
                            timeout=10).json()["verified"] is True  # the hash still checks it


def test_a_code_that_never_left_is_masked_when_its_message_settles(store):
    from gateway.errors import ConflictError

    clock = Clock()
    service = GatewayService(store, MessagingSettings(), clock=clock)
    cancelled = service.otp.send_otp("+447911123456", alphabet="alnum", length=10)[1]
    expiring = service.otp.send_otp("+447911123457", ttl_s=60, alphabet="alnum", length=10)[1]
    codes = ["".join(p.text for p in m.parts).removeprefix("Your code is ") for m in (cancelled, expiring)]
    assert part_rows(store, cancelled.uid)[0] == (f"Your code is {codes[0]}", "Your code is **********")
    service.messages.cancel(cancelled.uid)
    clock.now += timedelta(seconds=61)
    assert store.outbox.release_due(clock.now) == (0, 1)  # the message expires with its code
    lost = service.otp.send_otp("+447911123458", alphabet="alnum", length=10)[1]
    job = store.outbox.claim_next("m1", clock.now, 60)
    store.outbox.mark_part_submitting(job, 1, "m1", clock.now)
    store.outbox.release_claims(clock.now)  # the box stopped while the modem had the part: unknown
    codes.append("".join(p.text for p in lost.parts).removeprefix("Your code is "))
    text = database_text(store)
    assert [store.outbox.get_message(m.uid).state.value for m in (cancelled, expiring, lost)] == [
        "cancelled", "expired", "unknown"]
    assert not [code for code in codes if code in text]
    with pytest.raises(ConflictError):  # the code is gone: re-sending would send the mask
        service.messages.retry(lost.uid)
