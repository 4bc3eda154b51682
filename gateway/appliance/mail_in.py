"""Email → SMS (`[email.inbound]`, off while `listen` is empty): the box's own SMTP server (aiosmtpd) takes mail
to `<number>@<domain>` and sends its text to each number through the API's enqueue path.

Who may send: a client inside `[server] allow_from`, and either an envelope sender in `allowed_senders` or an
API key with the send scope anywhere in the Subject. Every refusal is an SMTP answer with the reason (5xx: the
sending mail server returns it to its sender as a bounce); nothing is queued for a mail that is refused, and a
mail to several numbers queues for all or for none.
"""

from __future__ import annotations

import asyncio
import email.policy
import ipaddress
import logging
import re
from email import message_from_bytes
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.config import EmailInboundSettings
from gateway.core.service import GatewayService
from gateway.errors import AuthError, GatewayError
from gateway.rules.apikeys import TOKEN_PREFIX

log = logging.getLogger(__name__)

IDLE_TIMEOUT_S = 60.0  # a client silent this long is disconnected
_NUMBER = re.compile(r"^\+?\d{3,15}$")
_KEY = re.compile(rf"\b{re.escape(TOKEN_PREFIX)}[A-Za-z0-9_-]+")


class MailToSms:
    """Owns the SMTP server and its thread (`start`, `stop`)."""

    def __init__(self, settings: EmailInboundSettings, service: GatewayService,
                 allow_from: tuple[str, ...]) -> None:
        self._settings, self._service = settings, service
        self._allow = [ipaddress.ip_network(cidr, strict=False) for cidr in allow_from]
        host, port = settings.address
        self._controller = Controller(self, hostname=host, port=port, data_size_limit=settings.max_message_bytes,
                                      timeout=IDLE_TIMEOUT_S, ident="smsgw")

    @property
    def port(self) -> int:
        server = getattr(self._controller, "server", None)
        return int(server.sockets[0].getsockname()[1]) if server else self._settings.address[1]

    def start(self) -> None:
        self._controller.start()
        log.info("email → SMS: taking mail for <number>@%s on %s", self._settings.domain, self._settings.listen)

    def stop(self) -> None:
        self._controller.stop()

    # --- the SMTP conversation (aiosmtpd's handler hooks, on the server's thread) -----------------------------------

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        if not self._allowed_peer(session.peer):
            return "554 5.7.1 this box takes mail only from its allowed networks ([server] allow_from)"
        envelope.mail_from, envelope.mail_options = address, list(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        local, _, domain = address.rpartition("@")
        if domain.lower() != self._settings.domain.lower():
            return f"550 5.1.2 this box takes mail only for <number>@{self._settings.domain}"
        if not _NUMBER.match(local):
            return f"550 5.1.1 {local!r} is not a phone number (write it as +447911123456@{self._settings.domain})"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._send, envelope)  # the database is not the loop's to wait on

    def _send(self, envelope: Envelope) -> str:
        try:
            mail: Any = message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
            subject = str(mail.get("Subject", ""))
            api_key = None
            if found := _KEY.search(subject):
                api_key = self._service.keys.authenticate(found.group(0), "send")
            elif not self._allowed_sender(envelope.mail_from or ""):
                return (f"550 5.7.1 {envelope.mail_from} may not send SMS here: the sender is not in "
                        "email.inbound.allowed_senders and the Subject carries no API key")
            body = mail.get_body(preferencelist=("plain",))
            if body is None:
                return "554 5.6.0 the mail has no text/plain part: an SMS carries text only"
            text = sms_text(str(body.get_content()))
            if not text:
                return "554 5.6.0 the mail has no text to send"
            numbers = [address.rpartition("@")[0] for address in envelope.rcpt_tos]
            messages = self._service.messages.send(numbers, text, api_key=api_key)
        except AuthError as exc:
            return f"550 5.7.1 {exc.message}"
        except GatewayError as exc:
            return f"554 5.6.0 not sent: {exc.message}"
        except Exception:  # noqa: BLE001 - the server's thread must go on; the sender is told to retry later
            log.exception("email → SMS failed")
            return "451 4.3.0 the box could not take the mail now; try again later"
        log.info("email → SMS: mail from %s queued %s", envelope.mail_from, ", ".join(m.uid for m in messages))
        return f"250 2.0.0 queued {' '.join(m.uid for m in messages)}"

    def _allowed_peer(self, peer: Any) -> bool:
        try:
            address = ipaddress.ip_address(peer[0] if isinstance(peer, tuple) else str(peer))
        except ValueError:
            return False
        return any(address in network for network in self._allow)

    def _allowed_sender(self, sender: str) -> bool:
        sender = sender.lower()
        return any(sender == allowed or allowed.startswith("@") and sender.endswith(allowed)
                   for allowed in self._settings.allowed_senders)


def sms_text(body: str) -> str:
    """The text of a mail body to send: without its signature (after `-- `) and without the quoted mail a reply
    carries below it (`> ` lines and the "On …, … wrote:" line before them); `>From ` is mbox's `From `."""
    lines = body.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    for line in lines:
        if line.startswith(">From "):  # mbox's escape of a line that begins "From ", not a quote
            line = line[1:]
        elif line == "-- " or line.startswith(">"):
            break
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    if len(kept) < len(lines) and kept and kept[-1].rstrip().endswith("wrote:"):
        kept.pop()
    return "\n".join(kept).strip()
