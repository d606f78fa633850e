"""The reference provider: all four stores in process memory.

This is docs/architecture.md's store semantics made executable, with nothing in between: every
other provider must answer the conformance suites exactly as these classes do. Nothing is
persisted; data lives as long as the store object (`aclose()` keeps it, and is a no-op).

Conventions shared by the four stores:
- Items live in insertion-ordered dicts, each with a `seq` from a per-store counter, so dict order
  is creation order. Cursors hold the last `seq` returned (keyset paging): deleting or adding items
  between pages never repeats or skips the remaining ones. A page looks one item ahead, so the
  last page has `next_cursor=None` even when the count is a multiple of `limit`.
- Returned models are deep copies: a caller mutating a result cannot change the store.
- Embeddings of stored items are computed once, on write, and kept next to the item.
- Writes that await the embedder hold the store's `asyncio.Lock` from their first read to their
  last write; every other write takes the same lock, so no write interleaves with another.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from memio import ranking
from memio.checked import (
    DocumentQuery,
    DocumentSearch,
    FactQuery,
    FactScope,
    FactSearch,
    HistorySearch,
    fact_scope_of,
    listing_scope,
)
from memio.errors import ConflictError, NotFoundError, NotSupportedError
from memio.filters import FilterNode, matches
from memio.models import (
    Document,
    DocumentInput,
    Fact,
    FactEntity,
    FactEvent,
    FactEventType,
    FactInput,
    FoundMessage,
    GraphResult,
    Message,
    MetadataValue,
    Page,
    Triple,
    as_utc,
    cosine_score,
    utcnow,
)
from memio.pagination import decode_cursor, encode_cursor, int_position
from memio.protocols import Embedder
from memio.providers.base import Provider
from memio.providers.shared import (
    FactKey,
    FactStep,
    ProviderContext,
    check_owner_kept,
    content_taken,
    fact_entities,
    fact_key,
    graph_match_score,
    graph_neighbourhood,
    graph_nodes,
    in_read_scope,
    merge_triple_metadata,
    merged_metadata,
    new_id,
    new_in_batch,
    parse_config,
    plan_fact_batch,
    plan_restore,
    triple_text,
    updated_fact,
    word_terms,
)
from memio.ranking import SearchMode

__all__ = ["MemoryDocumentStore", "MemoryFactStore", "MemoryGraphStore", "MemoryHistoryStore"]

PROVIDER = "memory"

_M = TypeVar("_M", bound=BaseModel)


class MemoryConfig(BaseModel):
    """The memory provider takes no configuration."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class _Entry:
    """A stored item, its embedding (None where the store does not embed) and creation rank."""

    item: Any
    vector: np.ndarray | None
    seq: int


# --- helpers ----------------------------------------------------------------------------------


def _copy(model: _M, **update: Any) -> _M:
    return model.model_copy(update=update, deep=True)


def _page(
    entries: Iterable[_Entry], *, limit: int, cursor: str | None, scope: Mapping[str, Any]
) -> tuple[list[_Entry], str | None]:
    """One keyset page of `entries` (in creation order) and the cursor of the next one."""
    after = int_position(decode_cursor(cursor, scope=scope))
    picked: list[_Entry] = []
    for entry in entries:
        if entry.seq <= after:
            continue
        if len(picked) == limit:  # one more exists: this page is not the last
            return picked, encode_cursor({"after": picked[-1].seq}, scope=scope)
        picked.append(entry)
    return picked, None


def _rank(
    query: np.ndarray, entries: Sequence[_Entry], *, limit: int
) -> list[tuple[_Entry, float]]:
    """`entries` by cosine score, best first (ties keep creation order), cut at `limit`."""
    if not entries:
        return []
    similarities = np.stack([entry.vector for entry in entries]) @ query
    scored = [
        (entry, cosine_score(float(sim))) for entry, sim in zip(entries, similarities, strict=True)
    ]
    scored.sort(key=lambda pair: -pair[1])  # stable: equal scores stay in creation order
    return scored[:limit]


def _record(model: BaseModel) -> dict[str, Any]:
    """What filters are evaluated against: top-level fields plus "metadata"."""
    return model.model_dump(exclude={"score"})


class _MemoryStore(Provider):
    provider = PROVIDER

    def __init__(self, *, embedder: Embedder | None = None) -> None:
        self._embedder = embedder
        self._lock = asyncio.Lock()
        self._seq = itertools.count()

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: ProviderContext) -> Any:
        parse_config(MemoryConfig, config)
        return cls(embedder=context.embedder)

    async def _embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._embedder is None:
            raise RuntimeError(f"{type(self).__name__} needs an embedder")
        return np.asarray(await self._embedder.embed(list(texts)), dtype=np.float32)

    async def _embed_one(self, text: str) -> np.ndarray:
        return (await self._embed([text]))[0]

    async def _search_entries(
        self,
        mode: SearchMode,
        query: str,
        entries: Sequence[_Entry],
        *,
        limit: int,
        threshold: float | None = None,
    ) -> list[Any]:
        """A search over in-scope, filtered `entries` (a scan is this provider's word index)."""

        async def semantic(n: int) -> list[Any]:
            vector = await self._embed_one(query)
            ranked = _rank(vector, entries, limit=n)
            return [_copy(entry.item, score=score) for entry, score in ranked]

        async def keyword(words: list[str]) -> tuple[list[Any], int]:
            return [entry.item for entry in entries], len(entries)

        return await ranking.search(
            mode, query=query, limit=limit, semantic=semantic, keyword=keyword, threshold=threshold
        )

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        """Nothing to release: the data stays with the object."""
        return None


# --- facts ------------------------------------------------------------------------------------


class MemoryFactStore(_MemoryStore):
    """Facts with exact-scope dedup, semantic search and a change history."""

    def __init__(self, *, embedder: Embedder) -> None:
        super().__init__(embedder=embedder)
        self._facts: dict[str, _Entry] = {}
        self._events: dict[str, list[FactEvent]] = {}

    # reads

    def _entry(self, fact_id: str) -> _Entry:
        entry = self._facts.get(fact_id)
        if entry is None:
            raise NotFoundError("fact", fact_id)
        return entry

    def _select(
        self, scope: Mapping[str, str | None], tree: FilterNode | None = None
    ) -> list[_Entry]:
        return [
            entry
            for entry in self._facts.values()
            if all(
                value is None or getattr(entry.item, key) == value for key, value in scope.items()
            )
            and matches(tree, _record(entry.item))
        ]

    def _stored(
        self, items: Sequence[FactInput], scopes: Sequence[Mapping[str, str | None]]
    ) -> dict[FactKey, Fact]:
        """The stored facts the items repeat, by `fact_key` (the oldest of equal ones)."""
        wanted = {fact_key(item.content, scope) for item, scope in zip(items, scopes, strict=True)}
        found: dict[FactKey, Fact] = {}
        for entry in self._facts.values():
            fact = entry.item
            key = fact_key(fact.content, fact_scope_of(fact))
            if key in wanted:
                found.setdefault(key, fact)
        return found

    async def get(self, *, fact_id: str, include_expired: bool) -> Fact:
        fact = self._entry(fact_id).item
        if not include_expired and fact.expired(utcnow()):
            raise NotFoundError("fact", fact_id)
        return _copy(fact)

    async def get_all(self, *, query: FactQuery, limit: int, cursor: str | None) -> Page[Fact]:
        selected = self._select(query.scope, query.tree())
        entries, next_cursor = _page(selected, limit=limit, cursor=cursor, scope=query.listing())
        return Page([_copy(entry.item) for entry in entries], next_cursor)

    async def search(self, *, request: FactSearch) -> list[Fact]:
        selected = self._select(request.query.scope, request.query.tree())
        return await self._search_entries(
            request.mode, request.text, selected, limit=request.limit, threshold=request.threshold
        )

    async def history(self, *, fact_id: str) -> list[FactEvent]:
        events = self._events.get(fact_id)
        if events is None:
            raise NotFoundError("fact", fact_id)
        return [_copy(event) for event in events]

    async def count(self, *, query: FactQuery) -> int:
        return len(self._select(query.scope, query.tree()))

    async def entities(self, *, query: FactQuery) -> list[FactEntity]:
        return fact_entities(entry.item for entry in self._select(query.scope, query.tree()))

    # writes

    def _record_event(self, fact: Fact, event: FactEventType, at: datetime, **change: Any) -> None:
        scope = fact_scope_of(fact)
        self._events.setdefault(fact.id, []).append(
            FactEvent(id=new_id(), fact_id=fact.id, event=event, created_at=at, **scope, **change)
        )

    def _apply(self, steps: Sequence[FactStep], vectors: Mapping[int, np.ndarray]) -> list[Fact]:
        """Write a planned add (`shared.plan_fact_batch`) in order; `vectors` by item index."""
        out = []
        for step in steps:
            fact = step.fact
            stored = _copy(fact, event=None)
            assert fact.updated_at is not None
            if fact.event == "ADD":
                self._facts[fact.id] = _Entry(stored, vectors[step.index], next(self._seq))
                self._record_event(
                    fact,
                    FactEventType.ADD,
                    fact.updated_at,
                    new_content=fact.content,
                    new_metadata=dict(fact.metadata),
                )
            elif fact.event == "UPDATE":
                assert step.before is not None
                self._facts[fact.id].item = stored
                self._record_event(
                    fact,
                    FactEventType.UPDATE,
                    fact.updated_at,
                    old_content=fact.content,
                    new_content=fact.content,
                    old_metadata=dict(step.before.metadata),
                    new_metadata=dict(fact.metadata),
                )
            out.append(_copy(fact))
        return out

    def _remove(self, fact_id: str, now: datetime, reason: str | None = None) -> None:
        fact = self._facts.pop(fact_id).item
        self._record_event(
            fact,
            FactEventType.DELETE,
            now,
            old_content=fact.content,
            old_metadata=dict(fact.metadata),
            reason=reason,
        )

    async def add(self, *, fact: FactInput) -> Fact:
        scope = fact_scope_of(fact)
        async with self._lock:
            if fact.fact_id is not None and fact.fact_id in self._facts:
                raise ConflictError(f"fact {fact.fact_id!r} already exists", field="fact_id")
            [step] = plan_fact_batch(
                [fact], [scope], self._stored([fact], [scope]), utcnow(), single=True
            )
            vectors = {0: await self._embed_one(fact.content)} if step.fact.event == "ADD" else {}
            [fact] = self._apply([step], vectors)
            return fact

    async def add_many(self, *, facts: list[FactInput]) -> list[Fact]:
        scopes = [fact_scope_of(item) for item in facts]
        async with self._lock:
            seen: set[str] = set()
            for i, item in enumerate(facts):
                if item.fact_id is None:
                    continue
                if item.fact_id in self._facts or item.fact_id in seen:
                    raise ConflictError(
                        f"fact {item.fact_id!r} already exists", field=f"facts[{i}].fact_id"
                    )
                seen.add(item.fact_id)
            steps = plan_fact_batch(facts, scopes, self._stored(facts, scopes), utcnow())
            vectors = await self._embed([item.content for item in facts])
            return self._apply(steps, dict(enumerate(vectors)))

    async def restore(self, *, facts: list[tuple[Fact, list[FactEvent]]]) -> list[bool]:
        vectors = await self._embed([fact.content for fact, _ in facts])
        async with self._lock:
            items = [FactInput(content=fact.content) for fact, _ in facts]
            scopes = [fact_scope_of(fact) for fact, _ in facts]
            holders = {key: fact.id for key, fact in self._stored(items, scopes).items()}
            plan = plan_restore([fact for fact, _ in facts], set(self._facts), holders)
            for (fact, events), vector, write in zip(facts, vectors, plan, strict=True):
                if write:
                    self._facts[fact.id] = _Entry(_copy(fact), vector, next(self._seq))
                    self._events[fact.id] = [_copy(event) for event in events]
            return plan

    async def update(
        self,
        *,
        fact_id: str,
        content: str | None,
        metadata: Mapping[str, MetadataValue],
        expires_at: Any,
    ) -> Fact:
        async with self._lock:
            entry = self._entry(fact_id)
            old: Fact = entry.item
            merged = merged_metadata(old.metadata, metadata) or dict(old.metadata)
            if content is not None:
                scope = fact_scope_of(old)
                same = self._stored([FactInput(content=content)], [scope])
                other = same.get(fact_key(content, scope))
                if other is not None and other.id != fact_id:
                    raise content_taken(other.id)
                entry.vector = await self._embed_one(content)
            now = utcnow()
            new = updated_fact(
                old, content=content, metadata=merged, expires_at=expires_at, now=now
            )
            entry.item = new
            self._record_event(
                new,
                FactEventType.UPDATE,
                now,
                old_content=old.content,
                new_content=new.content,
                old_metadata=dict(old.metadata),
                new_metadata=dict(new.metadata),
            )
            return _copy(new)

    async def delete(self, *, fact_id: str) -> None:
        async with self._lock:
            self._entry(fact_id)
            self._remove(fact_id, utcnow())

    async def delete_many(self, *, fact_ids: list[str]) -> int:
        async with self._lock:
            now = utcnow()
            gone = [fact_id for fact_id in fact_ids if fact_id in self._facts]
            for fact_id in gone:
                self._remove(fact_id, now)
            return len(gone)

    async def delete_all(self, *, scope: FactScope) -> int:
        async with self._lock:
            now = utcnow()
            gone = [entry.item.id for entry in self._select(scope)]
            for fact_id in gone:
                self._remove(fact_id, now)
            return len(gone)

    async def purge_expired(self, *, before: datetime) -> int:
        async with self._lock:
            now = utcnow()
            gone = [fact_id for fact_id, entry in self._facts.items() if entry.item.expired(before)]
            for fact_id in gone:
                self._remove(fact_id, now, reason="expired")
            return len(gone)


# --- history ----------------------------------------------------------------------------------


@dataclass
class _Session:
    owner: str | None
    messages: list[Message]
    seq: int
    vectors: list[np.ndarray | None] = field(default_factory=list)  # per message; None: no embedder


class MemoryHistoryStore(_MemoryStore):
    """Conversation sessions; search scores messages by query-word overlap."""

    def __init__(self, *, embedder: Embedder | None = None) -> None:
        super().__init__(embedder=embedder)
        self._sessions: dict[str, _Session] = {}

    def _session(self, session_id: str, user_id: str | None) -> _Session:
        session = self._sessions.get(session_id)
        if session is None or (user_id is not None and session.owner != user_id):
            raise NotFoundError("session", session_id)
        return session

    async def owner(self, *, session_id: str) -> str | None:
        return self._session(session_id, None).owner

    async def add(
        self, *, session_id: str, messages: list[Message], user_id: str | None
    ) -> list[Message]:
        now = utcnow()
        stored = []
        for message in messages:
            stored.append(
                _copy(
                    message,
                    id=message.id or new_id(),
                    timestamp=now if message.timestamp is None else as_utc(message.timestamp),
                    score=None,
                )
            )
        vectors = await self._message_vectors(stored)
        # No await from here on: the ownership check and the append are atomic.
        session = self._sessions.get(session_id)
        if session is None:
            session = self._sessions[session_id] = _Session(user_id, [], next(self._seq))
        elif user_id is not None and user_id != session.owner:
            raise ConflictError(f"session {session_id!r} belongs to another user", field="user_id")
        session.messages.extend(stored)
        session.vectors.extend(vectors)
        return [_copy(message) for message in stored]

    async def _message_vectors(self, messages: Sequence[Message]) -> list[np.ndarray | None]:
        """The messages' embeddings, in the add's one batch (none without an embedder)."""
        if self._embedder is None or not messages:
            return [None] * len(messages)
        return list(await self._embed([message.content for message in messages]))

    async def get(
        self, *, session_id: str, limit: int, cursor: str | None, user_id: str | None
    ) -> Page[Message]:
        session = self._session(session_id, user_id)
        listing = {"list": "messages", "session_id": session_id, "user_id": user_id}
        start = int_position(decode_cursor(cursor, scope=listing), "offset", first=0)
        end = start + limit
        page = [_copy(message) for message in session.messages[start:end]]
        more = end < len(session.messages)
        return Page(page, encode_cursor({"offset": end}, scope=listing) if more else None)

    async def get_all(self, *, user_id: str | None, limit: int, cursor: str | None) -> Page[str]:
        entries = [
            _Entry(session_id, None, session.seq)
            for session_id, session in self._sessions.items()
            if user_id is None or session.owner == user_id
        ]
        listing = {"list": "sessions", "user_id": user_id}
        picked, next_cursor = _page(entries, limit=limit, cursor=cursor, scope=listing)
        return Page([entry.item for entry in picked], next_cursor)

    async def search(self, *, request: HistorySearch) -> list[FoundMessage]:
        session_id, user_id, search_mode = request.session_id, request.user_id, request.mode
        if session_id is not None:
            sessions = {session_id: self._session(session_id, user_id)}
        else:
            sessions = {
                sid: session
                for sid, session in self._sessions.items()
                if user_id is None or session.owner == user_id
            }
        entries = [
            _Entry(FoundMessage(**message.model_dump(), session_id=sid), vector, seq)
            for sid, session in sessions.items()
            for seq, (message, vector) in enumerate(
                zip(session.messages, session.vectors, strict=True)
            )
        ]
        if search_mode != "keyword" and any(entry.vector is None for entry in entries):
            raise NotSupportedError(
                f"history search_mode {search_mode!r} needs an embedder",
                hint="configure the history store with the server's embedder",
            )
        return await self._search_entries(search_mode, request.text, entries, limit=request.limit)

    async def delete(self, *, session_id: str, user_id: str | None) -> None:
        self._session(session_id, user_id)
        del self._sessions[session_id]

    async def delete_all(self, *, user_id: str | None) -> int:
        gone = [
            session_id
            for session_id, session in self._sessions.items()
            if user_id is None or session.owner == user_id
        ]
        for session_id in gone:
            del self._sessions[session_id]
        return len(gone)

    async def count(self) -> int:
        return sum(len(session.messages) for session in self._sessions.values())


# --- documents --------------------------------------------------------------------------------


class MemoryDocumentStore(_MemoryStore):
    """Documents searchable by meaning; a document with a user_id is visible to that user and to
    unscoped calls only; one without is shared knowledge, which a user's reads include when they
    ask (`include_shared`)."""

    def __init__(self, *, embedder: Embedder) -> None:
        super().__init__(embedder=embedder)
        self._docs: dict[str, _Entry] = {}

    def _visible(
        self, user_id: str | None, tree: FilterNode | None = None, *, shared: bool = False
    ) -> list[_Entry]:
        return [
            entry
            for entry in self._docs.values()
            if in_read_scope(entry.item.user_id, user_id, shared)
            and matches(tree, _record(entry.item))
        ]

    def _entry(self, doc_id: str, user_id: str | None, *, shared: bool = False) -> _Entry:
        entry = self._docs.get(doc_id)
        if entry is None or not in_read_scope(entry.item.user_id, user_id, shared):
            raise NotFoundError("document", doc_id)
        return entry

    async def get(self, *, doc_id: str, user_id: str | None, shared: bool) -> Document:
        return _copy(self._entry(doc_id, user_id, shared=shared).item)

    async def get_all(
        self, *, query: DocumentQuery, limit: int, cursor: str | None
    ) -> Page[Document]:
        visible = self._visible(query.user_id, query.where, shared=query.shared)
        entries, next_cursor = _page(visible, limit=limit, cursor=cursor, scope=query.listing())
        return Page([_copy(entry.item) for entry in entries], next_cursor)

    async def search(self, *, request: DocumentSearch) -> list[Document]:
        query = request.query
        visible = self._visible(query.user_id, query.where, shared=query.shared)
        return await self._search_entries(request.mode, request.text, visible, limit=request.limit)

    async def count(self) -> int:
        return len(self._docs)

    def _put(self, document: Document, vector: np.ndarray) -> Document:
        """Insert, or replace in place (keeping the creation rank)."""
        entry = self._docs.get(document.id)
        if entry is None:
            self._docs[document.id] = _Entry(document, vector, next(self._seq))
        else:
            entry.item, entry.vector = document, vector
        return document

    async def add(self, *, document: DocumentInput) -> Document:
        async with self._lock:
            if document.doc_id is not None and document.doc_id in self._docs:
                raise ConflictError(f"document {document.doc_id!r} already exists", field="doc_id")
            vector = await self._embed_one(document.content)
            now = utcnow()
            stored = Document(
                id=document.doc_id or new_id(),
                content=document.content,
                metadata=document.metadata,
                user_id=document.user_id,
                created_at=now,
                updated_at=now,
            )
            return _copy(self._put(stored, vector))

    async def restore(self, *, documents: list[Document]) -> list[bool]:
        vectors = await self._embed([document.content for document in documents])
        async with self._lock:
            plan = new_in_batch([document.id for document in documents], set(self._docs))
            for document, vector, write in zip(documents, vectors, plan, strict=True):
                if write:
                    self._put(document, vector)
            return plan

    async def add_many(self, *, documents: list[DocumentInput]) -> list[Document]:
        return await self._write_many(documents, replace=False)

    async def upsert_many(self, *, documents: list[DocumentInput]) -> list[Document]:
        return await self._write_many(documents, replace=True)

    async def _write_many(self, items: list[DocumentInput], *, replace: bool) -> list[Document]:
        async with self._lock:
            for i, item in enumerate(items):
                entry = self._docs.get(item.doc_id) if item.doc_id is not None else None
                if entry is None:
                    continue
                if not replace:
                    raise ConflictError(
                        f"document {item.doc_id!r} already exists", field=f"documents[{i}].doc_id"
                    )
                check_owner_kept(entry.item.user_id, item, index=i)
            vectors = await self._embed([item.content for item in items])
            now = utcnow()
            out = []
            for item, vector in zip(items, vectors, strict=True):
                doc_id = item.doc_id or new_id()
                existing = self._docs.get(doc_id)
                document = Document(
                    id=doc_id,
                    content=item.content,
                    metadata=dict(item.metadata),
                    user_id=item.user_id,
                    created_at=now if existing is None else existing.item.created_at,
                    updated_at=now,
                )
                out.append(_copy(self._put(document, vector)))
            return out

    async def update(
        self,
        *,
        doc_id: str,
        content: str | None,
        metadata: Mapping[str, MetadataValue],
        user_id: str | None,
    ) -> Document:
        async with self._lock:
            entry = self._entry(doc_id, user_id)
            old: Document = entry.item
            merged = merged_metadata(old.metadata, metadata) or dict(old.metadata)
            if content is not None:
                entry.vector = await self._embed_one(content)
            entry.item = _copy(
                old,
                content=old.content if content is None else content,
                metadata=merged,
                updated_at=utcnow(),
            )
            return _copy(entry.item)

    async def delete(self, *, doc_id: str, user_id: str | None) -> None:
        async with self._lock:
            self._entry(doc_id, user_id)
            del self._docs[doc_id]

    async def delete_many(self, *, doc_ids: list[str], user_id: str | None) -> int:
        async with self._lock:
            gone = [
                doc_id
                for doc_id in doc_ids
                if doc_id in self._docs
                and (user_id is None or self._docs[doc_id].item.user_id == user_id)
            ]
            for doc_id in gone:
                del self._docs[doc_id]
            return len(gone)

    async def delete_all(self, *, user_id: str | None) -> int:
        async with self._lock:
            gone = [entry.item.id for entry in self._visible(user_id)]
            for doc_id in gone:
                del self._docs[doc_id]
            return len(gone)


# --- graph ------------------------------------------------------------------------------------


class MemoryGraphStore(_MemoryStore):
    """Triples with stable ids; search combines word match and meaning
    (`shared.graph_match_score`)."""

    def __init__(self, *, embedder: Embedder) -> None:
        super().__init__(embedder=embedder)
        self._triples: dict[str, _Entry] = {}

    def _scoped(self, user_id: str | None, *, shared: bool = False) -> list[_Entry]:
        return [
            entry
            for entry in self._triples.values()
            if in_read_scope(entry.item.user_id, user_id, shared)
        ]

    async def add(self, *, triples: list[Triple]) -> list[Triple]:
        planned = triples
        async with self._lock:
            stored = {
                t.id: self._triples[t.id].item.metadata for t in planned if t.id in self._triples
            }
            final = merge_triple_metadata(planned, stored)
            new: dict[str, Triple] = {}
            for triple in planned:
                if triple.id not in self._triples:
                    new.setdefault(triple.id, triple)
            texts = [triple_text(t.subject, t.predicate, t.object) for t in new.values()]
            vectors = await self._embed(texts) if texts else []
            now = utcnow()
            for (tid, triple), vector in zip(new.items(), vectors, strict=True):
                item = _copy(triple, created_at=now, metadata=final[tid])
                self._triples[tid] = _Entry(item, vector, next(self._seq))
            for tid in stored:
                entry = self._triples[tid]
                entry.item = _copy(entry.item, metadata=final[tid])
            return [_copy(self._triples[t.id].item) for t in planned]

    async def restore(self, *, triples: list[Triple]) -> list[bool]:
        vectors = await self._embed(
            [triple_text(t.subject, t.predicate, t.object) for t in triples]
        )
        async with self._lock:
            plan = new_in_batch([str(t.id) for t in triples], set(self._triples))
            for triple, vector, write in zip(triples, vectors, plan, strict=True):
                if write:
                    self._triples[str(triple.id)] = _Entry(triple, vector, next(self._seq))
            return plan

    async def get(
        self, *, entity: str, user_id: str | None, shared: bool, depth: int
    ) -> GraphResult:
        entries = self._scoped(user_id, shared=shared)
        reached = {entity}
        frontier = {entity}
        picked: set[str] = set()
        for _ in range(depth):
            hop = [
                entry
                for entry in entries
                if entry.item.id not in picked
                and (entry.item.subject in frontier or entry.item.object in frontier)
            ]
            if not hop:
                break
            picked.update(entry.item.id for entry in hop)
            frontier = {e for entry in hop for e in (entry.item.subject, entry.item.object)}
            frontier -= reached
            reached |= frontier
        triples = [_copy(entry.item) for entry in entries if entry.item.id in picked]
        return graph_neighbourhood(triples, entity)

    async def get_all(
        self, *, user_id: str | None, shared: bool, limit: int, cursor: str | None
    ) -> GraphResult:
        listing = listing_scope("triples", user_id, shared)
        entries, next_cursor = _page(
            self._scoped(user_id, shared=shared), limit=limit, cursor=cursor, scope=listing
        )
        triples = [_copy(entry.item) for entry in entries]
        return GraphResult(triples=triples, nodes=graph_nodes(triples), next_cursor=next_cursor)

    async def search(
        self, *, query: str, user_id: str | None, shared: bool, limit: int
    ) -> GraphResult:
        entries = self._scoped(user_id, shared=shared)
        if not entries:
            return GraphResult()
        vector = await self._embed_one(query)
        terms = word_terms(query)
        similarities = np.stack([entry.vector for entry in entries]) @ vector
        scored = []
        for entry, similarity in zip(entries, similarities, strict=True):
            t = entry.item
            text = triple_text(t.subject, t.predicate, t.object)
            score = graph_match_score(terms, text, float(similarity))
            if score > 0:
                scored.append((t, score))
        scored.sort(key=lambda pair: -pair[1])  # stable: ties stay in creation order
        triples = [_copy(t) for t, _ in scored[:limit]]
        return GraphResult(
            triples=triples, nodes=graph_nodes(triples), scores=[s for _, s in scored[:limit]]
        )

    async def delete(
        self, *, entity: str | None, triple_id: str | None, user_id: str | None
    ) -> int:
        async with self._lock:
            if triple_id is not None:
                entry = self._triples.get(triple_id)
                if entry is None or (user_id is not None and entry.item.user_id != user_id):
                    raise NotFoundError("triple", triple_id)
                gone = [triple_id]
            else:
                gone = [
                    entry.item.id
                    for entry in self._scoped(user_id)
                    if entity in (entry.item.subject, entry.item.object)
                ]
                if not gone:
                    raise NotFoundError("entity", entity)
            for tid in gone:
                del self._triples[tid]
            return len(gone)

    async def delete_all(self, *, user_id: str | None) -> int:
        async with self._lock:
            gone = [entry.item.id for entry in self._scoped(user_id)]
            for tid in gone:
                del self._triples[tid]
            return len(gone)

    async def count(self) -> int:
        return len(self._triples)
