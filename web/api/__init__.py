"""The JSON API under /api/v1, one module per area: each parses a request into a declared type
(`web.schemas`), makes one service call and answers a declared shape; `openapi` builds the document from
those declarations and the views' `operation(...)`.

  messages       send, list, read, cancel, retry; the inbox
  modems         status, reset, USSD
  routes         how a number would be routed
  webhooks       receivers of events, their deliveries, the callback secret
  conversations  both directions with one number
  templates      named texts with placeholders
  rules          inbound rules: replies, forwards, mail, webhooks for received SMS
  alerts         what the box found wrong with itself; mutes
  optouts        suppression list and consent history
  otp            one-time codes
  batches        CSV uploads
  accounts       departments: quotas, routes, use; the account an API key counts against
  audit          the admin-action trail (recorded for the whole app) and erasure of a number
  demo           an SMS arrives on an emulated modem (only under `smsgw demo`)
  docs           /openapi.json and /docs
  access         `service()` and `requires(scope)`; idempotency: Idempotency-Key / client_ref replays
"""

from __future__ import annotations

from flask import Flask

from web.api import (
    accounts,
    alerts,
    audit,
    batches,
    box_settings,
    contacts,
    conversations,
    demo,
    docs,
    messages,
    modems,
    optouts,
    otp,
    routes,
    rules,
    templates,
    webhooks,
)
from web.api.access import requires, service

__all__ = ["init_app", "requires", "service"]

AREAS = (messages, modems, routes, webhooks, conversations, contacts, templates, rules, alerts, optouts, otp, batches,
         accounts, box_settings, audit, demo, docs)


def init_app(app: Flask) -> None:
    for area in AREAS:
        app.register_blueprint(area.bp)
    app.register_blueprint(docs.assets)
    audit.init_app(app)
