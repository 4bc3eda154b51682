"""The `[twilio]` config section."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.errors import ConfigError


@dataclass(frozen=True)
class TwilioSettings:
    """Twilio's incoming-message webhook: each received SMS is POSTed in Twilio's form to `sms_url`, signed
    (X-Twilio-Signature) with the auth token of `account_sid`; a TwiML <Message> answer is sent as a reply."""

    sms_url: str = ""
    account_sid: str = ""  # "AC" + 32 hex digits: the account (API key) whose auth token signs the POSTs

    def __post_init__(self) -> None:
        if self.sms_url and not re.fullmatch(r"AC[0-9a-f]{32}", self.account_sid):
            raise ConfigError("twilio.sms_url needs twilio.account_sid, \"AC\" + 32 hex digits (an API key's "
                              "account SID)", field="twilio.account_sid")
