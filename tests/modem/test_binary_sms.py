"""Binary SMS (WAP push, 8-bit data with NUL bytes) through the real driver into the inbox, on SQLite and on
PostgreSQL (whose text columns refuse NUL): stored readably and losslessly, and the worker goes on receiving."""

import pytest

from tests.api_client import Api
from tests.conftest import wait_until

pytestmark = pytest.mark.both_databases

SENDER = "0B914497111234F6"  # +447911123456
WAP_PUSH = "00" + "44" + SENDER + "0004" + "42200141000040" + "0D" + "0605040B8423F0" + "0006000000FF"


def test_a_wap_push_with_nul_bytes_is_stored_and_the_next_sms_still_arrives(gateway_factory):
    gateway, [fake], token = gateway_factory(1)
    api = Api(gateway, token)
    wait_until(lambda: api.modems()["modem1"]["state"] == "online")
    fake.inject_pdu(WAP_PUSH)
    fake.inject_sms("+447911123456", "after the push")
    inbox = wait_until(lambda: len(m := api.inbox()) == 2 and m, timeout_s=15)
    texts = sorted(m["text"] for m in inbox)
    assert texts == ["[WAP push, 6 bytes] 0006000000ff", "after the push"]
    wait_until(lambda: fake.stored() == {})  # both read and deleted from the SIM
