"""The conditions and texts of inbound rules (gateway/rules/inbound.py)."""

from datetime import timedelta

import pytest

from gateway.errors import ValidationError
from gateway.rules.inbound import Conditions, ReceivedFacts, check_conditions, check_template, fill, fold, matches
from tests.clock import at

NOON = at(12, 1, 12, 0, 0)


def sms(text="Hours please", sender="+447911123456", modem="modem1", when=NOON):
    return ReceivedFacts(sender=sender, text=text, modem=modem, recipient="+447911000001", at=when)


def test_a_keyword_is_the_first_word_without_case_or_accents():
    assert fold("Stöp") == fold("STOP") and fold("ÉTÉ") == "ete"
    rule = Conditions(keyword="hours")
    assert matches(rule, sms("HOURS please")) and matches(rule, sms("  hóurs")) and matches(rule, sms("Hours?!"))
    assert matches(rule, sms("«Hours» now"))
    assert not matches(rule, sms("opening hours")) and not matches(rule, sms("hoursly")) and not matches(rule, sms(""))


def test_pattern_senders_modem_and_every_condition_must_hold():
    assert matches(Conditions(pattern=r"\border\s+#?\d+"), sms("Where is ORDER #1234?"))
    assert not matches(Conditions(pattern=r"\border\s+#?\d+"), sms("Where is my parcel?"))
    assert matches(Conditions(senders=("+4479*",)), sms()) and not matches(Conditions(senders=("+4478*",)), sms())
    assert matches(Conditions(senders=("+447911123456",)), sms()) and not matches(Conditions(senders=("+4479",)), sms())
    assert not matches(Conditions(modem="modem2"), sms())
    assert not matches(Conditions(keyword="hours", modem="modem2"), sms())


def test_hours_are_local_time_and_may_run_past_midnight():
    office = Conditions(hours="09:00-17:00", time_zone="Europe/London")
    night = Conditions(hours="22:00-06:00", time_zone="Europe/London")
    assert matches(office, sms()) and not matches(night, sms())
    late = NOON + timedelta(hours=11)  # 23:00 in London in December
    assert not matches(office, sms(when=late)) and matches(night, sms(when=late))
    assert not matches(Conditions(hours="09:00-17:00", time_zone="Asia/Tokyo"), sms())  # 21:00 there


@pytest.mark.parametrize("conditions, field", [
    (Conditions(keyword="two words"), "keyword"),
    (Conditions(keyword=" "), "keyword"),
    (Conditions(pattern="(unclosed"), "pattern"),
    (Conditions(pattern="x" * 501), "pattern"),
    (Conditions(senders=("0791112",)), "senders"),
    (Conditions(senders=("+44*79",)), "senders"),
    (Conditions(hours="9-5"), "hours"),
    (Conditions(time_zone="Mars/Olympus"), "time_zone"),
])
def test_a_condition_that_cannot_work_is_named(conditions, field):
    with pytest.raises(ValidationError) as refused:
        check_conditions(conditions)
    assert refused.value.field == field


def test_texts_use_the_sms_fields_and_only_those():
    assert fill("Thanks {from}, we got: {rest} (keyword {keyword})", sms("Book 10:00 Tuesday")) == \
        "Thanks +447911123456, we got: 10:00 Tuesday (keyword Book)"
    check_template("{text} via {modem} to {to}", "reply")
    with pytest.raises(ValidationError) as refused:
        check_template("Hello {name}", "reply")
    assert refused.value.field == "reply" and "{from}" in refused.value.message
