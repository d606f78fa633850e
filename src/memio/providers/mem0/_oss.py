"""mem0 OSS mode: mem0's `AsyncMemory` in process, everything under memio's data directory.

Layout of `<path>` (default `<data_dir>/mem0`):

- `qdrant/`      mem0's vector store: embedded Qdrant (one client per path per process, so stores
                 opened on the same path share it through `_CLIENTS`).
- `history.db`   mem0's history database (ADD/UPDATE/DELETE rows per memory).
- `memio.db`     memio's ledger: which memio fact id names which mem0 memory (mem0 assigns its
                 own uuids; memio callers may choose ids) and the metadata before/after each
                 history row (mem0's history keeps text only).
- `config.json`  written by mem0 on import when `MEM0_DIR` points here.

mem0 is imported lazily, in a worker thread, after `MEM0_TELEMETRY=False` and `MEM0_DIR` are set;
embeddings come from memio's embedder through `MemioEmbedding`, plugged into the `AsyncMemory`
after construction (mem0's config has no "bring your own embedder object").
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import re
import sqlite3
import sys
import threading
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np

from memio.errors import NotSupportedError
from memio.models import FactEventType, MetadataValue, utcnow
from memio.protocols import Embedder
from memio.providers.mem0._backend import (
    EPOCH,
    Backend,
    Event,
    Memory,
    clean_metadata,
    parse_time,
)
from memio.providers.shared import PathLock

__all__ = ["LLMSettings", "OSSBackend"]

logger = logging.getLogger("memio.providers.mem0")

# A placeholder endpoint for the OpenAI clients mem0 builds at construction. Nothing is ever sent
# there: memio replaces the embedder right after construction, and without a configured LLM the
# LLM is replaced by `_NoLLM`, which raises if mem0 ever calls it. Port 9 is "discard".
_UNUSED_URL = "http://127.0.0.1:9/v1"
_UNUSED_KEY = "memio-unused"

# Payload keys mem0 owns (or promotes to top-level fields) and the ones memio uses for scope.
# A caller's metadata key that collides with one of these, or starts with "memio_", is stored as
# "memio_meta_<key>" so mem0 never mistakes it for its own and it reads back exactly.
_MEM0_KEYS = frozenset(
    {
        "id",
        "data",
        "memory",
        "hash",
        "created_at",
        "updated_at",
        "text_lemmatized",
        "user_id",
        "agent_id",
        "run_id",
        "actor_id",
        "role",
        "attributed_to",
        "expiration_date",
        "memory_type",
        "linked_memory_ids",
        "categories",
        "metadata",
        "score",
        "app_id",
    }
)
_META_PREFIX = "memio_meta_"
_INTERNAL_PREFIX = "memio_"
_UNSCOPED = "memio_unscoped"  # payload marker: mem0's run_id is a placeholder, not memio's scope
_ENCODE = re.compile(r"[\s%]")
_HISTORY_EVENTS = {e.value: e for e in FactEventType}


# --- encoding between memio and mem0 payloads -------------------------------------------------


def native_id(value: str) -> str:
    """A memio scope id as a mem0 entity id: mem0 trims and rejects whitespace, so whitespace
    (and "%", to stay reversible) is percent-encoded; ordinary ids pass through unchanged."""

    def encode(match: re.Match[str]) -> str:
        return "".join(f"%{byte:02X}" for byte in match.group().encode())

    return _ENCODE.sub(encode, value)


def memio_id(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return unquote(value) if "%" in value else value


def encode_metadata(metadata: Mapping[str, MetadataValue]) -> dict[str, MetadataValue]:
    return {
        (_META_PREFIX + key if key in _MEM0_KEYS or key.startswith(_INTERNAL_PREFIX) else key): (
            list(value) if isinstance(value, list) else value
        )
        for key, value in metadata.items()
    }


def decode_metadata(payload: Mapping[str, Any]) -> dict[str, MetadataValue]:
    raw: dict[str, Any] = {}
    for key, value in payload.items():
        if key.startswith(_META_PREFIX):
            raw[key[len(_META_PREFIX) :]] = value
        elif not key.startswith(_INTERNAL_PREFIX) and key not in _MEM0_KEYS:
            raw[key] = value
    return clean_metadata(raw)


def decode(mem0_id: Any, payload: Mapping[str, Any] | None) -> Memory:
    payload = payload or {}
    placeholder = payload.get(_UNSCOPED) is True
    app_id = payload.get("app_id")
    return Memory(
        mem0_id=str(mem0_id),
        content=str(payload.get("data") or ""),
        user_id=None if placeholder else memio_id(payload.get("user_id")),
        agent_id=None if placeholder else memio_id(payload.get("agent_id")),
        app_id=app_id if isinstance(app_id, str) and app_id else None,
        run_id=None if placeholder else memio_id(payload.get("run_id")),
        metadata=decode_metadata(payload),
        created_at=parse_time(payload.get("created_at")),
        updated_at=parse_time(payload.get("updated_at")),
        expired=_expired(payload.get("expiration_date")),
    )


def _expired(value: Any) -> bool:
    """mem0's rule: a memory whose expiration_date (YYYY-MM-DD) is before today (UTC)."""
    if not value:
        return False
    try:
        return date.fromisoformat(str(value)) < utcnow().date()
    except ValueError:
        return False


def entity_kwargs(scope: Mapping[str, str | None]) -> tuple[dict[str, str], dict[str, Any]]:
    """mem0 `add` entity arguments and the extra payload keys for a memio scope.

    mem0 needs at least one of user_id/agent_id/run_id; a fact with none of them gets a
    placeholder run_id (per app_id, so LLM extraction never mixes apps) and the `memio_unscoped`
    marker, which makes memio read the scope back as it was given.
    """
    entities = {
        name: native_id(value)
        for name in ("user_id", "agent_id", "run_id")
        if (value := scope.get(name)) is not None
    }
    extra: dict[str, Any] = {}
    app_id = scope.get("app_id")
    if app_id is not None:
        extra["app_id"] = app_id
    if not entities:
        entities["run_id"] = (
            "memio:unscoped" if app_id is None else f"memio:app:{native_id(app_id)}"
        )
        extra[_UNSCOPED] = True
    return entities, extra


def native_filters(scope: Mapping[str, str]) -> dict[str, str]:
    """Equality filters mem0's vector store answers exactly like memio does."""
    out = {name: native_id(value) for name, value in scope.items() if name != "app_id"}
    if "app_id" in scope:
        out["app_id"] = scope["app_id"]
    return out


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# --- process-wide state: the mem0 import and shared embedded Qdrant clients -----------------


_IMPORT_LOCK = threading.Lock()


def load_mem0(mem0_dir: Path) -> None:
    """Import mem0 with telemetry off and its directory under memio's data dir (call in a thread).

    mem0 reads `MEM0_TELEMETRY` and `MEM0_DIR` once, when it is first imported: they are set for
    that import and restored afterwards. An explicit `MEM0_DIR` in the environment is kept;
    telemetry is off either way (memio must not reach the network), also when something imported
    mem0 earlier with it on.
    """
    with _IMPORT_LOCK:
        if "mem0" not in sys.modules:
            saved = {name: os.environ.get(name) for name in ("MEM0_TELEMETRY", "MEM0_DIR")}
            os.environ["MEM0_TELEMETRY"] = "False"
            os.environ.setdefault("MEM0_DIR", str(mem0_dir))
            try:
                import mem0.memory.main  # noqa: F401  (reads both variables, once)
            finally:
                # mem0 only reads them at import: do not leak them into child processes.
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
        import mem0.memory.main as mem0_main
        from mem0.memory import telemetry

        if telemetry.MEM0_TELEMETRY:
            logger.warning("mem0 was imported with telemetry on; memio turns it off")
            telemetry.MEM0_TELEMETRY = False
            mem0_main.MEM0_TELEMETRY = False
        _no_spacy_download()


def _no_spacy_download() -> None:
    """mem0 downloads spaCy's en_core_web_sm on first use when spaCy is installed without it.

    Where the model is missing, mark mem0's loaders as failed (what mem0 concludes itself after a
    failed download, minus the download); where it is present, load it now, in this thread, so
    mem0's first lemmatization does not load it on the event loop.
    """
    from mem0.utils import spacy_models

    model_ready = False
    if importlib.util.find_spec("spacy") is not None:
        import spacy.util

        model_ready = bool(spacy.util.is_package("en_core_web_sm"))
    if model_ready:
        spacy_models.get_nlp_lemma()
    elif hasattr(spacy_models, "_load_failed_lemma"):
        spacy_models._load_failed_lemma = True
        spacy_models._load_failed_full = True


@dataclass
class _SharedClient:
    client: Any
    users: int
    lock: threading.RLock


_CLIENTS: dict[str, _SharedClient] = {}
_CLIENTS_LOCK = threading.Lock()


class _Serialized:
    """mem0's vector store with every call under one lock per Qdrant path.

    Embedded Qdrant keeps its points in Python structures that are not safe to change from
    several threads at once, and mem0 calls its vector store from worker threads.
    """

    def __init__(self, inner: Any, lock: threading.RLock) -> None:
        self._inner = inner
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call


# --- adapters plugged into the AsyncMemory ---------------------------------------------------


def _embedding_class() -> type:
    from mem0.configs.embeddings.base import BaseEmbedderConfig
    from mem0.embeddings.base import EmbeddingBase

    class MemioEmbedding(EmbeddingBase):
        """mem0's embedding interface over memio's embedder.

        mem0 calls `embed` synchronously from worker threads (`asyncio.to_thread`). Vectors memio
        already computed for the current write are served from `prefill`; anything else is
        computed with the embedder's blocking `embed_sync` when it has one, or by running its async
        `embed` on the store's event loop (never from the loop's own thread).
        """

        def __init__(self, embedder: Embedder) -> None:
            super().__init__(
                BaseEmbedderConfig(model=embedder.model, embedding_dims=embedder.dimensions)
            )
            self.embedder = embedder
            self.loop: asyncio.AbstractEventLoop | None = None
            self.prefill: dict[str, list[float]] = {}
            self.computed = 0  # texts embedded on mem0's request (not prefilled)

        def embed(self, text: str, memory_action: str | None = None) -> list[float]:
            vector = self.prefill.get(text)
            if vector is not None:
                return list(vector)
            return self._compute([text])[0]

        def embed_batch(
            self, texts: Sequence[str], memory_action: str = "add"
        ) -> list[list[float]]:
            missing = [text for text in texts if text not in self.prefill]
            computed = dict(zip(missing, self._compute(missing), strict=True)) if missing else {}
            return [list(self.prefill.get(text) or computed[text]) for text in texts]

        def _compute(self, texts: Sequence[str]) -> list[list[float]]:
            self.computed += len(texts)
            sync = getattr(self.embedder, "embed_sync", None)
            if callable(sync):
                vectors = sync(list(texts))
            else:
                try:
                    asyncio.get_running_loop()
                except RuntimeError:
                    pass
                else:
                    raise RuntimeError("mem0 called the embedder on the event loop thread")
                if self.loop is None or self.loop.is_closed():
                    raise RuntimeError("no event loop to run memio's embedder on")
                future = asyncio.run_coroutine_threadsafe(
                    self.embedder.embed(list(texts)), self.loop
                )
                vectors = future.result()
            return [np.asarray(v, dtype=np.float32).tolist() for v in vectors]

    return MemioEmbedding


class _NoLLM:
    """Stands in for mem0's LLM when none is configured: memio then always adds with infer=False,
    so mem0 must never call it; if it did, this fails the call instead of reaching a network."""

    calls = 0

    def generate_response(self, *args: Any, **kwargs: Any) -> str:
        type(self).calls += 1
        raise NotSupportedError(
            "mem0 asked for an LLM but none is configured",
            hint="set stores.facts.config.llm to use mem0's fact extraction",
        )


@dataclass(frozen=True)
class LLMSettings:
    base_url: str
    model: str
    api_key: str | None
    timeout: float


# --- memio's ledger next to mem0's files -----------------------------------------------------


class _Ledger:
    """memio fact id <-> mem0 memory id, and the metadata of each mem0 history row.

    Blocking sqlite3, called from worker threads; one connection guarded by a lock.
    """

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS fact_ids ("
                " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                " fact_id TEXT NOT NULL,"
                " mem0_id TEXT NOT NULL UNIQUE)"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS fact_ids_fact ON fact_ids (fact_id)")
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(fact_ids)")}
            if "scope" not in columns:  # ledgers from before events named their fact's scope
                self._db.execute("ALTER TABLE fact_ids ADD COLUMN scope TEXT")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS event_metadata ("
                " history_id TEXT PRIMARY KEY, old_metadata TEXT, new_metadata TEXT)"
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def bind(self, fact_id: str, mem0_id: str, scope: Mapping[str, str | None]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO fact_ids (fact_id, mem0_id, scope) VALUES (?, ?, ?)",
                (fact_id, mem0_id, json.dumps(dict(scope))),
            )

    def scope(self, mem0_id: str) -> dict[str, str | None] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT scope FROM fact_ids WHERE mem0_id = ?", (mem0_id,)
            ).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def current(self, fact_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT mem0_id FROM fact_ids WHERE fact_id = ? ORDER BY seq DESC LIMIT 1",
                (fact_id,),
            ).fetchone()
        return row[0] if row else None

    def lineage(self, fact_id: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT mem0_id FROM fact_ids WHERE fact_id = ? ORDER BY seq", (fact_id,)
            ).fetchall()
        return [row[0] for row in rows]

    def owners(self, mem0_ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        ids = list(dict.fromkeys(mem0_ids))
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT mem0_id, fact_id FROM fact_ids WHERE mem0_id IN ({marks})", chunk
                ).fetchall()
                out.update(dict(rows))
        return out

    def note(
        self,
        history_ids: Sequence[str],
        old: Mapping[str, MetadataValue] | None,
        new: Mapping[str, MetadataValue] | None,
    ) -> None:
        old_text = None if old is None else json.dumps(dict(old))
        new_text = None if new is None else json.dumps(dict(new))
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO event_metadata VALUES (?, ?, ?)",
                [(history_id, old_text, new_text) for history_id in history_ids],
            )

    def notes(self, history_ids: Sequence[str]) -> dict[str, tuple[Any, Any]]:
        out: dict[str, tuple[Any, Any]] = {}
        ids = list(history_ids)
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    "SELECT history_id, old_metadata, new_metadata FROM event_metadata"
                    f" WHERE history_id IN ({marks})",
                    chunk,
                ).fetchall()
                for history_id, old_text, new_text in rows:
                    out[history_id] = (
                        None if old_text is None else json.loads(old_text),
                        None if new_text is None else json.loads(new_text),
                    )
        return out


# --- the backend ---------------------------------------------------------------------------


class OSSBackend(Backend):
    supports_fact_ids = True

    def __init__(
        self,
        *,
        embedder: Embedder,
        path: Path,
        collection: str,
        llm: LLMSettings | None,
    ) -> None:
        self._embedder = embedder
        self._path = path
        self._collection = collection
        self._llm = llm
        self.path_lock = PathLock(
            path,
            provider="mem0",
            what="mem0 data (embedded Qdrant and history)",
            remedy="several processes need the mem0 platform mode or another facts provider",
        )
        self._memory: Any = None
        self._adapter: Any = None
        self._ledger: _Ledger | None = None
        self._qdrant_key: str | None = None

    # lifecycle

    async def open(self) -> None:
        await asyncio.to_thread(self._open_sync)

    def _open_sync(self) -> None:
        self.path_lock.acquire()
        try:
            self._path.mkdir(parents=True, exist_ok=True)
            load_mem0(self._path)
            self.errors = _backend_errors()
            ledger = _Ledger(self._path / "memio.db")
            try:
                memory, key = self._build()
            except BaseException:
                ledger.close()
                raise
        except BaseException:
            self.path_lock.release()
            raise
        self._memory, self._qdrant_key, self._ledger = memory, key, ledger

    def _build(self) -> tuple[Any, str]:
        from mem0 import AsyncMemory
        from mem0.configs.base import MemoryConfig

        qdrant_path = self._path / "qdrant"
        key = str(qdrant_path.resolve())
        dims = self._embedder.dimensions
        with _CLIENTS_LOCK:
            shared = _CLIENTS.get(key)
            vector_config: dict[str, Any] = {
                "collection_name": self._collection,
                "embedding_model_dims": dims,
                "path": str(qdrant_path),
            }
            if shared is not None:
                vector_config["client"] = shared.client
                # Given a client, mem0 asks it for payload indexes, which embedded Qdrant ignores
                # with a warning; the indexes are not needed (filters scan in embedded mode).
                warnings.filterwarnings(
                    "ignore", message="Payload indexes have no effect", category=UserWarning
                )
            if self._llm is None:
                llm_config = {"api_key": _UNUSED_KEY, "openai_base_url": _UNUSED_URL}
            else:
                llm_config = {
                    "model": self._llm.model,
                    "api_key": self._llm.api_key or _UNUSED_KEY,
                    "openai_base_url": self._llm.base_url,
                }
            config = MemoryConfig(
                vector_store={"provider": "qdrant", "config": vector_config},
                embedder={
                    "provider": "openai",
                    "config": {
                        "api_key": _UNUSED_KEY,
                        "openai_base_url": _UNUSED_URL,
                        "model": self._embedder.model,
                        "embedding_dims": dims,
                    },
                },
                llm={"provider": "openai", "config": llm_config},
                history_db_path=str(self._path / "history.db"),
            )
            memory = AsyncMemory(config)
            if shared is None:
                shared = _CLIENTS[key] = _SharedClient(
                    memory.vector_store.client, 0, threading.RLock()
                )
            shared.users += 1
        try:
            self._plug(memory, shared.lock)
        except BaseException:
            memory.close()
            _release_client(key)
            raise
        return memory, key

    def _plug(self, memory: Any, lock: threading.RLock) -> None:
        self._adapter = _embedding_class()(self._embedder)
        memory.embedding_model = self._adapter
        if self._llm is None:
            memory.llm = _NoLLM()
        else:
            # Pin the endpoint: mem0's OpenAI LLM switches to OpenRouter when OPENROUTER_API_KEY is
            # set, and its default client waits 10 minutes on a stuck server.
            from openai import OpenAI

            memory.llm.client = OpenAI(
                api_key=self._llm.api_key or _UNUSED_KEY,
                base_url=self._llm.base_url,
                timeout=self._llm.timeout,
                max_retries=1,
            )
        store = memory.vector_store
        if hasattr(store, "_bm25_encoder"):
            # memio ranks by cosine only, so mem0's BM25 sparse vectors are never used; loading
            # their encoder (fastembed) would download a model.
            store._bm25_encoder = False
        memory.vector_store = _Serialized(store, lock)

    async def close(self) -> None:
        memory, ledger, key = self._memory, self._ledger, self._qdrant_key
        self._memory = self._ledger = self._qdrant_key = None
        if memory is None:
            await asyncio.to_thread(self.path_lock.release)
            return

        def close_all() -> None:
            try:
                memory.close()
            finally:
                try:
                    if ledger is not None:
                        ledger.close()
                finally:
                    try:
                        if key is not None:
                            _release_client(key)
                    finally:
                        self.path_lock.release()

        await asyncio.to_thread(close_all)

    async def ping(self) -> None:
        await asyncio.to_thread(self._memory.vector_store.col_info)

    async def count(self) -> int:
        info = await asyncio.to_thread(self._memory.vector_store.col_info)
        return int(info.points_count or 0)

    # reads

    async def fetch(self, mem0_id: str) -> Memory | None:
        if not is_uuid(mem0_id):  # mem0 only makes uuids; Qdrant rejects anything else
            return None
        point = await asyncio.to_thread(self._memory.vector_store.get, vector_id=mem0_id)
        return None if point is None else decode(point.id, point.payload)

    async def scan(self, scope: Mapping[str, str]) -> list[Memory]:
        filters = native_filters(scope) or None
        top_k = 1024
        while True:
            listed = await asyncio.to_thread(
                self._memory.vector_store.list, filters=filters, top_k=top_k
            )
            points = listed[0] if isinstance(listed, tuple) else listed
            if len(points) < top_k:
                return [decode(point.id, point.payload) for point in points]
            top_k *= 4

    async def similar(
        self, query: str, vector: np.ndarray, scope: Mapping[str, str], k: int
    ) -> list[tuple[Memory, float]]:
        points = await asyncio.to_thread(
            self._memory.vector_store.search,
            query=query,
            vectors=np.asarray(vector, dtype=np.float32).tolist(),
            top_k=k,
            filters=native_filters(scope) or None,
        )
        # Embedded Qdrant's cosine collections score by cosine similarity (not a distance).
        return [(decode(point.id, point.payload), float(point.score)) for point in points]

    async def events(self, mem0_id: str) -> list[Event]:
        rows = await self._memory.history(mem0_id)
        notes = await asyncio.to_thread(self._ledger.notes, [row["id"] for row in rows])
        scope = await asyncio.to_thread(self._ledger.scope, mem0_id)
        if scope is None and rows:  # written by mem0 itself: the live memory says, if any
            memory = await self.fetch(mem0_id)
            scope = memory.scope() if memory is not None else None
        out = []
        for row in rows:
            kind = _HISTORY_EVENTS.get(str(row.get("event")))
            if kind is None:
                continue
            old_meta, new_meta = notes.get(row["id"], (None, None))
            at = parse_time(row.get("updated_at")) or parse_time(row.get("created_at"))
            out.append(
                Event(
                    id=str(row["id"]),
                    event=kind,
                    old_content=row.get("old_memory"),
                    new_content=row.get("new_memory"),
                    created_at=at or EPOCH,
                    old_metadata=None if old_meta is None else clean_metadata(old_meta),
                    new_metadata=None if new_meta is None else clean_metadata(new_meta),
                    scope=dict(scope or {}),
                )
            )
        return out

    # writes (the store serializes them)

    async def create(
        self,
        *,
        content: str,
        scope: Mapping[str, str | None],
        metadata: Mapping[str, MetadataValue],
        infer: bool,
        vector: np.ndarray | None,
    ) -> list[Memory]:
        entities, extra = entity_kwargs(scope)
        payload = {**encode_metadata(metadata), **extra}
        prefill = {} if vector is None else {content: vector}
        with self._prefilled(prefill):
            result = await self._memory.add(content, **entities, metadata=payload, infer=infer)
        created = []
        for item in result.get("results", []):
            if item.get("event") != "ADD" or not item.get("id"):
                continue
            memory = await self.fetch(str(item["id"]))
            if memory is None:
                continue
            rows = await self._memory.history(memory.mem0_id)
            await asyncio.to_thread(
                self._ledger.note,
                [row["id"] for row in rows if row.get("event") == "ADD"],
                None,
                metadata,
            )
            created.append(memory)
        return created

    async def change(
        self,
        old: Memory,
        *,
        content: str | None,
        metadata: Mapping[str, MetadataValue],
        vector: np.ndarray,
    ) -> None:
        text = old.content if content is None else content
        before = await self._history_ids(old.mem0_id)
        with self._prefilled({text: vector}):
            await self._memory.update(old.mem0_id, text=content, metadata=encode_metadata(metadata))
        await self._note_new(old.mem0_id, before, old.metadata, metadata)

    async def remove(self, old: Memory) -> None:
        before = await self._history_ids(old.mem0_id)
        await self._memory.delete(old.mem0_id)
        await self._note_new(old.mem0_id, before, old.metadata, None)

    async def _history_ids(self, mem0_id: str) -> set[str]:
        return {row["id"] for row in await self._memory.history(mem0_id)}

    async def _note_new(
        self,
        mem0_id: str,
        before: set[str],
        old: Mapping[str, MetadataValue] | None,
        new: Mapping[str, MetadataValue] | None,
    ) -> None:
        rows = await self._memory.history(mem0_id)
        fresh = [row["id"] for row in rows if row["id"] not in before]
        await asyncio.to_thread(self._ledger.note, fresh, old, new)

    def _prefilled(self, vectors: Mapping[str, np.ndarray]) -> _Prefill:
        self._adapter.loop = asyncio.get_running_loop()
        return _Prefill(self._adapter, vectors)

    # fact ids

    async def resolve(self, fact_id: str) -> str | None:
        bound = await asyncio.to_thread(self._ledger.current, fact_id)
        if bound is not None:
            return bound
        if is_uuid(fact_id) and not await asyncio.to_thread(self._ledger.owners, [fact_id]):
            return fact_id  # a memory written to this store by mem0 itself, not through memio
        return None

    async def fact_ids(self, mem0_ids: Sequence[str]) -> dict[str, str]:
        owners = await asyncio.to_thread(self._ledger.owners, mem0_ids)
        return {mem0_id: owners.get(mem0_id, mem0_id) for mem0_id in mem0_ids}

    async def bind(self, fact_id: str, mem0_id: str, scope: Mapping[str, str | None]) -> None:
        await asyncio.to_thread(self._ledger.bind, fact_id, mem0_id, scope)

    async def lineage(self, fact_id: str) -> list[str]:
        ids = await asyncio.to_thread(self._ledger.lineage, fact_id)
        if ids:
            return ids
        resolved = await self.resolve(fact_id)
        return [] if resolved is None else [resolved]

    # introspection for tests and diagnostics

    @property
    def memory(self) -> Any:
        """The underlying mem0 `AsyncMemory` (None until the store opens)."""
        return self._memory

    @property
    def adapter(self) -> Any:
        return self._adapter


class _Prefill:
    """Serve precomputed vectors to mem0's embedding calls for the duration of one write."""

    def __init__(self, adapter: Any, vectors: Mapping[str, np.ndarray]) -> None:
        self._adapter = adapter
        self._vectors = {
            text: np.asarray(vector, dtype=np.float32).tolist() for text, vector in vectors.items()
        }

    def __enter__(self) -> None:
        self._adapter.prefill.update(self._vectors)

    def __exit__(self, *exc: object) -> None:
        for text in self._vectors:
            self._adapter.prefill.pop(text, None)


def _release_client(key: str) -> None:
    with _CLIENTS_LOCK:
        shared = _CLIENTS.get(key)
        if shared is None:
            return
        shared.users -= 1
        if shared.users > 0:
            return
        del _CLIENTS[key]
    with shared.lock:
        shared.client.close()


def _backend_errors() -> tuple[type[BaseException], ...]:
    import mem0.exceptions as mem0_errors
    import openai
    import pydantic

    errors: list[type[BaseException]] = [
        mem0_errors.MemoryError,
        openai.OpenAIError,
        pydantic.ValidationError,
        sqlite3.Error,
        OSError,
        RuntimeError,
        ValueError,
    ]
    try:
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        errors += [UnexpectedResponse, ResponseHandlingException]
    except ImportError:  # pragma: no cover - qdrant-client comes with mem0ai
        pass
    return tuple(errors)
