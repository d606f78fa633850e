"""What the facts and documents stores share on pgvector: the extension, the embedder check, vector
adaptation, search settings and the exact JSON of metadata.

- The `vector` extension must exist in the database (memio creates it when the role may, else the
  open fails saying what to run). Its schema is looked up, and types, operators and the operator
  class are schema-qualified, so it works whatever the search_path.
- `<schema>.memio_embedders` records, per store kind, the embedding model and dimension the
  stored vectors came from (the first open writes it). An open with another embedder fails with
  `EmbedderMismatchError`, saying how to re-embed; so does the server's start
  (`check_embedder`, called before it serves).
- Search orders by cosine distance (``<=>``, HNSW index ``vector_cosine_ops``), ties in creation
  order within the page (`by_distance`); ``hnsw.ef_search`` is raised to the page size and,
  with pgvector 0.8+, ``hnsw.iterative_scan = strict_order`` keeps scanning the index until
  enough rows pass the scope and filters (instead of returning fewer).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np
import psycopg
from pgvector import Vector
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.types import TypeInfo
from psycopg.types.json import Jsonb

from memio import ranking
from memio.errors import REEMBED_HINT, EmbedderMismatchError, ProviderError
from memio.models import MetadataValue
from memio.protocols import Embedder
from memio.providers.postgres._base import PROVIDER, PostgresStore
from memio.providers.postgres._reembed import reembed
from memio.providers.shared import ProviderContext, check_embedder_on_open

__all__ = [
    "EMBEDDERS_TABLE",
    "PostgresVectorStore",
    "by_distance",
    "metadata_jsonb",
    "returned_rows",
]

# The oldest pgvector with HNSW, and the first with iterative index scans.
MIN_PGVECTOR = (0, 5, 0)
ITERATIVE_SCAN = (0, 8, 0)
# hnsw.ef_search accepts 1..1000; pgvector's default is 40.
_EF_SEARCH_DEFAULT = 40
_EF_SEARCH_MAX = 1000

# Part of the first migration of facts and of documents (whichever comes first makes it).
EMBEDDERS_TABLE = """
CREATE TABLE IF NOT EXISTS {s}.memio_embedders (
    kind text PRIMARY KEY,
    model text NOT NULL,
    dimensions integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _number(value: float) -> str:
    # JSONB keeps a number's decimal digits but not Python's exponent form: 1e+16 would come
    # back as the integer 10000000000000000. Spelled out with a fraction it stays a float.
    text = repr(value)
    return format(value, ".1f") if "e+" in text else text


def _value_json(value: MetadataValue) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return _number(value)
    if isinstance(value, list):
        return "[" + ",".join(_value_json(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _metadata_dumps(metadata: Mapping[str, MetadataValue]) -> str:
    return (
        "{"
        + ",".join(
            json.dumps(key, ensure_ascii=False) + ":" + _value_json(value)
            for key, value in metadata.items()
        )
        + "}"
    )


def metadata_jsonb(metadata: Mapping[str, MetadataValue]) -> Jsonb:
    """Validated metadata as JSONB that reads back with the same types (floats stay floats)."""
    return Jsonb(dict(metadata), dumps=_metadata_dumps)


def by_distance(rows: list[Any]) -> list[Any]:
    """Search rows nearest first, equal distances in creation order. The query orders by the
    distance alone (a second sort key would keep PostgreSQL from using the HNSW index), so ties
    are ordered here, within the page."""
    return sorted(rows, key=lambda row: (float(row["distance"]), row["seq"]))


R = TypeVar("R")


class _VectorDumper(Dumper):
    """numpy vectors as pgvector's binary `vector` (`pgvector.Vector` knows the format); the
    subclass made per store sets the type's oid, looked up in the extension's schema."""

    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return Vector(obj).to_binary()


async def returned_rows(cur: Any) -> list[Any]:
    """Every row an ``executemany(..., returning=True)`` returned, in input order."""
    rows = []
    while True:
        rows.extend(await cur.fetchall())
        if not cur.nextset():
            return rows


class PostgresVectorStore(PostgresStore):
    """A store of embedded texts in `<schema>.<table>` with a pgvector column."""

    table: ClassVar[str]

    def __init__(self, *, embedder: Embedder, **kwargs: Any) -> None:
        super().__init__(embedder=embedder, **kwargs)
        self.embedder: Embedder = embedder
        self.dimensions = int(embedder.dimensions)
        self.t = f"{self.s}.{self.table}"
        self._vector_schema = "public"
        self._vector_version: tuple[int, ...] = MIN_PGVECTOR
        self._vector_dumper: type[Dumper] | None = None
        self._reembedding = False  # opened by `reembed`: the recorded embedder may differ

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: ProviderContext) -> Any:
        return cls(embedder=context.embedder, **cls.config_kwargs(config))

    # -- open ------------------------------------------------------------------------------

    async def _before_migrate(self, conn: psycopg.AsyncConnection[Any], current: int) -> None:
        row = await self._vector_extension(conn)
        if row is None:
            try:
                async with conn.transaction():  # a savepoint: a refusal leaves the rest usable
                    await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as exc:
                raise ProviderError(
                    "the database has no pgvector extension and this role cannot create it "
                    f"({type(exc).__name__}: {exc}); install pgvector on the server and run "
                    "CREATE EXTENSION vector; in the database as its owner or a superuser",
                    provider=PROVIDER,
                    operation="migrate",
                    cause=exc,
                ) from exc
            row = await self._vector_extension(conn)
            assert row is not None
        self._vector_schema = row["ns"]
        self._vector_version = _version(row["extversion"])
        if self._vector_version < MIN_PGVECTOR:
            raise ProviderError(
                f"pgvector {row['extversion']} has no HNSW index; memio needs pgvector 0.5 or "
                "newer (ALTER EXTENSION vector UPDATE; after installing it)",
                provider=PROVIDER,
                operation="migrate",
            )

    @staticmethod
    async def _vector_extension(conn: psycopg.AsyncConnection[Any]) -> Any:
        cur = await conn.execute(
            "SELECT extnamespace::regnamespace::text AS ns, extversion FROM pg_extension"
            " WHERE extname = 'vector'"
        )
        return await cur.fetchone()

    @property
    def vector_type(self) -> str:
        """The column type of this embedder's vectors, schema-qualified."""
        return f"{self._vector_schema}.vector({self.dimensions})"

    @property
    def cosine_ops(self) -> str:
        """The HNSW operator class of cosine distance, schema-qualified."""
        return f"{self._vector_schema}.vector_cosine_ops"

    def _migration_sql(self, statements: str) -> str:
        return (
            super()
            ._migration_sql(statements)
            .replace("{vector}", self.vector_type)
            .replace("{cosine_ops}", self.cosine_ops)
        )

    async def _after_migrate(self, conn: psycopg.AsyncConnection[Any]) -> None:
        model = self.embedder.model
        await conn.execute(
            f"INSERT INTO {self.s}.memio_embedders (kind, model, dimensions) VALUES (%s, %s, %s)"
            " ON CONFLICT (kind) DO NOTHING",
            (self.kind, model, self.dimensions),
        )
        cur = await conn.execute(
            f"SELECT model, dimensions FROM {self.s}.memio_embedders WHERE kind = %s",
            (self.kind,),
        )
        row = await cur.fetchone()
        assert row is not None
        if (row["model"], row["dimensions"]) != (model, self.dimensions) and not self._reembedding:
            raise EmbedderMismatchError(
                f"schema {self.schema!r} holds {self.kind} embedded by {row['model']!r} "
                f"({row['dimensions']} dimensions) but the configured embedder is {model!r} "
                f"({self.dimensions} dimensions), whose vectors cannot be compared with them. "
                f"Configure the embedder they were made with, or recompute them: {REEMBED_HINT}",
                provider=PROVIDER,
                stored_model=row["model"],
                stored_dimensions=int(row["dimensions"]),
                model=model,
                dimensions=self.dimensions,
            )
        info = await TypeInfo.fetch(conn, f"{self._vector_schema}.vector")
        if info is None:
            raise ProviderError(
                "the vector type of pgvector is missing", provider=PROVIDER, operation="migrate"
            )
        self._vector_dumper = type("VectorDumper", (_VectorDumper,), {"oid": info.oid})

    async def _configure_connection(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self._vector_dumper is not None:
            conn.adapters.register_dumper(np.ndarray, self._vector_dumper)

    async def check_embedder(self, timeout: float = 15.0) -> None:
        """Before the server serves: another embedder's vectors stop the start."""
        await check_embedder_on_open(self.ping(), timeout)

    async def reembed(self, *, progress: Callable[[int], None] | None = None) -> int:
        """Every vector recomputed by the configured embedder (see `_reembed`); the store is
        closed afterwards, so its next use opens it with the embedder it now records."""
        await self.aclose()
        self._reembedding = True
        try:
            return await reembed(self, progress or (lambda n: None))
        finally:
            await self.aclose()
            self._reembedding = False

    # -- helpers for the stores ------------------------------------------------------------

    @property
    def distance(self) -> str:
        """The cosine distance operator, schema-qualified."""
        return f"OPERATOR({self._vector_schema}.<=>)"

    async def count(self) -> int:
        """The stored facts or documents (not their history)."""
        async with self.connection("count") as conn:
            cur = await conn.execute(f"SELECT count(*) AS n FROM {self.t}")
            row = await cur.fetchone()
        return int(row["n"]) if row else 0

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.asarray(await self.embedder.embed(list(texts)), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dimensions:
            raise ProviderError(
                f"the embedder returned vectors of shape {vectors.shape}, expected "
                f"({len(texts)}, {self.dimensions})",
                provider=PROVIDER,
                operation="embed",
            )
        return vectors

    async def search_settings(self, conn: psycopg.AsyncConnection[Any], limit: int) -> None:
        """Per-transaction HNSW settings for a search returning up to `limit` rows."""
        ef = str(min(max(_EF_SEARCH_DEFAULT, limit), _EF_SEARCH_MAX))
        if self._vector_version >= ITERATIVE_SCAN:
            await conn.execute(
                "SELECT set_config('hnsw.ef_search', %s, true),"
                " set_config('hnsw.iterative_scan', 'strict_order', true)",
                (ef,),
            )
        else:
            await conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (ef,))

    async def ranked_search(
        self,
        mode: Any,
        *,
        query: str,
        limit: int,
        columns: str,
        where: str,
        params: Sequence[Any],
        decode: Callable[..., R],
        threshold: float | None = None,
    ) -> list[R]:
        """A memio.ranking search over the rows of `self.t AS t` matching `where` (scope and
        filters, with `params`): the vector ranking by the HNSW index, the keyword candidates
        by the `search` tsvector (GIN index); `decode(row, score=...)` makes the records."""

        async def semantic(n: int) -> list[R]:
            [vector] = await self.embed([query])
            async with self.connection("search") as conn, conn.transaction():
                await self.search_settings(conn, n)
                cur = await conn.execute(
                    f"SELECT {columns}, t.embedding {self.distance} %s AS distance"
                    f" FROM {self.t} AS t WHERE {where}"
                    f" ORDER BY t.embedding {self.distance} %s LIMIT %s",
                    (vector, *params, vector, n),
                )
                rows = by_distance(await cur.fetchall())
            return [
                decode(row, score=min(1.0, max(0.0, 1.0 - float(row["distance"])))) for row in rows
            ]

        async def keyword(words: list[str]) -> tuple[list[R], int]:
            """The scope's rows whose tsvector holds a word starting with a query term (a stem),
            at most `KEYWORD_CANDIDATES`, the best by ts_rank, and how many rows the scope holds.
            Terms are letters and digits only: valid tsquery words."""
            tsquery = " | ".join(f"{word}:*" for word in words)
            async with self.connection("search") as conn:
                cur = await conn.execute(
                    f"SELECT {columns}, (SELECT count(*) FROM {self.t} AS t WHERE {where})"
                    f" AS in_scope FROM {self.t} AS t WHERE {where}"
                    " AND t.search @@ to_tsquery('simple'::regconfig, %s)"
                    " ORDER BY ts_rank(t.search, to_tsquery('simple'::regconfig, %s)) DESC, t.seq"
                    " LIMIT %s",
                    (*params, *params, tsquery, tsquery, ranking.KEYWORD_CANDIDATES),
                )
                rows = await cur.fetchall()
            return [decode(row) for row in rows], int(rows[0]["in_scope"]) if rows else 0

        return await ranking.search(
            mode, query=query, limit=limit, semantic=semantic, keyword=keyword, threshold=threshold
        )
