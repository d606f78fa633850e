"""What the two mem0 modes share: the decoded memory record and the backend interface.

`Mem0FactStore` holds memio's semantics (validation, exact-scope dedup, portable filters, keyset
pages, cosine scores, the event log); a backend only moves mem0 memories in and out. The OSS
backend drives mem0's `AsyncMemory` in process, the platform backend its `AsyncMemoryClient`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from memio.errors import InvalidRequestError
from memio.models import FACT_SCOPE, FactEventType, MetadataValue, validate_metadata

__all__ = ["EPOCH", "Backend", "Event", "Memory", "clean_metadata", "parse_time"]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class Memory:
    """One mem0 memory in memio's terms (scope decoded, metadata as the caller gave it)."""

    mem0_id: str
    content: str
    user_id: str | None = None
    agent_id: str | None = None
    app_id: str | None = None
    run_id: str | None = None
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: past a mem0 `expiration_date` (set by other mem0 clients; memio never sets one): mem0 hides
    #: such memories from listings and search, and so does memio (get still finds them).
    expired: bool = False

    def scope(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in FACT_SCOPE}


@dataclass
class Event:
    """One row of mem0's history of a memory, with the metadata memio recorded next to it."""

    id: str
    event: FactEventType
    old_content: str | None
    new_content: str | None
    created_at: datetime
    old_metadata: dict[str, MetadataValue] | None = None
    new_metadata: dict[str, MetadataValue] | None = None
    #: the memory's scope ids, where the backend knows them (OSS: memio's ledger)
    scope: dict[str, str | None] = field(default_factory=dict)


def parse_time(value: Any) -> datetime | None:
    """mem0's ISO timestamps as timezone-aware UTC (a naive one is taken to be UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def clean_metadata(raw: Mapping[str, Any] | None) -> dict[str, MetadataValue]:
    """Metadata read back from mem0, kept only where it is valid memio metadata.

    Everything memio wrote passes unchanged; a memory written by other mem0 clients may carry
    values memio cannot represent (nested objects, nulls), which are left out rather than failing
    the whole read.
    """
    if not raw:
        return {}
    try:
        return validate_metadata(raw)
    except InvalidRequestError:
        out: dict[str, MetadataValue] = {}
        for key, value in raw.items():
            try:
                out.update(validate_metadata({key: value}))
            except InvalidRequestError:
                continue
        return out


class Backend(ABC):
    """The mem0 operations `Mem0FactStore` needs. Every method may raise backend exceptions;
    the store turns them into ProviderError."""

    #: whether callers may choose fact ids (the OSS mode keeps a mapping; the platform cannot).
    supports_fact_ids: bool
    #: whether every memory must name a user_id, agent_id, app_id or run_id (the platform's rule).
    needs_entity: bool = False
    #: the embedded files' process lock (OSS), None for a remote backend.
    path_lock: Any = None
    #: exception types that mean "the backend failed" (known once mem0 is imported).
    errors: tuple[type[BaseException], ...] = ()

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> None: ...

    @abstractmethod
    async def count(self) -> int: ...

    @abstractmethod
    async def fetch(self, mem0_id: str) -> Memory | None:
        """The memory, or None when it does not exist."""

    @abstractmethod
    async def scan(self, scope: Mapping[str, str]) -> list[Memory]:
        """Every memory whose scope fields equal `scope` (a superset is fine: the store
        re-checks the exact scope)."""

    @abstractmethod
    async def similar(
        self, query: str, vector: np.ndarray, scope: Mapping[str, str], k: int
    ) -> list[tuple[Memory, float]]:
        """Up to `k` candidates in `scope` with the cosine similarity of memio's embeddings,
        most similar first."""

    @abstractmethod
    async def create(
        self,
        *,
        content: str,
        scope: Mapping[str, str | None],
        metadata: Mapping[str, MetadataValue],
        infer: bool,
        vector: np.ndarray | None,
    ) -> list[Memory]:
        """Store `content` (infer: let mem0's LLM extract memories from it) and return the
        memories created, in mem0's order; records their ADD events."""

    @abstractmethod
    async def change(
        self,
        old: Memory,
        *,
        content: str | None,
        metadata: Mapping[str, MetadataValue],
        vector: np.ndarray,
    ) -> None:
        """Set the content (None keeps it) and the full metadata; records an UPDATE event."""

    @abstractmethod
    async def remove(self, old: Memory) -> None:
        """Delete the memory; records a DELETE event."""

    @abstractmethod
    async def events(self, mem0_id: str) -> list[Event]:
        """mem0's history of the memory (any order)."""

    # fact ids: the OSS mode maps memio ids to mem0 ids; the platform uses mem0's ids as they are

    async def resolve(self, fact_id: str) -> str | None:
        """The mem0 id currently holding `fact_id`, if any."""
        return fact_id

    async def fact_ids(self, mem0_ids: Sequence[str]) -> dict[str, str]:
        """mem0 id -> memio fact id, for the given ids."""
        return {mem0_id: mem0_id for mem0_id in mem0_ids}

    async def bind(self, fact_id: str, mem0_id: str, scope: Mapping[str, str | None]) -> None:
        """Record that `fact_id` now names the memory `mem0_id` (of that scope)."""
        return None

    async def lineage(self, fact_id: str) -> list[str]:
        """Every mem0 id `fact_id` has named, oldest first (for its history)."""
        return [fact_id]
