"""Keyset pagination shared by every list endpoint: stable under concurrent inserts, cheap on big tables."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from charter.errors import InvalidInput

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; absent on the last page."
    )


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    return max(1, min(limit, MAX_LIMIT))


def parse_int_cursor(cursor: str | None) -> int | None:
    """Cursors are opaque to clients; ours are decimal ids. A bad one is a 4xx, not a 500."""
    if cursor is None or cursor == "":
        return None
    if not cursor.isdigit():
        raise InvalidInput("The cursor is not valid; use the `next_cursor` of a previous page.")
    return int(cursor)
