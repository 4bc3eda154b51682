"""Pages of a list (pure): how many rows a page holds, and the cursor that says where the next one starts."""

from __future__ import annotations

from typing import Protocol, Sequence

from gateway.errors import ValidationError


class HasId(Protocol):
    @property
    def id(self) -> int: ...

MAX_PAGE = 200


def page_size(limit: int) -> int:
    """`limit` held between 1 and MAX_PAGE."""
    return max(1, min(int(limit), MAX_PAGE))


def next_cursor(page: Sequence[HasId], limit: int) -> str | None:
    """The cursor of the page after `page` (its last row's id), None when `page` was the last (not full)."""
    return str(page[-1].id) if page and len(page) == page_size(limit) else None


def cursor_id(cursor: str | None) -> int | None:
    """The id a cursor names (the last row of the previous page); None for the first page."""
    if cursor is None or cursor == "":
        return None
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:  # a row id fits 64 bits
        raise ValidationError("invalid cursor", field="cursor")
    return int(cursor)
