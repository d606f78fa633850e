"""The four store protocols and the embedder protocol.

These are the narrow contract between `Memio` (and the server) and a backend. Every method is async
and keyword-only; every store has the same verbs (add, get, get_all, search, update, delete,
delete_all) plus `count`, `ping` and `aclose`. A provider that passes `tests/conformance` for a
store is a drop-in for any other provider of that store.

Shared rules:
- Batch and message arguments accept model instances or plain dicts (validated with
  `validating.arguments.coerce_items`, errors naming the item, e.g. ``documents[3].content``).
- Listings return a `Page` (a list with `next_cursor`). Passing that cursor back returns the next
  page; walking until `next_cursor is None` yields every item exactly once. `limit` is the page
  size, from 1 to 1000. A cursor is opaque and only valid for the same call with the same scope.
- `filters` use memio's portable filter language (`memio.filters`), identical for every provider.
- Scoping arguments (`user_id`, `agent_id`, ...) restrict reads and deletes; an item written with a
  scope is invisible to other scopes. Documents and triples stored without a user_id are shared
  knowledge: reads with a user_id and `include_shared=True` see them too.
- Text never holds NUL (or a lone surrogate), and metadata stays within `models.MAX_METADATA_*`:
  InvalidRequestError naming the field, whatever the provider.
- Writes return what is stored after the write, timestamps included.
- Errors are `memio.errors` types: NotFoundError, ConflictError, InvalidRequestError,
  NotSupportedError, ProviderError.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np

from memio.models import (
    KEEP,
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
from memio.ranking import SearchMode

__all__ = [
    "DocumentStore",
    "Embedder",
    "FactStore",
    "GraphStore",
    "HistoryStore",
    "Reembeddable",
    "Store",
]

Filters = Mapping[str, Any]
Metadata = Mapping[str, MetadataValue]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors. Must not block the event loop."""

    model: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array of shape (len(texts), dimensions)."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Store(Protocol):
    """What every store has, whatever it holds."""

    provider: str

    async def count(self) -> int:
        """How many items (facts, messages, documents, triples) the store holds in all."""
        ...

    async def ping(self) -> None:
        """Cheap round trip to the backend; raises ProviderError when it is unreachable."""
        ...

    async def aclose(self) -> None:
        """Release connections, files and locks. Idempotent."""
        ...


@runtime_checkable
class FactStore(Store, Protocol):
    """Short statements about a user or agent, searchable by meaning, with a change history.

    Adding a fact whose content equals (after trimming and folding whitespace) an existing fact in
    exactly the same scope adds no fact: the call's metadata is merged into the stored fact
    (recorded as an UPDATE) when that changes it, else nothing is written. The returned fact's
    `event` says which: "ADD", "UPDATE" or "NONE".
    """

    async def add(
        self,
        *,
        content: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
        metadata: Metadata | None = None,
        fact_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> Fact:
        """`expires_at`: from then on reads leave the fact out (unless `include_expired`) and
        `purge_expired` deletes it; adding the content of an expired fact again revives it."""
        ...

    async def add_many(self, *, facts: Sequence[FactInput | Mapping[str, Any]]) -> list[Fact]:
        """Add a batch in one go, each item as `add` would, in order; ids that exist make the
        whole batch fail with ConflictError before anything is written."""
        ...

    async def get(self, *, fact_id: str, include_expired: bool = False) -> Fact:
        """An expired fact is NotFoundError unless `include_expired`."""
        ...

    async def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
        filters: Filters | None = None,
        limit: int = 100,
        cursor: str | None = None,
        include_expired: bool = False,
    ) -> Page[Fact]:
        """Facts in creation order (oldest first)."""
        ...

    async def search(
        self,
        *,
        query: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
        limit: int = 10,
        filters: Filters | None = None,
        threshold: float | None = None,
        include_expired: bool = False,
        search_mode: SearchMode = "hybrid",
    ) -> list[Fact]:
        """Most relevant first; `threshold` drops results scoring below it. `search_mode` as
        for documents (memio.ranking): "hybrid", "semantic" or "keyword"."""
        ...

    async def update(
        self,
        *,
        fact_id: str,
        content: str | None = None,
        metadata: Metadata | None = None,
        expires_at: Any = KEEP,
    ) -> Fact:
        """Replace the content, merge metadata keys and/or set the expiry (a timestamp, or None
        to clear it; by default it is kept); records an UPDATE event. Content
        another fact of the same scope holds is refused (one fact per content per scope, as for
        repeat adds): ConflictError naming `content`."""
        ...

    async def delete(self, *, fact_id: str) -> None: ...

    async def delete_many(self, *, fact_ids: Sequence[str]) -> int:
        """Delete the listed facts; ids that do not exist are skipped. Returns how many went."""
        ...

    async def delete_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
    ) -> int:
        """Delete every fact in the scope (all facts when no scope is given)."""
        ...

    async def history(self, *, fact_id: str) -> list[FactEvent]:
        """Every ADD/UPDATE/DELETE of the fact, oldest first, each naming the fact's scope; also
        after the fact was deleted."""
        ...

    async def count(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
        filters: Filters | None = None,
        include_expired: bool = False,
    ) -> int:
        """How many facts `get_all` with these arguments would list over all its pages (every
        fact held, without any); expired ones awaiting the sweep only with `include_expired`."""
        ...

    async def entities(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
        include_expired: bool = False,
    ) -> list[FactEntity]:
        """Every scope id the facts of this scope carry, each with its facts counted, in order of
        its first fact (the oldest first; one fact's ids in FACT_SCOPE order). Computed by the
        store, not by reading every fact into the caller."""
        ...

    async def purge_expired(self, *, before: datetime) -> int:
        """Delete every fact whose expiry is at or before `before`, each recording a DELETE
        with reason "expired"; safe to run from several processes at once. Returns how many
        went."""
        ...

    async def restore(
        self,
        *,
        facts: Sequence[Fact | Mapping[str, Any]],
        histories: Mapping[str, Sequence[FactEvent]] | None = None,
    ) -> list[bool]:
        """Write facts as another store held them, for `memio import` and `memio migrate`: ids,
        scopes, metadata and timestamps as given, and `histories[fact.id]` (events oldest first)
        as each one's history, event ids and times kept (`validating.restore.restorable_facts`).
        The content is embedded by this store. Per fact: True when written, False when this
        store already held its id (left untouched). All or nothing: a fact whose content another
        fact of the same scope holds is a ConflictError naming ``facts[i].content`` and that
        fact, before anything is written. No dedup merge and no new event is made. At most 1000
        facts."""
        ...


@runtime_checkable
class HistoryStore(Store, Protocol):
    """Conversation sessions: ordered messages, owned by at most one user."""

    async def add(
        self,
        *,
        session_id: str,
        messages: Sequence[Message | Mapping[str, Any]],
        user_id: str | None = None,
    ) -> list[Message]:
        """Append messages in order. A session belongs to the user_id it was created with; adding
        with another user_id is a ConflictError."""
        ...

    async def get(
        self,
        *,
        session_id: str,
        limit: int = 50,
        cursor: str | None = None,
        user_id: str | None = None,
    ) -> Page[Message]:
        """Messages oldest first. Unknown session (or another user's) is NotFoundError."""
        ...

    async def get_all(
        self, *, user_id: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[str]:
        """Session ids, oldest session first."""
        ...

    async def owner(self, *, session_id: str) -> str | None:
        """The user_id the session belongs to (None: nobody's): what an export must keep, as a
        listing without user_id does not say it. Unknown session is NotFoundError."""
        ...

    async def search(
        self,
        *,
        query: str,
        session_id: str | None = None,
        limit: int = 10,
        user_id: str | None = None,
        search_mode: SearchMode = "keyword",
    ) -> list[FoundMessage]:
        """Messages most relevant first: of one session, or without `session_id` of every
        session of `user_id` (of every session when both are None). `search_mode` as for
        documents (memio.ranking); "keyword" by default, as history search always was."""
        ...

    async def delete(self, *, session_id: str, user_id: str | None = None) -> None: ...

    async def delete_all(self, *, user_id: str | None = None) -> int:
        """Delete every session of the user (every session when user_id is None); returns how
        many sessions went."""
        ...


@runtime_checkable
class DocumentStore(Store, Protocol):
    """Texts searchable by meaning, optionally scoped to a user."""

    async def add(
        self,
        *,
        content: str,
        doc_id: str | None = None,
        metadata: Metadata | None = None,
        user_id: str | None = None,
    ) -> Document:
        """An existing doc_id is a ConflictError (use update or upsert_many)."""
        ...

    async def add_many(
        self, *, documents: Sequence[DocumentInput | Mapping[str, Any]]
    ) -> list[Document]:
        """All or nothing: any existing id fails the batch with ConflictError."""
        ...

    async def upsert_many(
        self, *, documents: Sequence[DocumentInput | Mapping[str, Any]]
    ) -> list[Document]:
        """Insert or replace; a replaced document keeps its created_at and its owner (an item
        with another user_id, None included, is a ConflictError and nothing is written)."""
        ...

    async def get(
        self, *, doc_id: str, user_id: str | None = None, include_shared: bool = False
    ) -> Document: ...

    async def get_all(
        self,
        *,
        limit: int = 100,
        filters: Filters | None = None,
        user_id: str | None = None,
        cursor: str | None = None,
        include_shared: bool = False,
    ) -> Page[Document]: ...

    async def search(
        self,
        *,
        query: str,
        limit: int = 10,
        filters: Filters | None = None,
        user_id: str | None = None,
        include_shared: bool = False,
        search_mode: SearchMode = "hybrid",
    ) -> list[Document]:
        """Most relevant first. `search_mode`: "hybrid" fuses the keyword (BM25) and vector
        rankings, "semantic" ranks by meaning only, "keyword" by BM25 only (memio.ranking)."""
        ...

    async def update(
        self,
        *,
        doc_id: str,
        content: str | None = None,
        metadata: Metadata | None = None,
        user_id: str | None = None,
    ) -> Document:
        """Replace the content and/or merge metadata keys. Missing id is NotFoundError."""
        ...

    async def delete(self, *, doc_id: str, user_id: str | None = None) -> None: ...

    async def delete_many(self, *, doc_ids: Sequence[str], user_id: str | None = None) -> int: ...

    async def restore(self, *, documents: Sequence[Document | Mapping[str, Any]]) -> list[bool]:
        """Write documents as another store held them (`memio import` / `migrate`): ids, owners,
        metadata and both timestamps as given; the contents embedded by this store. Per
        document: True when written, False when this store already held its id (left
        untouched). At most 1000."""
        ...


@runtime_checkable
class GraphStore(Store, Protocol):
    """Knowledge-graph triples with stable ids, per-user scoping and traversal."""

    async def add(
        self, *, triples: Sequence[Triple | Mapping[str, Any]], user_id: str | None = None
    ) -> list[Triple]:
        """Store triples; re-adding an identical triple in the same scope returns the existing one
        (its metadata merged)."""
        ...

    async def get(
        self,
        *,
        entity: str,
        user_id: str | None = None,
        depth: int = 1,
        include_shared: bool = False,
    ) -> GraphResult:
        """Triples within `depth` hops of the entity, and the entities they reach (with
        `include_shared`, walking the user's and the shared triples together).
        An entity with no triples in view is an empty result (as in memio 0.3.1), not an error."""
        ...

    async def get_all(
        self,
        *,
        user_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        include_shared: bool = False,
    ) -> GraphResult:
        """Triples in creation order, with `next_cursor` set when more remain."""
        ...

    async def search(
        self,
        *,
        query: str,
        user_id: str | None = None,
        limit: int = 10,
        include_shared: bool = False,
    ) -> GraphResult:
        """Triples whose text matches the query by words or by meaning, best first."""
        ...

    async def delete(
        self,
        *,
        entity: str | None = None,
        triple_id: str | None = None,
        user_id: str | None = None,
    ) -> int:
        """Delete one triple, or every triple touching an entity (within user_id's scope).
        Exactly one of entity / triple_id. Nothing matched is NotFoundError."""
        ...

    async def delete_all(self, *, user_id: str | None = None) -> int: ...

    async def restore(self, *, triples: Sequence[Triple | Mapping[str, Any]]) -> list[bool]:
        """Write triples as another store held them (`memio import` / `migrate`): ids (each the
        one this store would give it), owners, metadata and created_at as given. Per triple:
        True when written, False when this store already held its id (left untouched). At most
        1000."""
        ...


@runtime_checkable
class Reembeddable(Protocol):
    """Optional: a store that keeps vectors of memio's embedder and can recompute them all after
    the embedder changed (`memio reembed`). Run with no server writing to the store."""

    async def reembed(self, *, progress: Callable[[int], None] | None = None) -> int:
        """Recompute every stored vector with the configured embedder (`progress` is told of
        each batch done). Searches never mix two embedders' vectors, whatever interrupts it, and
        running it again finishes the job. Returns how many items got new vectors."""
        ...
