"""Persistence: typed SQLAlchemy models and the `Store` that owns every session."""

from gateway.store.models import InboxState, MessageState, ModemState, PartState
from gateway.store.queries import Store

__all__ = ["Store", "MessageState", "PartState", "ModemState", "InboxState"]
