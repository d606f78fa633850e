"""Conversation history in PostgreSQL: sessions, ordered messages, search (memio.ranking): keyword
candidates from a tsvector (GIN index), embeddings beside the messages for semantic search."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from psycopg.types.json import Jsonb

from memio import ranking
from memio.checked import HistorySearch
from memio.errors import ConflictError, NotFoundError
from memio.models import FoundMessage, Message, Page, utcnow
from memio.pagination import decode_cursor, encode_cursor, int_position
from memio.providers.postgres._base import (
    PROVIDER,
    PostgresStore,
    as_utc,
)
from memio.providers.shared import (
    MessageVectors,
    ProviderContext,
    new_id,
)

__all__ = ["PostgresHistoryStore"]


HISTORY_MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE {s}.history_sessions (
            session_id text PRIMARY KEY,
            seq bigserial NOT NULL UNIQUE,
            user_id text,
            created_at timestamptz NOT NULL,
            next_position bigint NOT NULL DEFAULT 0
        );
        CREATE INDEX history_sessions_user_seq ON {s}.history_sessions (user_id, seq);
        CREATE TABLE {s}.history_messages (
            session_id text NOT NULL
                REFERENCES {s}.history_sessions (session_id) ON DELETE CASCADE,
            position bigint NOT NULL,
            id text NOT NULL,
            role text NOT NULL,
            content text NOT NULL,
            name text,
            metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at timestamptz NOT NULL,
            search tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, content)) STORED,
            PRIMARY KEY (session_id, position)
        );
        CREATE INDEX history_messages_search ON {s}.history_messages USING gin (search);
        """,
    ),
    (
        2,
        # Each message's embedding (float32 bytes) for semantic and hybrid search, searched by
        # brute force over the scope (a session or a user's sessions), so no pgvector is needed;
        # NULL for messages stored before (embedded by the first search that reads them).
        "ALTER TABLE {s}.history_messages ADD COLUMN IF NOT EXISTS embedding bytea;",
    ),
)

_COLUMNS = "position, id, role, content, name, metadata, created_at"


def _message(row: Mapping[str, Any], score: float | None = None) -> Message:
    return Message(**_message_fields(row), score=score)


def _found(row: Mapping[str, Any]) -> FoundMessage:
    return FoundMessage(**_message_fields(row), session_id=row["session_id"])


def _message_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    return dict(
        id=row["id"],
        role=row["role"],
        content=row["content"],
        name=row["name"],
        metadata=row["metadata"] or {},
        timestamp=as_utc(row["created_at"]),
    )


class PostgresHistoryStore(PostgresStore):
    """Sessions and their messages in `<schema>.history_sessions` / `history_messages`.

    A session row carries the next free message position; an add locks that row (via
    ``INSERT ... ON CONFLICT DO UPDATE``), so concurrent appends to one session get contiguous,
    non-overlapping positions in commit order.
    """

    kind = "history"
    migrations = HISTORY_MIGRATIONS

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], context: ProviderContext
    ) -> PostgresHistoryStore:
        store = cls(**cls.config_kwargs(config))
        store.vectors = MessageVectors(context.embedder, provider=PROVIDER)
        return store

    vectors = MessageVectors(None, provider=PROVIDER)  # keyword search only, unless from_config

    async def reembed(self, *, progress: Callable[[int], None] | None = None) -> int:
        """Every message's embedding recomputed by the configured embedder (`memio reembed`)."""
        table = f"{self.s}.history_messages"

        async def clear() -> None:
            async with self.connection("reembed") as conn:
                await conn.execute(f"UPDATE {table} SET embedding = NULL")

        async def unembedded(n: int) -> list[tuple[Any, str]]:
            async with self.connection("reembed") as conn:
                cur = await conn.execute(
                    f"SELECT session_id, position, content FROM {table}"
                    " WHERE embedding IS NULL ORDER BY session_id, position LIMIT %s",
                    (n,),
                )
                rows = await cur.fetchall()
            return [((row["session_id"], row["position"]), row["content"]) for row in rows]

        async def keep(blobs: list[tuple[Any, bytes]]) -> None:
            async with self.connection("reembed") as conn, conn.cursor() as cur:
                await cur.executemany(
                    f"UPDATE {table} SET embedding = %s WHERE session_id = %s AND position = %s",
                    [(blob, session, position) for (session, position), blob in blobs],
                )

        return await self.vectors.recompute(
            clear=clear, unembedded=unembedded, keep=keep, progress=progress
        )

    # -- writes ----------------------------------------------------------------------------

    async def add(
        self, *, session_id: str, messages: list[Message], user_id: str | None
    ) -> list[Message]:
        now = utcnow()
        stored = [
            m.model_copy(
                update={
                    "id": m.id or new_id(),
                    "timestamp": as_utc(m.timestamp) or now,
                    "score": None,
                }
            )
            for m in messages
        ]
        blobs = await self.vectors.blobs([m.content for m in stored])
        async with self.connection("add") as conn, conn.transaction():
            cur = await conn.execute(
                f"INSERT INTO {self.s}.history_sessions AS s"
                " (session_id, user_id, created_at, next_position) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (session_id) DO UPDATE"
                " SET next_position = s.next_position + EXCLUDED.next_position"
                " RETURNING s.user_id, s.next_position",
                (session_id, user_id, now, len(stored)),
            )
            row = await cur.fetchone()
            assert row is not None
            owner = row["user_id"]
            if user_id is not None and owner != user_id:
                # Rolls the transaction back: the position bump above is undone.
                raise ConflictError(
                    f"session {session_id!r} belongs to another user", field="user_id"
                )
            start = row["next_position"] - len(stored)
            async with conn.cursor() as cur:
                await cur.executemany(
                    f"INSERT INTO {self.s}.history_messages"
                    " (session_id, position, id, role, content, name, metadata, created_at,"
                    " embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            session_id,
                            start + i,
                            m.id,
                            m.role,
                            m.content,
                            m.name,
                            Jsonb(m.metadata),
                            m.timestamp,
                            blob,
                        )
                        for i, (m, blob) in enumerate(zip(stored, blobs, strict=True))
                    ],
                )
        return stored

    async def delete(self, *, session_id: str, user_id: str | None) -> None:
        async with self.connection("delete") as conn:
            cur = await conn.execute(
                f"DELETE FROM {self.s}.history_sessions WHERE session_id = %s"
                " AND (%s::text IS NULL OR user_id = %s) RETURNING 1",
                (session_id, user_id, user_id),
            )
            if await cur.fetchone() is None:
                raise NotFoundError("session", session_id)

    async def delete_all(self, *, user_id: str | None) -> int:
        async with self.connection("delete_all") as conn:
            if user_id is None:
                cur = await conn.execute(f"DELETE FROM {self.s}.history_sessions")
            else:
                cur = await conn.execute(
                    f"DELETE FROM {self.s}.history_sessions WHERE user_id = %s", (user_id,)
                )
            return cur.rowcount

    # -- reads -----------------------------------------------------------------------------

    async def get(
        self, *, session_id: str, limit: int, cursor: str | None, user_id: str | None
    ) -> Page[Message]:
        scope = {"list": "messages", "session_id": session_id, "user_id": user_id}
        position = decode_cursor(cursor, scope=scope)
        after = int_position(position, "after")
        async with self.connection("get") as conn:
            await self._check_session(conn, session_id, user_id)
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM {self.s}.history_messages"
                " WHERE session_id = %s AND position > %s ORDER BY position LIMIT %s",
                (session_id, after, limit + 1),
            )
            rows = await cur.fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor({"after": rows[-1]["position"]}, scope=scope) if more else None
        return Page([_message(row) for row in rows], next_cursor=next_cursor)

    async def owner(self, *, session_id: str) -> str | None:
        async with self.connection("owner") as conn:
            cur = await conn.execute(
                f"SELECT user_id FROM {self.s}.history_sessions WHERE session_id = %s",
                (session_id,),
            )
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError("session", session_id)
        return row["user_id"]

    async def get_all(self, *, user_id: str | None, limit: int, cursor: str | None) -> Page[str]:
        scope = {"list": "sessions", "user_id": user_id}
        after = int_position(decode_cursor(cursor, scope=scope), "after")
        async with self.connection("get_all") as conn:
            if user_id is None:
                cur = await conn.execute(
                    f"SELECT session_id, seq FROM {self.s}.history_sessions"
                    " WHERE seq > %s ORDER BY seq LIMIT %s",
                    (after, limit + 1),
                )
            else:
                cur = await conn.execute(
                    f"SELECT session_id, seq FROM {self.s}.history_sessions"
                    " WHERE user_id = %s AND seq > %s ORDER BY seq LIMIT %s",
                    (user_id, after, limit + 1),
                )
            rows = await cur.fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor({"after": rows[-1]["seq"]}, scope=scope) if more else None
        return Page([row["session_id"] for row in rows], next_cursor=next_cursor)

    async def search(self, *, request: HistorySearch) -> list[FoundMessage]:
        query, session_id, user_id = request.text, request.session_id, request.user_id
        search_mode = request.mode
        self.vectors.check(search_mode)
        if session_id is not None:
            where, params = "m.session_id = %s", (session_id,)
            async with self.connection("search") as conn:
                await self._check_session(conn, session_id, user_id)
        elif user_id is not None:
            where = f"m.session_id IN (SELECT session_id FROM {self.s}.history_sessions"
            where += " WHERE user_id = %s)"
            params = (user_id,)
        else:
            where, params = "TRUE", ()

        async def keyword(words: list[str]) -> tuple[list[FoundMessage], int]:
            """The scope's messages whose tsvector holds a word starting with a query term (a
            stem; GIN index), and how many messages the scope holds. Terms are letters and
            digits only: valid tsquery words."""
            async with self.connection("search") as conn:
                cur = await conn.execute(
                    f"SELECT {_COLUMNS}, m.session_id, (SELECT count(*)"
                    f" FROM {self.s}.history_messages AS m WHERE {where}) AS in_scope"
                    f" FROM {self.s}.history_messages AS m WHERE {where}"
                    " AND m.search @@ to_tsquery('simple'::regconfig, %s)"
                    " ORDER BY m.session_id, m.position",
                    (*params, *params, " | ".join(f"{word}:*" for word in words)),
                )
                rows = await cur.fetchall()
            return [_found(row) for row in rows], int(rows[0]["in_scope"]) if rows else 0

        async def semantic(n: int) -> list[FoundMessage]:
            async with self.connection("search") as conn:
                cur = await conn.execute(
                    f"SELECT {_COLUMNS}, m.session_id, m.embedding"
                    f" FROM {self.s}.history_messages AS m WHERE {where}"
                    " ORDER BY m.session_id, m.position",
                    params,
                )
                rows = await cur.fetchall()
            if not rows:
                return []

            async def keep(fresh: dict[int, bytes]) -> None:
                async with self.connection("search") as conn, conn.cursor() as cur:
                    await cur.executemany(
                        f"UPDATE {self.s}.history_messages SET embedding = %s"
                        " WHERE session_id = %s AND position = %s",
                        [
                            (blob, rows[i]["session_id"], rows[i]["position"])
                            for i, blob in fresh.items()
                        ],
                    )

            best = await self.vectors.nearest(
                query,
                [None if row["embedding"] is None else bytes(row["embedding"]) for row in rows],
                [row["content"] for row in rows],
                n=n,
                keep=keep,
            )
            return [_found(rows[i]).model_copy(update={"score": score}) for i, score in best]

        return await ranking.search(
            search_mode, query=query, limit=request.limit, semantic=semantic, keyword=keyword
        )

    async def count(self) -> int:
        async with self.connection("count") as conn:
            cur = await conn.execute(f"SELECT count(*) AS n FROM {self.s}.history_messages")
            row = await cur.fetchone()
        return int(row["n"]) if row else 0

    # -- helpers ---------------------------------------------------------------------------

    async def _check_session(self, conn: Any, session_id: str, user_id: str | None) -> None:
        cur = await conn.execute(
            f"SELECT user_id FROM {self.s}.history_sessions WHERE session_id = %s", (session_id,)
        )
        row = await cur.fetchone()
        if row is None or (user_id is not None and row["user_id"] != user_id):
            raise NotFoundError("session", session_id)
