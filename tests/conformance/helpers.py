"""Helpers the conformance suites share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

# The semantic-search pair every searchable store must rank for the query "hiking".
HIKE = "I enjoy walking in the mountains"
STOCKS = "the stock market fell"


def assert_utc(value: datetime | None) -> None:
    assert isinstance(value, datetime)
    assert value.utcoffset() == timedelta(0), value


def stored(result: BaseModel) -> Any:
    """A search result as the store holds it (without the score)."""
    return result.model_copy(update={"score": None})


async def walk(call: Callable[..., Awaitable[Any]], *, limit: int, **kwargs: Any) -> list[list]:
    """Every page of a Page-returning listing, following `next_cursor` to the end."""
    pages, cursor = [], None
    while True:
        page = await call(limit=limit, cursor=cursor, **kwargs)
        pages.append(list(page))
        cursor = page.next_cursor
        if cursor is None:
            return pages
        assert len(pages) < 1000, "cursor never ends"
