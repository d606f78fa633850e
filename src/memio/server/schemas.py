"""Request and response bodies of the /v1 routes.

Request models keep the names and fields of memio 0.3.1 (so generated clients keep working) plus
optional additions. Metadata and filters are accepted as any JSON object here and checked by the
store, which answers 400 naming the offending key (``metadata.tags``, ``filters.$or[1]``) rather
than a generic validation error. Responses reuse `memio.models` (Fact, Message, Document,
GraphResult, FactEvent): what the store holds is exactly what goes on the wire.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from memio.models import Document, Fact, FactEntity, FactEvent, Triple
from memio.pagination import MAX_LIMIT
from memio.ranking import DEFAULT_SEARCH_MODE, HISTORY_SEARCH_MODE, SearchMode
from memio.server.expiry import MAX_TTL_SECONDS, ONE_EXPIRY
from memio.server.rules import Doc, FreeText, MetadataIn, PortableFilters, Text, any_of_required

__all__ = [
    "MAX_BATCH",
    "DeletedCount",
    "DocumentBatch",
    "DocumentCreate",
    "DocumentSearch",
    "DocumentUpdate",
    "ExpiredPurge",
    "FactBatch",
    "FactCreate",
    "FactSearch",
    "FactUpdate",
    "GraphAdd",
    "GraphSearch",
    "HistoryAdd",
    "HistorySearch",
    "IdList",
    "MessageBody",
    "SessionListResponse",
    "TripleBody",
]

MAX_BATCH = 1000  # items per /batch request

# Unknown fields are refused (422 naming them): a typo such as "userid" must not store an
# unscoped item. Every field a memio 0.3.1 client sends is declared here.
_REQUEST = ConfigDict(extra="forbid")
# An update changes something: content, metadata or both (else 400).
_UPDATE = ConfigDict(json_schema_extra=any_of_required(("content", "metadata")).keywords)
_FACT_UPDATE = ConfigDict(
    json_schema_extra={
        **any_of_required(("content", "metadata", "expires_at", "ttl_seconds")).keywords,
        **ONE_EXPIRY,
    }
)

Metadata = MetadataIn | None
Filters = PortableFilters | None
Id = Text | None


def _limit(default: int) -> Any:
    return Field(default=default, ge=1, le=MAX_LIMIT)


# -- facts ------------------------------------------------------------------------------------


class FactCreate(BaseModel):
    model_config = _REQUEST | ConfigDict(json_schema_extra=ONE_EXPIRY)

    content: Text
    user_id: Id = None
    agent_id: Id = None
    metadata: Metadata = None
    app_id: Id = None
    run_id: Id = None
    fact_id: Id = Field(
        default=None, description="Explicit id; an id that already exists answers 409."
    )
    expires_at: datetime | None = Field(
        default=None,
        description="When the fact expires (ISO 8601; naive = UTC): reads leave it out from then "
        "on and the expiry sweep deletes it.",
    )
    ttl_seconds: int | None = Field(
        default=None, gt=0, le=MAX_TTL_SECONDS, description="Expire this many seconds from now."
    )


class FactUpdate(BaseModel):
    model_config = _REQUEST | _FACT_UPDATE

    content: Text | None = Field(default=None, description="New content (replaces the old).")
    metadata: Metadata = Field(default=None, description="Keys merged into the stored metadata.")
    expires_at: datetime | None = Field(
        default=None, description="New expiry; an explicit null clears it. Omitted: kept."
    )
    ttl_seconds: int | None = Field(
        default=None, gt=0, le=MAX_TTL_SECONDS, description="Expire this many seconds from now."
    )


_SEARCH_MODE = Field(
    default=DEFAULT_SEARCH_MODE,
    description="hybrid: keyword (BM25) and meaning fused; semantic: meaning only; "
    "keyword: BM25 only. Scores are in [0, 1] in every mode (see docs/api.md).",
)


class FactSearch(BaseModel):
    model_config = _REQUEST

    query: Text
    user_id: Id = None
    agent_id: Id = None
    limit: int = _limit(10)
    filters: Filters = None
    app_id: Id = None
    run_id: Id = None
    threshold: float | None = Field(
        default=None, ge=0, le=1, description="Drop results scoring below this (scores are 0..1)."
    )
    include_expired: bool = Field(default=False, description="Also find expired facts.")
    search_mode: SearchMode = _SEARCH_MODE


class FactCountQuery(BaseModel):
    model_config = _REQUEST

    user_id: Id = None
    agent_id: Id = None
    app_id: Id = None
    run_id: Id = None
    filters: Filters = None
    include_expired: bool = Field(default=False, description="Also count expired facts.")


class FactCount(BaseModel):
    count: int = Field(description="Facts `GET /v1/facts` lists with these arguments, all pages")


class FactEntitiesQuery(BaseModel):
    model_config = _REQUEST

    user_id: Id = None
    agent_id: Id = None
    app_id: Id = None
    run_id: Id = None
    include_expired: bool = Field(default=False, description="Also count expired facts.")


class FactEntities(BaseModel):
    entities: list[FactEntity] = Field(
        description="Every scope id the facts in scope carry, counted, oldest first"
    )


class FactBatch(BaseModel):
    model_config = _REQUEST

    facts: list[FactCreate] = Field(min_length=1, max_length=MAX_BATCH)


class IdList(BaseModel):
    model_config = _REQUEST

    ids: list[Text] = Field(min_length=1, max_length=MAX_BATCH)


class DeletedCount(BaseModel):
    deleted: int


# -- history ----------------------------------------------------------------------------------


class MessageBody(BaseModel):
    model_config = _REQUEST

    role: Text
    content: FreeText
    metadata: Metadata = None
    timestamp: datetime | None = None
    name: FreeText | None = None
    id: Id = Field(default=None, description="Set by the store when absent.")


class HistoryAdd(BaseModel):
    model_config = _REQUEST

    messages: Annotated[list[MessageBody], Doc(minItems=1)]
    user_id: Id = None


class HistorySearch(BaseModel):
    model_config = _REQUEST

    query: Text
    limit: int = _limit(10)
    user_id: Id = None
    search_mode: SearchMode = Field(
        default=HISTORY_SEARCH_MODE,
        description="keyword (the default): BM25 over shared words; semantic: meaning only; "
        "hybrid: both fused. Scores are in [0, 1] in every mode (see docs/api.md).",
    )


class HistorySearchAll(HistorySearch):
    session_id: Id = Field(
        default=None,
        description="One session; none: every session of user_id (of every session when "
        "user_id is none too).",
    )


class SessionListResponse(BaseModel):
    sessions: list[str]


class SessionOwner(BaseModel):
    session_id: str
    user_id: str | None


# -- documents --------------------------------------------------------------------------------


class DocumentCreate(BaseModel):
    model_config = _REQUEST

    content: Text
    doc_id: Id = Field(
        default=None, description="Explicit id; an id that already exists answers 409."
    )
    metadata: Metadata = None
    user_id: Id = Field(default=None, description="Owner; scopes later reads and writes.")


class DocumentUpdate(BaseModel):
    model_config = _REQUEST | _UPDATE

    content: Text | None = Field(default=None, description="New content (replaces the old).")
    metadata: Metadata = Field(default=None, description="Keys merged into the stored metadata.")


_SHARED = Field(
    default=False,
    description="With user_id: also match what is stored without a user (shared knowledge).",
)


class DocumentSearch(BaseModel):
    model_config = _REQUEST

    query: Text
    limit: int = _limit(10)
    filters: Filters = None
    user_id: Id = None
    include_shared: bool = _SHARED
    search_mode: SearchMode = _SEARCH_MODE


class DocumentBatch(BaseModel):
    model_config = _REQUEST

    documents: list[DocumentCreate] = Field(min_length=1, max_length=MAX_BATCH)


# -- graph ------------------------------------------------------------------------------------


class TripleBody(BaseModel):
    model_config = _REQUEST

    subject: Text
    predicate: Text
    object: Text
    metadata: Metadata = None


class GraphAdd(BaseModel):
    model_config = _REQUEST

    triples: Annotated[list[TripleBody], Doc(minItems=1)]
    user_id: Id = None


class GraphSearch(BaseModel):
    model_config = _REQUEST

    query: Text
    user_id: Id = None
    limit: int = _limit(10)
    include_shared: bool = _SHARED


# -- restore (memio import through a server; operator credential) ----------------------------


class ExpiredPurge(BaseModel):
    model_config = _REQUEST

    before: datetime = Field(description="Delete the facts that expired at or before this time.")


class FactRestore(BaseModel):
    model_config = _REQUEST

    facts: list[Fact] = Field(min_length=1, max_length=MAX_BATCH)
    histories: dict[str, list[FactEvent]] = Field(default_factory=dict)


class DocumentRestore(BaseModel):
    model_config = _REQUEST

    documents: list[Document] = Field(min_length=1, max_length=MAX_BATCH)


class TripleRestore(BaseModel):
    model_config = _REQUEST

    triples: list[Triple] = Field(min_length=1, max_length=MAX_BATCH)


class Restored(BaseModel):
    restored: list[bool] = Field(
        description="Per item, in order: false when an item with its id was there (untouched)"
    )
