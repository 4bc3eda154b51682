"""SMS Gateway for Android's webhooks: JSON `{"deviceId", "event", "id", "payload", "webhookId"}` signed with
X-Signature = hex HMAC-SHA256(raw body + X-Timestamp) under the webhook's signing key (the target's argument is
the device id)."""

from __future__ import annotations

import hashlib
import hmac
import json

from gateway.doors import Callback, CallbackRequest

EVENTS = {"message.sent": "sms:sent", "message.delivered": "sms:delivered", "message.failed": "sms:failed",
          "message.received": "sms:received"}  # the app's webhook event of each of ours


def render(callback: Callback) -> CallbackRequest:
    """The webhook POST of any of our events (all four have the app's counterpart)."""
    body = json.dumps({"deviceId": callback.target.arg or "smsgw", "event": EVENTS[callback.event_type],
                       "id": callback.delivery_uid, "payload": payload(callback.event_type, callback.data),
                       "webhookId": callback.event_uid}, ensure_ascii=False).encode()
    timestamp = str(callback.sent_at_s)
    digest = hmac.new(callback.secret.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()
    return CallbackRequest("POST", callback.target.url, body,
                           {"Content-Type": "application/json", "X-Signature": digest, "X-Timestamp": timestamp})


def payload(event_type: str, data: dict) -> dict:
    """The `payload` of a webhook."""
    if event_type == "message.received":
        return {"messageId": data["id"], "message": data["text"], "sender": data["from"],
                "recipient": data.get("to"), "phoneNumber": data["from"], "simNumber": None,
                "receivedAt": data["received_at"]}
    fields = {"messageId": data["id"], "phoneNumber": data["to"], "simNumber": None}
    if event_type == "message.sent":
        fields["sentAt"] = data.get("sent_at")
    elif event_type == "message.delivered":
        fields["deliveredAt"] = data.get("updated_at")
    else:
        fields["failedAt"] = data.get("updated_at")
        fields["reason"] = (data.get("error") or {}).get("message") or "failed"
    return fields
