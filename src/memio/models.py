"""The records memio stores and returns.

Every model carries what the store actually holds: ids, content, metadata, scoping and the
timestamps the store set. `score` is only present on search results: it lies in [0, 1], higher is
more relevant, and for semantic search it is the cosine similarity of the embeddings clipped at 0,
so it means the same whichever provider answered.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from enum import Enum
from typing import Any, ClassVar, Generic, Literal, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from memio.errors import InvalidRequestError

__all__ = [
    "KEEP",
    "MAX_METADATA_BYTES",
    "MAX_METADATA_KEYS",
    "MAX_METADATA_KEY_LENGTH",
    "MAX_METADATA_LIST_ITEMS",
    "MAX_METADATA_LIST_LENGTH",
    "MAX_METADATA_STRING_LENGTH",
    "Document",
    "DocumentInput",
    "Fact",
    "FactEntity",
    "FactEvent",
    "FactEventType",
    "FactInput",
    "GraphResult",
    "Message",
    "MetadataValue",
    "Page",
    "Triple",
    "WriteEvent",
    "check_metadata_size",
    "check_text",
    "check_unicode",
    "cosine_score",
    "utc_timestamp",
    "utcnow",
    "validate_metadata",
]

Scalar = str | int | float | bool
MetadataValue = Scalar | list[Scalar]
WriteEvent = Literal["ADD", "UPDATE", "NONE"]
T = TypeVar("T")

# What one metadata object may hold when it is written (reads are never refused). Every backend
# stores far more than this; the tightest is Chroma, whose metadata segment breaks for good
# (every later read of the collection fails) past about 5,460 keys, or 5,460 list items in all,
# in one record. See docs/architecture.md for the measurements.
MAX_METADATA_KEYS = 256
MAX_METADATA_KEY_LENGTH = 256  # characters
MAX_METADATA_STRING_LENGTH = 8192  # characters, per string value or list item
MAX_METADATA_LIST_LENGTH = 1000  # items in one list
MAX_METADATA_LIST_ITEMS = 2000  # items in all the lists of one metadata object
MAX_METADATA_BYTES = 65536  # the object as compact UTF-8 JSON

_MODEL_CONFIG = ConfigDict(extra="forbid", populate_by_name=True)


class _Keep:
    """The default of `FactStore.update(expires_at=...)`: keep the expiry (None clears it)."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


# The ids that say whose a record is (a fact has all four; mem0 calls them entities).
FACT_SCOPE = ("user_id", "agent_id", "app_id", "run_id")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC: stores stamp every write with it."""
    return datetime.now(timezone.utc)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """A timestamp as timezone-aware UTC (a naive one is taken to be UTC already; None stays
    None): the one conversion every store and the key store use for what they read back."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def utc_timestamp(value: datetime, *, field: str) -> datetime:
    """`value` as timezone-aware UTC (a naive one is taken to be UTC already): how every store
    keeps a timestamp given to it and compares one in a filter. An offset that carries it past
    the calendar (``9999-12-31T23:59:59-23:59``, ``0001-01-01T00:00:00+01:00``) is an
    InvalidRequestError naming `field`, never an OverflowError inside a store."""
    try:
        return as_utc(value)
    except OverflowError:
        raise InvalidRequestError(
            f"{value.isoformat()} is outside the range memio stores "
            "(0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z once in UTC)",
            field=field,
        ) from None


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


def check_text(text: str, *, field: str) -> None:
    """What every text a store takes must be: valid Unicode (`check_unicode`) without NUL
    (U+0000), which PostgreSQL cannot store and other backends keep or cut differently; refused
    here, once, so every provider gives the same answer."""
    check_unicode(text, field=field)
    if "\x00" in text:
        raise InvalidRequestError("must not contain NUL (\\u0000) characters", field=field)


def validate_metadata(
    metadata: Mapping[str, Any] | None, *, field: str = "metadata", write: bool = True
) -> dict[str, MetadataValue]:
    """Check metadata is flat: string keys; strings, numbers, booleans or lists of those.

    Nested objects and nulls are rejected here, once, so every provider stores the same thing and a
    client mistake is an InvalidRequestError naming the key rather than a backend failure.

    `write` (metadata about to be stored) also applies the caps (`MAX_METADATA_*`) and refuses NUL
    in keys and strings (`check_text`). Metadata a store already holds is read with
    ``write=False``: only its shape is checked, so nothing stored is ever refused on the way out.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidRequestError("must be an object", field=field)
    check = check_text if write else check_unicode
    if write and len(metadata) > MAX_METADATA_KEYS:
        _too_many_keys(len(metadata), field)
    clean: dict[str, MetadataValue] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise InvalidRequestError("keys must be non-empty strings", field=field)
        path = f"{field}.{escaped(_shortened(key))}"
        check(key, field=path)
        if write and len(key) > MAX_METADATA_KEY_LENGTH:
            raise InvalidRequestError(
                f"keys may be at most {MAX_METADATA_KEY_LENGTH} characters long "
                f"(this one has {len(key)})",
                field=path,
            )
        if isinstance(value, list):
            if write and len(value) > MAX_METADATA_LIST_LENGTH:
                raise InvalidRequestError(
                    f"lists may hold at most {MAX_METADATA_LIST_LENGTH} items "
                    f"(this one has {len(value)})",
                    field=path,
                )
            for item in value:
                _check_scalar(item, path, check, write)
            clean[key] = list(value)
        else:
            _check_scalar(value, path, check, write)
            clean[key] = value
    if write:
        check_metadata_size(clean, field=field)
    return clean


def check_metadata_size(metadata: Mapping[str, MetadataValue], *, field: str = "metadata") -> None:
    """The caps on a whole metadata object: keys, list items in all, encoded bytes. Part of
    `validate_metadata`; called alone on the result of merging new keys into stored ones."""
    if len(metadata) > MAX_METADATA_KEYS:
        _too_many_keys(len(metadata), field)
    list_items = sum(len(value) for value in metadata.values() if isinstance(value, list))
    if list_items > MAX_METADATA_LIST_ITEMS:
        raise InvalidRequestError(
            f"its lists hold {list_items} items in all; at most {MAX_METADATA_LIST_ITEMS} are "
            "allowed",
            field=field,
        )
    size = _encoded_size(metadata)
    if size is not None and size > MAX_METADATA_BYTES:
        raise InvalidRequestError(
            f"is {size} bytes as JSON; at most {MAX_METADATA_BYTES} are allowed", field=field
        )


def _too_many_keys(count: int, field: str) -> None:
    raise InvalidRequestError(
        f"holds {count} keys; at most {MAX_METADATA_KEYS} are allowed", field=field
    )


def _shortened(key: str) -> str:
    """A key short enough to name in an error message."""
    return key if len(key) <= 64 else key[:64] + "..."


def _encoded_size(metadata: Mapping[str, MetadataValue]) -> int | None:
    """Bytes of `metadata` as compact UTF-8 JSON when that may exceed MAX_METADATA_BYTES, else
    None. A cheap upper bound clears the usual small objects without measuring them."""
    if _json_size(metadata, bound=True) <= MAX_METADATA_BYTES:
        return None
    return _json_size(metadata, bound=False)


def _json_size(metadata: Mapping[str, MetadataValue], *, bound: bool) -> int:
    total = 2 + max(0, len(metadata) - 1)  # braces and commas
    for key, value in metadata.items():
        total += _scalar_size(key, bound) + 1  # and the colon
        if isinstance(value, list):
            total += 2 + max(0, len(value) - 1) + sum(_scalar_size(i, bound) for i in value)
        else:
            total += _scalar_size(value, bound)
    return total


def _scalar_size(value: Scalar, bound: bool) -> int:
    if isinstance(value, str):
        if bound:  # every character escaped at worst ("\u0001"), plus the quotes
            return 6 * len(value) + 2
        return len(json.dumps(value, ensure_ascii=False).encode())
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):  # decimal digits, from the bit length (str() refuses huge ints)
        return int(value.bit_length() * math.log10(2)) + 2
    return 24 if bound else len(repr(value))


def _check_scalar(value: Any, path: str, check: Any, write: bool) -> None:
    if isinstance(value, str):
        check(value, field=path)
        if write and len(value) > MAX_METADATA_STRING_LENGTH:
            raise InvalidRequestError(
                f"strings may be at most {MAX_METADATA_STRING_LENGTH} characters long "
                f"(this one has {len(value)})",
                field=path,
            )
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
    # Inputs (what a caller asks to store) get the write checks of `validate_metadata`; records a
    # store returns only the shape check. Triple and Message serve both ways: the providers'
    # shared validation (`memio.validating`) checks them as inputs.
    _write_metadata: ClassVar[bool] = False

    @field_validator("metadata", mode="before", check_fields=False)
    @classmethod
    def _flat_metadata(cls, value: Any) -> dict[str, MetadataValue]:
        return validate_metadata(value, write=cls._write_metadata)


class Fact(_Record):
    """A short statement about a user or an agent.

    `event` says what the `FactStore.add` / `add_many` call that returned this fact did: "ADD"
    created it, "UPDATE" merged the call's metadata into the stored fact, "NONE" found it stored
    unchanged. It describes the write, not the fact: None everywhere else, never serialized or
    stored, and not compared (two Facts holding the same thing are equal).
    """

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
    expires_at: datetime | None = None
    event: WriteEvent | None = Field(default=None, exclude=True)

    def expired(self, now: datetime) -> bool:
        """True once the fact's expiry has passed: reads leave it out until the sweep deletes
        it (`FactStore.purge_expired`)."""
        return self.expires_at is not None and self.expires_at <= now

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fact):
            return NotImplemented
        mine = {k: v for k, v in self.__dict__.items() if k != "event"}
        theirs = {k: v for k, v in other.__dict__.items() if k != "event"}
        return type(self) is type(other) and mine == theirs

    __hash__ = None  # type: ignore[assignment]  # mutable, like every pydantic model


class FactEntity(BaseModel):
    """One scope id that live facts carry (a user, agent, app or run): how many facts, when the
    first was created and when one last changed. What mem0's entity listings show."""

    field: Literal["user_id", "agent_id", "app_id", "run_id"]
    value: str
    facts: int
    created_at: datetime
    updated_at: datetime


class FactInput(_Record):
    """One fact of a batch add."""

    _write_metadata: ClassVar[bool] = True

    content: str
    fact_id: str | None = None
    user_id: str | None = None
    agent_id: str | None = None
    app_id: str | None = None
    run_id: str | None = None
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    expires_at: datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _utc_expiry(cls, value: datetime | None) -> datetime | None:
        try:
            return None if value is None else utc_timestamp(value, field="expires_at")
        except InvalidRequestError as exc:
            raise PydanticCustomError("timestamp_range", exc.reason) from None


class FactEventType(str, Enum):
    ADD = "ADD"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


class FactEvent(_Record):
    """One change to a fact, as kept by `FactStore.history`. The scope ids are the fact's, so the
    history of a deleted fact still says whose it was (None where the fact had none, or where the
    provider cannot know: the mem0 platform). `reason` says why a change memio made on its own
    happened ("expired": the expiry sweep deleted the fact); None for a caller's change."""

    id: str
    fact_id: str
    event: FactEventType
    user_id: str | None = None
    agent_id: str | None = None
    app_id: str | None = None
    run_id: str | None = None
    old_content: str | None = None
    new_content: str | None = None
    old_metadata: dict[str, MetadataValue] | None = None
    new_metadata: dict[str, MetadataValue] | None = None
    created_at: datetime
    reason: str | None = None


class Message(_Record):
    """One conversation message. `id` and `timestamp` are set by the store when not given."""

    role: str
    content: str
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    timestamp: datetime | None = None
    name: str | None = None
    id: str | None = None
    score: float | None = None

    @field_validator("timestamp")
    @classmethod
    def _utc_timestamp(cls, value: datetime | None) -> datetime | None:
        # a validation error (not InvalidRequestError), so that batches name the message
        try:
            return None if value is None else utc_timestamp(value, field="timestamp")
        except InvalidRequestError as exc:
            raise PydanticCustomError("timestamp_range", exc.reason) from None


class FoundMessage(Message):
    """A history search result: a message and the session it belongs to."""

    session_id: str


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

    _write_metadata: ClassVar[bool] = True

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
