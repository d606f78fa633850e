"""`Memio`: one object that holds the four stores and closes them together."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memio.closing import Closing
from memio.errors import NotSupportedError
from memio.protocols import DocumentStore, Embedder, FactStore, GraphStore, HistoryStore, Store
from memio.providers import STORE_KINDS, build_store
from memio.providers.base import Provider
from memio.providers.shared import ProviderContext
from memio.scoping import Scope, WriteObserver, scoped_stores
from memio.validating import validating

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_PROVIDERS", "Memio", "connect"]

# What `Memio.local` and the repo's memio-server.yaml use: persistent, embedded, offline.
DEFAULT_PROVIDERS = {
    "facts": "chroma",
    "history": "sqlite",
    "documents": "chroma",
    "graph": "networkx",
}


class Memio(Closing):
    """Compose any of the four stores; unset stores raise NotSupportedError when used.

    >>> async with Memio.local("./memio-data") as memio:
    ...     await memio.facts.add(content="prefers dark mode", user_id="alice")
    """

    def __init__(
        self,
        *,
        facts: FactStore | None = None,
        history: HistoryStore | None = None,
        documents: DocumentStore | None = None,
        graph: GraphStore | None = None,
    ) -> None:
        given = {"facts": facts, "history": history, "documents": documents, "graph": graph}
        # A provider passed as it is gets the validating store every caller goes through.
        self._stores: dict[str, Any] = {
            kind: validating(kind, store) if isinstance(store, Provider) else store
            for kind, store in given.items()
        }

    @classmethod
    def from_providers(
        cls,
        providers: Mapping[str, tuple[str, Mapping[str, Any]] | str],
        *,
        data_dir: str | Path = "./memio-data",
        embedder: Embedder | None = None,
    ) -> Memio:
        """Build stores by provider name: ``{"facts": "chroma", "graph": ("postgres", {...})}``."""
        context = ProviderContext(data_dir=Path(data_dir), embedder=embedder or _default_embedder())
        stores = {}
        for kind, spec in providers.items():
            name, config = (spec, {}) if isinstance(spec, str) else spec
            stores[kind] = build_store(kind, name, config, context)
        return cls(**stores)

    @classmethod
    def local(cls, path: str | Path = "./memio-data", *, embedder: Embedder | None = None) -> Memio:
        """All four embedded, persistent stores under one directory; works offline."""
        return cls.from_providers(DEFAULT_PROVIDERS, data_dir=path, embedder=embedder)

    @classmethod
    def from_config(cls, path: str | Path | None = "memio-server.yaml") -> Memio:
        """The stores memio-server would build from this config file (``${VAR}`` interpolated,
        MEMIO_* overrides applied; None: the built-in defaults), with its embedder. A bad file
        raises `memio.config.ConfigError` listing every problem."""
        from memio.config import build_embedder, build_memio, load_config

        config = load_config(path)
        return build_memio(config, build_embedder(config.embedder))

    @classmethod
    def in_memory(cls, *, embedder: Embedder | None = None) -> Memio:
        """All four stores in process memory: for tests and examples; nothing is kept."""
        return cls.from_providers(
            dict.fromkeys(STORE_KINDS, "memory"), data_dir=".", embedder=embedder
        )

    @property
    def facts(self) -> FactStore:
        return self._store("facts")

    @property
    def history(self) -> HistoryStore:
        return self._store("history")

    @property
    def documents(self) -> DocumentStore:
        return self._store("documents")

    @property
    def graph(self) -> GraphStore:
        return self._store("graph")

    @property
    def stores(self) -> dict[str, Store]:
        """The configured stores by kind."""
        return {kind: store for kind, store in self._stores.items() if store is not None}

    def scoped(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        observe: WriteObserver | None = None,
    ) -> Memio:
        """The same stores confined to one user, agent and/or app (see `memio.scoping`): what a
        multi-tenant app hands the code that acts for one of its users. Closing the result
        closes nothing; the stores stay this object's."""
        scope = Scope(user_id=user_id, agent_id=agent_id, app_id=app_id)
        return Memio(**scoped_stores(self.stores, scope, observe=observe))

    def _store(self, kind: str) -> Any:
        store = self._stores[kind]
        if store is None:
            raise NotSupportedError(
                f"no {kind} store is configured", hint=f"pass {kind}=... or configure stores.{kind}"
            )
        return store

    async def aclose(self) -> None:
        """Close every store, even when one of them fails to close."""
        errors = []
        for store in self.stores.values():
            try:
                await store.aclose()
            except Exception as exc:  # close the rest before reporting
                errors.append(exc)
        if errors:
            raise errors[0]


def _default_embedder() -> Embedder:
    from memio.embeddings import default_embedder

    return default_embedder()


def connect(
    url: str,
    *,
    api_key: str | None = None,
    timeout: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Memio:
    """A `Memio` whose four stores are a running memio server's, over its /v1 API: the same
    calls, results and `memio.errors` as `Memio.local`, so code moves between the two by changing
    this one line. The stores share one pooled `httpx.AsyncClient` (`transport` replaces its
    network layer, e.g. `httpx.ASGITransport` or retries), closed by `aclose` / ``async with``.
    Sync code: `memio.connect_sync`."""
    from memio.providers.remote import (
        RemoteConnection,
        RemoteDocumentStore,
        RemoteFactStore,
        RemoteGraphStore,
        RemoteHistoryStore,
    )

    connection = RemoteConnection(url, api_key=api_key, timeout=timeout, transport=transport)
    return Memio(
        facts=RemoteFactStore(connection),
        history=RemoteHistoryStore(connection),
        documents=RemoteDocumentStore(connection),
        graph=RemoteGraphStore(connection),
    )
