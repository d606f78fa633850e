"""What the chroma fact and document stores share: config, the client/collection handle, errors.

Chroma's Python client is synchronous, so every call runs in a worker thread
(`asyncio.to_thread`). The client and collections open lazily on first use through `OpenOnce`;
any backend failure drops them, so the next call reconnects (a restarted Chroma server is picked up
by the same store object).

Embeddings always come from memio's embedder and are passed explicitly. Collections are opened with
``embedding_function=None``: Chroma then never embeds anything itself (it raises if asked to) and
never constructs its DefaultEmbeddingFunction (which would download an ONNX model); the persisted
embedding-function config is Chroma's "legacy" marker, which every client, embedded or remote,
opens without complaint. The embedder's model and dimensions are recorded in the collection
metadata instead; a mismatch on open is an EmbedderMismatchError that says how to re-embed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import string
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from memio.errors import (
    REEMBED_HINT,
    EmbedderMismatchError,
    InvalidRequestError,
    MemioError,
    ProviderError,
)
from memio.providers.chroma._locks import WriteLocks, check_redis_installed, namespace_of
from memio.providers.shared import (
    OpenOnce,
    PathLock,
    ProviderContext,
    parse_config,
    provider_errors,
)

# Chroma shares one System per embedded path between the clients of a process, but creating or
# releasing it is not thread-safe: two stores opening the same path at once (facts and documents
# under one data directory) would see a half-started System. Serialise both.
_EMBEDDED_LOCK = threading.Lock()

PROVIDER = "chroma"
FORMAT = 1  # version of the record layout described in _codec (a store may be further on)

META_STORE = "memio:store"
META_FORMAT = "memio:format"
META_MODEL = "memio:embedder_model"
META_DIMS = "memio:embedder_dimensions"

EVENTS_SUFFIX = "_events"
EMBED_BATCH = 1000  # one embedder call per write batch: MiniLM sorts the whole call by length
MAX_WRITE_CHUNK = 1000
LOCK_CHUNK = 500  # items a bulk delete locks (config.lock_url) and removes at a time

# The SDK calls wrapped with these are nothing but Chroma client calls, so anything they raise is a
# backend failure. Chroma raises its ChromaError subclasses, httpx transport errors, ValueError for
# "could not connect", and a bare Exception for non-JSON HTTP error responses (e.g. from a proxy),
# so no narrower tuple covers what it raises.
BACKEND_ERRORS: tuple[type[BaseException], ...] = (Exception,)

_REDIS_SCHEMES = ("redis", "rediss", "unix")
_COLLECTION_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$")
_TOKEN_CHARS = set(string.digits + string.ascii_letters + string.punctuation)
T = TypeVar("T")


class ChromaConfig(BaseModel):
    """`stores.facts.config` / `stores.documents.config` of the chroma provider.

    Embedded (a persistent local directory) unless `url` or `host` is set, then a Chroma server.
    """

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    url: str | None = None
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    ssl: bool | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    token: SecretStr | None = None
    token_header: Literal["Authorization", "X-Chroma-Token"] = "Authorization"
    tenant: str = "default_tenant"
    database: str = "default_database"
    collection: str | None = None
    filter_pushdown: bool = True
    # Embedded only: the word index's term counts held in memory (exact, fast keyword ranking;
    # about 450 bytes a record of 34 words). False: FTS5 hands over 500 candidates a search.
    keyword_counts: bool = True
    # Embedded only: each record's vector held in memory too, so a search by meaning within a
    # scope of at most 20,000 records compares the query with each of them (exact, and far
    # faster than Chroma's query with a `where`; 1.5 KB a record of 384 dimensions).
    vectors_in_memory: bool = True
    # Chroma server only: write locks shared by every gateway process writing the collection
    # (see _locks). Without one, a Chroma server has one writing gateway.
    lock_url: str | None = None
    lock_ttl: float = Field(default=30.0, gt=0, le=3600)
    lock_timeout: float = Field(default=10.0, gt=0, le=600)

    @field_validator("lock_url")
    @classmethod
    def _lock_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in _REDIS_SCHEMES:
            raise ValueError("must be a Redis URL: redis://host:port/db, rediss:// or unix://")
        return value

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str | None) -> str | None:
        if value is not None and (
            not _COLLECTION_NAME.match(value) or len(value) + len(EVENTS_SUFFIX) > 512
        ):
            raise ValueError(
                "must be 3-500 characters from [a-zA-Z0-9._-], starting and ending with a letter "
                "or digit"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValueError("has an invalid port") from None
        return value

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        secret = None if value is None else value.get_secret_value()
        if secret is not None and (not secret or not set(secret) <= _TOKEN_CHARS):
            raise ValueError("must be non-empty ASCII letters, digits and punctuation")
        return value

    @field_validator("path", "host", "tenant", "database")
    @classmethod
    def _non_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @property
    def server_mode(self) -> bool:
        return self.url is not None or self.host is not None


def load_config(config: Mapping[str, Any]) -> ChromaConfig:
    """Validate a config; mutually exclusive keys are errors naming the key."""
    cfg = parse_config(ChromaConfig, config)
    if cfg.url is not None and cfg.host is not None:
        raise InvalidRequestError("give either url or host, not both", field="config.host")
    if cfg.url is not None:
        for key in ("port", "ssl"):
            if getattr(cfg, key) is not None:
                raise InvalidRequestError(
                    "not with url (put the scheme and port in the url)", field=f"config.{key}"
                )
    if cfg.server_mode:
        if cfg.path is not None:
            raise InvalidRequestError(
                "path is for the embedded mode; url/host select a Chroma server",
                field="config.path",
            )
    else:
        for key in ("port", "ssl", "token"):
            if getattr(cfg, key) is not None:
                raise InvalidRequestError(
                    "only for a Chroma server (set url or host)", field=f"config.{key}"
                )
        if cfg.headers:
            raise InvalidRequestError(
                "only for a Chroma server (set url or host)", field="config.headers"
            )
        if cfg.lock_url is not None:
            raise InvalidRequestError(
                "only for a Chroma server: an embedded store is one process already (its "
                "directory is locked to it)",
                field="config.lock_url",
            )
    if cfg.lock_url is not None:
        check_redis_installed()
    return cfg


@dataclass(frozen=True)
class Features:
    """What the Chroma in use (client library and engine, the older of the two) can do."""

    native_lists: bool  # list metadata values (Chroma >= 1.5); else lists live in the JSON
    negations: bool  # $ne/$nin match records without the key (checked on 1.0.15 and 1.5.9)

    @classmethod
    def detect(cls, client: Any) -> Features:
        import chromadb

        version = _version(chromadb.__version__)
        with contextlib.suppress(Exception):  # no version endpoint: assume the client's
            version = min(version, _version(client.get_version()))
        return cls(native_lists=version >= (1, 5), negations=version >= (1, 0, 15))


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in str(text).split(".")[:3]:
        digits = re.match(r"\d+", piece)
        parts.append(int(digits.group()) if digits else 0)
    return tuple(parts)


@dataclass
class Handles:
    """An open client, the collections a store uses and what that Chroma supports."""

    client: Any
    main: Any
    events: Any | None
    write_chunk: int
    features: Features


class _OpenFailure(Exception):
    """The collection exists but cannot be used as configured (raised from the opener)."""


class ChromaBackend:
    """One store's connection: lazily opened, dropped after a failure, closed by `aclose`."""

    def __init__(
        self,
        *,
        config: ChromaConfig,
        context: ProviderContext,
        store: str,
        collection: str,
        events: bool,
        record_format: int = FORMAT,
        upgrades: Mapping[int, Callable[[Any], None]] | None = None,
    ) -> None:
        self.config = config
        self.embedder = context.embedder
        self.store = store
        self.collection = collection
        self.record_format = record_format
        self.upgrades = dict(upgrades or {})  # format n -> brings a collection to n + 1
        self.events_collection = collection + EVENTS_SUFFIX if events else None
        self.path = (
            None
            if config.server_mode
            else Path(config.path or Path(context.data_dir) / "chroma").expanduser().absolute()
        )
        # Embedded: one process per directory (two corrupt Chroma's segments); the facts and
        # documents stores of one process share it.
        self.path_lock = (
            None
            if self.path is None
            else PathLock(
                self.path,
                provider=PROVIDER,
                what="embedded Chroma data",
                remedy="several processes (or server replicas) need a Chroma server "
                "(stores.<kind>.config.url)",
            )
        )
        self.locks = WriteLocks(
            config.lock_url,
            namespace=namespace_of(
                self.describe(), config.tenant, config.database, self.collection
            ),
            provider=PROVIDER,
            ttl=config.lock_ttl,
            wait=config.lock_timeout,
        )
        self._handles: Handles | None = None
        self._opened = OpenOnce(self._open)

    # --- connection ----------------------------------------------------------------------------

    def describe(self) -> str:
        if self.path is not None:
            return f"embedded Chroma at {self.path}"
        where = self.config.url or f"{self.config.host}:{self.config.port or 8000}"
        return f"Chroma server {where}"

    def new_client(self) -> Any:
        import chromadb
        from chromadb.config import Settings

        cfg = self.config
        settings = Settings(anonymized_telemetry=False)
        if self.path is not None:
            assert self.path_lock is not None
            self.path_lock.acquire()
            self.path.mkdir(parents=True, exist_ok=True)
            with _EMBEDDED_LOCK:
                return chromadb.PersistentClient(
                    path=str(self.path), settings=settings, tenant=cfg.tenant, database=cfg.database
                )
        if cfg.token is not None:
            settings.chroma_client_auth_provider = (
                "chromadb.auth.token_authn.TokenAuthClientProvider"
            )
            settings.chroma_client_auth_credentials = cfg.token.get_secret_value()
            settings.chroma_auth_token_transport_header = cfg.token_header
        if cfg.url is not None:
            parts = urlsplit(cfg.url)
            ssl = parts.scheme == "https"
            # A full URL as host: Chroma keeps its scheme, port and any path prefix.
            host, port = cfg.url.rstrip("/"), parts.port or (443 if ssl else 80)
        else:
            assert cfg.host is not None
            ssl, host, port = bool(cfg.ssl), cfg.host, cfg.port or 8000
        return chromadb.HttpClient(
            host=host,
            port=port,
            ssl=ssl,
            headers=dict(cfg.headers) or None,
            settings=settings,
            tenant=cfg.tenant,
            database=cfg.database,
        )

    def _open_sync(self) -> Handles:
        client = self.new_client()
        try:
            main = client.get_or_create_collection(
                self.collection,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={
                    META_STORE: self.store,
                    META_FORMAT: self.record_format,
                    META_MODEL: self.embedder.model,
                    META_DIMS: int(self.embedder.dimensions),
                },
                embedding_function=None,
            )
            self._check_main(main)
            events = None
            if self.events_collection is not None:
                events = client.get_or_create_collection(
                    self.events_collection,
                    metadata={META_STORE: f"{self.store}_events", META_FORMAT: FORMAT},
                    embedding_function=None,
                )
                self._check_role(events, f"{self.store}_events")
            chunk = max(1, min(int(client.get_max_batch_size()), MAX_WRITE_CHUNK))
            features = Features.detect(client)
        except BaseException:
            close_client(client)
            raise
        return Handles(
            client=client, main=main, events=events, write_chunk=chunk, features=features
        )

    def _check_role(
        self, collection: Any, role: str, record_format: int = FORMAT
    ) -> dict[str, Any]:
        meta = dict(collection.metadata or {})
        found = meta.get(META_STORE)
        if found is None:
            if collection.count() != 0:
                raise _OpenFailure(
                    f"collection {collection.name!r} holds records but was not created by memio "
                    f"(no {META_STORE!r} in its metadata); configure another collection"
                )
            raise _OpenFailure(
                f"collection {collection.name!r} exists without memio's metadata; configure "
                "another collection name or delete the empty collection"
            )
        if found != role:
            raise _OpenFailure(
                f"collection {collection.name!r} belongs to the memio {found} store, not {role}"
            )
        found_format = meta.get(META_FORMAT)
        known = found_format == record_format or (
            role == self.store
            and type(found_format) is int
            and found_format < record_format
            and all(n in self.upgrades for n in range(found_format, record_format))
        )
        if not known:
            raise _OpenFailure(
                f"collection {collection.name!r} uses record format {found_format!r}; "
                f"this memio reads format {record_format}"
            )
        return meta

    def _upgrade(self, collection: Any, meta: dict[str, Any]) -> None:
        """Bring an older collection to this memio's record format, one step at a time; each
        step is idempotent, so replicas opening it together are harmless."""
        # Chroma refuses metadata that restates the distance ("hnsw:space") in a modify.
        meta = {key: value for key, value in meta.items() if not key.startswith("hnsw:")}
        for version in range(meta[META_FORMAT], self.record_format):
            self.upgrades[version](collection)
            meta = {**meta, META_FORMAT: version + 1}
            collection.modify(metadata=meta)

    def _check_main(self, collection: Any) -> None:
        meta = self._check_role(collection, self.store, self.record_format)
        model, dims = meta.get(META_MODEL), meta.get(META_DIMS)
        if model != self.embedder.model or dims != int(self.embedder.dimensions):
            raise EmbedderMismatchError(
                f"collection {collection.name!r} holds embeddings of model {model!r} "
                f"({dims} dimensions) but the configured embedder is {self.embedder.model!r} "
                f"({self.embedder.dimensions} dimensions), whose vectors cannot be compared with "
                f"them. Configure the embedder they were made with, or recompute them: "
                f"{REEMBED_HINT}",
                provider=PROVIDER,
                stored_model=str(model),
                stored_dimensions=int(dims or 0),
                model=self.embedder.model,
                dimensions=int(self.embedder.dimensions),
            )
        space = _distance_space(collection)
        if space is not None and space != "cosine":
            raise _OpenFailure(
                f"collection {collection.name!r} uses the {space!r} distance; memio needs cosine"
            )
        if meta[META_FORMAT] != self.record_format:
            self._upgrade(collection, meta)

    async def _open(self) -> None:
        handles = await asyncio.to_thread(self._open_sync)
        old, self._handles = self._handles, handles
        if old is not None:
            await asyncio.to_thread(close_client, old.client)

    async def handles(self, operation: str) -> Handles:
        try:
            await self._opened()
        except _OpenFailure as exc:
            raise ProviderError(str(exc), provider=PROVIDER, operation=operation) from exc
        except MemioError:
            raise
        except BACKEND_ERRORS as exc:
            raise ProviderError(
                f"could not open collection {self.collection!r} on {self.describe()}: "
                f"{type(exc).__name__}: {exc}",
                provider=PROVIDER,
                operation=operation,
                cause=exc,
            ) from exc
        assert self._handles is not None
        return self._handles

    async def run(self, operation: str, call: Callable[[Handles], T]) -> T:
        """Run a synchronous Chroma call off the event loop; failures become ProviderError and
        drop the connection so the next call reconnects."""
        handles = await self.handles(operation)
        try:
            with provider_errors(PROVIDER, operation, backend_errors=BACKEND_ERRORS):
                return await asyncio.to_thread(call, handles)
        except ProviderError:
            if self._handles is handles:
                self._opened.reset()
            raise

    async def features(self, operation: str) -> Features:
        return (await self.handles(operation)).features

    async def ping(self) -> None:
        """A real read of every collection the store uses (the first record's id), not just a
        heartbeat: a collection whose segments broke answers the heartbeat but fails every
        read, and /ready must say so."""

        def read(h: Handles) -> None:
            h.main.get(limit=1, include=[])
            if h.events is not None:
                h.events.get(limit=1, include=[])

        await self.run("ping", read)

    async def count(self) -> int:
        return int(await self.run("count", lambda h: h.main.count()))

    async def aclose(self) -> None:
        handles, self._handles = self._handles, None
        self._opened.reset()
        try:
            if handles is not None:
                await asyncio.to_thread(close_client, handles.client)
        finally:
            try:
                await self.locks.aclose()
            finally:
                if self.path_lock is not None:
                    await asyncio.to_thread(self.path_lock.release)

    # --- embeddings ----------------------------------------------------------------------------

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (len(texts), dims), embedded by memio's embedder in batches."""
        parts = []
        for start in range(0, len(texts), EMBED_BATCH):
            batch = list(texts[start : start + EMBED_BATCH])
            vectors = np.asarray(await self.embedder.embed(batch), dtype=np.float32)
            if vectors.shape != (len(batch), int(self.embedder.dimensions)):
                raise ProviderError(
                    f"the embedder returned shape {vectors.shape} for {len(batch)} texts",
                    provider=PROVIDER,
                    operation="embed",
                )
            parts.append(vectors)
        if not parts:
            return np.zeros((0, int(self.embedder.dimensions)), dtype=np.float32)
        return np.concatenate(parts)


def _distance_space(collection: Any) -> str | None:
    try:
        config = collection.configuration_json or {}
    except Exception:  # older clients: no configuration_json
        config = {}
    for index in ("hnsw", "spann"):
        space = (config.get(index) or {}).get("space")
        if space:
            return str(space)
    meta = collection.metadata or {}
    return meta.get("hnsw:space")


def close_client(client: Any) -> None:
    close = getattr(client, "close", None)
    if close is None:
        return
    with _EMBEDDED_LOCK, contextlib.suppress(Exception):  # best effort: the server may be gone
        close()


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def build_backend(
    config: Mapping[str, Any],
    context: ProviderContext,
    *,
    store: str,
    default_collection: str,
    events: bool = False,
    record_format: int = FORMAT,
    upgrades: Mapping[int, Callable[[Any], None]] | None = None,
) -> ChromaBackend:
    cfg = load_config(config)
    return ChromaBackend(
        config=cfg,
        context=context,
        store=store,
        collection=cfg.collection or default_collection,
        events=events,
        record_format=record_format,
        upgrades=upgrades,
    )
