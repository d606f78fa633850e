"""What a provider is: the class every backend adapter derives from, and what each kind offers.

A provider is the transport below `memio.validating`: it receives checked values
(`memio.checked`) and does backend work only. Callers never hold one directly: `build_store`,
`Memio(...)` and `memio.connect` put the validating store of its kind in front of it, which checks
every argument once for every provider. The protocols below are what that layer calls; a provider
passes `tests/conformance` for its kind when it implements them faithfully.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

from memio.closing import Closing

if TYPE_CHECKING:
    from memio.checked import (
        DocumentQuery,
        DocumentSearch,
        FactQuery,
        FactScope,
        FactSearch,
        HistorySearch,
    )
    from memio.models import (
        Document,
        DocumentInput,
        Fact,
        FactEntity,
        FactEvent,
        FactInput,
        FoundMessage,
        GraphResult,
        Message,
        MetadataValue,
        Page,
        Triple,
    )
    from memio.providers.shared import ProviderContext

__all__ = ["DocumentProvider", "FactProvider", "GraphProvider", "HistoryProvider", "Provider"]


class Provider(Closing, ABC):
    """Base of every provider class: built from its config section, closed as a context."""

    provider: ClassVar[str]  # the name `stores.<kind>.provider` selects it by

    @classmethod
    @abstractmethod
    def from_config(cls, config: Mapping[str, Any], context: ProviderContext) -> Self:
        """Validate `config` (unknown keys refused, errors naming the key) and construct the
        provider without I/O: it connects on first use."""

    @abstractmethod
    async def ping(self) -> None:
        """Cheap round trip to the backend; ProviderError when it is unreachable."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release connections, files and locks. Idempotent."""


class FactProvider(Protocol):
    """Facts as `memio.protocols.FactStore` describes them, from checked values."""

    async def add(self, *, fact: FactInput) -> Fact: ...
    async def add_many(self, *, facts: list[FactInput]) -> list[Fact]: ...
    async def get(self, *, fact_id: str, include_expired: bool) -> Fact: ...
    async def get_all(self, *, query: FactQuery, limit: int, cursor: str | None) -> Page[Fact]: ...
    async def search(self, *, request: FactSearch) -> list[Fact]: ...
    async def count(self, *, query: FactQuery) -> int: ...
    async def entities(self, *, query: FactQuery) -> list[FactEntity]: ...  # no filters

    async def update(
        self,
        *,
        fact_id: str,
        content: str | None,
        metadata: Mapping[str, MetadataValue],
        expires_at: Any,  # a UTC datetime, None (clear it) or models.KEEP
    ) -> Fact: ...

    async def delete(self, *, fact_id: str) -> None: ...
    async def delete_many(self, *, fact_ids: list[str]) -> int: ...  # distinct, non-empty
    async def delete_all(self, *, scope: FactScope) -> int: ...
    async def history(self, *, fact_id: str) -> list[FactEvent]: ...
    async def purge_expired(self, *, before: datetime) -> int: ...
    async def restore(self, *, facts: list[tuple[Fact, list[FactEvent]]]) -> list[bool]: ...


class HistoryProvider(Protocol):
    """Sessions as `memio.protocols.HistoryStore` describes them, from checked values."""

    async def add(
        self, *, session_id: str, messages: list[Message], user_id: str | None
    ) -> list[Message]: ...

    async def get(
        self, *, session_id: str, limit: int, cursor: str | None, user_id: str | None
    ) -> Page[Message]: ...

    async def get_all(
        self, *, user_id: str | None, limit: int, cursor: str | None
    ) -> Page[str]: ...

    async def owner(self, *, session_id: str) -> str | None: ...
    async def search(self, *, request: HistorySearch) -> list[FoundMessage]: ...
    async def delete(self, *, session_id: str, user_id: str | None) -> None: ...
    async def delete_all(self, *, user_id: str | None) -> int: ...
    async def count(self) -> int: ...


class DocumentProvider(Protocol):
    """Documents as `memio.protocols.DocumentStore` describes them, from checked values;
    `shared` is only ever true with a user_id."""

    async def add(self, *, document: DocumentInput) -> Document: ...
    async def add_many(self, *, documents: list[DocumentInput]) -> list[Document]: ...
    async def upsert_many(self, *, documents: list[DocumentInput]) -> list[Document]: ...
    async def get(self, *, doc_id: str, user_id: str | None, shared: bool) -> Document: ...

    async def get_all(
        self, *, query: DocumentQuery, limit: int, cursor: str | None
    ) -> Page[Document]: ...

    async def search(self, *, request: DocumentSearch) -> list[Document]: ...

    async def update(
        self,
        *,
        doc_id: str,
        content: str | None,
        metadata: Mapping[str, MetadataValue],
        user_id: str | None,
    ) -> Document: ...

    async def delete(self, *, doc_id: str, user_id: str | None) -> None: ...
    async def delete_many(self, *, doc_ids: list[str], user_id: str | None) -> int: ...
    async def delete_all(self, *, user_id: str | None) -> int: ...
    async def restore(self, *, documents: list[Document]) -> list[bool]: ...
    async def count(self) -> int: ...


class GraphProvider(Protocol):
    """Triples as `memio.protocols.GraphStore` describes them, from checked values: added
    triples carry their owner and stable id (`validating.graph_items.plan_triples`); a delete
    names exactly one of entity and triple_id."""

    async def add(self, *, triples: list[Triple]) -> list[Triple]: ...

    async def get(
        self, *, entity: str, user_id: str | None, shared: bool, depth: int
    ) -> GraphResult: ...

    async def get_all(
        self, *, user_id: str | None, shared: bool, limit: int, cursor: str | None
    ) -> GraphResult: ...

    async def search(
        self, *, query: str, user_id: str | None, shared: bool, limit: int
    ) -> GraphResult: ...

    async def delete(
        self, *, entity: str | None, triple_id: str | None, user_id: str | None
    ) -> int: ...

    async def delete_all(self, *, user_id: str | None) -> int: ...
    async def restore(self, *, triples: list[Triple]) -> list[bool]: ...
    async def count(self) -> int: ...
