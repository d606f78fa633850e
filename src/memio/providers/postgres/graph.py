"""Knowledge-graph triples in PostgreSQL: stable ids, user scoping, recursive expansion, search."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import psycopg.errors
from psycopg.types.json import Jsonb
from pydantic import Field
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from memio.checked import listing_scope
from memio.errors import NotFoundError, ProviderError
from memio.models import GraphResult, Triple, utcnow
from memio.pagination import decode_cursor, encode_cursor, int_position
from memio.protocols import Embedder
from memio.providers.postgres._base import (
    PostgresConfig,
    PostgresStore,
    any_word_tsquery,
    as_utc,
    query_words,
)
from memio.providers.shared import (
    ProviderContext,
    graph_match_score,
    graph_neighbourhood,
    graph_nodes,
    merge_triple_metadata,
    new_in_batch,
    triple_text,
    word_terms,
)

__all__ = ["PostgresGraphStore"]

_DEADLOCK_RETRIES = 8
REEMBED_BATCH = 500


def _is_deadlock(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and isinstance(exc.cause, psycopg.errors.DeadlockDetected)


GRAPH_MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE {s}.graph_triples (
            id text PRIMARY KEY,
            seq bigserial NOT NULL UNIQUE,
            subject text NOT NULL,
            predicate text NOT NULL,
            object text NOT NULL,
            user_id text,
            metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at timestamptz NOT NULL,
            embedding bytea,
            embedding_model text,
            search tsvector GENERATED ALWAYS AS (
                to_tsvector('simple'::regconfig, subject || ' ' || predicate || ' ' || object)
            ) STORED
        );
        CREATE INDEX graph_triples_user_seq ON {s}.graph_triples (user_id, seq);
        CREATE INDEX graph_triples_subject ON {s}.graph_triples (subject, user_id);
        CREATE INDEX graph_triples_object ON {s}.graph_triples (object, user_id);
        CREATE INDEX graph_triples_search ON {s}.graph_triples USING gin (search);
        """,
    ),
)

_COLUMNS = "id, seq, subject, predicate, object, user_id, metadata, created_at"


def _triple(row: Mapping[str, Any]) -> Triple:
    return Triple(
        id=row["id"],
        subject=row["subject"],
        predicate=row["predicate"],
        object=row["object"],
        user_id=row["user_id"],
        metadata=row["metadata"] or {},
        created_at=as_utc(row["created_at"]),
    )


def _vector_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


class PostgresGraphConfig(PostgresConfig):
    """The graph store's config: the shared keys plus how many triples a search scans."""

    search_scan_limit: int = Field(20_000, ge=1, le=10_000_000)


class PostgresGraphStore(PostgresStore):
    """Triples in `<schema>.graph_triples`, creation order from a bigserial `seq`.

    Each triple keeps the embedding of "subject predicate object" as little-endian float32 bytes
    (no pgvector needed) plus the embedder it came from. Search takes as candidates every triple of
    the scope whose words match the query (full-text index; also trigram-similar ones when the
    database has pg_trgm) and the newest `search_scan_limit` triples of the scope, then scores them
    in numpy with `shared.graph_match_score`, exactly as the reference provider does. While the
    scope holds at most `search_scan_limit` triples, the ranking equals the reference's.
    """

    kind = "graph"
    migrations = GRAPH_MIGRATIONS
    config_model = PostgresGraphConfig

    def __init__(
        self, *, embedder: Embedder | None = None, search_scan_limit: int = 20_000, **kwargs: Any
    ) -> None:
        super().__init__(embedder=embedder, **kwargs)
        self.search_scan_limit = search_scan_limit
        # The advisory-lock class of this schema's triples (keys are the ids' hashtext).
        digest = hashlib.sha256(f"memio:{self.schema}.graph_triples".encode()).digest()
        self._lock_class = int.from_bytes(digest[:4], "big", signed=True)
        self._trigram: str | None = None  # schema of pg_trgm when the database has it

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: ProviderContext) -> PostgresGraphStore:
        return cls(embedder=context.embedder, **cls.config_kwargs(config))

    async def _after_migrate(self, conn: Any) -> None:
        # pg_trgm is optional and never installed by memio (CREATE EXTENSION is the DBA's call).
        # regnamespace::text quotes the schema name where SQL needs it.
        cur = await conn.execute(
            "SELECT extnamespace::regnamespace::text AS ns FROM pg_extension"
            " WHERE extname = 'pg_trgm'"
        )
        row = await cur.fetchone()
        self._trigram = row["ns"] if row else None
        if self._trigram is None:
            return
        cur = await conn.execute(
            "SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
            (self.schema, "graph_triples_trgm"),
        )
        if await cur.fetchone() is None:  # only the first open after pg_trgm appeared builds it
            await conn.execute(
                f"CREATE INDEX graph_triples_trgm ON {self.s}.graph_triples"
                f" USING gin ((subject || ' ' || object) {self._trigram}.gin_trgm_ops)"
            )

    @staticmethod
    def _scope(user_id: str | None, shared: bool = False) -> tuple[str, tuple[Any, ...]]:
        """SQL for the triples a call may see: every triple without a user_id; the user's, plus
        with `shared` (include_shared) the ones nobody owns."""
        if user_id is None:
            return "TRUE", ()
        if shared:
            return "(user_id = %s OR user_id IS NULL)", (user_id,)
        return "user_id = %s", (user_id,)

    # -- writes ----------------------------------------------------------------------------

    async def add(self, *, triples: list[Triple]) -> list[Triple]:
        planned = [(triple.id, triple) for triple in triples]
        # One row per distinct triple; repeats within the batch merge their metadata in order.
        unique: dict[str, Triple] = {}
        for tid, triple in planned:
            seen = unique.get(tid)
            if seen is None:
                unique[tid] = triple.model_copy(deep=True)
            else:
                seen.metadata = {**seen.metadata, **triple.metadata}
        async with self.connection("add") as conn:
            cur = await conn.execute(
                f"SELECT id FROM {self.s}.graph_triples"
                " WHERE id = ANY(%s) AND embedding IS NOT NULL AND embedding_model = %s",
                (list(unique), self._embedding_model()),
            )
            embedded = {row["id"] for row in await cur.fetchall()}
        # Embed only new triples, outside any transaction. A triple deleted meanwhile is
        # inserted without an embedding; search embeds such rows when it meets them.
        new = [t for tid, t in unique.items() if tid not in embedded]
        vectors = await self._embed([triple_text(t.subject, t.predicate, t.object) for t in new])
        fresh = {t.id: _vector_bytes(v) for t, v in zip(new, vectors, strict=True)}
        model = self._embedding_model()
        now = utcnow()
        # Rows in input order: `seq` (creation order) follows the batch.
        rows = [
            (
                tid,
                t.subject,
                t.predicate,
                t.object,
                t.user_id,
                Jsonb(t.metadata),
                now,
                fresh.get(tid),
                model if tid in fresh else None,
            )
            for tid, t in unique.items()
        ]
        # Two writers touching the same triples in different orders (another batch, a delete by
        # entity) can deadlock; PostgreSQL aborts one. The upsert is idempotent and its
        # transaction was rolled back, so it runs again, after a random pause: writers retrying
        # in step would only meet again.
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_is_deadlock),
            stop=stop_after_attempt(_DEADLOCK_RETRIES),
            wait=wait_random_exponential(multiplier=0.02, max=1.0),
            reraise=True,
        ):
            with attempt:
                stored = await self._upsert(rows, [triple for _, triple in planned])
        return [stored[tid].model_copy(deep=True) for tid, _ in planned]

    async def _upsert(
        self, rows: list[tuple[Any, ...]], planned: Sequence[Triple]
    ) -> dict[str, Triple]:
        stored: dict[str, Triple] = {}
        async with (
            self.connection("add") as conn,
            conn.transaction(),
            conn.cursor() as cur,
        ):
            # Lock the batch's triples in one global order first: concurrent batches then queue
            # on each other instead of deadlocking on the unique index in their input orders.
            await cur.execute(
                "SELECT pg_advisory_xact_lock(%s, k) FROM (SELECT DISTINCT hashtext(id) AS k"
                " FROM unnest(%s::text[]) AS id ORDER BY k) AS ordered",
                (self._lock_class, [row[0] for row in rows]),
            )
            # The merges must fit the metadata caps: checked on what is stored now, under the
            # locks, before anything is written (raising rolls the transaction back).
            await cur.execute(
                f"SELECT id, metadata FROM {self.s}.graph_triples WHERE id = ANY(%s)",
                ([row[0] for row in rows],),
            )
            merge_triple_metadata(planned, {r["id"]: r["metadata"] for r in await cur.fetchall()})
            await cur.executemany(
                f"INSERT INTO {self.s}.graph_triples AS t"
                " (id, subject, predicate, object, user_id, metadata, created_at,"
                " embedding, embedding_model) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET metadata = t.metadata || EXCLUDED.metadata,"
                " embedding = COALESCE(EXCLUDED.embedding, t.embedding),"
                " embedding_model = CASE WHEN EXCLUDED.embedding IS NULL"
                " THEN t.embedding_model ELSE EXCLUDED.embedding_model END"
                f" RETURNING {_COLUMNS}",
                rows,
                returning=True,
            )
            while True:
                row = await cur.fetchone()
                if row is not None:
                    stored[row["id"]] = _triple(row)
                if not cur.nextset():
                    break
        return stored

    async def restore(self, *, triples: list[Triple]) -> list[bool]:
        vectors = await self._embed(
            [triple_text(t.subject, t.predicate, t.object) for t in triples]
        )
        model = self._embedding_model()
        ids = [str(t.id) for t in triples]
        async with self.connection("restore") as conn, conn.transaction():
            cur = await conn.execute(
                f"SELECT id FROM {self.s}.graph_triples WHERE id = ANY(%s)", (ids,)
            )
            plan = new_in_batch(ids, {row["id"] for row in await cur.fetchall()})
            rows = [
                (
                    t.id,
                    t.subject,
                    t.predicate,
                    t.object,
                    t.user_id,
                    Jsonb(t.metadata),
                    t.created_at,
                    _vector_bytes(vector),
                    model,
                )
                for t, vector, write in zip(triples, vectors, plan, strict=True)
                if write
            ]
            if rows:
                async with conn.cursor() as insert:
                    await insert.executemany(
                        f"INSERT INTO {self.s}.graph_triples"
                        " (id, subject, predicate, object, user_id, metadata, created_at,"
                        " embedding, embedding_model)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        rows,
                    )
        return plan

    async def delete(
        self, *, entity: str | None, triple_id: str | None, user_id: str | None
    ) -> int:
        scope, scope_params = self._scope(user_id)
        if triple_id is not None:
            sql = f"DELETE FROM {self.s}.graph_triples WHERE id = %s AND {scope}"
            params: tuple[Any, ...] = (triple_id, *scope_params)
            missing = NotFoundError("triple", triple_id)
        else:
            sql = (
                f"DELETE FROM {self.s}.graph_triples"
                f" WHERE (subject = %s OR object = %s) AND {scope}"
            )
            params = (entity, entity, *scope_params)
            missing = NotFoundError("entity", str(entity))
        async with self.connection("delete") as conn:
            cur = await conn.execute(sql, params)
            deleted = cur.rowcount
        if deleted == 0:
            raise missing
        return deleted

    async def delete_all(self, *, user_id: str | None) -> int:
        scope, scope_params = self._scope(user_id)
        async with self.connection("delete_all") as conn:
            cur = await conn.execute(
                f"DELETE FROM {self.s}.graph_triples WHERE {scope}", scope_params
            )
            return cur.rowcount

    # -- reads -----------------------------------------------------------------------------

    async def get(
        self, *, entity: str, user_id: str | None, shared: bool, depth: int
    ) -> GraphResult:
        scope, scope_params = self._scope(user_id, shared)
        async with self.connection("get") as conn:
            if depth == 1:
                cur = await conn.execute(
                    f"SELECT {_COLUMNS} FROM {self.s}.graph_triples"
                    f" WHERE (subject = %s OR object = %s) AND {scope} ORDER BY seq",
                    (entity, entity, *scope_params),
                )
            else:
                # reach: the entities within depth - 1 hops of `entity` (hop 1 is the entity);
                # the answer: every triple touching one of them, i.e. within `depth` hops.
                # UNION drops repeated (entity, hop) rows, so cycles cannot grow the recursion.
                cur = await conn.execute(
                    f"""
                    WITH RECURSIVE reach(entity, hop) AS (
                        SELECT %s::text, 1
                        UNION
                        SELECT next.entity, reach.hop + 1
                        FROM reach CROSS JOIN LATERAL (
                            SELECT t.object AS entity FROM {self.s}.graph_triples AS t
                            WHERE t.subject = reach.entity AND {scope}
                            UNION
                            SELECT t.subject FROM {self.s}.graph_triples AS t
                            WHERE t.object = reach.entity AND {scope}
                        ) AS next
                        WHERE reach.hop < %s
                    ),
                    entities AS (SELECT DISTINCT entity FROM reach)
                    SELECT {_COLUMNS} FROM {self.s}.graph_triples
                    WHERE {scope} AND (
                        subject IN (SELECT entity FROM entities)
                        OR object IN (SELECT entity FROM entities)
                    )
                    ORDER BY seq
                    """,
                    (entity, *scope_params, *scope_params, depth, *scope_params),
                )
            rows = await cur.fetchall()
        return graph_neighbourhood([_triple(row) for row in rows], entity)

    async def get_all(
        self, *, user_id: str | None, shared: bool, limit: int, cursor: str | None
    ) -> GraphResult:
        listing = listing_scope("triples", user_id, shared)
        after = int_position(decode_cursor(cursor, scope=listing))
        scope, scope_params = self._scope(user_id, shared)
        async with self.connection("get_all") as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM {self.s}.graph_triples"
                f" WHERE {scope} AND seq > %s ORDER BY seq LIMIT %s",
                (*scope_params, after, limit + 1),
            )
            rows = await cur.fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        triples = [_triple(row) for row in rows]
        next_cursor = encode_cursor({"after": rows[-1]["seq"]}, scope=listing) if more else None
        return GraphResult(triples=triples, nodes=graph_nodes(triples), next_cursor=next_cursor)

    async def search(
        self, *, query: str, user_id: str | None, shared: bool, limit: int
    ) -> GraphResult:
        rows = await self._candidates(query, user_id, shared)
        if not rows:
            return GraphResult()
        vector = (await self._embed([query]))[0]
        model = self._embedding_model()
        stale = [r for r in rows if r["embedding"] is None or r["embedding_model"] != model]
        if stale:
            await self._reembed(stale, model)
        matrix = np.stack([np.frombuffer(r["embedding"], dtype="<f4") for r in rows])
        similarities = matrix @ vector
        terms = word_terms(query)
        scored = []
        for row, similarity in zip(rows, similarities, strict=True):
            text = triple_text(row["subject"], row["predicate"], row["object"])
            score = graph_match_score(terms, text, float(similarity))
            if score > 0:
                scored.append((row, score))
        scored.sort(key=lambda pair: (-pair[1], pair[0]["seq"]))
        top = scored[:limit]
        triples = [_triple(row) for row, _ in top]
        return GraphResult(triples=triples, nodes=graph_nodes(triples), scores=[s for _, s in top])

    async def _candidates(
        self, query: str, user_id: str | None, shared: bool
    ) -> list[dict[str, Any]]:
        """Word (and trigram) matches of the scope plus its newest `search_scan_limit` triples,
        in creation order."""
        scope, scope_params = self._scope(user_id, shared)
        table = f"{self.s}.graph_triples"
        parts = [f"(SELECT id FROM {table} WHERE {scope} ORDER BY seq DESC LIMIT %s)"]
        params: list[Any] = [*scope_params, self.search_scan_limit]
        words = query_words(query)  # all of them are still scored, in Python
        if words:
            tsquery = any_word_tsquery(len(words))
            parts.append(f"SELECT id FROM {table} WHERE {scope} AND search @@ ({tsquery})")
            params += [*scope_params, *words]
        async with self.connection("search") as conn:
            if self._trigram is not None:  # known once the store is open
                # Near spellings of the entities ("Acme Corp" for "acme corp."): pg_trgm's `%`
                # (similarity above pg_trgm.similarity_threshold), served by graph_triples_trgm.
                parts.append(
                    f"SELECT id FROM {table} WHERE {scope}"
                    f" AND (subject || ' ' || object) OPERATOR({self._trigram}.%%) %s"
                )
                params += [*scope_params, query]
            cur = await conn.execute(
                f"SELECT {_COLUMNS}, embedding, embedding_model FROM {table}"
                f" WHERE id IN ({' UNION '.join(parts)}) ORDER BY seq",
                params,
            )
            return await cur.fetchall()

    async def _reembed(self, rows: list[dict[str, Any]], model: str) -> None:
        """Embed rows stored without an embedding or by another embedder, and keep the result."""
        texts = [triple_text(r["subject"], r["predicate"], r["object"]) for r in rows]
        vectors = await self._embed(texts)
        for row, vector in zip(rows, vectors, strict=True):
            row["embedding"] = _vector_bytes(vector)
            row["embedding_model"] = model
        async with self.connection("search") as conn, conn.cursor() as cur:
            await cur.executemany(
                f"UPDATE {self.s}.graph_triples SET embedding = %s, embedding_model = %s"
                " WHERE id = %s",
                [(row["embedding"], model, row["id"]) for row in rows],
            )

    async def reembed(self, *, progress: Callable[[int], None] | None = None) -> int:
        """Every triple another embedder made (each keeps its model beside it) re-embedded now,
        a batch at a time, instead of when a search first meets it."""
        model = self._embedding_model()
        done = 0
        while True:
            async with self.connection("reembed") as conn:
                cur = await conn.execute(
                    f"SELECT {_COLUMNS} FROM {self.s}.graph_triples"
                    " WHERE embedding IS NULL OR embedding_model IS DISTINCT FROM %s"
                    " ORDER BY seq LIMIT %s",
                    (model, REEMBED_BATCH),
                )
                rows = await cur.fetchall()
            if not rows:
                return done
            await self._reembed(rows, model)
            done += len(rows)
            if progress is not None:
                progress(len(rows))

    async def count(self) -> int:
        async with self.connection("count") as conn:
            cur = await conn.execute(f"SELECT count(*) AS n FROM {self.s}.graph_triples")
            row = await cur.fetchone()
        return int(row["n"]) if row else 0

    # -- embeddings ------------------------------------------------------------------------

    def _embedding_model(self) -> str:
        embedder = self._require_embedder()
        return f"{getattr(embedder, 'model', 'unknown')}/{embedder.dimensions}"

    def _require_embedder(self) -> Embedder:
        if self.embedder is None:
            raise RuntimeError("PostgresGraphStore needs an embedder")
        return self.embedder

    async def _embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._require_embedder().dimensions), dtype=np.float32)
        vectors = await self._require_embedder().embed(list(texts))
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
