"""Conversation history in PostgreSQL: sessions, ordered messages, full-text search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg.types.json import Jsonb

from memio.errors import ConflictError, NotFoundError
from memio.models import Message, Page, utcnow
from memio.pagination import check_limit, decode_cursor, encode_cursor, int_position
from memio.providers._shared import (
    ProviderContext,
    message_batch,
    new_id,
    optional_text,
    require_text,
)
from memio.providers.postgres._base import (
    TS_CONFIG,
    PostgresStore,
    any_word_tsquery,
    as_utc,
    query_words,
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
)

_COLUMNS = "position, id, role, content, name, metadata, created_at"


def _message(row: Mapping[str, Any], score: float | None = None) -> Message:
    return Message(
        id=row["id"],
        role=row["role"],
        content=row["content"],
        name=row["name"],
        metadata=row["metadata"] or {},
        timestamp=as_utc(row["created_at"]),
        score=score,
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
        return cls(**cls.config_kwargs(config))

    # -- writes ----------------------------------------------------------------------------

    async def add(
        self,
        *,
        session_id: str,
        messages: Sequence[Message | Mapping[str, Any]],
        user_id: str | None = None,
    ) -> list[Message]:
        require_text(session_id, field="session_id")
        optional_text(user_id, field="user_id")
        batch = message_batch(messages)
        now = utcnow()
        stored = [
            m.model_copy(
                update={
                    "id": m.id or new_id(),
                    "timestamp": as_utc(m.timestamp) or now,
                    "score": None,
                }
            )
            for m in batch
        ]
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
                    " (session_id, position, id, role, content, name, metadata, created_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
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
                        )
                        for i, m in enumerate(stored)
                    ],
                )
        return stored

    async def delete(self, *, session_id: str, user_id: str | None = None) -> None:
        require_text(session_id, field="session_id")
        optional_text(user_id, field="user_id")
        async with self.connection("delete") as conn:
            cur = await conn.execute(
                f"DELETE FROM {self.s}.history_sessions WHERE session_id = %s"
                " AND (%s::text IS NULL OR user_id = %s) RETURNING 1",
                (session_id, user_id, user_id),
            )
            if await cur.fetchone() is None:
                raise NotFoundError("session", session_id)

    async def delete_all(self, *, user_id: str | None = None) -> int:
        optional_text(user_id, field="user_id")
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
        self,
        *,
        session_id: str,
        limit: int = 50,
        cursor: str | None = None,
        user_id: str | None = None,
    ) -> Page[Message]:
        require_text(session_id, field="session_id")
        optional_text(user_id, field="user_id")
        check_limit(limit)
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
        require_text(session_id, field="session_id")
        async with self.connection("owner") as conn:
            cur = await conn.execute(
                f"SELECT user_id FROM {self.s}.history_sessions WHERE session_id = %s",
                (session_id,),
            )
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError("session", session_id)
        return row["user_id"]

    async def get_all(
        self, *, user_id: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[str]:
        check_limit(limit)
        optional_text(user_id, field="user_id")
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

    async def search(
        self,
        *,
        session_id: str,
        query: str,
        limit: int = 10,
        user_id: str | None = None,
    ) -> list[Message]:
        require_text(session_id, field="session_id")
        require_text(query, field="query")
        optional_text(user_id, field="user_id")
        check_limit(limit)
        words = query_words(query)
        async with self.connection("search") as conn:
            await self._check_session(conn, session_id, user_id)
            if not words:
                return []
            # Each word through plainto_tsquery (which accepts any input), ORed: a message
            # matches when it holds any of the words; the GIN index finds those.
            # Ranking: first how many distinct query words the message holds, then
            # ts_rank_cd(..., 32), which is rank / (rank + 1), in [0, 1).
            any_word = any_word_tsquery(len(words))
            cur = await conn.execute(
                f"SELECT {_COLUMNS}, ts_rank_cd(m.search, q.any_word, 32) AS rank,"
                " (SELECT count(*) FROM unnest(q.each_word) AS w(query)"
                "  WHERE m.search @@ w.query) AS matched"
                f" FROM {self.s}.history_messages AS m, (SELECT {any_word} AS any_word,"
                f" ARRAY(SELECT plainto_tsquery('{TS_CONFIG}'::regconfig, t)"
                "  FROM unnest(%s::text[]) AS t) AS each_word) AS q"
                " WHERE m.session_id = %s AND m.search @@ q.any_word"
                " ORDER BY matched DESC, rank DESC, m.position LIMIT %s",
                (*words, words, session_id, limit),
            )
            rows = await cur.fetchall()
        return [
            _message(row, score=_score(row["matched"], row["rank"], len(words))) for row in rows
        ]

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


def _score(matched: int, rank: float, words: int) -> float:
    """(words matched + ts_rank_cd in [0, 1)) / (query words + 1): in [0, 1), ordered like the
    ranking (more distinct query words first, then the cover-density rank)."""
    value = (int(matched) + min(max(float(rank), 0.0), 1.0)) / (words + 1)
    return min(1.0, max(0.0, value))
