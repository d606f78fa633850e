"""What the mem0 dialects answer, for the OpenAPI document (`responses=` of their routes).

The routes build mem0's JSON by hand (`shapes.py`) so every field is exactly where the SDKs read
it; these models only describe those answers. The fuzz test (tests/server/test_fuzz.py) checks
every answer against them, so a shape that changes without its description fails there.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, RootModel

from memio.server.routers.ops import HealthResponse, StatusResponse

__all__ = ["answers"]

Event = Literal["ADD", "UPDATE", "NONE"]
HistoryEvent = Literal["ADD", "UPDATE", "DELETE"]


class Message(BaseModel):
    message: str


class Ping(BaseModel):
    status: Literal["ok"]
    message: str
    org_id: str
    project_id: str
    user_email: None


class _Scope(BaseModel):
    user_id: str | None
    agent_id: str | None
    app_id: str | None
    run_id: str | None


class PlatformMemory(_Scope):
    id: str
    memory: str
    hash: str
    metadata: dict[str, Any]
    categories: list[str]
    created_at: str | None
    updated_at: str | None
    expiration_date: str | None
    score: float | None = None


class UpdatedMemory(PlatformMemory):
    text: str
    event: Literal["UPDATE"]
    previous_memory: str


class SearchedMemory(BaseModel):
    """A search result: only ``id`` and the requested ``fields`` when ``fields`` is given."""

    id: str
    memory: str | None = None
    score: float | None = None


class Page(BaseModel):
    count: int
    next: str | None
    previous: str | None
    results: list[PlatformMemory]


class MemoryList(RootModel[list[PlatformMemory] | Page]):
    """A bare list, or a page when ``page`` / ``page_size`` is given."""


class Searched(BaseModel):
    results: list[SearchedMemory]


class SearchedList(RootModel[list[SearchedMemory]]):
    pass


class SearchedV1(RootModel[list[SearchedMemory] | Searched]):
    """A bare list unless ``output_format`` is v1.1."""


class AddData(BaseModel):
    memory: str


class PlatformAddResult(_Scope):
    id: str
    event: Event
    memory: str
    data: AddData
    metadata: dict[str, Any]
    created_at: str | None


class PlatformAdded(BaseModel):
    results: list[PlatformAddResult]
    memio_infer: Literal["off", "extracted", "unavailable"]


class PlatformAddedV1(RootModel[PlatformAdded | list[PlatformAddResult]]):
    """``output_format: "v1.0"`` answers the bare list."""


class PlatformHistoryEntry(_Scope):
    id: str
    memory_id: str
    input: list[Any]
    old_memory: str | None
    new_memory: str | None
    event: HistoryEvent
    metadata: dict[str, Any] | None
    old_metadata: dict[str, Any] | None
    new_metadata: dict[str, Any] | None
    categories: list[str]
    created_at: str | None
    updated_at: str | None


class PlatformHistory(RootModel[list[PlatformHistoryEntry]]):
    pass


class PlatformEntity(BaseModel):
    id: str
    name: str
    type: Literal["user", "agent", "app", "run"]
    total_memories: int
    created_at: str | None
    updated_at: str | None
    owner: str
    organization: str
    metadata: dict[str, Any]


class EntityPage(BaseModel):
    count: int
    next: str | None
    previous: str | None
    results: list[PlatformEntity]


class Feedback(BaseModel):
    id: str
    feedback: Literal["POSITIVE", "NEGATIVE", "VERY_NEGATIVE"] | None
    feedback_reason: str | None
    stored: Literal[False]
    message: str


class SelfhostedMemory(BaseModel):
    """Scope ids only when set, as mem0 does."""

    id: str
    memory: str
    hash: str
    metadata: dict[str, Any]
    created_at: str | None
    updated_at: str | None
    user_id: str | None = None
    agent_id: str | None = None
    app_id: str | None = None
    run_id: str | None = None
    score: float | None = None


class SelfhostedMemories(BaseModel):
    results: list[SelfhostedMemory]


class SelfhostedAddResult(BaseModel):
    id: str
    memory: str
    event: Event
    actor_id: None
    role: str | None


class SelfhostedAdded(BaseModel):
    results: list[SelfhostedAddResult]


class SelfhostedHistoryEntry(BaseModel):
    id: str
    memory_id: str
    old_memory: str | None
    new_memory: str | None
    event: HistoryEvent
    created_at: str | None
    updated_at: str | None
    is_deleted: bool
    actor_id: None
    role: None
    user_id: str | None = None
    agent_id: str | None = None
    app_id: str | None = None
    run_id: str | None = None


class SelfhostedHistory(RootModel[list[SelfhostedHistoryEntry]]):
    pass


class SelfhostedEntity(BaseModel):
    id: str
    type: Literal["user", "agent", "app", "run"]
    total_memories: int
    created_at: str | None
    updated_at: str | None


class SelfhostedEntities(RootModel[list[SelfhostedEntity]]):
    pass


# -- the local-first API: every answer in the envelope {success, data, message, timestamp} --------

Data = TypeVar("Data")


class Envelope(BaseModel, Generic[Data]):
    success: Literal[True]
    data: Data
    message: str
    timestamp: str


class LocalMemory(_Scope):
    """``content`` is the text; ``score`` only in search results."""

    id: str
    content: str
    metadata: dict[str, Any]
    created_at: str | None
    updated_at: str | None
    score: float | None = None


class LocalAddedMemory(LocalMemory):
    event: Event


class LocalAdded(BaseModel):
    memories: list[LocalAddedMemory]
    memio_infer: Literal["off", "extracted", "unavailable"]


class LocalSearched(BaseModel):
    query: str
    memories: list[LocalMemory]
    count: int


class LocalUserPage(BaseModel):
    user_id: str
    memories: list[LocalMemory]
    total: int
    page: int
    page_size: int


class LocalDeleted(BaseModel):
    id: str
    deleted: Literal[True]


class _Counted(BaseModel, extra="allow"):
    """One metric's labels (method, route, status or provider, operation) and its figures."""

    count: int


class LocalMetrics(BaseModel):
    requests: list[_Counted]
    latency: list[_Counted]
    provider_errors: list[_Counted]


LocalAddAnswer = Envelope[LocalAdded]
LocalSearchAnswer = Envelope[LocalSearched]
LocalUserAnswer = Envelope[LocalUserPage]
LocalMemoryAnswer = Envelope[LocalMemory]
LocalDeleteAnswer = Envelope[LocalDeleted]
LocalHealthAnswer = Envelope[HealthResponse]
LocalStatusAnswer = Envelope[StatusResponse]
LocalMetricsAnswer = Envelope[LocalMetrics]


def answers(model: type[BaseModel], status: int = 200) -> dict[int | str, dict[str, Any]]:
    """`responses=` documenting a route's success answer as `model` (the route still returns
    its own JSON: the model describes it, it does not filter it)."""
    return {status: {"model": model, "description": model.__doc__ or "Successful Response"}}
