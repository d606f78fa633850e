"""`memio reembed` for a pgvector store: every vector recomputed by the configured embedder.

`vector(N)` fixes the dimension, so the new vectors go into a column of their own
(``embedding_next``), filled a batch per transaction; then one transaction, holding the table
exclusively, swaps it in for ``embedding``, rebuilds the HNSW index and records the new embedder in
``memio_embedders``. Until that commit the store keeps its old vectors and embedder; an
interrupted run is resumed by the next one (rows already filled are skipped) and a column left for
another embedder is started again. Run it with no server writing to the store: a row added
meanwhile stops the swap, which says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from memio.errors import ProviderError
from memio.providers.postgres._base import PROVIDER

if TYPE_CHECKING:
    from memio.providers.postgres._vector import PostgresVectorStore

__all__ = ["reembed"]

NEXT = "embedding_next"
BATCH = 500


async def reembed(store: PostgresVectorStore, progress: Callable[[int], None]) -> int:
    """How many rows got new vectors (0: they already were the configured embedder's)."""
    wanted = f"vector({store.dimensions})"
    async with store.connection("reembed") as conn:
        recorded = await _recorded(conn, store)
        column = await _next_column(conn, store)
        if recorded == (store.embedder.model, store.dimensions):
            if column is not None:  # left by a run for another embedder, since reverted
                await conn.execute(f"ALTER TABLE {store.t} DROP COLUMN {NEXT}")
            return 0
        if column is not None and column != wanted:
            await conn.execute(f"ALTER TABLE {store.t} DROP COLUMN {NEXT}")
            column = None
        if column is None:
            await conn.execute(f"ALTER TABLE {store.t} ADD COLUMN {NEXT} {store.vector_type}")
    done = await _fill(store, progress)
    await _swap(store)
    return done


async def _recorded(conn: Any, store: PostgresVectorStore) -> tuple[str, int] | None:
    cur = await conn.execute(
        f"SELECT model, dimensions FROM {store.s}.memio_embedders WHERE kind = %s", (store.kind,)
    )
    row = await cur.fetchone()
    return None if row is None else (row["model"], int(row["dimensions"]))


async def _next_column(conn: Any, store: PostgresVectorStore) -> str | None:
    """The type of the half-filled column (``vector(N)``), or None when there is none."""
    cur = await conn.execute(
        "SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attname = %s AND NOT attisdropped",
        (store.t, NEXT),
    )
    row = await cur.fetchone()
    return None if row is None else str(row["type"]).rsplit(".", 1)[-1]


async def _fill(store: PostgresVectorStore, progress: Callable[[int], None]) -> int:
    done, after = 0, 0
    while True:
        async with store.connection("reembed") as conn:
            cur = await conn.execute(
                f"SELECT seq, id, content FROM {store.t} WHERE {NEXT} IS NULL AND seq > %s"
                " ORDER BY seq LIMIT %s",
                (after, BATCH),
            )
            rows = await cur.fetchall()
        if not rows:
            return done
        vectors = await store.embed([row["content"] for row in rows])
        async with (
            store.connection("reembed") as conn,
            conn.transaction(),
            conn.cursor() as cur,
        ):
            await cur.executemany(
                f"UPDATE {store.t} SET {NEXT} = %s WHERE id = %s",
                [(vector, row["id"]) for vector, row in zip(vectors, rows, strict=True)],
            )
        done += len(rows)
        after = rows[-1]["seq"]
        progress(len(rows))


async def _swap(store: PostgresVectorStore) -> None:
    index = f"{store.table}_embedding"
    async with store.connection("reembed") as conn, conn.transaction():
        await conn.execute(f"LOCK TABLE {store.t} IN ACCESS EXCLUSIVE MODE")
        cur = await conn.execute(f"SELECT count(*) AS n FROM {store.t} WHERE {NEXT} IS NULL")
        row = await cur.fetchone()
        if row and row["n"]:
            raise ProviderError(
                f"{row['n']} {store.kind} were written while they were re-embedded: stop every "
                "server writing to this schema and run memio reembed again",
                provider=PROVIDER,
                operation="reembed",
            )
        await conn.execute(f"DROP INDEX IF EXISTS {store.s}.{index}")
        await conn.execute(f"ALTER TABLE {store.t} DROP COLUMN embedding")
        await conn.execute(f"ALTER TABLE {store.t} RENAME COLUMN {NEXT} TO embedding")
        await conn.execute(f"ALTER TABLE {store.t} ALTER COLUMN embedding SET NOT NULL")
        await conn.execute(
            f"CREATE INDEX {index} ON {store.t} USING hnsw (embedding {store.cosine_ops})"
        )
        await conn.execute(
            f"UPDATE {store.s}.memio_embedders SET model = %s, dimensions = %s, created_at = now()"
            " WHERE kind = %s",
            (store.embedder.model, store.dimensions, store.kind),
        )
