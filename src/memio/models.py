"""The records memio stores and returns.

Every model carries what the store actually holds: ids, content, metadata, scoping and the
timestamps the store set. `score` is only present on search results: it lies in [0, 1], higher is
more relevant, and for semantic search it is the cosine similarity of the embeddings clipped at 0,
so it means the same whichever provider answered.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from memio.errors import InvalidRequestError

__all__ = [
    "Document",
    "DocumentInput",
    "Fact",
    "FactEvent",
    "FactEventType",
    "FactInput",
    "GraphResult",
    "Message",
    "MetadataValue",
    "Page",
    "Triple",
    "cosine_score",
    "utcnow",
    "validate_metadata",
]

Scalar = str | int | float | bool
MetadataValue = Scalar | list[Scalar]
T = TypeVar("T")

_MODEL_CONFIG = ConfigDict(extra="forbid", populate_by_name=True)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC: stores stamp every write with it."""
    return datetime.now(timezone.utc)


def cosine_score(similarity: float) -> float:
    """Map a cosine similarity in [-1, 1] to memio's score in [0, 1] (clipped, not rescaled)."""
    if math.isnan(similarity):
        return 0.0
    return min(1.0, max(0.0, float(similarity)))


def has_lone_surrogate(text: str) -> bool:
    """True when `text` holds a lone UTF-16 surrogate (JSON can spell one, "\\ud800"), which no
    store, tokenizer or JSON encoder accepts."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def escaped(text: str) -> str:
    """`text` with lone surrogates backslash-escaped, safe to name in an error message."""
    return text.encode("utf-8", "backslashreplace").decode()


def check_unicode(text: str, *, field: str) -> None:
    """A client mistake naming the field when `text` holds a lone surrogate."""
    if has_lone_surrogate(text):
        raise InvalidRequestError(
            "must be valid Unicode text (it holds a lone surrogate)", field=field
        )


def validate_metadata(
    metadata: Mapping[str, Any] | None, *, field: str = "metadata"
) -> dict[str, MetadataValue]:
    """Check metadata is flat: string keys; strings, numbers, booleans or lists of those.

    Nested objects and nulls are rejected here, once, so every provider stores the same thing and a
    client mistake is an InvalidRequestError naming the key rather than a backend failure.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidRequestError("must be an object", field=field)
    clean: dict[str, MetadataValue] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise InvalidRequestError("keys must be non-empty strings", field=field)
        path = f"{field}.{escaped(key)}"
        check_unicode(key, field=path)
        if isinstance(value, list):
            for item in value:
                _check_scalar(item, path)
            clean[key] = list(value)
        else:
            _check_scalar(value, path)
            clean[key] = value
    return clean


def _check_scalar(value: Any, path: str) -> None:
    if isinstance(value, str):
        check_unicode(value, field=path)
        return
    if isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if math.isfinite(value):
            return
        raise InvalidRequestError("numbers must be finite", field=path)
    kind = "null" if value is None else type(value).__name__
    raise InvalidRequestError(
        f"values must be strings, numbers, booleans or lists of those, not {kind}", field=path
    )


class _Record(BaseModel):
    model_config = _MODEL_CONFIG

    @field_validator("metadata", mode="before", check_fields=False)
    @classmethod
    def _flat_metadata(cls, value: Any) -> dict[str, MetadataValue]:
        return validate_metadata(value)


class Fact(_Record):
    """A short statement about a user or an agent."""

    id: str
    content: str
    user_id: str | None = None
    agent_id: str | None = None
    app_id: str | None = None
    run_id: str | None = None
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    score: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class FactInput(_Record):
    """One fact of a batch add."""

    content: str
    fact_id: str | None = None
    user_id: str | None = None
    agent_id: str | None = None
    app_id: str | None = None
    run_id: str | None = None
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)


class FactEventType(str, Enum):
    ADD = "ADD"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


class FactEvent(_Record):
    """One change to a fact, as kept by `FactStore.history`."""

    id: str
    fact_id: str
    event: FactEventType
    old_content: str | None = None
    new_content: str | None = None
    old_metadata: dict[str, MetadataValue] | None = None
    new_metadata: dict[str, MetadataValue] | None = None
    created_at: datetime


class Message(_Record):
    """One conversation message. `id` and `timestamp` are set by the store when not given."""

    role: str
    content: str
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    timestamp: datetime | None = None
    name: str | None = None
    id: str | None = None
    score: float | None = None


class Document(_Record):
    """A text for semantic search, optionally scoped to a user."""

    id: str
    content: str
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    user_id: str | None = None
    score: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DocumentInput(_Record):
    """One document of a batch add or upsert."""

    content: str
    doc_id: str | None = None
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    user_id: str | None = None


class Triple(_Record):
    """A knowledge-graph edge. `id` is stable: the same triple in the same scope keeps its id."""

    subject: str
    predicate: str
    object: str
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    id: str | None = None
    user_id: str | None = None
    created_at: datetime | None = None


class GraphResult(BaseModel):
    """Triples, the entities they touch, and (for search) a score per triple."""

    model_config = _MODEL_CONFIG

    triples: list[Triple] = Field(default_factory=list)
    nodes: list[str] = Field(default_factory=list)
    scores: list[float] = Field(default_factory=list)
    next_cursor: str | None = None


class Page(list[T], Generic[T]):
    """A list of results plus the opaque cursor of the next page (None on the last page).

    It is a plain list, so code written for memio 0.3.1 (whose listings were lists) keeps working.
    """

    def __init__(self, items: Iterable[T] = (), next_cursor: str | None = None) -> None:
        super().__init__(items)
        self.next_cursor = next_cursor

    def __repr__(self) -> str:
        return f"Page({list.__repr__(self)}, next_cursor={self.next_cursor!r})"
