"""Twilio's callbacks: a message's StatusCallback and the incoming-message webhook (`[twilio] sms_url`), form
POSTs signed with X-Twilio-Signature under the account's auth token (the target's argument is the AccountSid);
the incoming-message webhook may answer TwiML whose <Message>s are sent back as replies."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode

from lxml import etree

from gateway.doors import Callback, CallbackRequest, CallbackTarget
from web.compat import config_receiver
from web.compat.twilio.accounts import auth_token
from web.compat.twilio.settings import TwilioSettings

API_VERSION = "2010-04-01"
_TWIML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def message_sid(uid: str) -> str:
    """Our message uid ("msg_" + 20 hex digits) as a Twilio SID ("SM" + 32 hex digits); reversible."""
    return "SM" + uid.partition("_")[2].rjust(32, "0")


def signature(token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL and every POST name+value, names sorted."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def receivers(settings: TwilioSettings) -> list[CallbackTarget]:
    """The incoming-message webhook, when the config names one."""
    if not settings.sms_url:
        return []
    return [config_receiver("twilio", settings.account_sid, settings.sms_url, field="twilio.sms_url")]


def render(callback: Callback) -> CallbackRequest:
    """The form POST of a received SMS or of a message's new status (sent, delivered, undelivered or failed)."""
    data, sid, url = callback.data, callback.target.arg, callback.target.url
    if callback.event_type == "message.received":
        params = {"MessageSid": message_sid(data["id"]), "SmsSid": message_sid(data["id"]),
                  "SmsMessageSid": message_sid(data["id"]), "AccountSid": sid, "From": data["from"],
                  "To": data.get("to") or data.get("modem") or "", "Body": data["text"], "NumMedia": "0",
                  "NumSegments": str(data["part_count"]), "SmsStatus": "received", "ApiVersion": API_VERSION}
    else:
        status = {"message.sent": "sent", "message.delivered": "delivered"}.get(callback.event_type)
        if status is None:
            status = "undelivered" if data.get("sent_at") else "failed"
        params = {"MessageSid": message_sid(data["id"]), "SmsSid": message_sid(data["id"]),
                  "MessageStatus": status, "SmsStatus": status, "AccountSid": sid,
                  "From": data.get("modem") or "", "To": data["to"], "ApiVersion": API_VERSION}
        if status in ("failed", "undelivered"):
            params["ErrorCode"] = "30008" if status == "failed" else "30003"
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Twilio-Signature": signature(auth_token(callback.callback_secret, sid), url, params)}
    return CallbackRequest("POST", url, urlencode(params).encode(), headers)


def replies(content_type: str, body: bytes) -> list[str]:
    """The texts of a TwiML <Response>'s <Message> verbs (their text, or their <Body>), whatever the content type
    says; none for anything else. No DTD is loaded and no entity expanded: a document with a DOCTYPE is ignored."""
    if not body.strip():
        return []
    try:
        root = etree.fromstring(body, _TWIML_PARSER)
    except etree.XMLSyntaxError:
        return []
    if root.getroottree().docinfo.doctype or root.tag != "Response":
        return []
    texts = [(message.findtext("Body") if message.find("Body") is not None else message.text) or ""
             for message in root.iterfind("Message")]
    return [text.strip() for text in texts if text.strip()]
