"""The JSON shapes of the gateway's resources: what the API returns and what events carry (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:  # shapes of the store's rows, read by attribute: no runtime import of the store
    from gateway.store.inbox import PartGroup
    from gateway.store.models import Alert, InboxMessage, Message, Modem, QuarantinedSms

PRIORITY_NAMES = {0: "high", 1: "normal", 2: "bulk"}


@overload
def time_json(value: datetime) -> str: ...


@overload
def time_json(value: datetime | None) -> str | None: ...


def time_json(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as every resource shows times."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def message_json(message: Message, *, with_history: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": message.uid,
        "to": message.to_number,
        "body": message.body,
        "state": message.state.value,
        "encoding": message.encoding,
        "part_count": message.part_count,
        "delivery_report": message.delivery_report,
        "report_overdue": message.report_overdue,
        "body_purged": message.body_purged,  # the body was removed after the retention period
        "status_callback": message.status_callback,
        "modem": message.modem,
        "attempts": message.attempts,
        "error": ({"code": message.error_code, "message": message.error_message}
                  if message.error_code else None),
        "created_at": time_json(message.created_at),
        "updated_at": time_json(message.updated_at),
        "sent_at": time_json(message.sent_at),
        "parts": [
            {"seq": p.seq, "state": p.state.value, "modem": p.modem, "reference": p.reference,
             "error_code": p.error_code, "sent_at": time_json(p.sent_at), "report_status": p.report_status,
             "delivered_at": time_json(p.delivered_at)}
            for p in message.parts
        ],
    }
    data.update({  # queue order, hold, validity, routing
        "priority": PRIORITY_NAMES.get(message.priority, "normal"),
        "send_at": time_json(message.next_attempt_at) if message.state.value == "scheduled" else None,
        "expires_at": time_json(message.expires_at), "route_group": message.route_group,
        "pinned_modem": message.pinned_modem,
    })
    if with_history:
        data["history"] = [
            {"state": e.state, "part": e.part_seq, "modem": e.modem, "detail": e.detail, "at": time_json(e.at)}
            for e in message.events
        ]
    return data


def inbox_json(item: InboxMessage) -> dict[str, Any]:
    return {"id": item.uid, "from": item.sender, "to": item.recipient, "text": item.text, "modem": item.modem,
            "part_count": item.part_count, "parts_expected": item.parts_expected or item.part_count,
            "state": item.state.value, "sent_at": time_json(item.sent_at),
            "received_at": time_json(item.received_at),
            "in_reply_to": item.in_reply_to.uid if item.in_reply_to is not None else None,
            "follow_up": item.follow_up}


def waiting_json(group: PartGroup, flush_at: datetime) -> dict[str, Any]:
    return {"modem": group.modem, "sender": group.sender, "reference": group.reference,
            "parts_received": list(group.received), "parts_expected": group.total,
            "first_received_at": time_json(group.first_received_at), "flush_at": time_json(flush_at)}


def quarantine_json(item: QuarantinedSms) -> dict[str, Any]:
    return {"id": item.uid, "modem": item.modem, "memory": item.memory, "index": item.slot, "pdu": item.pdu,
            "reason": item.reason, "received_at": time_json(item.received_at)}


def modem_json(modem: Modem) -> dict[str, Any]:
    return {
        "name": modem.name, "kind": modem.kind, "box": modem.box, "port": modem.port, "state": modem.state.value,
        "imei": modem.imei,
        "manufacturer": modem.manufacturer, "model": modem.model, "operator": modem.operator,
        "registration": modem.registration, "signal": {"rssi": modem.rssi, "dbm": modem.signal_dbm},
        "counters": {"sent": modem.sent_count, "failed": modem.failed_count, "received": modem.received_count},
        "last_error": modem.last_error, "updated_at": time_json(modem.updated_at),
        "own_number": modem.own_number, "balance": modem.balance,
        "balance_checked_at": time_json(modem.balance_checked_at),
        "group": modem.group, "label": modem.label,
        "changed": {"group": modem.changed_group, "cost": modem.changed_cost,
                    "max_per_minute": modem.changed_per_minute, "max_per_hour": modem.changed_per_hour},
        "storage": {"used": modem.storage_used, "total": modem.storage_total},
        "degraded_since": time_json(modem.degraded_since),  # its canary probe did not arrive: it takes no work
        "bundle": bundle_json(modem),
    }


def bundle_json(modem: Modem) -> dict[str, Any] | None:
    """A SIM's monthly bundle: its size, what is used of it, when it renews; None when its plan has none."""
    if modem.bundle_size is None:
        return None
    return {"size": modem.bundle_size, "used": modem.bundle_used, "resets_at": time_json(modem.bundle_resets_at)}


def alert_json(alert: Alert) -> dict[str, Any]:
    return {"id": alert.uid, "key": alert.key, "kind": alert.kind, "subject": alert.subject, "message": alert.message,
            "state": "open" if alert.resolved_at is None else "resolved", "raised_at": time_json(alert.raised_at),
            "resolved_at": time_json(alert.resolved_at), "muted_until": time_json(alert.muted_until)}
