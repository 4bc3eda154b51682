"""Compatibility doors: thin adapters that speak other gateways' APIs over the same `gateway.core.service` verbs as
/api/v1 (same validation, outbox, states and keys). One package per door, each declaring itself in one
`DOOR = gateway.doors.Door(...)`: its blueprint (routes, request and response shapes, refusing bad input its own
way), the rendering of its callbacks and the reading of its receivers' answers, its config section and the
receivers that section names. `gateway.appliance.doors.gateway_doors` lists them.

Adding a door: a new package here with its `DOOR`, and one more name in `gateway_doors`.
"""

from __future__ import annotations

from gateway.core.webhooks import webhook_url
from gateway.doors import CallbackTarget
from gateway.errors import ConfigError, ValidationError


def config_receiver(door: str, arg: str, url: str, *, field: str) -> CallbackTarget:
    """The receiver at `url` that a door's config section names (`field`, e.g. "kannel.get_url"); ConfigError
    for a URL that is not http(s)."""
    try:
        return CallbackTarget(door, arg, webhook_url(url, field=field))
    except ValidationError as exc:
        raise ConfigError(exc.message, field=exc.field) from None
