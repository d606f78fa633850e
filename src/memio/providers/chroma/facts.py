"""ChromaFactStore: facts in a Chroma collection, their history in a second one.

- Facts live in `collection` (default "memio_facts"): id, content as the document, memio's
  embedding, scope ids / timestamps / creation rank / dedup key under reserved metadata keys.
- Every ADD / UPDATE / DELETE is a record of `<collection>_events` (constant 1-dimensional
  embedding, lookup keys `fact_id` and `seq`, the event itself as a JSON payload). The history is
  therefore as durable as the facts and shared by every gateway replica using the same Chroma
  server.
- Each event records the fact's scope ids (so a deleted fact's history says whose it was) and is
  ranked (`seq`) after every earlier event of its fact: the fact row keeps the rank of its latest
  event (`KEY_LAST_EVENT`), so clocks that differ between replicas cannot reorder a history.
- Chroma has no transactions, so the fact row is the commit record: a write appends its events
  first, each naming the event before it (`EVENT_PREV`), then writes or deletes the rows. A
  history is the chain that ends at the row's `KEY_LAST_EVENT` (for a deleted fact: at its last
  DELETE), so a write cut short by a crash leaves only unreachable events, never a fact without
  its ADD or a change without its UPDATE (the crash test's "torn" writes).
- Repeat adds (`shared.plan_fact_batch`): a fact whose `content_key` equals a stored fact's with
  exactly the same scope (all four ids equal, None included) merges the call's metadata into the
  stored fact (UPDATE) or, when that changes nothing, writes nothing (NONE).
- Concurrency: within one process writes are serialised by a lock. Across processes (replicas
  over one Chroma server) with `config.lock_url`, a write holds the Redis locks of the ids and
  dedup keys it decides on (`_locks`), so a fact is stored once and its history stays linear;
  without it a Chroma server must have a single writing process.
- Group commit: every Chroma write commits on its own (an embedded one with several fsyncs) and
  a fact add is two of them (the fact, its event). Run one by one behind the lock, concurrent
  adds queued for seconds under load (bench/notes.md), so concurrent `add` calls are written as
  one planned batch (`memio.coalescing.Coalescer`), each with the outcome it would have had alone.
  Embeddings are computed before a call queues, never under the lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np

from memio.checked import FactQuery, FactScope, FactSearch, fact_scope_of
from memio.coalescing import Coalescer
from memio.errors import ConflictError, MemioError, NotFoundError
from memio.models import (
    Fact,
    FactEntity,
    FactEvent,
    FactEventType,
    FactInput,
    MetadataValue,
    Page,
    utcnow,
)
from memio.providers._coalesce import WRITE_BATCH, together_or_alone
from memio.providers.chroma._base import LOCK_CHUNK, ChromaBackend, build_backend, chunks
from memio.providers.chroma._codec import (
    EVENT_FACT_ID,
    EVENT_PAYLOAD,
    EVENT_PREV,
    EVENT_SEQ,
    KEY_CONTENT,
    KEY_CREATED,
    KEY_EXPIRES,
    KEY_LAST_EVENT,
    KEY_MORTAL,
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
from memio.providers.chroma._keywords import KeywordIndexedStore, exact_scope
from memio.providers.chroma._postings import Scope as IndexScope
from memio.providers.chroma._store import Row
from memio.providers.chroma._where import Fields, all_of
from memio.providers.shared import (
    FACT_SCOPE,
    FactKey,
    FactStep,
    ProviderContext,
    content_key,
    content_taken,
    fact_entities,
    fact_key,
    merged_metadata,
    new_id,
    plan_fact_batch,
    plan_restore,
    updated_fact,
)

__all__ = ["ChromaFactStore"]

Scope = dict[str, str | None]
_EVENT_VECTOR = [1.0]
_CK_CHUNK = 200


class _Stamp(NamedTuple):
    """What an entity count reads of a fact: its scope ids and times (`shared.fact_entities`)."""

    user_id: str | None
    agent_id: str | None
    app_id: str | None
    run_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> _Stamp:
        scope = (raw.get(scope_key(name)) for name in FACT_SCOPE)
        return cls(*scope, from_micros(raw[KEY_CREATED]), from_micros(raw[KEY_UPDATED]))


@dataclass(frozen=True)
class _Add:
    """One `add` waiting for its batch: the fact, its scope and its embedding (1 row)."""

    item: FactInput
    scope: Scope
    vectors: np.ndarray


def _scope_where(scope: Mapping[str, str | None]) -> dict[str, Any] | None:
    return all_of(*({scope_key(name): value} for name, value in scope.items() if value is not None))


_CHANGE_FIELDS = ("old_content", "new_content", "old_metadata", "new_metadata")


def _fact_locks(ids: Any) -> list[str]:
    return [f"fact:{fact_id}" for fact_id in ids if fact_id is not None]


def _same_locks(keys: Any) -> list[str]:
    return [f"same:{key[0]}\x1f" + "\x1f".join(v or "" for v in key[1]) for key in keys]


def _committed(
    records: list[tuple[str, dict[str, Any]]], last_event: Any, *, exists: bool
) -> list[tuple[str, dict[str, Any]]]:
    """The events of one fact that belong to its history, oldest first: the chain through
    `EVENT_PREV` that ends at the row's `last_event` or, for a fact that no longer exists, at its
    latest DELETE; an ADD that opens the chain continues with the life before it (an id can be
    used again once deleted). Events no chain reaches are from writes that never finished.
    Events written before `EVENT_PREV` existed follow their predecessor by rank."""
    ordered = sorted(records, key=lambda record: (int(record[1][EVENT_SEQ]), record[0]))
    ranks = [int(raw[EVENT_SEQ]) for _, raw in ordered]
    by_rank = {rank: record for rank, record in zip(ranks, ordered, strict=True)}

    def latest_delete(before: int) -> int | None:
        deletes = [
            rank
            for rank, (_, raw) in zip(ranks, ordered, strict=True)
            if rank < before and loads_payload(raw[EVENT_PAYLOAD])["event"] == "DELETE"
        ]
        return max(deletes, default=None)

    if exists:
        # No event at the row's rank: a write of the old order (row first) cut short.
        limit = int(last_event) if last_event is not None else 2**63
        start = max((rank for rank in ranks if rank <= limit), default=None)
    else:
        start = latest_delete(2**63)
    chain: list[tuple[str, dict[str, Any]]] = []
    rank = start
    while rank is not None and rank in by_rank:
        record = by_rank[rank]
        chain.append(record)
        raw = record[1]
        if EVENT_PREV not in raw:
            earlier = [r for r in ranks if r < rank]
            rank = max(earlier, default=None)
        elif int(raw[EVENT_PREV]):
            rank = int(raw[EVENT_PREV])
        else:  # an ADD: the life before it, if the id was used and deleted before
            rank = latest_delete(rank)
    chain.reverse()
    return chain


def _metadata(fact: Fact, seq: int, *, lists: bool, last_event: int) -> dict[str, Any]:
    out = encode_metadata(fact.metadata, lists=lists)
    out[KEY_LAST_EVENT] = last_event
    for name in FACT_SCOPE:
        value = getattr(fact, name)
        if value is not None:
            out[scope_key(name)] = value
    assert fact.created_at is not None and fact.updated_at is not None
    out[KEY_CREATED] = to_micros(fact.created_at)
    out[KEY_UPDATED] = to_micros(fact.updated_at)
    if fact.expires_at is not None:
        out[KEY_EXPIRES] = to_micros(fact.expires_at)
        out[KEY_MORTAL] = True
    out[KEY_SEQ] = seq
    out[KEY_CONTENT] = content_key(fact.content)
    return out


class ChromaFactStore(KeywordIndexedStore[Fact]):
    """FactStore over Chroma (embedded PersistentClient or a Chroma server)."""

    fields = Fields(
        text={name: scope_key(name) for name in FACT_SCOPE},
        timestamps={"created_at": KEY_CREATED, "updated_at": KEY_UPDATED},
        optional_timestamps={"expires_at": (KEY_EXPIRES, KEY_MORTAL)},
    )
    index_columns = FACT_SCOPE
    index_expiry = KEY_EXPIRES

    def __init__(self, *, backend: ChromaBackend) -> None:
        super().__init__(backend=backend)
        self._adds: Coalescer[_Add, Fact | MemioError] = Coalescer(
            self._add_batch, max_batch=WRITE_BATCH
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
            expires_at=None if raw.get(KEY_EXPIRES) is None else from_micros(raw[KEY_EXPIRES]),
            **{name: raw.get(scope_key(name)) for name in FACT_SCOPE},
        )

    async def count(self, *, query: FactQuery) -> int:
        where = _scope_where(query.scope)
        if query.where is not None:
            return await self._count_in_scope("count", scope_where=where, tree=query.tree())
        # Chroma counts only whole collections: else the scope's ids, minus its expired facts
        # awaiting the sweep (few), without reading any record.
        if where is None:
            total = await super().count()
        else:
            total = len(await self._get_rows("count", where=where, include=[]))
        if query.include_expired or not total:
            return total
        expired = all_of(where, {KEY_EXPIRES: {"$lte": to_micros(utcnow())}})
        return total - len(await self._get_rows("count", where=expired, include=[]))

    async def entities(self, *, query: FactQuery) -> list[FactEntity]:
        """Chroma cannot group: the scope's metadata (no texts, no vectors) is read and counted
        here."""
        now = to_micros(utcnow())
        rows = await self._get_rows(
            "entities", where=_scope_where(query.scope), include=["metadatas"]
        )
        return fact_entities(
            _Stamp.of(row.raw)
            for row in rows
            if query.include_expired
            or row.raw.get(KEY_EXPIRES) is None
            or row.raw[KEY_EXPIRES] > now
        )

    async def get(self, *, fact_id: str, include_expired: bool) -> Fact:
        row = await self._one("get", fact_id)
        fact = None if row is None else self._decode(row)
        if fact is None or (not include_expired and fact.expired(utcnow())):
            raise NotFoundError("fact", fact_id)
        return fact

    async def get_all(self, *, query: FactQuery, limit: int, cursor: str | None) -> Page[Fact]:
        return await self._list(
            "get_all",
            scope_where=_scope_where(query.scope),
            tree=query.tree(),
            listing=query.listing(),
            limit=limit,
            cursor=cursor,
        )

    async def search(self, *, request: FactSearch) -> list[Fact]:
        query, scope = request.text, request.query.scope
        own_tree, tree = request.query.where, request.query.tree()
        where, in_scope = _scope_where(scope), exact_scope(scope)
        # The word index knows no expiry: its candidates come with the caller's filter only, and
        # the scope's expired facts (few, found by the expiry key) are taken out; so is the
        # vector ranking's when it reads ids alone.
        expired: set[str] = set()
        light = self._light(request.mode, own_tree)
        if not request.query.include_expired and (light or request.mode != "semantic"):
            expired = await self._expired_ids("search", where, in_scope)
        return await self._ranked_search(
            request.mode,
            query=query,
            limit=request.limit,
            scope=in_scope,
            scope_where=where,
            own_tree=own_tree,
            tree=tree,
            threshold=request.threshold,
            leave_out=expired,
        )

    async def _expired_ids(
        self, operation: str, where: dict[str, Any] | None, scope: IndexScope
    ) -> set[str]:
        """Ids of the facts of the scope (`where` in Chroma, `scope` in the word index) that have
        expired by now: from the word index's memory when it can tell (Chroma's read of them
        took 1.8 ms of a 2.7 ms search within one user of 100 at 10,000 facts), else Chroma."""
        now = to_micros(utcnow())
        found = await self._expired_in_memory(operation, scope, now)
        if found is not None:
            return set(found)
        expired = {KEY_EXPIRES: {"$lte": now}}
        rows = await self._get_rows(operation, where=all_of(where, expired), include=[])
        return {row.id for row in rows}

    async def history(self, *, fact_id: str) -> list[FactEvent]:
        # The row first: events a write appends after this read are not reachable from it.
        row = await self._one("history", fact_id)
        result = await self._backend.run(
            "history",
            lambda h: h.events.get(where={EVENT_FACT_ID: fact_id}, include=["metadatas"]),
        )
        records = _committed(
            list(zip(result["ids"], result["metadatas"], strict=True)),
            None if row is None else row.raw.get(KEY_LAST_EVENT),
            exists=row is not None,
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
                    **{name: payload.get(name) for name in FACT_SCOPE},
                    old_content=payload.get("old_content"),
                    new_content=payload.get("new_content"),
                    old_metadata=payload.get("old_metadata"),
                    new_metadata=payload.get("new_metadata"),
                    created_at=from_micros(payload["created_at"]),
                    reason=payload.get("reason"),
                )
            )
        return events

    # --- helpers -------------------------------------------------------------------------------

    async def _duplicates(self, operation: str, keys: Sequence[FactKey]) -> dict[FactKey, Row]:
        """The stored rows of these dedup keys, the oldest where several share one."""
        wanted = set(keys)
        found: dict[FactKey, Row] = {}
        rows: list[Row] = []
        unique = list(dict.fromkeys(key[0] for key in keys))
        for part in chunks(unique, _CK_CHUNK):
            where = {KEY_CONTENT: part[0]} if len(part) == 1 else {KEY_CONTENT: {"$in": list(part)}}
            rows.extend(await self._get_rows(operation, where=where))
        rows.sort(key=lambda row: (row.seq, row.id))
        for row in rows:
            fact = self._decode(row)
            found.setdefault(fact_key(fact.content, fact_scope_of(fact)), row)
        return {key: row for key, row in found.items() if key in wanted}

    async def _check_content_free(self, operation: str, fact: Fact, content: str) -> None:
        """Refuse to change `fact` onto content another fact of its scope holds; across
        replicas the content's dedup key is locked as a repeat add locks it (not when the key
        stays the fact's own: an add repeating this fact may hold it while it waits for the
        fact's lock)."""
        if content_key(content) == content_key(fact.content):
            return
        key = fact_key(content, fact_scope_of(fact))
        async with self._backend.locks.hold(operation, _same_locks([key])):
            other = (await self._duplicates(operation, [key])).get(key)
        if other is not None and other.id != fact.id:
            raise content_taken(other.id)

    @staticmethod
    def _event(fact: Fact, kind: FactEventType, at: datetime, **change: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {"event": kind.value, "created_at": to_micros(at)}
        payload.update({name: value for name, value in fact_scope_of(fact).items() if value})
        payload.update({key: value for key, value in change.items() if value is not None})
        return payload

    @staticmethod
    def _ranks(fact_ids: Sequence[str], latest: Mapping[str, int]) -> list[int]:
        """Ranks of new events of `fact_ids` (in order): fresh from the clock, and always after
        the fact's `latest` event (whatever another replica's clock said then)."""
        first = sequence.take(len(fact_ids))
        last = dict(latest)
        out = []
        for i, fact_id in enumerate(fact_ids):
            rank = max(first + i, last.get(fact_id, 0) + 1)
            last[fact_id] = rank
            out.append(rank)
        return out

    async def _record_events(
        self,
        operation: str,
        events: Sequence[tuple[str, dict[str, Any], int, int]],
        ids: Sequence[str] | None = None,
    ) -> None:
        """Append events: (fact_id, payload, rank, rank of the event before it) quadruples,
        with fresh ids unless `ids` (restored events) are given."""
        if not events:
            return
        ids = list(ids) if ids is not None else [new_id() for _ in events]
        metadatas = [
            {
                EVENT_FACT_ID: fact_id,
                EVENT_SEQ: rank,
                EVENT_PREV: prev,
                EVENT_PAYLOAD: dumps_payload(payload),
            }
            for fact_id, payload, rank, prev in events
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

    async def _write_steps(
        self,
        operation: str,
        steps: Sequence[FactStep],
        vectors: np.ndarray,
        rows: Mapping[str, Row],
    ) -> list[Fact]:
        """Write a planned add: new facts (in their final state, row `vectors[step.index]`),
        merged stored facts (`rows` by id), then every event in order."""
        events: list[tuple[Fact, dict[str, Any]]] = []
        final: dict[str, Fact] = {}
        first: dict[str, FactStep] = {}
        for step in steps:
            fact = step.fact
            if fact.event == "NONE":
                continue
            assert fact.updated_at is not None
            final[fact.id] = fact
            first.setdefault(fact.id, step)
            if fact.event == "ADD":
                change = {"new_content": fact.content, "new_metadata": dict(fact.metadata)}
                kind = FactEventType.ADD
            else:
                assert step.before is not None
                change = {
                    "old_content": fact.content,
                    "new_content": fact.content,
                    "old_metadata": dict(step.before.metadata),
                    "new_metadata": dict(fact.metadata),
                }
                kind = FactEventType.UPDATE
            events.append((fact, self._event(fact, kind, fact.updated_at, **change)))
        if not events:
            return [step.fact for step in steps]
        latest = {fact_id: int(row.raw.get(KEY_LAST_EVENT, 0)) for fact_id, row in rows.items()}
        ranks = self._ranks([fact.id for fact, _ in events], latest)
        chained = []
        for (fact, payload), rank in zip(events, ranks, strict=True):
            prev = 0 if fact.event == "ADD" and fact.id not in latest else latest.get(fact.id, 0)
            chained.append((fact.id, payload, rank, prev))
            latest[fact.id] = rank
        await self._record_events(operation, chained)  # before the rows: see the docstring
        last_event = {fact.id: rank for (fact, _), rank in zip(events, ranks, strict=True)}
        lists = (await self._backend.features(operation)).native_lists
        added = [fact_id for fact_id, step in first.items() if step.fact.event == "ADD"]
        merged = [fact_id for fact_id, step in first.items() if step.fact.event == "UPDATE"]
        if added:
            seq = sequence.take(len(added))
            await self._add_rows(
                operation,
                added,
                vectors[[first[fact_id].index for fact_id in added]],
                [final[fact_id].content for fact_id in added],
                [
                    _metadata(final[fact_id], seq + n, lists=lists, last_event=last_event[fact_id])
                    for n, fact_id in enumerate(added)
                ],
            )
        if merged:
            await self._update_rows(
                operation,
                merged,
                None,
                [final[fact_id].content for fact_id in merged],
                [
                    with_removals(
                        _metadata(
                            final[fact_id],
                            rows[fact_id].seq,
                            lists=lists,
                            last_event=last_event[fact_id],
                        ),
                        rows[fact_id].raw,
                    )
                    for fact_id in merged
                ],
            )
        return [step.fact for step in steps]

    async def _remove(
        self, operation: str, rows: Sequence[Row], *, reason: str | None = None
    ) -> int:
        if not rows:
            return 0
        now = utcnow()
        facts = [self._decode(row) for row in rows]
        latest = {row.id: int(row.raw.get(KEY_LAST_EVENT, 0)) for row in rows}
        ranks = self._ranks([fact.id for fact in facts], latest)
        await self._record_events(
            operation,
            [
                (
                    fact.id,
                    self._event(
                        fact,
                        FactEventType.DELETE,
                        now,
                        old_content=fact.content,
                        old_metadata=dict(fact.metadata),
                        reason=reason,
                    ),
                    rank,
                    latest[fact.id],
                )
                for fact, rank in zip(facts, ranks, strict=True)
            ],
        )
        await self._delete_rows(operation, [row.id for row in rows])
        return len(rows)

    async def _add_planned(
        self,
        operation: str,
        items: Sequence[FactInput],
        scopes: Sequence[Mapping[str, str | None]],
        vectors: np.ndarray,
        *,
        single: bool,
    ) -> list[Fact]:
        """Dedup, plan and write an add; the caller holds the process lock and has embedded every
        item (`vectors`, before taking the lock: an embedding needs no lock, and computing it
        under one made concurrent writers queue behind each other's model runs). With write locks
        across processes, the dedup keys and explicit ids are locked, then the stored facts the
        batch repeats (which an update may be changing), and the repeats are read again."""
        keys = [fact_key(item.content, scope) for item, scope in zip(items, scopes, strict=True)]
        explicit = [item.fact_id for item in items if item.fact_id is not None]
        locks = self._backend.locks
        async with locks.hold(operation, _same_locks(keys) + _fact_locks(explicit)):
            stored_ids = await self._existing_ids(operation, explicit)
            seen: set[str] = set()
            for i, item in enumerate(items):
                if item.fact_id is None:
                    continue
                if item.fact_id in stored_ids or item.fact_id in seen:
                    field = "fact_id" if single else f"facts[{i}].fact_id"
                    raise ConflictError(f"fact {item.fact_id!r} already exists", field=field)
                seen.add(item.fact_id)
            known = await self._duplicates(operation, keys)
            repeated = [row.id for row in known.values()]
            async with locks.hold(operation, _fact_locks(repeated)):
                if locks.enabled and repeated:
                    known = await self._duplicates(operation, keys)
                steps = plan_fact_batch(
                    items,
                    scopes,
                    {key: self._decode(row) for key, row in known.items()},
                    utcnow(),
                    single=single,
                )
                rows = {row.id: row for row in known.values()}
                return await self._write_steps(operation, steps, vectors, rows)

    # --- writes --------------------------------------------------------------------------------

    async def add(self, *, fact: FactInput) -> Fact:
        check_reserved(fact.metadata)
        vectors = await self._backend.embed([fact.content])
        return await self._adds(_Add(fact, fact_scope_of(fact), vectors))

    async def _add_batch(self, requests: list[_Add]) -> list[Fact | MemioError]:
        """Concurrent single adds written together (group commit, see the module docstring),
        each with the outcome it would have had alone, in arrival order."""

        async def together(batch: list[_Add]) -> list[Fact]:
            return await self._add_planned(
                "add",
                [request.item for request in batch],
                [request.scope for request in batch],
                np.vstack([request.vectors for request in batch]),
                single=False,
            )

        async def alone(request: _Add) -> Fact:
            [fact] = await self._add_planned(
                "add", [request.item], [request.scope], request.vectors, single=True
            )
            return fact

        async with self._lock:
            return await together_or_alone(requests, together, alone)

    async def add_many(self, *, facts: list[FactInput]) -> list[Fact]:
        for i, item in enumerate(facts):
            check_reserved(item.metadata, field=f"facts[{i}].metadata")
        scopes = [fact_scope_of(item) for item in facts]
        vectors = await self._backend.embed([item.content for item in facts])
        async with self._lock:
            return await self._add_planned("add_many", facts, scopes, vectors, single=False)

    async def restore(self, *, facts: list[tuple[Fact, list[FactEvent]]]) -> list[bool]:
        for i, (fact, _) in enumerate(facts):
            check_reserved(fact.metadata, field=f"facts[{i}].metadata")
        keys = [fact_key(fact.content, fact_scope_of(fact)) for fact, _ in facts]
        ids = [fact.id for fact, _ in facts]
        vectors = await self._backend.embed([fact.content for fact, _ in facts])
        locks = self._backend.locks
        async with self._lock, locks.hold("restore", _same_locks(keys) + _fact_locks(ids)):
            stored = await self._existing_ids("restore", ids)
            known = await self._duplicates("restore", keys)
            plan = plan_restore(
                [fact for fact, _ in facts], stored, {k: row.id for k, row in known.items()}
            )
            chosen = [i for i, write in enumerate(plan) if write]
            if chosen:
                await self._write_restored([facts[i] for i in chosen], vectors[chosen])
            return plan

    async def _write_restored(
        self, planned: Sequence[tuple[Fact, Sequence[FactEvent]]], vectors: np.ndarray
    ) -> None:
        """Each fact's events (chained in order, their ids kept), then the rows."""
        ranks = iter(self._ranks([fact.id for fact, events in planned for _ in events], {}))
        chained: list[tuple[str, dict[str, Any], int, int]] = []
        last: dict[str, int] = {}
        for fact, events in planned:
            prev = 0
            for event in events:
                payload: dict[str, Any] = {
                    "event": event.event.value,
                    "created_at": to_micros(event.created_at),
                    **event.model_dump(include={*FACT_SCOPE, *_CHANGE_FIELDS}, exclude_none=True),
                }
                rank = next(ranks)
                chained.append((fact.id, payload, rank, prev))
                prev = rank
            last[fact.id] = prev
        event_ids = [event.id for _, events in planned for event in events]
        await self._record_events("restore", chained, event_ids)
        lists = (await self._backend.features("restore")).native_lists
        first = sequence.take(len(planned))
        await self._add_rows(
            "restore",
            [fact.id for fact, _ in planned],
            vectors,
            [fact.content for fact, _ in planned],
            [
                _metadata(fact, first + n, lists=lists, last_event=last[fact.id])
                for n, (fact, _) in enumerate(planned)
            ],
        )

    async def update(
        self,
        *,
        fact_id: str,
        content: str | None,
        metadata: Mapping[str, MetadataValue],
        expires_at: Any,
    ) -> Fact:
        check_reserved(metadata)
        vectors = await self._backend.embed([content]) if content is not None else None
        async with self._lock, self._backend.locks.hold("update", _fact_locks([fact_id])):
            row = await self._one("update", fact_id)
            if row is None:
                raise NotFoundError("fact", fact_id)
            old = self._decode(row)
            if content is not None:
                await self._check_content_free("update", old, content)
            merged = merged_metadata(old.metadata, metadata) or old.metadata
            lists = (await self._backend.features("update")).native_lists
            now = utcnow()
            new = updated_fact(
                old, content=content, metadata=merged, expires_at=expires_at, now=now
            )
            prev = int(row.raw.get(KEY_LAST_EVENT, 0))
            [rank] = self._ranks([fact_id], {fact_id: prev})
            await self._record_events(
                "update",
                [
                    (
                        fact_id,
                        self._event(
                            new,
                            FactEventType.UPDATE,
                            now,
                            old_content=old.content,
                            new_content=new.content,
                            old_metadata=dict(old.metadata),
                            new_metadata=dict(new.metadata),
                        ),
                        rank,
                        prev,
                    )
                ],
            )
            await self._update_rows(
                "update",
                [fact_id],
                vectors,
                [new.content],
                [with_removals(_metadata(new, row.seq, lists=lists, last_event=rank), row.raw)],
            )
            return new

    async def delete(self, *, fact_id: str) -> None:
        async with self._lock, self._backend.locks.hold("delete", _fact_locks([fact_id])):
            row = await self._one("delete", fact_id)
            if row is None:
                raise NotFoundError("fact", fact_id)
            await self._remove("delete", [row])

    async def delete_many(self, *, fact_ids: list[str]) -> int:
        async with self._lock:
            return await self._remove_ids("delete_many", fact_ids)

    async def delete_all(self, *, scope: FactScope) -> int:
        async with self._lock:
            rows = await self._get_rows("delete_all", where=_scope_where(scope), include=[])
            rows.sort(key=lambda row: (row.seq, row.id))
            return await self._remove_ids("delete_all", [row.id for row in rows])

    async def purge_expired(self, *, before: datetime) -> int:
        where = {KEY_EXPIRES: {"$lte": to_micros(before)}}
        async with self._lock:
            rows = await self._get_rows("purge_expired", where=where, include=[])
            rows.sort(key=lambda row: (row.seq, row.id))
            return await self._remove_ids(
                "purge_expired", [row.id for row in rows], expired_by=before
            )

    async def _remove_ids(
        self, operation: str, ids: Sequence[str], *, expired_by: datetime | None = None
    ) -> int:
        """Delete the facts of `ids` that exist, in order, a locked chunk at a time; with
        `expired_by`, only those (read again under the lock) whose expiry is at or before it."""
        gone = 0
        for part in chunks(list(ids), LOCK_CHUNK):
            async with self._backend.locks.hold(operation, _fact_locks(part)):
                found = {row.id: row for row in await self._get_rows(operation, ids=part)}
                rows = [found[i] for i in part if i in found]
                if expired_by is not None:
                    rows = [row for row in rows if self._decode(row).expired(expired_by)]
                reason = None if expired_by is None else "expired"
                gone += await self._remove(operation, rows, reason=reason)
        return gone
