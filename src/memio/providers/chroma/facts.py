"""ChromaFactStore: facts in a Chroma collection, their history in a second one.

- Facts live in `collection` (default "memio_facts"): id, content as the document, memio's
  embedding, scope ids / timestamps / creation rank / dedup key under reserved metadata keys.
- Every ADD / UPDATE / DELETE is a record of `<collection>_events` (constant 1-dimensional
  embedding, lookup keys `fact_id` and `seq`, the event itself as a JSON payload). The history is
  therefore as durable as the facts and shared by every gateway replica using the same Chroma
  server. The fact is written before its event.
- Dedup: a fact whose `content_key` equals a stored fact's with exactly the same scope (all four
  ids equal, None included) returns the stored fact and writes nothing. Within one process writes
  are serialised by a lock; replicas writing the same fact at the same instant may both store it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from memio.errors import ConflictError, NotFoundError
from memio.filters import parse_filters
from memio.models import (
    Fact,
    FactEvent,
    FactEventType,
    FactInput,
    MetadataValue,
    Page,
    utcnow,
    validate_metadata,
)
from memio.pagination import check_limit
from memio.providers._shared import (
    FACT_FIELDS,
    FACT_SCOPE,
    TIMESTAMP_FIELDS,
    ProviderContext,
    coerce_items,
    content_key,
    fact_scope,
    fact_search_args,
    id_list,
    new_id,
    optional_text,
    require_text,
    update_args,
)
from memio.providers.chroma._base import build_backend, chunks
from memio.providers.chroma._codec import (
    EVENT_FACT_ID,
    EVENT_PAYLOAD,
    EVENT_SEQ,
    KEY_CONTENT,
    KEY_CREATED,
    KEY_SEQ,
    KEY_UPDATED,
    check_reserved,
    decode_metadata,
    dumps_payload,
    encode_metadata,
    from_micros,
    loads_payload,
    scope_key,
    sequence,
    to_micros,
    with_removals,
)
from memio.providers.chroma._store import ChromaStore, Row
from memio.providers.chroma._where import Fields, all_of

__all__ = ["ChromaFactStore"]

Scope = dict[str, str | None]
_EVENT_VECTOR = [1.0]
_CK_CHUNK = 200


def _scope_where(scope: Mapping[str, str | None]) -> dict[str, Any] | None:
    return all_of(*({scope_key(name): value} for name, value in scope.items() if value is not None))


def _scope_of(fact: Fact) -> tuple[str | None, ...]:
    return tuple(getattr(fact, name) for name in FACT_SCOPE)


def _metadata(fact: Fact, seq: int, *, lists: bool) -> dict[str, Any]:
    out = encode_metadata(fact.metadata, lists=lists)
    for name in FACT_SCOPE:
        value = getattr(fact, name)
        if value is not None:
            out[scope_key(name)] = value
    assert fact.created_at is not None and fact.updated_at is not None
    out[KEY_CREATED] = to_micros(fact.created_at)
    out[KEY_UPDATED] = to_micros(fact.updated_at)
    out[KEY_SEQ] = seq
    out[KEY_CONTENT] = content_key(fact.content)
    return out


class ChromaFactStore(ChromaStore[Fact]):
    """FactStore over Chroma (embedded PersistentClient or a Chroma server)."""

    fields = Fields(
        text={name: scope_key(name) for name in FACT_SCOPE},
        timestamps={"created_at": KEY_CREATED, "updated_at": KEY_UPDATED},
    )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: ProviderContext) -> ChromaFactStore:
        return cls(
            backend=build_backend(
                config, context, store="facts", default_collection="memio_facts", events=True
            )
        )

    def _decode(self, row: Row) -> Fact:
        raw = row.raw
        return Fact(
            id=row.id,
            content=row.content,
            metadata=decode_metadata(raw),
            created_at=from_micros(raw[KEY_CREATED]),
            updated_at=from_micros(raw[KEY_UPDATED]),
            **{name: raw.get(scope_key(name)) for name in FACT_SCOPE},
        )

    # --- reads ---------------------------------------------------------------------------------

    async def get(self, *, fact_id: str) -> Fact:
        require_text(fact_id, field="fact_id")
        row = await self._one("get", fact_id)
        if row is None:
            raise NotFoundError("fact", fact_id)
        return self._decode(row)

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
    ) -> Page[Fact]:
        check_limit(limit)
        scope = fact_scope(user_id, agent_id, app_id, run_id)
        tree = parse_filters(filters, fields=FACT_FIELDS, datetime_fields=TIMESTAMP_FIELDS)
        listing = {"list": "facts", **scope, "filters": filters or None}
        return await self._list(
            "get_all",
            scope_where=_scope_where(scope),
            tree=tree,
            listing=listing,
            limit=limit,
            cursor=cursor,
        )

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
        )
        return await self._search(
            "search",
            query=query,
            scope_where=_scope_where(scope),
            tree=tree,
            limit=limit,
            threshold=threshold,
        )

    async def history(self, *, fact_id: str) -> list[FactEvent]:
        require_text(fact_id, field="fact_id")
        result = await self._backend.run(
            "history",
            lambda h: h.events.get(where={EVENT_FACT_ID: fact_id}, include=["metadatas"]),
        )
        records = sorted(
            zip(result["ids"], result["metadatas"], strict=True),
            key=lambda pair: (int(pair[1][EVENT_SEQ]), pair[0]),
        )
        if not records:
            raise NotFoundError("fact", fact_id)
        events = []
        for event_id, raw in records:
            payload = loads_payload(raw[EVENT_PAYLOAD])
            events.append(
                FactEvent(
                    id=event_id,
                    fact_id=fact_id,
                    event=FactEventType(payload["event"]),
                    old_content=payload.get("old_content"),
                    new_content=payload.get("new_content"),
                    old_metadata=payload.get("old_metadata"),
                    new_metadata=payload.get("new_metadata"),
                    created_at=from_micros(payload["created_at"]),
                )
            )
        return events

    # --- helpers -------------------------------------------------------------------------------

    async def _duplicates(
        self, operation: str, keys: Sequence[str]
    ) -> dict[tuple[str, tuple[str | None, ...]], Fact]:
        """Stored facts by (content_key, scope), the oldest where several share both."""
        found: dict[tuple[str, tuple[str | None, ...]], Fact] = {}
        rows: list[Row] = []
        unique = list(dict.fromkeys(keys))
        for part in chunks(unique, _CK_CHUNK):
            where = {KEY_CONTENT: part[0]} if len(part) == 1 else {KEY_CONTENT: {"$in": list(part)}}
            rows.extend(await self._get_rows(operation, where=where))
        rows.sort(key=lambda row: (row.seq, row.id))
        for row in rows:
            fact = self._decode(row)
            found.setdefault((row.raw[KEY_CONTENT], _scope_of(fact)), fact)
        return found

    async def _record_events(
        self, operation: str, events: Sequence[tuple[str, dict[str, Any]]]
    ) -> None:
        """Append events: (fact_id, payload) pairs, in order."""
        if not events:
            return
        first = sequence.take(len(events))
        ids = [new_id() for _ in events]
        metadatas = [
            {EVENT_FACT_ID: fact_id, EVENT_SEQ: first + i, EVENT_PAYLOAD: dumps_payload(payload)}
            for i, (fact_id, payload) in enumerate(events)
        ]
        handles = await self._backend.handles(operation)
        size = handles.write_chunk
        for start in range(0, len(ids), size):
            end = start + size
            await self._backend.run(
                operation,
                lambda h, s=start, e=end: h.events.add(
                    ids=ids[s:e],
                    embeddings=[_EVENT_VECTOR] * len(ids[s:e]),
                    metadatas=metadatas[s:e],
                ),
            )

    @staticmethod
    def _event(kind: FactEventType, at: datetime, **change: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {"event": kind.value, "created_at": to_micros(at)}
        payload.update({key: value for key, value in change.items() if value is not None})
        return payload

    async def _insert(self, operation: str, facts: Sequence[Fact], vectors: np.ndarray) -> None:
        lists = (await self._backend.features(operation)).native_lists
        first = sequence.take(len(facts))
        await self._add_rows(
            operation,
            [fact.id for fact in facts],
            vectors,
            [fact.content for fact in facts],
            [_metadata(fact, first + i, lists=lists) for i, fact in enumerate(facts)],
        )
        await self._record_events(
            operation,
            [
                (
                    fact.id,
                    self._event(
                        FactEventType.ADD,
                        fact.created_at or utcnow(),
                        new_content=fact.content,
                        new_metadata=dict(fact.metadata),
                    ),
                )
                for fact in facts
            ],
        )

    async def _remove(self, operation: str, rows: Sequence[Row]) -> int:
        if not rows:
            return 0
        now = utcnow()
        await self._delete_rows(operation, [row.id for row in rows])
        events = []
        for row in rows:
            fact = self._decode(row)
            events.append(
                (
                    fact.id,
                    self._event(
                        FactEventType.DELETE,
                        now,
                        old_content=fact.content,
                        old_metadata=dict(fact.metadata),
                    ),
                )
            )
        await self._record_events(operation, events)
        return len(rows)

    # --- writes --------------------------------------------------------------------------------

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
    ) -> Fact:
        require_text(content, field="content")
        scope = fact_scope(user_id, agent_id, app_id, run_id)
        clean = validate_metadata(metadata)
        check_reserved(clean)
        optional_text(fact_id, field="fact_id")
        async with self._lock:
            if fact_id is not None and await self._existing_ids("add", [fact_id]):
                raise ConflictError(f"fact {fact_id!r} already exists", field="fact_id")
            key = content_key(content)
            existing = (await self._duplicates("add", [key])).get((key, tuple(scope.values())))
            if existing is not None:
                return existing
            vectors = await self._backend.embed([content])
            now = utcnow()
            fact = Fact(
                id=fact_id or new_id(),
                content=content,
                metadata=clean,
                created_at=now,
                updated_at=now,
                **scope,
            )
            await self._insert("add", [fact], vectors)
            return fact.model_copy(deep=True)

    async def add_many(self, *, facts: Sequence[FactInput | Mapping[str, Any]]) -> list[Fact]:
        items = coerce_items(FactInput, facts, field="facts")
        scopes: list[Scope] = []
        for i, item in enumerate(items):
            require_text(item.content, field=f"facts[{i}].content")
            optional_text(item.fact_id, field=f"facts[{i}].fact_id")
            scopes.append(
                fact_scope(
                    item.user_id, item.agent_id, item.app_id, item.run_id, where=f"facts[{i}]."
                )
            )
            check_reserved(item.metadata, field=f"facts[{i}].metadata")
        async with self._lock:
            explicit = [item.fact_id for item in items if item.fact_id is not None]
            stored_ids = await self._existing_ids("add_many", explicit)
            seen: set[str] = set()
            for i, item in enumerate(items):
                if item.fact_id is None:
                    continue
                if item.fact_id in stored_ids or item.fact_id in seen:
                    raise ConflictError(
                        f"fact {item.fact_id!r} already exists", field=f"facts[{i}].fact_id"
                    )
                seen.add(item.fact_id)
            vectors = await self._backend.embed([item.content for item in items])
            now = utcnow()
            keys = [content_key(item.content) for item in items]
            known = await self._duplicates("add_many", keys)
            out: list[Fact] = []
            fresh: list[Fact] = []
            fresh_rows: list[int] = []
            for i, (item, scope, key) in enumerate(zip(items, scopes, keys, strict=True)):
                found = known.get((key, tuple(scope.values())))
                if found is None:
                    found = Fact(
                        id=item.fact_id or new_id(),
                        content=item.content,
                        metadata=dict(item.metadata),
                        created_at=now,
                        updated_at=now,
                        **scope,
                    )
                    known[(key, tuple(scope.values()))] = found
                    fresh.append(found)
                    fresh_rows.append(i)
                out.append(found)
            if fresh:
                await self._insert("add_many", fresh, vectors[fresh_rows])
            return [fact.model_copy(deep=True) for fact in out]

    async def update(
        self,
        *,
        fact_id: str,
        content: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
    ) -> Fact:
        clean = update_args(fact_id, content, metadata, id_field="fact_id")
        check_reserved(clean)
        async with self._lock:
            row = await self._one("update", fact_id)
            if row is None:
                raise NotFoundError("fact", fact_id)
            old = self._decode(row)
            lists = (await self._backend.features("update")).native_lists
            vectors = await self._backend.embed([content]) if content is not None else None
            now = utcnow()
            new = old.model_copy(
                update={
                    "content": old.content if content is None else content,
                    "metadata": {**old.metadata, **clean},
                    "updated_at": now,
                },
                deep=True,
            )
            await self._update_rows(
                "update",
                [fact_id],
                vectors,
                [new.content],
                [with_removals(_metadata(new, row.seq, lists=lists), row.raw)],
            )
            await self._record_events(
                "update",
                [
                    (
                        fact_id,
                        self._event(
                            FactEventType.UPDATE,
                            now,
                            old_content=old.content,
                            new_content=new.content,
                            old_metadata=dict(old.metadata),
                            new_metadata=dict(new.metadata),
                        ),
                    )
                ],
            )
            return new

    async def delete(self, *, fact_id: str) -> None:
        require_text(fact_id, field="fact_id")
        async with self._lock:
            row = await self._one("delete", fact_id)
            if row is None:
                raise NotFoundError("fact", fact_id)
            await self._remove("delete", [row])

    async def delete_many(self, *, fact_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(id_list(fact_ids, field="fact_ids")))
        async with self._lock:
            if not ids:
                return 0
            found = {row.id: row for row in await self._get_rows("delete_many", ids=ids)}
            return await self._remove("delete_many", [found[i] for i in ids if i in found])

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
            rows = await self._get_rows("delete_all", where=_scope_where(scope))
            rows.sort(key=lambda row: (row.seq, row.id))
            return await self._remove("delete_all", rows)
