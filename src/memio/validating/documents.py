"""`DocumentStore` calls, checked once for every documents provider."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from memio.checked import DocumentQuery, DocumentSearch
from memio.errors import ConflictError, InvalidRequestError
from memio.filters import parse_filters
from memio.models import Document, DocumentInput, MetadataValue, Page, validate_metadata
from memio.pagination import check_limit
from memio.providers.shared import DOCUMENT_FIELDS, TIMESTAMP_FIELDS
from memio.ranking import DEFAULT_SEARCH_MODE, SearchMode, check_mode
from memio.validating._base import Validating
from memio.validating.arguments import (
    coerce_items,
    id_list,
    include_shared_scope,
    metadata_change,
    optional_text,
    require_text,
)
from memio.validating.restore import restorable_documents

__all__ = ["ValidatingDocumentStore"]


def _document_query(user_id: Any, include_shared: Any, filters: Any) -> DocumentQuery:
    return DocumentQuery(
        user_id=user_id,
        shared=include_shared_scope(user_id, include_shared),
        filters=filters or None,
        where=parse_filters(filters, fields=DOCUMENT_FIELDS, datetime_fields=TIMESTAMP_FIELDS),
    )


def _document_batch(documents: Any) -> list[DocumentInput]:
    """Text content, optional ids and owners, no id given twice."""
    items = coerce_items(DocumentInput, documents, field="documents")
    seen: set[str] = set()
    for i, item in enumerate(items):
        require_text(item.content, field=f"documents[{i}].content")
        optional_text(item.user_id, field=f"documents[{i}].user_id")
        if optional_text(item.doc_id, field=f"documents[{i}].doc_id") is None:
            continue
        if item.doc_id in seen:
            raise ConflictError(
                f"document {item.doc_id!r} appears twice in the batch",
                field=f"documents[{i}].doc_id",
            )
        seen.add(item.doc_id)
    return items


class ValidatingDocumentStore(Validating):
    """`memio.protocols.DocumentStore` over a documents provider."""

    async def add(
        self,
        *,
        content: str,
        doc_id: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        user_id: str | None = None,
    ) -> Document:
        document = DocumentInput(
            content=require_text(content, field="content"),
            doc_id=optional_text(doc_id, field="doc_id"),
            user_id=optional_text(user_id, field="user_id"),
            metadata=validate_metadata(metadata),
        )
        return await self.adapter.add(document=document)

    async def add_many(
        self, *, documents: Sequence[DocumentInput | Mapping[str, Any]]
    ) -> list[Document]:
        return await self.adapter.add_many(documents=_document_batch(documents))

    async def upsert_many(
        self, *, documents: Sequence[DocumentInput | Mapping[str, Any]]
    ) -> list[Document]:
        return await self.adapter.upsert_many(documents=_document_batch(documents))

    async def get(
        self, *, doc_id: str, user_id: str | None = None, include_shared: bool = False
    ) -> Document:
        return await self.adapter.get(
            doc_id=require_text(doc_id, field="doc_id"),
            user_id=user_id,
            shared=include_shared_scope(user_id, include_shared),
        )

    async def get_all(
        self,
        *,
        limit: int = 100,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        cursor: str | None = None,
        include_shared: bool = False,
    ) -> Page[Document]:
        query = _document_query(user_id, include_shared, filters)
        return await self.adapter.get_all(query=query, limit=check_limit(limit), cursor=cursor)

    async def search(
        self,
        *,
        query: str,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        include_shared: bool = False,
        search_mode: SearchMode = DEFAULT_SEARCH_MODE,
    ) -> list[Document]:
        request = DocumentSearch(
            text=require_text(query, field="query"),
            limit=check_limit(limit),
            mode=check_mode(search_mode),
            query=_document_query(user_id, include_shared, filters),
        )
        return await self.adapter.search(request=request)

    async def update(
        self,
        *,
        doc_id: str,
        content: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        user_id: str | None = None,
    ) -> Document:
        require_text(doc_id, field="doc_id")
        if content is None and metadata is None:
            raise InvalidRequestError("give content, metadata or both")
        return await self.adapter.update(
            doc_id=doc_id,
            content=content,
            metadata=metadata_change(content, metadata),
            user_id=optional_text(user_id, field="user_id"),
        )

    async def delete(self, *, doc_id: str, user_id: str | None = None) -> None:
        await self.adapter.delete(
            doc_id=require_text(doc_id, field="doc_id"),
            user_id=optional_text(user_id, field="user_id"),
        )

    async def delete_many(self, *, doc_ids: Sequence[str], user_id: str | None = None) -> int:
        ids = list(dict.fromkeys(id_list(doc_ids, field="doc_ids")))
        owner = optional_text(user_id, field="user_id")
        return await self.adapter.delete_many(doc_ids=ids, user_id=owner) if ids else 0

    async def delete_all(self, *, user_id: str | None = None) -> int:
        return await self.adapter.delete_all(user_id=optional_text(user_id, field="user_id"))

    async def restore(self, *, documents: Sequence[Document | Mapping[str, Any]]) -> list[bool]:
        return await self.adapter.restore(documents=restorable_documents(documents))
