"""ChromaDocumentStore: documents in a Chroma collection (default "memio_documents").

A document's content is the Chroma document, memio's embedding its vector, and its user_id,
timestamps and creation rank live under reserved metadata keys. A document written with a user_id
is visible to calls with that user_id and to unscoped calls only; one written without is shared
knowledge, which a user's reads include with `include_shared`. Chroma cannot filter on a missing
key, so shared documents carry the flag `KEY_SHARED` (record format 2; opening a format-1
collection flags its shared documents once). `upsert_many` replaces a stored document in place:
it keeps its created_at and its place in listings, and never changes its owner.

Group commit, as for facts: every Chroma write is a commit of its own (several fsyncs when
embedded), so concurrent `add` calls are written as one batch, and so are concurrent `add_many`
and `upsert_many` calls (`memio.coalescing.Coalescer`); each call gets the outcome it would have had
alone, and when one of them is a client mistake (an id that exists, an id two calls share, an
owner change) each is decided on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from memio.checked import DocumentQuery, DocumentSearch
from memio.coalescing import Coalescer
from memio.errors import ConflictError, MemioError, NotFoundError
from memio.models import (
    Document,
    DocumentInput,
    MetadataValue,
    Page,
    utcnow,
)
from memio.providers._coalesce import WRITE_BATCH, together_or_alone
from memio.providers.chroma._base import LOCK_CHUNK, ChromaBackend, build_backend, chunks
from memio.providers.chroma._codec import (
    KEY_CREATED,
    KEY_SEQ,
    KEY_SHARED,
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
from memio.providers.chroma._keywords import KeywordIndexedStore, owner_scope
from memio.providers.chroma._store import Row
from memio.providers.chroma._where import Fields
from memio.providers.shared import (
    ProviderContext,
    check_owner_kept,
    in_read_scope,
    merged_metadata,
    new_id,
    new_in_batch,
)

__all__ = ["ChromaDocumentStore"]

KEY_USER = scope_key("user_id")
RECORD_FORMAT = 2  # format 1 + KEY_SHARED on documents without a user_id
_UPGRADE_PAGE = 1000


def _metadata(document: Document, seq: int, *, lists: bool) -> dict[str, Any]:
    out = encode_metadata(document.metadata, lists=lists)
    if document.user_id is not None:
        out[KEY_USER] = document.user_id
    else:
        out[KEY_SHARED] = True
    assert document.created_at is not None and document.updated_at is not None
    out[KEY_CREATED] = to_micros(document.created_at)
    out[KEY_UPDATED] = to_micros(document.updated_at)
    out[KEY_SEQ] = seq
    return out


def _user_where(user_id: str | None, shared: bool = False) -> dict[str, Any] | None:
    if user_id is None:
        return None
    if shared:
        return {"$or": [{KEY_USER: user_id}, {KEY_SHARED: True}]}
    return {KEY_USER: user_id}


def _flag_shared(collection: Any) -> None:
    """Format 1 -> 2: flag the documents stored without a user_id (idempotent)."""
    offset = 0
    while True:
        page = collection.get(include=["metadatas"], limit=_UPGRADE_PAGE, offset=offset)
        ids = [
            doc_id
            for doc_id, raw in zip(page["ids"], page["metadatas"] or [], strict=True)
            if KEY_USER not in (raw or {}) and not (raw or {}).get(KEY_SHARED)
        ]
        if ids:
            collection.update(ids=ids, metadatas=[{KEY_SHARED: True} for _ in ids])
        if len(page["ids"]) < _UPGRADE_PAGE:
            return
        offset += _UPGRADE_PAGE


def _doc_locks(ids: Any) -> list[str]:
    return [f"doc:{doc_id}" for doc_id in ids if doc_id is not None]


_GROUP_ITEMS = 1000  # calls are written together up to this many documents in all


@dataclass
class _Write:
    """One write call waiting for its batch: its operation, checked items and their embeddings."""

    operation: str
    items: list[DocumentInput]
    vectors: np.ndarray


class ChromaDocumentStore(KeywordIndexedStore[Document]):
    """DocumentStore over Chroma (embedded PersistentClient or a Chroma server)."""

    fields = Fields(
        text={"user_id": KEY_USER},
        timestamps={"created_at": KEY_CREATED, "updated_at": KEY_UPDATED},
    )
    index_columns = ("user_id",)

    def __init__(self, *, backend: ChromaBackend) -> None:
        super().__init__(backend=backend)
        self._adds: Coalescer[_Write, list[Document] | MemioError] = Coalescer(
            lambda calls: self._write_batch(calls, replace=False), max_batch=WRITE_BATCH
        )
        self._upserts: Coalescer[_Write, list[Document] | MemioError] = Coalescer(
            lambda calls: self._write_batch(calls, replace=True), max_batch=WRITE_BATCH
        )

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], context: ProviderContext
    ) -> ChromaDocumentStore:
        return cls(
            backend=build_backend(
                config,
                context,
                store="documents",
                default_collection="memio_documents",
                record_format=RECORD_FORMAT,
                upgrades={1: _flag_shared},
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

    async def _visible_row(
        self, operation: str, doc_id: str, user_id: str | None, *, shared: bool = False
    ) -> Row:
        row = await self._one(operation, doc_id)
        if row is None or not in_read_scope(row.raw.get(KEY_USER), user_id, shared):
            raise NotFoundError("document", doc_id)
        return row

    # --- reads ---------------------------------------------------------------------------------

    async def get(self, *, doc_id: str, user_id: str | None, shared: bool) -> Document:
        return self._decode(await self._visible_row("get", doc_id, user_id, shared=shared))

    async def get_all(
        self, *, query: DocumentQuery, limit: int, cursor: str | None
    ) -> Page[Document]:
        return await self._list(
            "get_all",
            scope_where=_user_where(query.user_id, query.shared),
            tree=query.where,
            listing=query.listing(),
            limit=limit,
            cursor=cursor,
        )

    async def search(self, *, request: DocumentSearch) -> list[Document]:
        query, tree = request.text, request.query.where
        user_id, shared = request.query.user_id, request.query.shared
        scope, in_scope = _user_where(user_id, shared), owner_scope(user_id, shared)
        return await self._ranked_search(
            request.mode,
            query=query,
            limit=request.limit,
            scope=in_scope,
            scope_where=scope,
            own_tree=tree,
            tree=tree,
        )

    # --- writes --------------------------------------------------------------------------------

    async def add(self, *, document: DocumentInput) -> Document:
        check_reserved(document.metadata)
        # embedded outside the lock: see _write_planned
        vectors = await self._backend.embed([document.content])
        [added] = await self._adds(_Write("add", [document], vectors))
        return added

    async def restore(self, *, documents: list[Document]) -> list[bool]:
        for i, document in enumerate(documents):
            check_reserved(document.metadata, field=f"documents[{i}].metadata")
        ids = [document.id for document in documents]
        vectors = await self._backend.embed([document.content for document in documents])
        async with self._lock, self._backend.locks.hold("restore", _doc_locks(ids)):
            plan = new_in_batch(ids, await self._existing_ids("restore", ids))
            chosen = [i for i, write in enumerate(plan) if write]
            if chosen:
                lists = (await self._backend.features("restore")).native_lists
                first = sequence.take(len(chosen))
                await self._add_rows(
                    "restore",
                    [documents[i].id for i in chosen],
                    vectors[chosen],
                    [documents[i].content for i in chosen],
                    [_metadata(documents[i], first + n, lists=lists) for n, i in enumerate(chosen)],
                )
            return plan

    async def add_many(self, *, documents: list[DocumentInput]) -> list[Document]:
        return await self._write_many("add_many", documents, self._adds)

    async def upsert_many(self, *, documents: list[DocumentInput]) -> list[Document]:
        return await self._write_many("upsert_many", documents, self._upserts)

    async def _write_many(
        self, operation: str, items: list[DocumentInput], queue: Coalescer[_Write, Any]
    ) -> list[Document]:
        for i, item in enumerate(items):
            check_reserved(item.metadata, field=f"documents[{i}].metadata")
        # Embedded before the lock is taken: a model run needs no lock, and one under it made
        # every concurrent writer of the store wait for the others' embeddings (bench soak).
        vectors = await self._backend.embed([item.content for item in items])
        return await queue(_Write(operation, items, vectors))

    async def _write_batch(
        self, calls: list[_Write], *, replace: bool
    ) -> list[list[Document] | MemioError]:
        """Concurrent write calls as one planned write when they can be (see the module
        docstring), else one by one, each with its own outcome, in arrival order."""

        async def together(batch: list[_Write]) -> list[list[Document]]:
            written = await self._write_planned(
                batch[0].operation,
                [item for call in batch for item in call.items],
                np.vstack([call.vectors for call in batch]),
                replace=replace,
            )
            out = []
            for call in batch:
                out.append(written[: len(call.items)])
                written = written[len(call.items) :]
            return out

        async def alone(call: _Write) -> list[Document]:
            return await self._write_planned(
                call.operation,
                call.items,
                call.vectors,
                replace=replace,
                single=call.operation == "add",
            )

        explicit = [item.doc_id for call in calls for item in call.items if item.doc_id]
        joinable = sum(len(call.items) for call in calls) <= _GROUP_ITEMS and len(explicit) == len(
            set(explicit)
        )
        async with self._lock:
            return await together_or_alone(calls, together, alone, joinable=joinable)

    async def _write_planned(
        self,
        operation: str,
        items: list[DocumentInput],
        vectors: np.ndarray,
        *,
        replace: bool,
        single: bool = False,
    ) -> list[Document]:
        """Write checked items (`vectors`: their embeddings, computed before the caller took
        the store lock, which it holds): new documents are added, stored ones replaced when
        `replace`, else a ConflictError naming the first (`doc_id` for a `single` add)."""
        explicit = [item.doc_id for item in items if item.doc_id is not None]
        async with self._backend.locks.hold(operation, _doc_locks(explicit)):
            stored = {row.id: row for row in await self._get_rows(operation, ids=explicit)}
            for i, item in enumerate(items):
                row = stored.get(item.doc_id) if item.doc_id is not None else None
                if row is None:
                    continue
                if not replace:
                    raise ConflictError(
                        f"document {item.doc_id!r} already exists",
                        field="doc_id" if single else f"documents[{i}].doc_id",
                    )
                check_owner_kept(row.raw.get(KEY_USER), item, index=i)
            lists = (await self._backend.features(operation)).native_lists
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
        content: str | None,
        metadata: Mapping[str, MetadataValue],
        user_id: str | None,
    ) -> Document:
        check_reserved(metadata)
        vectors = await self._backend.embed([content]) if content is not None else None
        async with self._lock, self._backend.locks.hold("update", _doc_locks([doc_id])):
            row = await self._visible_row("update", doc_id, user_id)
            old = self._decode(row)
            merged = merged_metadata(old.metadata, metadata) or old.metadata
            lists = (await self._backend.features("update")).native_lists
            new = old.model_copy(
                update={
                    "content": old.content if content is None else content,
                    "metadata": merged,
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

    async def delete(self, *, doc_id: str, user_id: str | None) -> None:
        async with self._lock, self._backend.locks.hold("delete", _doc_locks([doc_id])):
            row = await self._visible_row("delete", doc_id, user_id)
            await self._delete_rows("delete", [row.id])

    async def delete_many(self, *, doc_ids: list[str], user_id: str | None) -> int:
        async with self._lock, self._backend.locks.hold("delete_many", _doc_locks(doc_ids)):
            rows = await self._get_rows("delete_many", ids=doc_ids, where=_user_where(user_id))
            await self._delete_rows("delete_many", [row.id for row in rows])
            return len(rows)

    async def delete_all(self, *, user_id: str | None) -> int:
        async with self._lock:
            found = await self._get_rows("delete_all", where=_user_where(user_id), include=[])
            gone = 0
            for part in chunks([row.id for row in found], LOCK_CHUNK):
                async with self._backend.locks.hold("delete_all", _doc_locks(part)):
                    rows = await self._get_rows("delete_all", ids=part, include=[])
                    await self._delete_rows("delete_all", [row.id for row in rows])
                    gone += len(rows)
            return gone
