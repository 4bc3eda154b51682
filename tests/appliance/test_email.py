"""Email both ways against real SMTP: received SMS are mailed to a real SMTP server started here (aiosmtpd), through
the durable deliveries (a server that is away is retried); mail sent with smtplib to the box's own SMTP server
goes out as SMS, and every refusal is an SMTP answer that queues nothing."""

from __future__ import annotations

import smtplib
import statistics
import threading
import time
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller

from gateway.appliance.mail_in import sms_text
from gateway.config import ConfigError, EmailInboundSettings, EmailSettings, Settings
from tests.conftest import wait_until
from tests.ports import free_port

DOMAIN = "sms.test.lan"


class MailCatcher:
    """A real SMTP server on loopback that keeps what it is sent (or refuses recipients with `refuse`)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.mails: list[tuple[float, EmailMessage]] = []
        self.refuse: str | None = None
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        mail = BytesParser(policy=default_policy).parsebytes(envelope.original_content)
        with self._lock:
            self.mails.append((time.monotonic(), mail))
        return "250 OK"

    def stop(self) -> None:
        self._controller.stop()


@pytest.fixture
def catcher():
    catcher = MailCatcher()
    yield catcher
    catcher.stop()


def email_settings(smtp_port: int, *, inbound_port: int = 0, senders=("clinic@example.org",)) -> EmailSettings:
    return EmailSettings(smtp_host="127.0.0.1", smtp_port=smtp_port, starttls=False, sender="box@example.org",
                         forward_inbound_to=("ops@example.org",), timeout_s=5,
                         inbound=EmailInboundSettings(listen=f"127.0.0.1:{inbound_port}" if inbound_port else "",
                                                      domain=DOMAIN, allowed_senders=senders))


@pytest.fixture
def mail_gateway(gateway_factory, settings: Settings):
    def start(smtp_port: int, count: int = 1, **options):
        inbound_port = free_port()
        email = email_settings(smtp_port, inbound_port=inbound_port, **options)
        gateway, fakes, token = gateway_factory(count, settings_override=settings.replace(email=email))
        wait_until(lambda: all(m.state.value == "online" for m in gateway.store.modems.list_modems()))
        return gateway, fakes, token, inbound_port

    return start


def test_each_received_sms_is_mailed_with_a_reply_to_that_answers_it(mail_gateway, catcher):
    gateway, [fake], _, _ = mail_gateway(catcher.port)
    latencies = []
    for i in range(3):
        injected = time.monotonic()
        fake.inject_sms("+447911123456", f"Can I move my appointment? ({i})")
        wait_until(lambda: len(catcher.mails) == i + 1)
        latencies.append((catcher.mails[-1][0] - injected) * 1000)
    mail = catcher.mails[0][1]
    assert (mail["From"], mail["To"], mail["Subject"]) == ("box@example.org", "ops@example.org",
                                                           "SMS from +447911123456")
    assert mail["Reply-To"] == f"+447911123456@{DOMAIN}"
    text = mail.get_content().replace("\r\n", "\n")
    assert text.startswith("Can I move my appointment? (0)\n\n-- \n"
                           "SMS of +447911123456 to +447911000001 (modem modem1)")
    print(f"inbound SMS → email: median {statistics.median(latencies):.0f} ms")


def test_a_mail_server_that_is_away_gets_the_mail_when_it_comes_back(mail_gateway):
    port = free_port()
    gateway, [fake], _, _ = mail_gateway(port)
    fake.inject_sms("+447911123456", "sent while the mail server was down")
    [webhook] = [w for w in gateway.service.receivers.list_webhooks() if w.url == "mailto:ops@example.org"]
    wait_until(lambda: any(d.attempts >= 1 and d.last_error
                           for d in gateway.store.events.list_deliveries(webhook.uid)))
    catcher = MailCatcher(port)
    try:
        wait_until(lambda: len(catcher.mails) == 1, timeout_s=20)
        assert "sent while the mail server was down" in catcher.mails[0][1].get_content()
    finally:
        catcher.stop()
    wait_until(lambda: gateway.store.events.list_deliveries(webhook.uid)[0].state.value == "delivered")


def test_a_recipient_the_mail_server_refuses_for_good_is_not_retried(mail_gateway, catcher):
    catcher.refuse = "550 5.1.1 no such mailbox"
    gateway, [fake], _, _ = mail_gateway(catcher.port)
    fake.inject_sms("+447911123456", "nobody will read this")
    [webhook] = [w for w in gateway.service.receivers.list_webhooks() if w.url.startswith("mailto:")]
    delivery = wait_until(lambda: (d := gateway.store.events.list_deliveries(webhook.uid)) and
                          d[0].state.value == "failed" and d[0])
    assert delivery.attempts == 1 and "no such mailbox" in delivery.last_error


def send_mail(port: int, to: list[str], text: str, *, sender="clinic@example.org", subject="Reminder",
              html: bool = False) -> dict:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, ", ".join(to), subject
    if html:
        mail.set_content("<p>hello</p>", subtype="html")
    else:
        mail.set_content(text)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        return smtp.send_message(mail, to_addrs=to)


def test_mail_to_numbers_at_the_box_domain_goes_out_as_sms(mail_gateway, catcher):
    gateway, [fake], _, port = mail_gateway(catcher.port)
    body = "Your appointment is at 10:00 tomorrow.\n\n-- \nThe Clinic\n123 High Street\n"
    refused = send_mail(port, [f"+447911123456@{DOMAIN}", f"+447911123457@{DOMAIN.upper()}"], body)
    assert refused == {}
    wait_until(lambda: len(fake.sent) == 2)
    assert {(s.number, s.text) for s in fake.sent} == {("+447911123456", "Your appointment is at 10:00 tomorrow."),
                                                      ("+447911123457", "Your appointment is at 10:00 tomorrow.")}


def test_a_key_in_the_subject_lets_any_sender_in(mail_gateway, catcher):
    gateway, [fake], token, port = mail_gateway(catcher.port)
    send_mail(port, [f"+447911123456@{DOMAIN}"], "From the shop", sender="someone@elsewhere.example",
              subject=f"order update {token}")
    wait_until(lambda: [s.text for s in fake.sent] == ["From the shop"])


def test_refused_mail_is_answered_with_the_reason_and_queues_nothing(mail_gateway, catcher):
    gateway, [fake], token, port = mail_gateway(catcher.port)
    to = [f"+447911123456@{DOMAIN}"]
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send_mail(port, ["+447911123456@other.example"], "x")
    assert b"only for <number>@" + DOMAIN.encode() in next(iter(refused.value.recipients.values()))[1]
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_mail(port, [f"reception@{DOMAIN}"], "x")
    cases = [
        (dict(sender="stranger@example.net"), 550, b"not in email.inbound.allowed_senders"),
        (dict(sender="stranger@example.net", subject="smsgw_not-a-real-key"), 550, b"unknown or revoked"),
        (dict(html=True), 554, b"no text/plain part"),
        (dict(), 554, b"no text to send"),
    ]
    for options, code, reason in cases:
        with pytest.raises(smtplib.SMTPDataError) as answered:
            send_mail(port, to, "" if not options else "hello", **options)
        assert answered.value.smtp_code == code and reason in answered.value.smtp_error, options
    with pytest.raises(smtplib.SMTPDataError) as answered:
        send_mail(port, [f"+4479@{DOMAIN}"], "too short a number")
    assert answered.value.smtp_code == 554
    with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)):
        send_mail(port, to, "x" * 300_000)  # over max_message_bytes
    assert gateway.store.outbox.count_by_state() == {}
    send_mail(port, to, "still taking mail")
    wait_until(lambda: [s.text for s in fake.sent] == ["still taking mail"])


def test_the_text_of_a_reply_leaves_out_the_quoted_mail_and_the_signature():
    assert sms_text("Yes, 10:00 is fine.\n\nOn Tue, 1 Dec 2026, Clinic wrote:\n> Your appointment...\n") == \
        "Yes, 10:00 is fine."
    assert sms_text("Thanks\r\n-- \r\nAnn\r\n") == "Thanks"
    assert sms_text("  \n") == ""
    assert sms_text(">From the shop: your order is ready") == "From the shop: your order is ready"


@pytest.mark.parametrize("options, field", [
    (dict(forward_inbound_to=("ops@example.org",)), "email.forward_inbound_to"),
    (dict(smtp_host="h", sender="box", forward_inbound_to=("ops@example.org",)), "email"),
    (dict(starttls=True, tls=True), "email.tls"),
])
def test_a_wrong_email_setting_is_named(options, field):
    with pytest.raises(ConfigError) as raised:
        EmailSettings(**options)
    assert raised.value.field == field


def test_inbound_mail_needs_a_domain_and_a_port():
    with pytest.raises(ConfigError) as raised:
        EmailInboundSettings(listen="127.0.0.1:2525")
    assert raised.value.field == "email.inbound.domain"
    with pytest.raises(ConfigError):
        EmailInboundSettings(listen="2525", domain=DOMAIN)
