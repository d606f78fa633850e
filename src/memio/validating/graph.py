"""`GraphStore` calls, checked once for every graph provider."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from memio.errors import InvalidRequestError
from memio.models import GraphResult, Triple
from memio.pagination import check_limit
from memio.validating._base import Validating
from memio.validating.arguments import include_shared_scope, optional_text, require_text
from memio.validating.graph_items import plan_triples
from memio.validating.restore import restorable_triples

__all__ = ["MAX_DEPTH", "ValidatingGraphStore"]


# Hops a neighbourhood read may walk: enough for any agent's question, bounded for the backend.
MAX_DEPTH = 10


class ValidatingGraphStore(Validating):
    """`memio.protocols.GraphStore` over a graph provider."""

    async def add(
        self, *, triples: Sequence[Triple | Mapping[str, Any]], user_id: str | None = None
    ) -> list[Triple]:
        return await self.adapter.add(triples=plan_triples(triples, user_id))

    async def get(
        self,
        *,
        entity: str,
        user_id: str | None = None,
        depth: int = 1,
        include_shared: bool = False,
    ) -> GraphResult:
        return await self.adapter.get(
            entity=require_text(entity, field="entity"),
            user_id=user_id,
            shared=include_shared_scope(user_id, include_shared),
            depth=check_limit(depth, field="depth", maximum=MAX_DEPTH),
        )

    async def get_all(
        self,
        *,
        user_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        include_shared: bool = False,
    ) -> GraphResult:
        return await self.adapter.get_all(
            user_id=user_id,
            shared=include_shared_scope(user_id, include_shared),
            limit=check_limit(limit),
            cursor=cursor,
        )

    async def search(
        self,
        *,
        query: str,
        user_id: str | None = None,
        limit: int = 10,
        include_shared: bool = False,
    ) -> GraphResult:
        return await self.adapter.search(
            query=require_text(query, field="query"),
            user_id=user_id,
            shared=include_shared_scope(user_id, include_shared),
            limit=check_limit(limit),
        )

    async def delete(
        self,
        *,
        entity: str | None = None,
        triple_id: str | None = None,
        user_id: str | None = None,
    ) -> int:
        if (entity is None) == (triple_id is None):
            raise InvalidRequestError("give exactly one of entity and triple_id", field="entity")
        return await self.adapter.delete(
            entity=optional_text(entity, field="entity"),
            triple_id=optional_text(triple_id, field="triple_id"),
            user_id=optional_text(user_id, field="user_id"),
        )

    async def delete_all(self, *, user_id: str | None = None) -> int:
        return await self.adapter.delete_all(user_id=optional_text(user_id, field="user_id"))

    async def restore(self, *, triples: Sequence[Triple | Mapping[str, Any]]) -> list[bool]:
        return await self.adapter.restore(triples=restorable_triples(triples))
