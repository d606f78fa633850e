"""The stores callers use: every argument checked once, above the providers.

`build_store` wraps each provider in the validating store of its kind. A call is checked and
normalised here (errors name the field: ``facts[2].user_id``, ``limit``) and reaches the provider
as values it can trust (`memio.checked`), so no provider repeats a check and every provider
refuses exactly the same input. This is httpx's split between its client and its transports:
the store protocol (`memio.protocols`) is what callers see, the provider protocol
(`memio.providers.base`) is what a backend implements.

Anything else a provider offers (`reembed`, `check_embedder`, `path_lock`, ...) is reached
through the wrapper unchanged.
"""

from __future__ import annotations

from typing import Any

from memio.validating._base import Validating
from memio.validating.documents import ValidatingDocumentStore
from memio.validating.facts import ValidatingFactStore
from memio.validating.graph import ValidatingGraphStore
from memio.validating.history import ValidatingHistoryStore

__all__ = [
    "Validating",
    "ValidatingDocumentStore",
    "ValidatingFactStore",
    "ValidatingGraphStore",
    "ValidatingHistoryStore",
    "validating",
]

_BY_KIND: dict[str, type[Validating]] = {
    "facts": ValidatingFactStore,
    "documents": ValidatingDocumentStore,
    "history": ValidatingHistoryStore,
    "graph": ValidatingGraphStore,
}


def validating(kind: str, provider: Any) -> Any:
    """The store callers use over `provider`, a provider of store `kind`."""
    return _BY_KIND[kind](provider)
