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
from memio.errors import ConflictError, InvalidRequestError, NotFoundError, NotSupportedError
from memio.filters import FilterNode, matches, parse_filters
from memio.models import (
    KEEP,
    Document,
    DocumentInput,
    Fact,
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
    validate_metadata,
)
from memio.pagination import check_limit, decode_cursor, encode_cursor, int_position
from memio.protocols import Embedder
from memio.providers._shared import (
    DOCUMENT_FIELDS,
    FACT_SCOPE,
    TIMESTAMP_FIELDS,
    FactKey,
    FactStep,
    ProviderContext,
    check_owner_kept,
    coerce_items,
    content_taken,
    document_batch,
    expiry_arg,
    fact_add_args,
    fact_filter,
    fact_key,
    fact_scope,
    fact_search_args,
    fact_update_args,
    graph_match_score,
    graph_neighbourhood,
    graph_nodes,
    history_search_args,
    id_list,
    in_read_scope,
    include_shared_scope,
    listing_scope,
    merge_triple_metadata,
    merged_metadata,
    message_batch,
    new_id,
    new_in_batch,
    optional_text,
    parse_config,
    plan_fact_batch,
    plan_restore,
    plan_triples,
    require_text,
    restorable_documents,
    restorable_facts,
    restorable_triples,
    triple_text,
    update_args,
    updated_fact,
    word_terms,
)
from memio.ranking import DEFAULT_SEARCH_MODE, HISTORY_SEARCH_MODE, SearchMode, check_mode

__all__ = ["MemoryDocumentStore", "MemoryFactStore", "MemoryGraphStore", "MemoryHistoryStore"]

PROVIDER = "memory"
MAX_DEPTH = 10

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


class _MemoryStore:
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
            key = fact_key(fact.content, {name: getattr(fact, name) for name in FACT_SCOPE})
            if key in wanted:
                found.setdefault(key, fact)
        return found

    async def get(self, *, fact_id: str, include_expired: bool = False) -> Fact:
        fact = self._entry(require_text(fact_id, field="fact_id")).item
        if not include_expired and fact.expired(utcnow()):
            raise NotFoundError("fact", fact_id)
        return _copy(fact)

    async def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
        cursor: str | None = None,
        include_expired: bool = False,
    ) -> Page[Fact]:
        check_limit(limit)
        scope = fact_scope(user_id, agent_id, app_id, run_id)
        tree = fact_filter(filters, include_expired=include_expired)
        listing = {"list": "facts", **scope, "filters": filters or None}
        entries, next_cursor = _page(
            self._select(scope, tree), limit=limit, cursor=cursor, scope=listing
        )
        return Page([_copy(entry.item) for entry in entries], next_cursor)

    async def search(
        self,
        *,
        query: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        threshold: float | None = None,
        include_expired: bool = False,
        search_mode: SearchMode = DEFAULT_SEARCH_MODE,
    ) -> list[Fact]:
        scope, tree, threshold = fact_search_args(
            query=query,
            user_id=user_id,
            agent_id=agent_id,
            app_id=app_id,
            run_id=run_id,
            limit=limit,
            filters=filters,
            threshold=threshold,
            include_expired=include_expired,
            search_mode=search_mode,
        )
        return await self._search_entries(
            search_mode, query, self._select(scope, tree), limit=limit, threshold=threshold
        )

    async def history(self, *, fact_id: str) -> list[FactEvent]:
        events = self._events.get(require_text(fact_id, field="fact_id"))
        if events is None:
            raise NotFoundError("fact", fact_id)
        return [_copy(event) for event in events]

    async def count(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        include_expired: bool = False,
    ) -> int:
        scope = fact_scope(user_id, agent_id, app_id, run_id)
        tree = fact_filter(filters, include_expired=include_expired)
        return len(self._select(scope, tree))

    # writes

    def _record_event(self, fact: Fact, event: FactEventType, at: datetime, **change: Any) -> None:
        scope = {name: getattr(fact, name) for name in FACT_SCOPE}
        self._events.setdefault(fact.id, []).append(
            FactEvent(id=new_id(), fact_id=fact.id, event=event, created_at=at, **scope, **change)
        )

    def _apply(self, steps: Sequence[FactStep], vectors: Mapping[int, np.ndarray]) -> list[Fact]:
        """Write a planned add (`_shared.plan_fact_batch`) in order; `vectors` by item index."""
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

    async def add(
        self,
        *,
        content: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        fact_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> Fact:
        item, scope = fact_add_args(
            content=content,
            user_id=user_id,
            agent_id=agent_id,
            app_id=app_id,
            run_id=run_id,
            metadata=metadata,
            fact_id=fact_id,
            expires_at=expires_at,
        )
        async with self._lock:
            if fact_id is not None and fact_id in self._facts:
                raise ConflictError(f"fact {fact_id!r} already exists", field="fact_id")
            [step] = plan_fact_batch(
                [item], [scope], self._stored([item], [scope]), utcnow(), single=True
            )
            vectors = {0: await self._embed_one(content)} if step.fact.event == "ADD" else {}
            [fact] = self._apply([step], vectors)
            return fact

    async def add_many(self, *, facts: Sequence[FactInput | Mapping[str, Any]]) -> list[Fact]:
        items = coerce_items(FactInput, facts, field="facts")
        scopes = []
        for i, item in enumerate(items):
            require_text(item.content, field=f"facts[{i}].content")
            optional_text(item.fact_id, field=f"facts[{i}].fact_id")
            scopes.append(
                fact_scope(
                    item.user_id, item.agent_id, item.app_id, item.run_id, where=f"facts[{i}]."
                )
            )
        async with self._lock:
            seen: set[str] = set()
            for i, item in enumerate(items):
                if item.fact_id is None:
                    continue
                if item.fact_id in self._facts or item.fact_id in seen:
                    raise ConflictError(
                        f"fact {item.fact_id!r} already exists", field=f"facts[{i}].fact_id"
                    )
                seen.add(item.fact_id)
            steps = plan_fact_batch(items, scopes, self._stored(items, scopes), utcnow())
            vectors = await self._embed([item.content for item in items])
            return self._apply(steps, dict(enumerate(vectors)))

    async def restore(
        self,
        *,
        facts: Sequence[Fact | Mapping[str, Any]],
        histories: Mapping[str, Sequence[FactEvent]] | None = None,
    ) -> list[bool]:
        planned = restorable_facts(facts, histories)
        vectors = await self._embed([fact.content for fact, _ in planned])
        async with self._lock:
            items = [FactInput(content=fact.content) for fact, _ in planned]
            scopes = [{name: getattr(fact, name) for name in FACT_SCOPE} for fact, _ in planned]
            holders = {key: fact.id for key, fact in self._stored(items, scopes).items()}
            plan = plan_restore([fact for fact, _ in planned], set(self._facts), holders)
            for (fact, events), vector, write in zip(planned, vectors, plan, strict=True):
                if write:
                    self._facts[fact.id] = _Entry(_copy(fact), vector, next(self._seq))
                    self._events[fact.id] = [_copy(event) for event in events]
            return plan

    async def update(
        self,
        *,
        fact_id: str,
        content: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        expires_at: Any = KEEP,
    ) -> Fact:
        clean, expiry = fact_update_args(fact_id, content, metadata, expires_at)
        async with self._lock:
            entry = self._entry(fact_id)
            old: Fact = entry.item
            merged = merged_metadata(old.metadata, clean) or dict(old.metadata)
            if content is not None:
                scope = {name: getattr(old, name) for name in FACT_SCOPE}
                same = self._stored([FactInput(content=content)], [scope])
                other = same.get(fact_key(content, scope))
                if other is not None and other.id != fact_id:
                    raise content_taken(other.id)
                entry.vector = await self._embed_one(content)
            now = utcnow()
            new = updated_fact(old, content=content, metadata=merged, expires_at=expiry, now=now)
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
        require_text(fact_id, field="fact_id")
        async with self._lock:
            self._entry(fact_id)
            self._remove(fact_id, utcnow())

    async def delete_many(self, *, fact_ids: Sequence[str]) -> int:
        ids = id_list(fact_ids, field="fact_ids")
        async with self._lock:
            now = utcnow()
            gone = [fact_id for fact_id in dict.fromkeys(ids) if fact_id in self._facts]
            for fact_id in gone:
                self._remove(fact_id, now)
            return len(gone)

    async def delete_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
    ) -> int:
        scope = fact_scope(user_id, agent_id, app_id, run_id)
        async with self._lock:
            now = utcnow()
            gone = [entry.item.id for entry in self._select(scope)]
            for fact_id in gone:
                self._remove(fact_id, now)
            return len(gone)

    async def purge_expired(self, *, before: datetime) -> int:
        cutoff = expiry_arg(before, field="before")
        async with self._lock:
            now = utcnow()
            gone = [fact_id for fact_id, entry in self._facts.items() if entry.item.expired(cutoff)]
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

    def _session(self, session_id: Any, user_id: Any) -> _Session:
        require_text(session_id, field="session_id")
        optional_text(user_id, field="user_id")
        session = self._sessions.get(session_id)
        if session is None or (user_id is not None and session.owner != user_id):
            raise NotFoundError("session", session_id)
        return session

    async def owner(self, *, session_id: str) -> str | None:
        return self._session(session_id, None).owner

    async def add(
        self,
        *,
        session_id: str,
        messages: Sequence[Message | Mapping[str, Any]],
        user_id: str | None = None,
    ) -> list[Message]:
        require_text(session_id, field="session_id")
        optional_text(user_id, field="user_id")
        now = utcnow()
        stored = []
        for message in message_batch(messages):
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
        self,
        *,
        session_id: str,
        limit: int = 50,
        cursor: str | None = None,
        user_id: str | None = None,
    ) -> Page[Message]:
        check_limit(limit)
        session = self._session(session_id, user_id)
        listing = {"list": "messages", "session_id": session_id, "user_id": user_id}
        start = int_position(decode_cursor(cursor, scope=listing), "offset", first=0)
        end = start + limit
        page = [_copy(message) for message in session.messages[start:end]]
        more = end < len(session.messages)
        return Page(page, encode_cursor({"offset": end}, scope=listing) if more else None)

    async def get_all(
        self, *, user_id: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[str]:
        check_limit(limit)
        optional_text(user_id, field="user_id")
        entries = [
            _Entry(session_id, None, session.seq)
            for session_id, session in self._sessions.items()
            if user_id is None or session.owner == user_id
        ]
        listing = {"list": "sessions", "user_id": user_id}
        picked, next_cursor = _page(entries, limit=limit, cursor=cursor, scope=listing)
        return Page([entry.item for entry in picked], next_cursor)

    async def search(
        self,
        *,
        query: str,
        session_id: str | None = None,
        limit: int = 10,
        user_id: str | None = None,
        search_mode: SearchMode = HISTORY_SEARCH_MODE,
    ) -> list[FoundMessage]:
        history_search_args(query=query, session_id=session_id, limit=limit, mode=search_mode)
        if session_id is not None:
            sessions = {session_id: self._session(session_id, user_id)}
        else:
            optional_text(user_id, field="user_id")
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
        return await self._search_entries(search_mode, query, entries, limit=limit)

    async def delete(self, *, session_id: str, user_id: str | None = None) -> None:
        self._session(session_id, user_id)
        del self._sessions[session_id]

    async def delete_all(self, *, user_id: str | None = None) -> int:
        optional_text(user_id, field="user_id")
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

    def _entry(self, doc_id: Any, user_id: Any, *, shared: bool = False) -> _Entry:
        require_text(doc_id, field="doc_id")
        optional_text(user_id, field="user_id")
        entry = self._docs.get(doc_id)
        if entry is None or not in_read_scope(entry.item.user_id, user_id, shared):
            raise NotFoundError("document", doc_id)
        return entry

    async def get(
        self, *, doc_id: str, user_id: str | None = None, include_shared: bool = False
    ) -> Document:
        shared = include_shared_scope(user_id, include_shared)
        return _copy(self._entry(doc_id, user_id, shared=shared).item)

    async def get_all(
        self,
        *,
        limit: int = 100,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        cursor: str | None = None,
        include_shared: bool = False,
    ) -> Page[Document]:
        check_limit(limit)
        shared = include_shared_scope(user_id, include_shared)
        tree = parse_filters(filters, fields=DOCUMENT_FIELDS, datetime_fields=TIMESTAMP_FIELDS)
        listing = listing_scope("documents", user_id, shared, filters=filters or None)
        entries, next_cursor = _page(
            self._visible(user_id, tree, shared=shared), limit=limit, cursor=cursor, scope=listing
        )
        return Page([_copy(entry.item) for entry in entries], next_cursor)

    async def search(
        self,
        *,
        query: str,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        include_shared: bool = False,
        search_mode: SearchMode = DEFAULT_SEARCH_MODE,
    ) -> list[Document]:
        require_text(query, field="query")
        check_limit(limit)
        check_mode(search_mode)
        shared = include_shared_scope(user_id, include_shared)
        tree = parse_filters(filters, fields=DOCUMENT_FIELDS, datetime_fields=TIMESTAMP_FIELDS)
        visible = self._visible(user_id, tree, shared=shared)
        return await self._search_entries(search_mode, query, visible, limit=limit)

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

    async def add(
        self,
        *,
        content: str,
        doc_id: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        user_id: str | None = None,
    ) -> Document:
        require_text(content, field="content")
        optional_text(doc_id, field="doc_id")
        optional_text(user_id, field="user_id")
        clean = validate_metadata(metadata)
        async with self._lock:
            if doc_id is not None and doc_id in self._docs:
                raise ConflictError(f"document {doc_id!r} already exists", field="doc_id")
            vector = await self._embed_one(content)
            now = utcnow()
            document = Document(
                id=doc_id or new_id(),
                content=content,
                metadata=clean,
                user_id=user_id,
                created_at=now,
                updated_at=now,
            )
            return _copy(self._put(document, vector))

    async def restore(self, *, documents: Sequence[Document | Mapping[str, Any]]) -> list[bool]:
        batch = restorable_documents(documents)
        vectors = await self._embed([document.content for document in batch])
        async with self._lock:
            plan = new_in_batch([document.id for document in batch], set(self._docs))
            for document, vector, write in zip(batch, vectors, plan, strict=True):
                if write:
                    self._put(document, vector)
            return plan

    async def add_many(
        self, *, documents: Sequence[DocumentInput | Mapping[str, Any]]
    ) -> list[Document]:
        return await self._write_many(documents, replace=False)

    async def upsert_many(
        self, *, documents: Sequence[DocumentInput | Mapping[str, Any]]
    ) -> list[Document]:
        return await self._write_many(documents, replace=True)

    async def _write_many(self, documents: Any, *, replace: bool) -> list[Document]:
        items = document_batch(documents)
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
        content: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        user_id: str | None = None,
    ) -> Document:
        clean = update_args(doc_id, content, metadata, id_field="doc_id")
        async with self._lock:
            entry = self._entry(doc_id, user_id)
            old: Document = entry.item
            merged = merged_metadata(old.metadata, clean) or dict(old.metadata)
            if content is not None:
                entry.vector = await self._embed_one(content)
            entry.item = _copy(
                old,
                content=old.content if content is None else content,
                metadata=merged,
                updated_at=utcnow(),
            )
            return _copy(entry.item)

    async def delete(self, *, doc_id: str, user_id: str | None = None) -> None:
        async with self._lock:
            self._entry(doc_id, user_id)
            del self._docs[doc_id]

    async def delete_many(self, *, doc_ids: Sequence[str], user_id: str | None = None) -> int:
        ids = id_list(doc_ids, field="doc_ids")
        optional_text(user_id, field="user_id")
        async with self._lock:
            gone = [
                doc_id
                for doc_id in dict.fromkeys(ids)
                if doc_id in self._docs
                and (user_id is None or self._docs[doc_id].item.user_id == user_id)
            ]
            for doc_id in gone:
                del self._docs[doc_id]
            return len(gone)

    async def delete_all(self, *, user_id: str | None = None) -> int:
        optional_text(user_id, field="user_id")
        async with self._lock:
            gone = [entry.item.id for entry in self._visible(user_id)]
            for doc_id in gone:
                del self._docs[doc_id]
            return len(gone)


# --- graph ------------------------------------------------------------------------------------


class MemoryGraphStore(_MemoryStore):
    """Triples with stable ids; search combines word match and meaning
    (`_shared.graph_match_score`)."""

    def __init__(self, *, embedder: Embedder) -> None:
        super().__init__(embedder=embedder)
        self._triples: dict[str, _Entry] = {}

    def _scoped(self, user_id: str | None, *, shared: bool = False) -> list[_Entry]:
        return [
            entry
            for entry in self._triples.values()
            if in_read_scope(entry.item.user_id, user_id, shared)
        ]

    async def add(
        self, *, triples: Sequence[Triple | Mapping[str, Any]], user_id: str | None = None
    ) -> list[Triple]:
        planned = plan_triples(triples, user_id)
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

    async def restore(self, *, triples: Sequence[Triple | Mapping[str, Any]]) -> list[bool]:
        batch = restorable_triples(triples)
        vectors = await self._embed([triple_text(t.subject, t.predicate, t.object) for t in batch])
        async with self._lock:
            plan = new_in_batch([str(t.id) for t in batch], set(self._triples))
            for triple, vector, write in zip(batch, vectors, plan, strict=True):
                if write:
                    self._triples[str(triple.id)] = _Entry(triple, vector, next(self._seq))
            return plan

    async def get(
        self,
        *,
        entity: str,
        user_id: str | None = None,
        depth: int = 1,
        include_shared: bool = False,
    ) -> GraphResult:
        require_text(entity, field="entity")
        shared = include_shared_scope(user_id, include_shared)
        check_limit(depth, field="depth", maximum=MAX_DEPTH)
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
        self,
        *,
        user_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        include_shared: bool = False,
    ) -> GraphResult:
        check_limit(limit)
        shared = include_shared_scope(user_id, include_shared)
        listing = listing_scope("triples", user_id, shared)
        entries, next_cursor = _page(
            self._scoped(user_id, shared=shared), limit=limit, cursor=cursor, scope=listing
        )
        triples = [_copy(entry.item) for entry in entries]
        return GraphResult(triples=triples, nodes=graph_nodes(triples), next_cursor=next_cursor)

    async def search(
        self,
        *,
        query: str,
        user_id: str | None = None,
        limit: int = 10,
        include_shared: bool = False,
    ) -> GraphResult:
        require_text(query, field="query")
        shared = include_shared_scope(user_id, include_shared)
        check_limit(limit)
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
        self,
        *,
        entity: str | None = None,
        triple_id: str | None = None,
        user_id: str | None = None,
    ) -> int:
        if (entity is None) == (triple_id is None):
            raise InvalidRequestError("give exactly one of entity and triple_id")
        optional_text(user_id, field="user_id")
        async with self._lock:
            if triple_id is not None:
                require_text(triple_id, field="triple_id")
                entry = self._triples.get(triple_id)
                if entry is None or (user_id is not None and entry.item.user_id != user_id):
                    raise NotFoundError("triple", triple_id)
                gone = [triple_id]
            else:
                require_text(entity, field="entity")
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

    async def delete_all(self, *, user_id: str | None = None) -> int:
        optional_text(user_id, field="user_id")
        async with self._lock:
            gone = [entry.item.id for entry in self._scoped(user_id)]
            for tid in gone:
                del self._triples[tid]
            return len(gone)

    async def count(self) -> int:
        return len(self._triples)
