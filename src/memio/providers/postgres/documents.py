"""Documents in PostgreSQL with pgvector: ids by primary key, owners kept, search by meaning.

`<schema>.documents`: id (primary key, so an id is taken once across every gateway process), the
embedding (``vector(<embedder dimensions>)``, HNSW cosine index), the owner `user_id` (NULL: shared
knowledge), metadata as JSONB and a ``simple`` tsvector of the content (GIN index). Every write is
one transaction: a batch is written whole or not at all; an upsert locks the rows it replaces and
replaces only a row whose owner is the item's (``ON CONFLICT ... DO UPDATE ... WHERE``), so an
owner never changes, even when another process inserts the same id meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from memio.checked import DocumentQuery, DocumentSearch
from memio.errors import ConflictError, NotFoundError
from memio.models import Document, DocumentInput, MetadataValue, Page, utcnow
from memio.pagination import decode_cursor, encode_cursor, int_position
from memio.providers.postgres._base import as_utc
from memio.providers.postgres._filters import Columns, where_sql
from memio.providers.postgres._vector import (
    EMBEDDERS_TABLE,
    PostgresVectorStore,
    metadata_jsonb,
    returned_rows,
)
from memio.providers.shared import (
    TIMESTAMP_FIELDS,
    check_owner_kept,
    merged_metadata,
    new_id,
    new_in_batch,
)

__all__ = ["PostgresDocumentStore"]

DOCUMENT_MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        EMBEDDERS_TABLE
        + """
        CREATE TABLE {s}.documents (
            id text PRIMARY KEY,
            seq bigserial NOT NULL UNIQUE,
            content text NOT NULL,
            user_id text,
            metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
            embedding {vector} NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            search tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, content)) STORED
        );
        CREATE INDEX documents_user_seq ON {s}.documents (user_id, seq);
        CREATE INDEX documents_embedding ON {s}.documents USING hnsw (embedding {cosine_ops});
        CREATE INDEX documents_search ON {s}.documents USING gin (search);
        """,
    ),
)

_COLUMNS = "id, seq, content, user_id, metadata, created_at, updated_at"
_FILTER_COLUMNS = Columns(
    text={name: f"t.{name}" for name in ("id", "content", "user_id")},
    timestamps={name: f"t.{name}" for name in TIMESTAMP_FIELDS},
    metadata="t.metadata",
)
# A read's scope: every document without a user; with one, the user's own and, when shared,
# those without an owner (`shared.in_read_scope`). Parameters: user_id, user_id, shared.
_READ_SCOPE = "(%s::text IS NULL OR t.user_id = %s OR (%s AND t.user_id IS NULL))"
# A write's scope: the user's own documents (all of them without a user_id).
_OWN = "(%s::text IS NULL OR t.user_id = %s)"


def _document(row: Mapping[str, Any], score: float | None = None) -> Document:
    return Document(
        id=row["id"],
        content=row["content"],
        metadata=row["metadata"] or {},
        user_id=row["user_id"],
        created_at=as_utc(row["created_at"]),
        updated_at=as_utc(row["updated_at"]),
        score=score,
    )


class PostgresDocumentStore(PostgresVectorStore):
    """DocumentStore over PostgreSQL + pgvector (see the module docstring)."""

    kind = "documents"
    table = "documents"
    migrations = DOCUMENT_MIGRATIONS

    # --- reads ---------------------------------------------------------------------------------

    async def get(self, *, doc_id: str, user_id: str | None, shared: bool) -> Document:
        async with self.connection("get") as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM {self.t} AS t WHERE t.id = %s AND {_READ_SCOPE}",
                (doc_id, user_id, user_id, shared),
            )
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError("document", doc_id)
        return _document(row)

    async def get_all(
        self, *, query: DocumentQuery, limit: int, cursor: str | None
    ) -> Page[Document]:
        user_id, shared, listing = query.user_id, query.shared, query.listing()
        after = int_position(decode_cursor(cursor, scope=listing))
        filter_sql, filter_params = where_sql(query.where, _FILTER_COLUMNS)
        async with self.connection("get_all") as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM {self.t} AS t WHERE {_READ_SCOPE} AND {filter_sql}"
                " AND t.seq > %s ORDER BY t.seq LIMIT %s",
                (user_id, user_id, shared, *filter_params, after, limit + 1),
            )
            rows = await cur.fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor({"after": rows[-1]["seq"]}, scope=listing) if more else None
        return Page([_document(row) for row in rows], next_cursor)

    async def search(self, *, request: DocumentSearch) -> list[Document]:
        query = request.query
        filter_sql, filter_params = where_sql(query.where, _FILTER_COLUMNS)
        scope = (query.user_id, query.user_id, query.shared, *filter_params)
        return await self.ranked_search(
            request.mode,
            query=request.text,
            limit=request.limit,
            columns=_COLUMNS,
            where=f"{_READ_SCOPE} AND {filter_sql}",
            params=scope,
            decode=_document,
        )

    # --- writes --------------------------------------------------------------------------------

    async def add(self, *, document: DocumentInput) -> Document:
        [vector] = await self.embed([document.content])
        async with self.connection("add") as conn:
            [row] = await self._insert(conn, [document], [vector]) or [None]
        if row is None:
            raise ConflictError(f"document {document.doc_id!r} already exists", field="doc_id")
        return _document(row)

    async def add_many(self, *, documents: list[DocumentInput]) -> list[Document]:
        items = documents
        vectors = await self.embed([item.content for item in items])
        async with self.connection("add_many") as conn, conn.transaction():
            rows = await self._insert(conn, items, list(vectors))
            if len(rows) != len(items):
                inserted = {row["id"] for row in rows}
                i = next(i for i, item in enumerate(items) if item.doc_id not in inserted)
                # Raised inside the transaction: it rolls back what was inserted.
                raise ConflictError(
                    f"document {items[i].doc_id!r} already exists", field=f"documents[{i}].doc_id"
                )
        return [_document(row) for row in rows]

    async def restore(self, *, documents: list[Document]) -> list[bool]:
        items = [
            DocumentInput(
                content=document.content,
                doc_id=document.id,
                metadata=document.metadata,
                user_id=document.user_id,
            )
            for document in documents
        ]
        vectors = await self.embed([document.content for document in documents])
        async with self.connection("restore") as conn, conn.transaction():
            ids = [document.id for document in documents]
            cur = await conn.execute(f"SELECT id FROM {self.t} WHERE id = ANY(%s)", (ids,))
            plan = new_in_batch(ids, {row["id"] for row in await cur.fetchall()})
            chosen = [i for i, write in enumerate(plan) if write]
            if chosen:
                await self._insert(
                    conn,
                    [items[i] for i in chosen],
                    [vectors[i] for i in chosen],
                    at=[(documents[i].created_at, documents[i].updated_at) for i in chosen],
                )
        return plan

    async def _insert(
        self,
        conn: Any,
        items: Sequence[DocumentInput],
        vectors: Sequence[Any],
        *,
        at: Sequence[tuple[datetime | None, datetime | None]] | None = None,
    ) -> list[Any]:
        """Insert new documents in order; ids already taken are skipped (not returned). `at`:
        each restored document's (created_at, updated_at), else both now."""
        now = utcnow()
        times = at if at is not None else [(now, now)] * len(items)
        async with conn.cursor() as cur:
            await cur.executemany(
                f"INSERT INTO {self.t} (id, content, user_id, metadata, embedding, created_at,"
                " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                f" ON CONFLICT (id) DO NOTHING RETURNING {_COLUMNS}",
                [
                    (
                        item.doc_id or new_id(),
                        item.content,
                        item.user_id,
                        metadata_jsonb(item.metadata),
                        vector,
                        created,
                        updated,
                    )
                    for item, vector, (created, updated) in zip(items, vectors, times, strict=True)
                ],
                returning=True,
            )
            return await returned_rows(cur)

    async def upsert_many(self, *, documents: list[DocumentInput]) -> list[Document]:
        items = documents
        vectors = await self.embed([item.content for item in items])
        given = [item.doc_id for item in items if item.doc_id is not None]
        now = utcnow()
        async with self.connection("upsert_many") as conn, conn.transaction():
            cur = await conn.execute(
                f"SELECT id, user_id FROM {self.t} WHERE id = ANY(%s) FOR UPDATE", (given,)
            )
            owners = {row["id"]: row["user_id"] for row in await cur.fetchall()}
            for i, item in enumerate(items):
                if item.doc_id in owners:
                    check_owner_kept(owners[item.doc_id], item, index=i)
            async with conn.cursor() as cur:
                await cur.executemany(
                    f"INSERT INTO {self.t} AS t (id, content, user_id, metadata, embedding,"
                    " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (id) DO UPDATE SET content = EXCLUDED.content,"
                    " metadata = EXCLUDED.metadata, embedding = EXCLUDED.embedding,"
                    " updated_at = EXCLUDED.updated_at"
                    " WHERE t.user_id IS NOT DISTINCT FROM EXCLUDED.user_id"
                    f" RETURNING {_COLUMNS}",
                    [
                        (
                            item.doc_id or new_id(),
                            item.content,
                            item.user_id,
                            metadata_jsonb(item.metadata),
                            vector,
                            now,
                            now,
                        )
                        for item, vector in zip(items, vectors, strict=True)
                    ],
                    returning=True,
                )
                rows = await returned_rows(cur)
            if len(rows) != len(items):
                # Another process inserted one of these ids for another owner meanwhile.
                written = {row["id"] for row in rows}
                i = next(i for i, item in enumerate(items) if item.doc_id not in written)
                cur = await conn.execute(
                    f"SELECT user_id FROM {self.t} WHERE id = %s", (items[i].doc_id,)
                )
                row = await cur.fetchone()
                check_owner_kept(row["user_id"] if row else None, items[i], index=i)
                raise ConflictError(
                    f"document {items[i].doc_id!r} changed meanwhile",
                    field=f"documents[{i}].doc_id",
                )
        return [_document(row) for row in rows]

    async def update(
        self,
        *,
        doc_id: str,
        content: str | None,
        metadata: Mapping[str, MetadataValue],
        user_id: str | None,
    ) -> Document:
        vector = (await self.embed([content]))[0] if content is not None else None
        async with self.connection("update") as conn, conn.transaction():
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM {self.t} AS t WHERE t.id = %s AND {_OWN} FOR UPDATE",
                (doc_id, user_id, user_id),
            )
            row = await cur.fetchone()
            if row is None:
                raise NotFoundError("document", doc_id)
            old = _document(row)
            merged = merged_metadata(old.metadata, metadata) or dict(old.metadata)
            cur = await conn.execute(
                f"UPDATE {self.t} SET content = %s, metadata = %s, updated_at = %s,"
                f" embedding = COALESCE(%s, embedding) WHERE id = %s RETURNING {_COLUMNS}",
                (
                    old.content if content is None else content,
                    metadata_jsonb(merged),
                    utcnow(),
                    vector,
                    doc_id,
                ),
            )
            row = await cur.fetchone()
        return _document(row)

    async def delete(self, *, doc_id: str, user_id: str | None) -> None:
        async with self.connection("delete") as conn:
            cur = await conn.execute(
                f"DELETE FROM {self.t} AS t WHERE t.id = %s AND {_OWN} RETURNING 1",
                (doc_id, user_id, user_id),
            )
            if await cur.fetchone() is None:
                raise NotFoundError("document", doc_id)

    async def delete_many(self, *, doc_ids: list[str], user_id: str | None) -> int:
        async with self.connection("delete_many") as conn:
            cur = await conn.execute(
                f"DELETE FROM {self.t} AS t WHERE t.id = ANY(%s) AND {_OWN}",
                (doc_ids, user_id, user_id),
            )
            return cur.rowcount

    async def delete_all(self, *, user_id: str | None) -> int:
        async with self.connection("delete_all") as conn:
            cur = await conn.execute(f"DELETE FROM {self.t} AS t WHERE {_OWN}", (user_id, user_id))
            return cur.rowcount
