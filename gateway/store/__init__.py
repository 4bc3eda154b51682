"""Persistence: typed SQLAlchemy models and the `Store` that owns every session."""

from gateway.store.queries import Store

__all__ = ["Store"]
