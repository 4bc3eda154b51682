"""The seam between the core and the compatibility doors (`web/compat/<door>/`): what a door declares (`Door`),
the registry of the doors a gateway serves (`Doors`), and where a callback goes, in whose shape
(`CallbackTarget`).

The core knows no door by name. The composition root (`gateway.appliance.doors.gateway_doors`) builds the
registry and hands it to whatever needs doors: the config loader reads each door's section, the web app
registers each door's blueprint, the webhook worker asks the door a stored target names to render the delivery
and to read its receiver's answer, and the runtime syncs the receivers the config names. Doors import the core
(service verbs, values); the core imports this module and nothing of theirs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

if TYPE_CHECKING:
    from gateway.config import Settings

_DOOR = re.compile(r"[a-z][a-z0-9]*")
_ARG = re.compile(r"[A-Za-z0-9_]+")
_FORMAT = re.compile(r"[a-z][a-z0-9]*(-[A-Za-z0-9_]+)?")


@dataclass(frozen=True)
class CallbackTarget:
    """A receiver of events (a webhook, a message's status callback) and the shape it wants them in: `door` None
    for the gateway's own signed JSON events, else the door's name and `arg`, the door's own parameter for this
    receiver (a Kannel dlr-mask, a Twilio AccountSid, ...).

    Stored (webhooks' and messages' columns) as one string, written by `str()` and read by `parse`, nowhere
    else: the URL alone, or "<door>[-<arg>]+<url>", the way SQLAlchemy URLs name a driver
    ("postgresql+psycopg://"). An http(s) URL never reads as a door's target."""

    door: str | None
    arg: str
    url: str

    def __post_init__(self) -> None:
        if self.door is None and self.arg:
            raise ValueError("a callback target without a door has no argument")
        if self.door is not None and (not _DOOR.fullmatch(self.door) or self.arg and not _ARG.fullmatch(self.arg)):
            raise ValueError(f"bad callback format {self.door!r}, {self.arg!r}")

    @classmethod
    def parse(cls, stored: str) -> CallbackTarget:
        """The target a stored string names (the inverse of `str()`)."""
        scheme, colon, rest = stored.partition(":")
        door_format, plus, real = scheme.rpartition("+")
        if plus and colon and real in ("http", "https") and _FORMAT.fullmatch(door_format):
            door, _, arg = door_format.partition("-")
            return cls(door, arg, f"{real}:{rest}")
        return cls(None, "", stored)

    def __str__(self) -> str:
        if self.door is None:
            return self.url
        return f"{self.door}-{self.arg}+{self.url}" if self.arg else f"{self.door}+{self.url}"


@dataclass(frozen=True)
class Callback:
    """One event on its way to a door's receiver, for the door to render in its own shape."""

    target: CallbackTarget
    event_type: str  # "message.sent", "message.received", ... (gateway.store.events.EVENT_TYPES)
    data: dict[str, Any]  # the event's resource as the gateway's JSON shows it (a message, a received SMS)
    created_at: datetime  # when the event happened
    event_uid: str
    delivery_uid: str
    secret: str  # the receiver's signing secret: a webhook's own, else the gateway's callback secret
    callback_secret: str  # the gateway's callback secret (a door may derive per-account keys from it)
    sent_at_s: int  # this attempt's time, epoch seconds


@dataclass(frozen=True)
class CallbackRequest:
    """The HTTP request that delivers a `Callback` in a door's shape (the worker adds its User-Agent)."""

    method: str
    url: str
    body: bytes | None
    headers: Mapping[str, str] = field(default_factory=dict)


def _renders_nothing(callback: Callback) -> CallbackRequest | None:
    raise ValueError(f"the {callback.target.door!r} door sends no callbacks")


@dataclass(frozen=True)
class Door:
    """What a compatibility door declares: one `DOOR = Door(...)` in its package, listed once in the registry.
    Everything but the name is optional (a door with only routes sends no callbacks)."""

    name: str  # the door's callback format in stored targets, and its config section's name ([<name>])
    routes: Callable[[], Any] | None = None  # gives its blueprint: its requests and responses, in its own shapes
    settings: type | None = None  # frozen dataclass of its config section: the keys with defaults, validated
    render: Callable[[Callback], CallbackRequest | None] = _renders_nothing  # None: the receiver does not want it
    # the texts to send back to the sender of a received SMS, read from its receiver's answer (content type, body)
    replies: Callable[[str, bytes], list[str]] | None = None
    # the receivers of received SMS that its config section names; ConfigError for a bad one. A door that has
    # them makes every webhook in its shape from the config (syncing drops those the config no longer names).
    receivers: Callable[[Any], Sequence[CallbackTarget]] | None = None

    def __post_init__(self) -> None:
        if self.receivers is not None and self.settings is None:
            raise ValueError(f"the {self.name!r} door makes receivers from a config section it does not declare")


class Doors:
    """The registry: the doors a gateway serves, by name."""

    def __init__(self, *doors: Door) -> None:
        self._doors = {door.name: door for door in doors}
        if len(self._doors) != len(doors):
            raise ValueError("door names must be unique")

    def __iter__(self) -> Iterator[Door]:
        return iter(self._doors.values())

    def for_target(self, target: CallbackTarget) -> Door | None:
        """The door that renders deliveries to `target`; None for the gateway's own events. ValueError for a door
        that is not here."""
        if target.door is None:
            return None
        door = self._doors.get(target.door)
        if door is None:
            raise ValueError(f"unknown callback format {target.door!r}")
        return door

    @property
    def sections(self) -> dict[str, type]:
        """Config sections by name: the doors' settings classes."""
        return {door.name: door.settings for door in self if door.settings is not None}

    @property
    def receiver_doors(self) -> frozenset[str]:
        """The doors whose webhooks are made from the config."""
        return frozenset(door.name for door in self if door.receivers is not None)

    def receivers(self, settings: Settings) -> list[CallbackTarget]:
        """The receivers of received SMS that the config names (a section it leaves out has its defaults)."""
        targets: list[CallbackTarget] = []
        for door in self:
            if door.receivers is not None and door.settings is not None:  # one comes with the other (__post_init__)
                section = settings.doors.get(door.name)
                targets += door.receivers(section if section is not None else door.settings())
        return targets
