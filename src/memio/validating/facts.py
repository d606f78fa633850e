"""`FactStore` calls, checked once for every facts provider."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from memio.checked import FactQuery, FactSearch
from memio.errors import InvalidRequestError
from memio.filters import parse_filters
from memio.models import (
    FACT_SCOPE,
    KEEP,
    Fact,
    FactEntity,
    FactEvent,
    FactInput,
    MetadataValue,
    Page,
    validate_metadata,
)
from memio.pagination import check_limit
from memio.providers.shared import FACT_FIELDS, FACT_TIMESTAMPS
from memio.ranking import DEFAULT_SEARCH_MODE, SearchMode, check_mode
from memio.validating._base import Validating
from memio.validating.arguments import (
    check_bool,
    check_threshold,
    coerce_items,
    expiry_arg,
    id_list,
    metadata_change,
    optional_text,
    require_text,
)
from memio.validating.restore import restorable_facts

__all__ = ["ValidatingFactStore"]


def _fact_scope(values: Sequence[Any], *, where: str = "") -> dict[str, str | None]:
    """The four scope ids, each None or non-empty text (errors name ``<where><name>``)."""
    return {
        name: optional_text(value, field=f"{where}{name}")
        for name, value in zip(FACT_SCOPE, values, strict=True)
    }


def _fact_query(scope: Sequence[Any], filters: Any, include_expired: Any) -> FactQuery:
    return FactQuery(
        scope=_fact_scope(scope),
        filters=filters or None,
        where=parse_filters(filters, fields=FACT_FIELDS, datetime_fields=FACT_TIMESTAMPS),
        include_expired=check_bool(include_expired, field="include_expired"),
    )


def _fact_batch(facts: Any) -> list[FactInput]:
    items = coerce_items(FactInput, facts, field="facts")
    for i, item in enumerate(items):
        require_text(item.content, field=f"facts[{i}].content")
        optional_text(item.fact_id, field=f"facts[{i}].fact_id")
        _fact_scope([getattr(item, name) for name in FACT_SCOPE], where=f"facts[{i}].")
    return items


class ValidatingFactStore(Validating):
    """`memio.protocols.FactStore` over a facts provider."""

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
        require_text(content, field="content")
        fact = FactInput(
            content=content,
            metadata=validate_metadata(metadata),
            fact_id=optional_text(fact_id, field="fact_id"),
            expires_at=expiry_arg(expires_at),
            **_fact_scope((user_id, agent_id, app_id, run_id)),
        )
        return await self.adapter.add(fact=fact)

    async def add_many(self, *, facts: Sequence[FactInput | Mapping[str, Any]]) -> list[Fact]:
        return await self.adapter.add_many(facts=_fact_batch(facts))

    async def get(self, *, fact_id: str, include_expired: bool = False) -> Fact:
        return await self.adapter.get(
            fact_id=require_text(fact_id, field="fact_id"),
            include_expired=check_bool(include_expired, field="include_expired"),
        )

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
        query = _fact_query((user_id, agent_id, app_id, run_id), filters, include_expired)
        return await self.adapter.get_all(query=query, limit=check_limit(limit), cursor=cursor)

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
        request = FactSearch(
            text=require_text(query, field="query"),
            limit=check_limit(limit),
            mode=check_mode(search_mode),
            threshold=check_threshold(threshold),
            query=_fact_query((user_id, agent_id, app_id, run_id), filters, include_expired),
        )
        return await self.adapter.search(request=request)

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
        query = _fact_query((user_id, agent_id, app_id, run_id), filters, include_expired)
        return await self.adapter.count(query=query)

    async def update(
        self,
        *,
        fact_id: str,
        content: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        expires_at: Any = KEEP,
    ) -> Fact:
        require_text(fact_id, field="fact_id")
        if content is None and metadata is None and expires_at is KEEP:
            raise InvalidRequestError("give content, metadata, expires_at or a combination")
        return await self.adapter.update(
            fact_id=fact_id,
            content=content,
            metadata=metadata_change(content, metadata),
            expires_at=expires_at if expires_at is KEEP else expiry_arg(expires_at),
        )

    async def delete(self, *, fact_id: str) -> None:
        await self.adapter.delete(fact_id=require_text(fact_id, field="fact_id"))

    async def delete_many(self, *, fact_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(id_list(fact_ids, field="fact_ids")))
        return await self.adapter.delete_many(fact_ids=ids) if ids else 0

    async def delete_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
    ) -> int:
        return await self.adapter.delete_all(scope=_fact_scope((user_id, agent_id, app_id, run_id)))

    async def history(self, *, fact_id: str) -> list[FactEvent]:
        return await self.adapter.history(fact_id=require_text(fact_id, field="fact_id"))

    async def entities(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
        include_expired: bool = False,
    ) -> list[FactEntity]:
        query = _fact_query((user_id, agent_id, app_id, run_id), None, include_expired)
        return await self.adapter.entities(query=query)

    async def purge_expired(self, *, before: datetime) -> int:
        cutoff = expiry_arg(before, field="before")
        if cutoff is None:
            raise InvalidRequestError("must be a timestamp", field="before")
        return await self.adapter.purge_expired(before=cutoff)

    async def restore(
        self,
        *,
        facts: Sequence[Fact | Mapping[str, Any]],
        histories: Mapping[str, Sequence[FactEvent]] | None = None,
    ) -> list[bool]:
        return await self.adapter.restore(facts=restorable_facts(facts, histories))
