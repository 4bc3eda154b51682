"""A multi-part SMS whose parts straggle: visible while it waits (which parts came, which are missing), delivered
after the reassembly timeout with each missing part marked where it belongs, and completed in place when the
late part comes after all."""

from __future__ import annotations

import dataclasses
import time

from tests.api_client import Api
from tests.conftest import wait_until

SENDER = "+447911123456"
TEXT = "A" * 153 + "B" * 153 + "C" * 50  # three GSM-7 parts


def test_a_straggling_multipart_sms_is_shown_flushed_with_a_gap_and_completed_by_its_late_part(settings,
                                                                                                gateway_factory):
    quick = settings.replace(messaging=dataclasses.replace(settings.messaging, reassembly_timeout_s=0.5))
    gateway, [fake], token = gateway_factory(1, settings_override=quick)
    api = Api(gateway, token)
    wait_until(lambda: api.modems().get("modem1", {}).get("state") == "online")

    def waiting():
        return api.session.get(f"{api.base}/inbox/waiting", timeout=10).json()["messages"]

    fake.inject_sms(SENDER, TEXT, parts_order=[0, 2], concat_ref=77)
    [group] = wait_until(lambda: [g for g in waiting() if g["parts_received"] == [1, 3]])
    assert (group["sender"], group["reference"], group["parts_received"], group["parts_expected"]) == (
        SENDER, 77, [1, 3], 3)
    assert group["flush_at"] > group["first_received_at"]
    assert api.inbox() == []

    time.sleep(0.6)
    assert gateway.service.messages.flush_incomplete_inbound() == 1  # the periodic job's work, done now
    [flushed] = api.inbox()
    assert (flushed["state"], flushed["part_count"], flushed["parts_expected"]) == ("incomplete", 2, 3)
    assert flushed["text"] == "A" * 153 + "[part 2 of 3 missing]" + "C" * 50
    assert waiting() == []

    fake.inject_sms(SENDER, TEXT, parts_order=[1], concat_ref=77)
    wait_until(lambda: api.inbox()[0]["state"] == "complete")
    [completed] = api.inbox()
    assert (completed["id"], completed["text"], completed["part_count"]) == (flushed["id"], TEXT, 3)
