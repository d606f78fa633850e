"""Facts over mem0: its open-source `AsyncMemory` in process (`mode: oss`, the default) or the
mem0 platform / any server speaking its REST dialect (`mode: platform`).

mem0 is imported lazily (after `MEM0_TELEMETRY=False` and `MEM0_DIR` are set), so `import memio`
works without it and a missing install is a NotSupportedError with the pip hint.

memio's fact semantics are enforced here, over whatever mem0 answers: exact-scope dedup (mem0's
own hash dedup only runs during LLM extraction), caller-chosen ids (OSS: memio keeps the mapping),
metadata merged on update, portable filters evaluated by `memio.filters`, creation-order keyset
pages, scores that are the cosine similarity of memio's embeddings, and an event log read from
mem0's history. With an LLM configured (OSS) or `infer: true` (platform), mem0 extracts facts from
the content: every extracted fact is stored and `add` returns the first one; when the LLM finds
nothing new, the content is stored as given. See docs/providers/mem0.md.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from memio import ranking
from memio.checked import FactQuery, FactScope, FactSearch, fact_scope_of
from memio.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    NotSupportedError,
    ProviderError,
)
from memio.filters import FilterNode, matches
from memio.models import (
    Fact,
    FactEntity,
    FactEvent,
    FactInput,
    MetadataValue,
    Page,
    cosine_score,
    utcnow,
)
from memio.pagination import decode_cursor, encode_cursor
from memio.protocols import Embedder
from memio.providers.base import Provider
from memio.providers.mem0._backend import EPOCH, Backend, Memory, parse_time
from memio.providers.mem0._oss import LLMSettings, OSSBackend
from memio.providers.mem0._platform import PlatformBackend
from memio.providers.shared import (
    FACT_SCOPE,
    FactKey,
    FactStep,
    OpenOnce,
    ProviderContext,
    content_key,
    content_taken,
    fact_entities,
    fact_key,
    merged_metadata,
    parse_config,
    plan_fact_batch,
    provider_errors,
    updated_fact,
)

__all__ = ["LLMConfig", "Mem0Config", "Mem0FactStore"]

PROVIDER = "mem0"
DEFAULT_COLLECTION = "memio_facts"
EXPIRY_KEY = "memio_expires_at"  # the metadata key under which mem0 keeps a fact's expiry
# Errors that can happen while opening, before the backend knows mem0's exception types.
_OPEN_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    RuntimeError,
    ValueError,
    sqlite3.Error,
    asyncio.TimeoutError,
)
_OSS_ONLY = ("path", "collection", "llm")
_PLATFORM_ONLY = ("api_key", "host", "timeout")


class LLMConfig(BaseModel):
    """An OpenAI-compatible chat endpoint for mem0's fact extraction."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(min_length=1)
    model: str = Field(min_length=1)
    api_key: str | None = None
    timeout: float = Field(60.0, gt=0)


class Mem0Config(BaseModel):
    """`stores.facts.config` for `provider: mem0`."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["oss", "platform"] = "oss"
    # oss
    path: str | None = None  # default: <data_dir>/mem0
    collection: str = Field(DEFAULT_COLLECTION, min_length=1)
    llm: LLMConfig | None = None
    # both: let mem0 extract facts (oss: default on when llm is set; platform: default off)
    infer: bool | None = None
    # platform
    api_key: str | None = None
    host: str | None = None
    timeout: float = Field(30.0, gt=0)


class Mem0FactStore(Provider):
    """A memio FactStore backed by mem0."""

    provider = PROVIDER

    def __init__(
        self,
        *,
        embedder: Embedder,
        mode: Literal["oss", "platform"] = "oss",
        path: str | Path = "./memio-data/mem0",
        collection: str = DEFAULT_COLLECTION,
        llm: LLMSettings | None = None,
        infer: bool | None = None,
        api_key: str | None = None,
        host: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._embedder = embedder
        self.mode = mode
        if mode == "oss":
            if infer and llm is None:
                raise InvalidRequestError("mem0 extracts facts with an LLM: set llm", field="infer")
            self.infer = llm is not None if infer is None else infer
            self._backend: Backend = OSSBackend(
                embedder=embedder, path=Path(path), collection=collection, llm=llm
            )
        else:
            if not api_key:
                raise InvalidRequestError("the mem0 platform needs an API key", field="api_key")
            self.infer = bool(infer)
            self._backend = PlatformBackend(
                embedder=embedder, api_key=api_key, host=host, timeout=timeout, path=Path(path)
            )
        self._opened = OpenOnce(self._backend.open)
        self._lock = asyncio.Lock()
        self.path_lock = self._backend.path_lock  # OSS: one process per mem0 directory

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: ProviderContext) -> Mem0FactStore:
        cfg = parse_config(Mem0Config, config)
        given = set(config)
        wrong = _OSS_ONLY if cfg.mode == "platform" else _PLATFORM_ONLY
        for name in wrong:
            if name in given:
                raise InvalidRequestError(
                    f"not used with mode {cfg.mode!r}", field=f"config.{name}"
                )
        if cfg.mode == "oss" and cfg.infer and cfg.llm is None:
            raise InvalidRequestError(
                "mem0 extracts facts with an LLM: set config.llm", field="config.infer"
            )
        if cfg.mode == "platform" and not cfg.api_key:
            raise InvalidRequestError("the mem0 platform needs an API key", field="config.api_key")
        if importlib.util.find_spec("mem0") is None:
            raise NotSupportedError(
                "the mem0 provider needs the mem0ai package", hint="pip install 'memio[mem0]'"
            )
        llm = None
        if cfg.llm is not None:
            llm = LLMSettings(
                base_url=cfg.llm.base_url,
                model=cfg.llm.model,
                api_key=cfg.llm.api_key,
                timeout=cfg.llm.timeout,
            )
        return cls(
            embedder=context.embedder,
            mode=cfg.mode,
            path=Path(cfg.path) if cfg.path else Path(context.data_dir) / "mem0",
            collection=cfg.collection,
            llm=llm,
            infer=cfg.infer,
            api_key=cfg.api_key,
            host=cfg.host,
            timeout=cfg.timeout,
        )

    # --- plumbing ------------------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        """The mode's backend (the OSS one exposes mem0's `AsyncMemory` as `.memory`)."""
        return self._backend

    async def _open(self, operation: str) -> None:
        with provider_errors(PROVIDER, operation, backend_errors=_OPEN_ERRORS):
            await self._opened()

    def _errors(self, operation: str) -> Any:
        return provider_errors(
            PROVIDER, operation, backend_errors=self._backend.errors or _OPEN_ERRORS
        )

    async def _embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(await self._embedder.embed(list(texts)), dtype=np.float32)

    async def _facts(self, memories: Sequence[Memory]) -> list[Fact]:
        ids = await self._backend.fact_ids([m.mem0_id for m in memories])
        return [_fact(memory, ids[memory.mem0_id]) for memory in memories]

    async def _load(self, fact_id: str) -> Memory | None:
        mem0_id = await self._backend.resolve(fact_id)
        return None if mem0_id is None else await self._backend.fetch(mem0_id)

    async def _require(self, fact_id: str) -> Memory:
        memory = await self._load(fact_id)
        if memory is None:
            raise NotFoundError("fact", fact_id)
        return memory

    async def _select(
        self, scope: Mapping[str, str | None], tree: FilterNode | None = None
    ) -> list[Fact]:
        """Facts in `scope` (None: any) matching `tree`, in creation order."""
        memories = await self._backend.scan(_given(scope))
        facts = await self._facts([m for m in memories if _visible(m, scope)])
        kept = [fact for fact in facts if matches(tree, _record(fact))]
        kept.sort(key=_order)
        return kept

    # --- reads ---------------------------------------------------------------------------

    async def get(self, *, fact_id: str, include_expired: bool) -> Fact:
        await self._open("get")
        with self._errors("get"):
            fact = _fact(await self._require(fact_id), fact_id)
        if not include_expired and fact.expired(utcnow()):
            raise NotFoundError("fact", fact_id)
        return fact

    async def get_all(self, *, query: FactQuery, limit: int, cursor: str | None) -> Page[Fact]:
        listing = query.listing()
        after = _after(decode_cursor(cursor, scope=listing))
        await self._open("get_all")
        with self._errors("get_all"):
            facts = await self._select(query.scope, query.tree())
        if after is not None:
            facts = [fact for fact in facts if _order(fact) > after]
        if len(facts) > limit:
            last = facts[limit - 1]
            position = {"after": [_iso(last.created_at), last.id]}
            return Page(facts[:limit], encode_cursor(position, scope=listing))
        return Page(facts, None)

    async def search(self, *, request: FactSearch) -> list[Fact]:
        scope, tree = request.query.scope, request.query.tree()
        await self._open("search")

        async def semantic(n: int) -> list[Fact]:
            with self._errors("search"):
                return await self._similar(request.text, scope, tree, n)

        async def keyword(words: list[str]) -> tuple[list[Fact], int]:
            # mem0 has no word index memio could rank with: the scope, read once, is the candidates
            with self._errors("search"):
                facts = await self._select(scope, tree)
            return facts, len(facts)

        return await ranking.search(
            request.mode,
            query=request.text,
            limit=request.limit,
            semantic=semantic,
            keyword=keyword,
            threshold=request.threshold,
        )

    async def _similar(
        self, query: str, scope: Mapping[str, str | None], tree: FilterNode | None, limit: int
    ) -> list[Fact]:
        """The `limit` facts most similar to `query` in scope and passing the filter."""
        vector = (await self._embed([query]))[0]
        given = _given(scope)
        # Over-fetch when memio filters what the backend cannot, so `limit` still holds.
        k = limit if tree is None else max(limit * 4, 50)
        while True:
            hits = await self._backend.similar(query, vector, given, k)
            in_scope = [(m, cosine_score(sim)) for m, sim in hits if _visible(m, scope)]
            facts = await self._facts([m for m, _ in in_scope])
            kept = [
                fact.model_copy(update={"score": score})
                for fact, (_, score) in zip(facts, in_scope, strict=True)
                if matches(tree, _record(fact))
            ]
            if len(kept) >= limit or len(hits) < k:
                break
            k *= 4
        kept.sort(key=lambda fact: (-(fact.score or 0.0), *_order(fact)))
        return kept[:limit]

    async def history(self, *, fact_id: str) -> list[FactEvent]:
        await self._open("history")
        with self._errors("history"):
            rows = []
            for mem0_id in await self._backend.lineage(fact_id):
                rows.extend(await self._backend.events(mem0_id))
        if not rows:
            raise NotFoundError("fact", fact_id)
        rows.sort(key=lambda row: row.created_at)  # stable: mem0's order breaks ties
        return [
            FactEvent(
                id=row.id,
                fact_id=fact_id,
                event=row.event,
                **{name: row.scope.get(name) for name in FACT_SCOPE},
                old_content=row.old_content,
                new_content=row.new_content,
                old_metadata=_without_expiry(row.old_metadata),
                new_metadata=_without_expiry(row.new_metadata),
                created_at=row.created_at,
            )
            for row in rows
        ]

    async def restore(self, *, facts: list[tuple[Fact, list[FactEvent]]]) -> list[bool]:
        """mem0 stamps every memory and history row itself (and the platform offers no way to
        write either): a fact cannot be written with the times and events another store kept.
        `memio import` then adds the fact as new, says so, and counts it apart."""
        raise NotSupportedError(
            "mem0 sets the timestamps and history of every memory itself; memio cannot write "
            "a fact's stored times and events into it",
            hint="add the fact (keeping its id) and accept new timestamps and a new history",
        )

    async def count(self, *, query: FactQuery) -> int:
        scope, tree = query.scope, query.tree()
        await self._open("count")
        with self._errors("count"):
            if tree is None and not any(scope.values()):
                return await self._backend.count()
            # mem0 cannot filter on memio's keys (expiry, filters): read the scope and look.
            return len(await self._select(scope, tree))

    async def entities(self, *, query: FactQuery) -> list[FactEntity]:
        await self._open("entities")
        with self._errors("entities"):
            return fact_entities(await self._select(query.scope, query.tree()))

    async def ping(self) -> None:
        await self._open("ping")
        with self._errors("ping"):
            await self._backend.ping()

    async def aclose(self) -> None:
        """Release mem0 (its history database, the Qdrant client, the platform's HTTP client).
        Idempotent; a later call opens the store again."""
        async with self._lock:
            self._opened.reset()
            with provider_errors(PROVIDER, "aclose", backend_errors=_OPEN_ERRORS):
                await self._backend.close()

    # --- writes --------------------------------------------------------------------------

    def _check_writable(
        self, ids: Sequence[str | None], scopes: Sequence[Mapping[str, str | None]]
    ) -> None:
        """What the platform cannot store, refused before anything is sent."""
        if not self._backend.supports_fact_ids and any(i is not None for i in ids):
            raise NotSupportedError(
                "the mem0 platform assigns fact ids itself", hint="omit fact_id"
            )
        if self._backend.needs_entity and not all(_given(scope) for scope in scopes):
            raise NotSupportedError(
                "the mem0 platform keeps a fact only under a user_id, agent_id, app_id or run_id",
                hint="pass at least one of them",
            )

    async def _live(self, fact_id: str) -> bool:
        return await self._load(fact_id) is not None

    async def _store(
        self,
        content: str,
        scope: Mapping[str, str | None],
        metadata: Mapping[str, MetadataValue],
        fact_id: str | None,
        vector: np.ndarray | None,
        expires_at: datetime | None,
    ) -> Fact:
        """Write one fact through mem0 (after the id and dedup checks) and bind its id."""
        metadata = _with_expiry(metadata, expires_at)
        created: list[Memory] = []
        if self.infer:
            created = await self._backend.create(
                content=content, scope=scope, metadata=metadata, infer=True, vector=None
            )
        if not created:  # no LLM, or it found nothing new: store the content as given
            if vector is None:
                vector = (await self._embed([content]))[0]
            created = await self._backend.create(
                content=content, scope=scope, metadata=metadata, infer=False, vector=vector
            )
        if not created:
            raise ProviderError("mem0 stored nothing", provider=PROVIDER, operation="add")
        first = created[0]
        ids = [fact_id or first.mem0_id] + [m.mem0_id for m in created[1:]]
        for new_id, memory in zip(ids, created, strict=True):
            await self._backend.bind(new_id, memory.mem0_id, memory.scope())
        return _fact(first, ids[0])

    async def _run_steps(
        self,
        steps: Sequence[FactStep],
        items: Sequence[FactInput],
        scopes: Sequence[Mapping[str, str | None]],
        vectors: Sequence[np.ndarray | None],
    ) -> list[Fact]:
        """Carry out a planned add (`shared.plan_fact_batch`) through mem0, in order. The plan's
        ids of new facts become the ids mem0 (or the caller) gives them."""
        real: dict[str, Fact] = {}  # planned id of a fact added here -> as stored
        out = []
        for step in steps:
            planned = step.fact
            if planned.event == "ADD":
                item = items[step.index]
                fact = await self._store(
                    item.content,
                    scopes[step.index],
                    planned.metadata,
                    item.fact_id,
                    vectors[step.index],
                    planned.expires_at,
                )
                real[planned.id] = fact
            elif planned.event == "UPDATE":
                target = real.get(planned.id, planned)
                memory = await self._require(target.id)
                vector = (await self._embed([memory.content]))[0]  # mem0 re-embeds on update
                await self._backend.change(
                    memory,
                    content=None,
                    metadata=_with_expiry(
                        planned.metadata,
                        planned.expires_at,
                        had=step.before is not None and step.before.expires_at is not None,
                    ),
                    vector=vector,
                )
                changed = await self._backend.fetch(memory.mem0_id)
                if changed is None:
                    raise NotFoundError("fact", target.id)
                fact = real[planned.id] = _fact(changed, target.id)
            else:
                fact = real.get(planned.id, planned)
            out.append(fact.model_copy(update={"event": planned.event}, deep=True))
        return out

    async def add(self, *, fact: FactInput) -> Fact:
        scope = fact_scope_of(fact)
        _check_own_keys(fact.metadata, "metadata")
        self._check_writable([fact.fact_id], [scope])
        await self._open("add")
        with self._errors("add"):
            async with self._lock:
                if fact.fact_id is not None and await self._live(fact.fact_id):
                    raise ConflictError(f"fact {fact.fact_id!r} already exists", field="fact_id")
                existing = _duplicate(await self._select(scope), fact.content, scope)
                stored = {} if existing is None else {fact_key(fact.content, scope): existing}
                steps = plan_fact_batch([fact], [scope], stored, utcnow(), single=True)
                [added] = await self._run_steps(steps, [fact], [scope], [None])
                return added

    async def add_many(self, *, facts: list[FactInput]) -> list[Fact]:
        for i, item in enumerate(facts):
            _check_own_keys(item.metadata, f"facts[{i}].metadata")
        scopes = [fact_scope_of(item) for item in facts]
        self._check_writable([item.fact_id for item in facts], scopes)
        await self._open("add_many")
        with self._errors("add_many"):
            async with self._lock:
                seen: set[str] = set()
                for i, item in enumerate(facts):
                    if item.fact_id is None:
                        continue
                    if item.fact_id in seen or await self._live(item.fact_id):
                        raise ConflictError(
                            f"fact {item.fact_id!r} already exists", field=f"facts[{i}].fact_id"
                        )
                    seen.add(item.fact_id)
                in_scope: dict[tuple[str | None, ...], list[Fact]] = {}
                stored: dict[FactKey, Fact] = {}
                for item, scope in zip(facts, scopes, strict=True):
                    where = tuple(scope.values())
                    if where not in in_scope:
                        in_scope[where] = await self._select(scope)
                    fact = _duplicate(in_scope[where], item.content, scope)
                    if fact is not None:
                        stored.setdefault(fact_key(item.content, scope), fact)
                steps = plan_fact_batch(facts, scopes, stored, utcnow())
                vectors: Sequence[np.ndarray | None] = [None] * len(facts)
                if not self.infer:  # one embedding call for the whole batch
                    vectors = list(await self._embed([item.content for item in facts]))
                return await self._run_steps(steps, facts, scopes, vectors)

    async def update(
        self,
        *,
        fact_id: str,
        content: str | None,
        metadata: Mapping[str, MetadataValue],
        expires_at: Any,
    ) -> Fact:
        _check_own_keys(metadata, "metadata")
        await self._open("update")
        with self._errors("update"):
            async with self._lock:
                old = await self._require(fact_id)
                if content is not None:
                    scope = fact_scope_of(old)
                    other = _duplicate(await self._select(scope), content, scope)
                    if other is not None and other.id != fact_id:
                        raise content_taken(other.id)
                before = _fact(old, fact_id)
                new = updated_fact(
                    before,
                    content=content,
                    metadata=merged_metadata(before.metadata, metadata) or before.metadata,
                    expires_at=expires_at,
                    now=utcnow(),
                )
                vector = (await self._embed([new.content]))[0]  # mem0 re-embeds on every update
                await self._backend.change(
                    old,
                    content=content,
                    metadata=_with_expiry(
                        new.metadata, new.expires_at, had=before.expires_at is not None
                    ),
                    vector=vector,
                )
                new = await self._backend.fetch(old.mem0_id)
                if new is None:
                    raise NotFoundError("fact", fact_id)
                return _fact(new, fact_id)

    async def delete(self, *, fact_id: str) -> None:
        await self._open("delete")
        with self._errors("delete"):
            async with self._lock:
                await self._backend.remove(await self._require(fact_id))

    async def delete_many(self, *, fact_ids: list[str]) -> int:
        await self._open("delete_many")
        with self._errors("delete_many"):
            async with self._lock:
                gone = 0
                for fact_id in fact_ids:
                    memory = await self._load(fact_id)
                    if memory is not None:
                        await self._backend.remove(memory)
                        gone += 1
                return gone

    async def delete_all(self, *, scope: FactScope) -> int:
        await self._open("delete_all")
        with self._errors("delete_all"):
            async with self._lock:
                memories = [
                    m for m in await self._backend.scan(_given(scope)) if _in_scope(m, scope)
                ]
                for memory in memories:
                    await self._backend.remove(memory)
                return len(memories)

    async def purge_expired(self, *, before: datetime) -> int:
        await self._open("purge_expired")
        with self._errors("purge_expired"):
            async with self._lock:
                memories = await self._backend.scan({})
                ids = await self._backend.fact_ids([m.mem0_id for m in memories])
                gone = [m for m in memories if _fact(m, ids[m.mem0_id]).expired(before)]
                for memory in gone:
                    await self._backend.remove(memory)
                return len(gone)


# --- helpers ----------------------------------------------------------------------------------


def _given(scope: Mapping[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in scope.items() if value is not None}


def _in_scope(memory: Memory, scope: Mapping[str, str | None]) -> bool:
    return all(value is None or getattr(memory, name) == value for name, value in scope.items())


def _visible(memory: Memory, scope: Mapping[str, str | None]) -> bool:
    return not memory.expired and _in_scope(memory, scope)


def _fact(memory: Memory, fact_id: str) -> Fact:
    metadata = dict(memory.metadata)
    expiry = metadata.pop(EXPIRY_KEY, None)
    return Fact(
        id=fact_id,
        content=memory.content,
        user_id=memory.user_id,
        agent_id=memory.agent_id,
        app_id=memory.app_id,
        run_id=memory.run_id,
        metadata=metadata,
        created_at=memory.created_at,
        updated_at=memory.updated_at,
        expires_at=parse_time(expiry) if isinstance(expiry, str) and expiry else None,
    )


def _with_expiry(
    metadata: Mapping[str, MetadataValue], expires_at: datetime | None, *, had: bool = False
) -> dict[str, MetadataValue]:
    """What memio hands mem0 as metadata: the caller's, plus the exact expiry (mem0's own
    `expiration_date` is a day, and the platform's is not returned by every route). An expiry
    cleared (`had` one) is written as "": mem0 merges metadata on update, so a key never goes."""
    out = dict(metadata)
    if expires_at is not None:
        out[EXPIRY_KEY] = expires_at.isoformat()
    elif had:
        out[EXPIRY_KEY] = ""
    return out


def _without_expiry(
    metadata: Mapping[str, MetadataValue] | None,
) -> dict[str, MetadataValue] | None:
    if metadata is None:
        return None
    return {key: value for key, value in metadata.items() if key != EXPIRY_KEY}


def _check_own_keys(metadata: Mapping[str, MetadataValue], field: str) -> None:
    if EXPIRY_KEY in metadata:
        raise InvalidRequestError(
            "is where memio keeps the expiry in mem0; use expires_at",
            field=f"{field}.{EXPIRY_KEY}",
        )


def _record(fact: Fact) -> dict[str, Any]:
    return fact.model_dump(exclude={"score"})


def _order(fact: Fact) -> tuple[datetime, str]:
    return (fact.created_at or EPOCH, fact.id)


def _iso(value: datetime | None) -> str:
    return (value or EPOCH).isoformat()


def _after(position: Mapping[str, Any] | None) -> tuple[datetime, str] | None:
    if position is None:
        return None
    after = position.get("after")
    if (
        isinstance(after, list)
        and len(after) == 2
        and all(isinstance(part, str) for part in after)
        and (at := parse_time(after[0])) is not None
    ):
        return (at, after[1])
    raise InvalidRequestError("not a cursor this server issued", field="cursor")


def _duplicate(facts: Sequence[Fact], content: str, scope: Mapping[str, str | None]) -> Fact | None:
    """The earliest fact with equal content in exactly `scope` (every scope field equal)."""
    key = content_key(content)
    for fact in facts:
        if content_key(fact.content) == key and all(
            getattr(fact, name) == value for name, value in scope.items()
        ):
            return fact
    return None
