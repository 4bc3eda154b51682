"""Binary SMS (WAP push, 8-bit data with NUL bytes) through the real driver into the inbox, on SQLite and on
PostgreSQL (whose text columns refuse NUL): stored readably and losslessly, and the worker goes on receiving.
An SMS the box cannot decode at all is quarantined raw and deleted from the SIM, and never blocks the next one."""

import pytest

from tests.api_client import Api
from tests.conftest import wait_until

pytestmark = pytest.mark.both_databases

SENDER = "0B914497111234F6"  # +447911123456
WAP_PUSH = "00" + "44" + SENDER + "0004" + "42200141000040" + "0D" + "0605040B8423F0" + "0006000000FF"


def test_a_wap_push_with_nul_bytes_is_stored_and_the_next_sms_still_arrives(gateway_factory):
    gateway, [fake], token = gateway_factory(1)
    api = Api(gateway, token)
    wait_until(lambda: api.modems().get("modem1", {}).get("state") == "online")  # its row comes at its first state
    fake.inject_pdu(WAP_PUSH)
    fake.inject_sms("+447911123456", "after the push")
    inbox = wait_until(lambda: len(m := api.inbox()) == 2 and m, timeout_s=15)
    texts = sorted(m["text"] for m in inbox)
    assert texts == ["[WAP push, 6 bytes] 0006000000ff", "after the push"]
    wait_until(lambda: fake.stored() == {})  # both read and deleted from the SIM

COMPRESSED = "00" + "04" + SENDER + "00" + "20" + "42200141000040" + "03" + "AABBCC"  # DCS 0x20: compressed text
TRUNCATED = "00" + "04" + SENDER + "00" + "00" + "4220014100"  # cut inside its time stamp
GARBLED = "0004Z" + SENDER  # not even hex


def test_undecodable_sms_are_quarantined_raw_and_deleted_from_the_sim(gateway_factory):
    gateway, [fake], token = gateway_factory(1)
    api = Api(gateway, token)
    wait_until(lambda: api.modems().get("modem1", {}).get("state") == "online")  # its row comes at its first state
    for pdu in (COMPRESSED, TRUNCATED, GARBLED):
        fake.inject_pdu(pdu)
    fake.inject_sms("+447911123456", "after the garbage")
    wait_until(lambda: [m["text"] for m in api.inbox()] == ["after the garbage"], timeout_s=15)
    kept = wait_until(lambda: len(q := api.quarantine()) == 3 and q)
    assert sorted(item["pdu"] for item in kept) == sorted(p.upper() for p in (COMPRESSED, TRUNCATED, GARBLED))
    reasons = {item["pdu"]: item["reason"] for item in kept}
    assert "compressed" in reasons[COMPRESSED]
    assert "truncated" in reasons[TRUNCATED.upper()]
    assert "not hex" in reasons[GARBLED.upper()]
    assert {item["modem"] for item in kept} == {"modem1"}
    assert all(item["memory"] in ("SM", "ME") and item["index"] >= 1 for item in kept)
    wait_until(lambda: fake.stored() == {})  # all four deleted from the SIM
    storage = api.modems()["modem1"]["storage"]
    assert storage["total"] > 0 and 0 <= storage["used"] <= storage["total"]
    gateway.pool.wake()
    fake.inject_pdu(COMPRESSED)  # the same PDU read again is kept once
    wait_until(lambda: fake.stored() == {})
    assert len(api.quarantine()) == 3
