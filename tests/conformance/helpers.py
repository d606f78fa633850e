"""Helpers the conformance suites share."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from memio.models import (
    FACT_SCOPE,
    MAX_METADATA_BYTES,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_LIST_ITEMS,
    MAX_METADATA_LIST_LENGTH,
    MAX_METADATA_STRING_LENGTH,
    FactInput,
)

# The semantic-search pair every searchable store must rank for the query "hiking".
HIKE = "I enjoy walking in the mountains"
STOCKS = "the stock market fell"
# Search modes: every store ranks this corpus for this query with the same scores.
MODE_CORPUS = {
    "k1": "Caroline went to the LGBTQ support group on Tuesday",
    "k2": "Melanie painted a sunrise over the lake",
    "k3": "Caroline painted her room, and Caroline loves painting",
    "k4": STOCKS,
    "k5": "A support group for painters meets at the library",
}
# Scores pinned by the search-mode tests hold on either MiniLM compute path (`auto`: int8 where
# the CPU has int8 dot-product instructions, fp32 elsewhere): their vectors agree to cosine 0.99;
# semantic scores here differ by up to 0.005 between them, and hybrid ones, whose semantic half is
# rescaled to the spread of its scores, by up to 0.012.
SCORE_TOLERANCE = 0.02
MODE_QUERY = "Caroline painted support group"


class WithDefaultScope:
    """A facts store whose writes that name no scope get the backend's `default_scope`.

    For providers that keep a fact only under an entity id (the mem0 platform): the suites' tests
    that add facts without a scope then check the same behaviour there, not a refusal. A write
    that names any scope field is passed on unchanged; everything else is the store itself."""

    def __init__(self, store: Any, scope: Mapping[str, str]) -> None:
        self._store = store
        self._scope = dict(scope)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _unscoped(self, given: Mapping[str, Any]) -> bool:
        return all(given.get(name) is None for name in FACT_SCOPE)

    async def add(self, **kwargs: Any) -> Any:
        if self._unscoped(kwargs):
            kwargs = {**kwargs, **self._scope}
        return await self._store.add(**kwargs)

    async def add_many(self, *, facts: Any, **kwargs: Any) -> Any:
        return await self._store.add_many(facts=[self._scoped(f) for f in facts], **kwargs)

    def _scoped(self, fact: Any) -> Any:
        if isinstance(fact, FactInput):
            return fact.model_copy(update=self._scope) if self._unscoped(vars(fact)) else fact
        return {**fact, **self._scope} if self._unscoped(fact) else fact


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


# --- the metadata caps (decision D7) and NUL (D6), shared by the suites ----------------------

NUL = "\x00"


def at_the_caps() -> list[dict[str, Any]]:
    """Metadata exactly at each cap: every provider must store and return these unchanged."""
    long_key = "k" * MAX_METADATA_KEY_LENGTH
    keys = {f"key{i:03d}": i for i in range(MAX_METADATA_KEYS - 4)}
    most_keys = {
        **keys,
        long_key: "the longest key",
        "text": "x" * MAX_METADATA_STRING_LENGTH,
        "ints": list(range(MAX_METADATA_LIST_LENGTH)),
        "words": [f"w{i}" for i in range(MAX_METADATA_LIST_ITEMS - MAX_METADATA_LIST_LENGTH)],
    }
    assert len(most_keys) == MAX_METADATA_KEYS
    # The largest object: strings filling exactly MAX_METADATA_BYTES of compact JSON.
    largest = {f"s{i}": "y" * MAX_METADATA_STRING_LENGTH for i in range(7)}
    largest["s7"] = ""
    largest["s7"] = "z" * (MAX_METADATA_BYTES - _json_bytes(largest))
    assert _json_bytes(largest) == MAX_METADATA_BYTES
    return [most_keys, largest]


def over_the_caps(field: str = "metadata") -> list[tuple[dict[str, Any], str]]:
    """(metadata, the field the error names) for each cap, one past it."""
    long_key = "k" * (MAX_METADATA_KEY_LENGTH + 1)
    largest = {f"s{i}": "y" * MAX_METADATA_STRING_LENGTH for i in range(8)}
    return [
        ({f"k{i}": i for i in range(MAX_METADATA_KEYS + 1)}, field),
        ({long_key: 1}, f"{field}.{long_key[:64]}..."),
        ({"text": "x" * (MAX_METADATA_STRING_LENGTH + 1)}, f"{field}.text"),
        ({"ints": list(range(MAX_METADATA_LIST_LENGTH + 1))}, f"{field}.ints"),
        ({"words": ["ok", "w" * (MAX_METADATA_STRING_LENGTH + 1)]}, f"{field}.words"),
        ({f"l{i}": [i] * MAX_METADATA_LIST_LENGTH for i in range(3)}, field),  # items in all
        (largest, field),  # encoded bytes
        ({"a": f"b{NUL}c"}, f"{field}.a"),
        ({f"a{NUL}": "b"}, f"{field}.a{NUL}"),
        ({"tags": ["ok", NUL]}, f"{field}.tags"),
    ]


async def refusal_failures(
    store: Any, cases: list[tuple[Callable[[Any], Awaitable[Any]], str]], *, prefix: bool = False
) -> list[str]:
    """Run each (call, field) against one store: each must raise InvalidRequestError naming the
    field (or, with `prefix`, a field starting with it) and write nothing. One store for the
    whole table keeps a long table cheap on backends that are slow to open."""
    from memio.errors import InvalidRequestError

    failures = []
    for i, (call, field) in enumerate(cases):
        try:
            await call(store)
        except InvalidRequestError as exc:
            named = exc.field
            if named is None or not (named.startswith(field) if prefix else named == field):
                failures.append(f"case {i}: named {named!r}, expected {field!r}")
        except Exception as exc:
            failures.append(f"case {i} ({field}): {type(exc).__name__}: {exc}")
        else:
            failures.append(f"case {i} ({field}): accepted")
    if await store.count() != 0:
        failures.append("something was written")
    return failures


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
