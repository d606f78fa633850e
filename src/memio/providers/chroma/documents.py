"""ChromaDocumentStore: documents in a Chroma collection (default "memio_documents").

A document's content is the Chroma document, memio's embedding its vector, and its user_id,
timestamps and creation rank live under reserved metadata keys. A document written with a user_id
is visible to calls with that user_id and to unscoped calls only. `upsert_many` replaces a stored
document in place: it keeps its created_at and its place in listings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from memio.errors import ConflictError, NotFoundError
from memio.filters import parse_filters
from memio.models import (
    Document,
    DocumentInput,
    MetadataValue,
    Page,
    utcnow,
    validate_metadata,
)
from memio.pagination import check_limit
from memio.providers._shared import (
    DOCUMENT_FIELDS,
    TIMESTAMP_FIELDS,
    ProviderContext,
    document_batch,
    id_list,
    new_id,
    optional_text,
    require_text,
    update_args,
)
from memio.providers.chroma._base import build_backend
from memio.providers.chroma._codec import (
    KEY_CREATED,
    KEY_SEQ,
    KEY_UPDATED,
    check_reserved,
    decode_metadata,
    encode_metadata,
    from_micros,
    scope_key,
    sequence,
    to_micros,
    with_removals,
)
from memio.providers.chroma._store import ChromaStore, Row
from memio.providers.chroma._where import Fields

__all__ = ["ChromaDocumentStore"]

KEY_USER = scope_key("user_id")


def _metadata(document: Document, seq: int, *, lists: bool) -> dict[str, Any]:
    out = encode_metadata(document.metadata, lists=lists)
    if document.user_id is not None:
        out[KEY_USER] = document.user_id
    assert document.created_at is not None and document.updated_at is not None
    out[KEY_CREATED] = to_micros(document.created_at)
    out[KEY_UPDATED] = to_micros(document.updated_at)
    out[KEY_SEQ] = seq
    return out


def _user_where(user_id: str | None) -> dict[str, Any] | None:
    return None if user_id is None else {KEY_USER: user_id}


class ChromaDocumentStore(ChromaStore[Document]):
    """DocumentStore over Chroma (embedded PersistentClient or a Chroma server)."""

    fields = Fields(
        text={"user_id": KEY_USER},
        timestamps={"created_at": KEY_CREATED, "updated_at": KEY_UPDATED},
    )

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], context: ProviderContext
    ) -> ChromaDocumentStore:
        return cls(
            backend=build_backend(
                config, context, store="documents", default_collection="memio_documents"
            )
        )

    def _decode(self, row: Row) -> Document:
        raw = row.raw
        return Document(
            id=row.id,
            content=row.content,
            metadata=decode_metadata(raw),
            user_id=raw.get(KEY_USER),
            created_at=from_micros(raw[KEY_CREATED]),
            updated_at=from_micros(raw[KEY_UPDATED]),
        )

    async def _visible_row(self, operation: str, doc_id: Any, user_id: Any) -> Row:
        require_text(doc_id, field="doc_id")
        optional_text(user_id, field="user_id")
        row = await self._one(operation, doc_id)
        if row is None or (user_id is not None and row.raw.get(KEY_USER) != user_id):
            raise NotFoundError("document", doc_id)
        return row

    # --- reads ---------------------------------------------------------------------------------

    async def get(self, *, doc_id: str, user_id: str | None = None) -> Document:
        return self._decode(await self._visible_row("get", doc_id, user_id))

    async def get_all(
        self,
        *,
        limit: int = 100,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        cursor: str | None = None,
    ) -> Page[Document]:
        check_limit(limit)
        optional_text(user_id, field="user_id")
        tree = parse_filters(filters, fields=DOCUMENT_FIELDS, datetime_fields=TIMESTAMP_FIELDS)
        listing = {"list": "documents", "user_id": user_id, "filters": filters or None}
        return await self._list(
            "get_all",
            scope_where=_user_where(user_id),
            tree=tree,
            listing=listing,
            limit=limit,
            cursor=cursor,
        )

    async def search(
        self,
        *,
        query: str,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> list[Document]:
        require_text(query, field="query")
        check_limit(limit)
        optional_text(user_id, field="user_id")
        tree = parse_filters(filters, fields=DOCUMENT_FIELDS, datetime_fields=TIMESTAMP_FIELDS)
        return await self._search(
            "search", query=query, scope_where=_user_where(user_id), tree=tree, limit=limit
        )

    # --- writes --------------------------------------------------------------------------------

    async def add(
        self,
        *,
        content: str,
        doc_id: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        user_id: str | None = None,
    ) -> Document:
        require_text(content, field="content")
        optional_text(doc_id, field="doc_id")
        optional_text(user_id, field="user_id")
        clean = validate_metadata(metadata)
        check_reserved(clean)
        async with self._lock:
            if doc_id is not None and await self._existing_ids("add", [doc_id]):
                raise ConflictError(f"document {doc_id!r} already exists", field="doc_id")
            lists = (await self._backend.features("add")).native_lists
            vectors = await self._backend.embed([content])
            now = utcnow()
            document = Document(
                id=doc_id or new_id(),
                content=content,
                metadata=clean,
                user_id=user_id,
                created_at=now,
                updated_at=now,
            )
            await self._add_rows(
                "add",
                [document.id],
                vectors,
                [content],
                [_metadata(document, sequence.take(), lists=lists)],
            )
            return document.model_copy(deep=True)

    @staticmethod
    def _batch(documents: Any) -> list[DocumentInput]:
        items = document_batch(documents)
        for i, item in enumerate(items):
            check_reserved(item.metadata, field=f"documents[{i}].metadata")
        return items

    async def add_many(
        self, *, documents: Sequence[DocumentInput | Mapping[str, Any]]
    ) -> list[Document]:
        return await self._write_many("add_many", documents, replace=False)

    async def upsert_many(
        self, *, documents: Sequence[DocumentInput | Mapping[str, Any]]
    ) -> list[Document]:
        return await self._write_many("upsert_many", documents, replace=True)

    async def _write_many(self, operation: str, documents: Any, *, replace: bool) -> list[Document]:
        items = self._batch(documents)
        async with self._lock:
            explicit = [item.doc_id for item in items if item.doc_id is not None]
            stored = {row.id: row for row in await self._get_rows(operation, ids=explicit)}
            for i, item in enumerate(items):
                row = stored.get(item.doc_id) if item.doc_id is not None else None
                if row is None:
                    continue
                if not replace:
                    raise ConflictError(
                        f"document {item.doc_id!r} already exists", field=f"documents[{i}].doc_id"
                    )
                owner = row.raw.get(KEY_USER)
                if owner is not None and item.user_id is not None and owner != item.user_id:
                    raise ConflictError(
                        f"document {item.doc_id!r} belongs to another user",
                        field=f"documents[{i}].doc_id",
                    )
            lists = (await self._backend.features(operation)).native_lists
            vectors = await self._backend.embed([item.content for item in items])
            now = utcnow()
            out: list[Document] = []
            new_rows: list[int] = []
            old_rows: list[int] = []
            for i, item in enumerate(items):
                row = stored.get(item.doc_id) if item.doc_id is not None else None
                created = now if row is None else from_micros(row.raw[KEY_CREATED])
                out.append(
                    Document(
                        id=item.doc_id or new_id(),
                        content=item.content,
                        metadata=dict(item.metadata),
                        user_id=item.user_id,
                        created_at=created,
                        updated_at=now,
                    )
                )
                (new_rows if row is None else old_rows).append(i)
            if new_rows:
                first = sequence.take(len(new_rows))
                await self._add_rows(
                    operation,
                    [out[i].id for i in new_rows],
                    vectors[new_rows],
                    [out[i].content for i in new_rows],
                    [_metadata(out[i], first + n, lists=lists) for n, i in enumerate(new_rows)],
                )
            if old_rows:
                metadatas = []
                for i in old_rows:
                    row = stored[out[i].id]
                    metadatas.append(
                        with_removals(_metadata(out[i], row.seq, lists=lists), row.raw)
                    )
                await self._update_rows(
                    operation,
                    [out[i].id for i in old_rows],
                    vectors[old_rows],
                    [out[i].content for i in old_rows],
                    metadatas,
                )
            return [document.model_copy(deep=True) for document in out]

    async def update(
        self,
        *,
        doc_id: str,
        content: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        user_id: str | None = None,
    ) -> Document:
        clean = update_args(doc_id, content, metadata, id_field="doc_id")
        check_reserved(clean)
        async with self._lock:
            row = await self._visible_row("update", doc_id, user_id)
            old = self._decode(row)
            lists = (await self._backend.features("update")).native_lists
            vectors = await self._backend.embed([content]) if content is not None else None
            new = old.model_copy(
                update={
                    "content": old.content if content is None else content,
                    "metadata": {**old.metadata, **clean},
                    "updated_at": utcnow(),
                },
                deep=True,
            )
            await self._update_rows(
                "update",
                [doc_id],
                vectors,
                [new.content],
                [with_removals(_metadata(new, row.seq, lists=lists), row.raw)],
            )
            return new

    async def delete(self, *, doc_id: str, user_id: str | None = None) -> None:
        async with self._lock:
            row = await self._visible_row("delete", doc_id, user_id)
            await self._delete_rows("delete", [row.id])

    async def delete_many(self, *, doc_ids: Sequence[str], user_id: str | None = None) -> int:
        ids = list(dict.fromkeys(id_list(doc_ids, field="doc_ids")))
        optional_text(user_id, field="user_id")
        async with self._lock:
            if not ids:
                return 0
            rows = await self._get_rows("delete_many", ids=ids, where=_user_where(user_id))
            await self._delete_rows("delete_many", [row.id for row in rows])
            return len(rows)

    async def delete_all(self, *, user_id: str | None = None) -> int:
        optional_text(user_id, field="user_id")
        async with self._lock:
            rows = await self._get_rows(
                "delete_all", where=_user_where(user_id), include=["metadatas"]
            )
            await self._delete_rows("delete_all", [row.id for row in rows])
            return len(rows)
