"""Mail the box sends (`[email]`): each received SMS to the `forward_inbound_to` addresses, an inbound rule's
mail, an alert; all through the webhook deliveries' durable outbox (a `mailto:` receiver), so a mail server
that is away is retried like a webhook."""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from gateway.config import EmailSettings

MAILTO = "mailto:"


class MailNotSent(Exception):
    """The mail did not go. `final`: the server refused it for good (5xx), so retrying cannot help."""

    def __init__(self, message: str, *, code: int | None = None, final: bool = False) -> None:
        super().__init__(message)
        self.code, self.final = code, final


def mailto_targets(settings: EmailSettings) -> list[str]:
    """The receivers (`mailto:<address>`) a config names for received SMS."""
    return [MAILTO + address for address in settings.forward_inbound_to]


def received_sms_mail(received: dict[str, Any], to: str, settings: EmailSettings) -> EmailMessage:
    """The mail for one received SMS (its inbox resource). With email → SMS on, Reply-To is the sender's number
    at the box's mail domain: answering the mail answers the SMS."""
    mail = _mail(to, f"SMS from {received['from']}", received["id"], settings)
    if settings.inbound.listen and received["from"].lstrip("+").isdigit():
        mail["Reply-To"] = f"{received['from']}@{settings.inbound.domain}"
    mail.set_content(f"{received['text']}\n\n-- \nSMS of {received['from']} to {received['to'] or received['modem']} "
                     f"(modem {received['modem']}), received {received['received_at']}\n")
    return mail


def alert_mail(event_type: str, alert: dict[str, Any], to: str, settings: EmailSettings) -> EmailMessage:
    """The mail for an alert raised or resolved (its resource, gateway/representations.py)."""
    word = "Resolved" if event_type == "alert.resolved" else "Alert"
    mail = _mail(to, f"[smsgw] {word}: {alert['message']}"[:200], f"{alert['id']}-{word.lower()}", settings)
    lines = [f"{word}: {alert['message']}", "", f"Raised:   {alert['raised_at']}"]
    if alert["resolved_at"]:
        lines.append(f"Resolved: {alert['resolved_at']}")
    lines += [f"Key:      {alert['key']}", "", "Open alerts: GET /api/v1/alerts, or the box's status page."]
    mail.set_content("\n".join(lines) + "\n")
    return mail


def _mail(to: str, subject: str, idstring: str, settings: EmailSettings) -> EmailMessage:
    """A mail from the box to `to`, its headers set, its content still to come."""
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = settings.sender, to, subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(idstring=idstring, domain=settings.sender.rpartition("@")[2] or None)
    return mail


class Mailer:
    """Sends one mail per call through `[email]`'s SMTP server (a connection each: mail is rare)."""

    def __init__(self, settings: EmailSettings) -> None:
        self._settings = settings

    def send(self, mail: EmailMessage) -> None:
        """MailNotSent when the server refuses it or cannot be reached."""
        s = self._settings
        try:
            smtp: smtplib.SMTP = (smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.timeout_s,
                                                   context=ssl.create_default_context()) if s.tls
                                  else smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.timeout_s))
            with smtp:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.username:
                    smtp.login(s.username, s.password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reason = next(iter(exc.recipients.values()))
            raise MailNotSent(f"{code} {_text(reason)}", code=code, final=code >= 500) from exc
        except smtplib.SMTPResponseException as exc:
            raise MailNotSent(f"{exc.smtp_code} {_text(exc.smtp_error)}", code=exc.smtp_code,
                              final=exc.smtp_code >= 500) from exc
        except (smtplib.SMTPException, OSError, socket.timeout) as exc:
            raise MailNotSent(f"{s.smtp_host}:{s.smtp_port}: {type(exc).__name__}: {exc}") from exc


def _text(reason: bytes | str) -> str:
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else reason
