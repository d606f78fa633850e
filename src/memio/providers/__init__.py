"""Provider registry: which adapter serves which store, imported only when configured.

Each adapter class has ``from_config(config, context)`` which validates its own config (a pydantic
model with unknown keys forbidden) and returns a store. Optional SDKs are imported lazily, so a
missing one fails with an "install memio[x]" hint instead of breaking ``import memio``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from memio.errors import InvalidRequestError, NotSupportedError
from memio.providers.shared import ProviderContext

__all__ = ["PROVIDERS", "STORE_KINDS", "build_store", "load_store_class", "providers_for"]

STORE_KINDS = ("facts", "history", "documents", "graph")

# provider -> store kind -> "module:Class"
PROVIDERS: dict[str, dict[str, str]] = {
    "memory": {
        "facts": "memio.providers.memory:MemoryFactStore",
        "history": "memio.providers.memory:MemoryHistoryStore",
        "documents": "memio.providers.memory:MemoryDocumentStore",
        "graph": "memio.providers.memory:MemoryGraphStore",
    },
    "chroma": {
        "facts": "memio.providers.chroma:ChromaFactStore",
        "documents": "memio.providers.chroma:ChromaDocumentStore",
    },
    "sqlite": {"history": "memio.providers.sqlite:SQLiteHistoryStore"},
    "networkx": {"graph": "memio.providers.networkx:NetworkXGraphStore"},
    "postgres": {
        "facts": "memio.providers.postgres:PostgresFactStore",
        "history": "memio.providers.postgres:PostgresHistoryStore",
        "documents": "memio.providers.postgres:PostgresDocumentStore",
        "graph": "memio.providers.postgres:PostgresGraphStore",
    },
    "mem0": {"facts": "memio.providers.mem0:Mem0FactStore"},
    "remote": {  # another memio server, over its /v1 API
        kind: f"memio.providers.remote:Remote{name}Store"
        for kind, name in (
            ("facts", "Fact"),
            ("history", "History"),
            ("documents", "Document"),
            ("graph", "Graph"),
        )
    },
}

# Providers whose SDK is an optional extra: the hint a missing import gets.
EXTRAS = {"postgres": "memio[postgres]", "mem0": "memio[mem0]"}


def providers_for(kind: str) -> list[str]:
    return sorted(name for name, stores in PROVIDERS.items() if kind in stores)


def load_store_class(provider: str, kind: str) -> type:
    if kind not in STORE_KINDS:
        raise InvalidRequestError(
            f"unknown store {kind!r} (known: {', '.join(STORE_KINDS)})", field="stores"
        )
    stores = PROVIDERS.get(provider)
    if stores is None:
        raise InvalidRequestError(
            f"unknown provider {provider!r} (known: {', '.join(providers_for(kind))})",
            field=f"stores.{kind}.provider",
        )
    target = stores.get(kind)
    if target is None:
        raise InvalidRequestError(
            f"provider {provider!r} cannot serve the {kind} store "
            f"(providers for {kind}: {', '.join(providers_for(kind))})",
            field=f"stores.{kind}.provider",
        )
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = EXTRAS.get(provider)
        if extra is None:
            raise
        raise NotSupportedError(
            f"the {provider} provider needs packages that are not installed ({exc.name})",
            hint=f"pip install '{extra}'",
        ) from exc
    return getattr(module, class_name)


def build_store(
    kind: str, provider: str, config: Mapping[str, Any] | None, context: ProviderContext
) -> Any:
    """Construct (but do not open) the adapter for one store, behind the validating store of its
    kind (`memio.validating`): what callers use."""
    from memio.validating import validating

    cls = load_store_class(provider, kind)
    try:
        return validating(kind, cls.from_config(dict(config or {}), context))
    except InvalidRequestError as exc:
        field = f"stores.{kind}.{exc.field}" if exc.field else f"stores.{kind}.config"
        raise InvalidRequestError(exc.reason, field=field) from None
