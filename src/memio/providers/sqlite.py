"""Conversation history in an embedded SQLite file: the default, offline history store.

Storage: one file in WAL mode, ``<data_dir>/history.sqlite3`` unless ``config.path`` says
otherwise. ``sessions`` holds one row per session (``seq`` is its creation rank, never reused);
``messages`` holds the messages with their ``position`` in the session; ``messages_fts`` is an
FTS5 index over the messages, an external-content table that triggers keep in sync with
``messages``. The schema version is ``PRAGMA user_version``; opening migrates an older file
forward inside one write transaction (safe to race with another process doing the same).

Concurrency: every blocking call runs in ``asyncio.to_thread`` on one connection per store, guarded
by a ``threading.Lock``, so writes of one process are serialised without SQLite's busy-wait.
One process per file by default: opening takes `shared.PathLock` on ``<path>.lock`` (stores of
one process share it), so a second memio process on the same data directory fails at once naming
the holder's pid, like every embedded store. SQLite itself is safe across processes, so
``exclusive: false`` lets several processes share the file: each write is a ``BEGIN IMMEDIATE``
transaction and the connection waits up to ``busy_timeout`` seconds for another process's write
lock (meanwhile this store's other calls queue behind it). Every add is one transaction: the
ownership check, the next position and the inserts cannot interleave.

Search (memio.ranking, as for facts and documents): within one session, or across the sessions
of a user (or of the file). Keyword candidates come from FTS5: each message stores its own words,
casefolded and space-joined, in a ``terms`` column, and that is what FTS5 indexes, so the query can
never be parsed as FTS syntax (every word is a quoted phrase; quotes, ``AND``, ``*``, ``NEAR`` ...
in user input are just text); memio.ranking scores them with BM25 over the searched scope (FTS5's
own bm25() weighs words over the whole file). Semantic and hybrid search need the store's
embedder: each message's embedding is stored beside it (``embedding``, float32 bytes, computed in
the add's one batch) and searched by brute force over the scope with numpy (a scope is a session or
a user's sessions: thousands of vectors, well under a millisecond of dot products). Messages
stored before that column existed are embedded by the first search that reads them.

Paging: ``get`` pages by message position and ``get_all`` by session rank (keyset cursors from
`memio.pagination`), so concurrent appends or deletes never repeat or skip items.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from memio import ranking
from memio.checked import HistorySearch
from memio.errors import ConflictError, NotFoundError, ProviderError
from memio.models import FoundMessage, Message, Page, as_utc, utcnow
from memio.pagination import decode_cursor, encode_cursor, int_position
from memio.protocols import Embedder
from memio.providers.base import Provider
from memio.providers.shared import (
    WORD_PATTERN,  # the one definition of a word (see word_terms)
    MessageVectors,
    OpenOnce,
    PathLock,
    ProviderContext,
    new_id,
    parse_config,
    provider_errors,
)

__all__ = ["SQLiteHistoryConfig", "SQLiteHistoryStore"]

PROVIDER = "sqlite"
DEFAULT_FILE = "history.sqlite3"
# Backend failures become ProviderError by type (OperationalError is a DatabaseError; listed for
# the reader). OSError covers the data directory itself (not creatable, not writable).
BACKEND_ERRORS: tuple[type[BaseException], ...] = (
    sqlite3.OperationalError,
    sqlite3.DatabaseError,
    OSError,
)

_T = TypeVar("_T")

# Schema migrations: _MIGRATIONS[n] takes a file from user_version n to n + 1. Never edit a shipped
# step; append a new one. Each statement is idempotent so a half-applied step can be re-run; a
# (table, column, type) triple adds a column unless the table has it (ALTER TABLE cannot say so).
_MIGRATIONS: list[list[str | tuple[str, str, str]]] = [
    [
        """CREATE TABLE IF NOT EXISTS sessions (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            user_id TEXT,
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, seq)",
        """CREATE TABLE IF NOT EXISTS messages (
            mid INTEGER PRIMARY KEY,
            session INTEGER NOT NULL REFERENCES sessions (seq) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            id TEXT NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            name TEXT,
            metadata TEXT NOT NULL,
            timestamp TEXT NOT NULL,
            terms TEXT NOT NULL,
            UNIQUE (session, position)
        )""",
        # Column `session` is indexed too, so a search intersects the session's postings with the
        # query's instead of scanning every match in the file; bm25 gives it weight 0.
        """CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5 (
            terms, session,
            content = 'messages', content_rowid = 'mid',
            tokenize = 'unicode61 remove_diacritics 0'
        )""",
        """CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts (rowid, terms, session)
            VALUES (new.mid, new.terms, new.session);
        END""",
        """CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, terms, session)
            VALUES ('delete', old.mid, old.terms, old.session);
        END""",
        """CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, terms, session)
            VALUES ('delete', old.mid, old.terms, old.session);
            INSERT INTO messages_fts (rowid, terms, session)
            VALUES (new.mid, new.terms, new.session);
        END""",
    ],
    # Each message's embedding (float32 bytes) for semantic and hybrid search; NULL for messages
    # stored before (embedded by the first search that needs them) or without an embedder.
    [("messages", "embedding", "BLOB")],
]
SCHEMA_VERSION = len(_MIGRATIONS)

_MESSAGE_COLUMNS = "m.id, m.role, m.content, m.name, m.metadata, m.timestamp"


class SQLiteHistoryConfig(BaseModel):
    """``stores.history.config`` for provider "sqlite"."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(
        default=None,
        description="The database file (relative: to the working directory, as for chroma). "
        "Default: <data_dir>/history.sqlite3.",
    )
    busy_timeout: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="Seconds to wait for another process's write lock before failing.",
    )
    synchronous: Literal["normal", "full"] = Field(
        default="full",
        description="'full' syncs the WAL on every commit (survives power loss); 'normal' only "
        "at checkpoints (survives a crashed process, not a power cut).",
    )
    exclusive: bool = Field(
        default=True,
        description="Lock the file to this process (<path>.lock), so a second memio process on "
        "the same data fails at once. false: several processes share the file (SQLite is safe "
        "across processes).",
    )


def _terms_text(content: str) -> str:
    """What FTS5 indexes for a message: its words exactly as `shared.word_terms` splits them
    (casefolded runs of letters and digits), in order with repeats kept (bm25 counts them),
    space-joined so the tokenizer finds exactly these words."""
    return " ".join(WORD_PATTERN.findall(content.casefold()))


def _phrase(term: str) -> str:
    """An FTS5 string literal: double quotes around, inner quotes doubled. Inside it, operators
    and special characters are plain text."""
    return '"' + term.replace('"', '""') + '"'


def _message(row: Sequence[Any], score: float | None = None) -> Message:
    return Message(**_message_fields(row), score=score)


def _found(row: Sequence[Any]) -> FoundMessage:
    """A search candidate: the message columns, then its session's id."""
    return FoundMessage(**_message_fields(row), session_id=row[6])


def _message_fields(row: Sequence[Any]) -> dict[str, Any]:
    msg_id, role, content, name, metadata, timestamp = row[:6]
    return dict(
        id=msg_id,
        role=role,
        content=content,
        name=name,
        metadata=json.loads(metadata),
        timestamp=datetime.fromisoformat(timestamp),
    )


class _Transaction:
    """``with _Transaction(conn, immediate=True):`` BEGIN ... COMMIT, ROLLBACK on any exception."""

    def __init__(self, conn: sqlite3.Connection, *, immediate: bool) -> None:
        self._conn = conn
        self._begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute(self._begin)
        return self._conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        elif self._conn.in_transaction:
            self._conn.rollback()


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "database is locked" in str(exc)


def _connect(path: Path, *, busy_timeout: float, synchronous: str) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the history file; the caller owns the connection."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: we issue BEGIN/COMMIT ourselves. `timeout` is SQLite's busy timeout.
    conn = sqlite3.connect(
        str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        # SQLite answers "database is locked" at once, without its busy wait, when another
        # connection is setting up the same new file; retry that until the busy timeout.
        for attempt in Retrying(
            retry=retry_if_exception(_is_locked),
            stop=stop_after_delay(busy_timeout),
            wait=wait_exponential(multiplier=0.005, max=0.1),
            reraise=True,
        ):
            with attempt:
                conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        conn.execute("PRAGMA foreign_keys = ON")
        _migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version == SCHEMA_VERSION:
        return
    with _Transaction(conn, immediate=True):
        # Re-read under the write lock: another process may have migrated meanwhile.
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise ProviderError(
                f"{path} has schema version {version}, newer than this memio understands "
                f"({SCHEMA_VERSION}); upgrade memio",
                provider=PROVIDER,
                operation="open",
            )
        for step in _MIGRATIONS[version:]:
            for statement in step:
                if isinstance(statement, str):
                    conn.execute(statement)
                    continue
                table, column, kind = statement
                if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


class SQLiteHistoryStore(Provider):
    """Conversation sessions in an embedded SQLite file, with FTS5 (bm25) search.

    See the module docstring for storage, concurrency and how search scores."""

    provider = PROVIDER

    def __init__(
        self,
        *,
        path: str | Path,
        busy_timeout: float = 5.0,
        synchronous: Literal["normal", "full"] = "full",
        exclusive: bool = True,
        embedder: Embedder | None = None,
    ) -> None:
        self.path = Path(path)
        self._vectors = MessageVectors(embedder, provider=PROVIDER)
        self.path_lock = (
            PathLock(
                self.path,
                provider=PROVIDER,
                what="sqlite history file",
                remedy="several processes need the postgres history provider (or, knowingly, "
                "stores.history.config.exclusive: false)",
            )
            if exclusive
            else None
        )
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # guards self._conn: one statement stream at a time
        self._open = OpenOnce(self._do_open)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: ProviderContext) -> SQLiteHistoryStore:
        cfg = parse_config(SQLiteHistoryConfig, config)
        path = Path(cfg.path).expanduser() if cfg.path else Path(context.data_dir) / DEFAULT_FILE
        return cls(
            path=path,
            busy_timeout=cfg.busy_timeout,
            synchronous=cfg.synchronous,
            exclusive=cfg.exclusive,
            embedder=context.embedder,
        )

    # --- plumbing ---------------------------------------------------------------------------

    async def _do_open(self) -> None:
        conn = await asyncio.to_thread(self._open_sync)
        with self._lock:
            self._conn = conn

    def _open_sync(self) -> sqlite3.Connection:
        if self.path_lock is not None:
            self.path_lock.acquire()
        try:
            return _connect(
                self.path, busy_timeout=self._busy_timeout, synchronous=self._synchronous
            )
        except BaseException:
            if self.path_lock is not None:
                self.path_lock.release()
            raise

    def _locked(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            conn = self._conn
            if conn is None:
                raise ProviderError(
                    "the store was closed while this call waited",
                    provider=PROVIDER,
                    operation="call",
                )
            return fn(conn)

    async def _run(self, operation: str, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        with provider_errors(PROVIDER, operation, backend_errors=BACKEND_ERRORS):
            await self._open()
            return await asyncio.to_thread(self._locked, fn)

    async def reembed(self, *, progress: Callable[[int], None] | None = None) -> int:
        """Every message's embedding recomputed by the configured embedder (`memio reembed`)."""

        def write(sql: str, rows: Sequence[tuple[Any, ...]] = ((),)) -> Callable[..., None]:
            def run(conn: sqlite3.Connection) -> None:
                with _Transaction(conn, immediate=True):
                    conn.executemany(sql, rows)

            return run

        async def unembedded(n: int) -> list[tuple[Any, str]]:
            return await self._run(
                "reembed",
                lambda conn: conn.execute(
                    "SELECT mid, content FROM messages WHERE embedding IS NULL ORDER BY mid"
                    " LIMIT ?",
                    (n,),
                ).fetchall(),
            )

        async def keep(blobs: list[tuple[Any, bytes]]) -> None:
            rows = [(blob, mid) for mid, blob in blobs]
            await self._run(
                "reembed", write("UPDATE messages SET embedding = ? WHERE mid = ?", rows)
            )

        return await self._vectors.recompute(
            clear=lambda: self._run("reembed", write("UPDATE messages SET embedding = NULL")),
            unembedded=unembedded,
            keep=keep,
            progress=progress,
        )

    @staticmethod
    def _session(conn: sqlite3.Connection, session_id: str, user_id: str | None) -> int:
        """The session's seq; NotFoundError when missing or owned by someone other than user_id."""
        row = conn.execute(
            "SELECT seq, user_id FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        if row is None or (user_id is not None and row[1] != user_id):
            raise NotFoundError("session", session_id)
        return row[0]

    async def owner(self, *, session_id: str) -> str | None:

        def read(conn: sqlite3.Connection) -> Any:
            return conn.execute(
                "SELECT user_id FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()

        row = await self._run("owner", read)
        if row is None:
            raise NotFoundError("session", session_id)
        return row[0]

    # --- writes -----------------------------------------------------------------------------

    async def add(
        self, *, session_id: str, messages: list[Message], user_id: str | None
    ) -> list[Message]:
        now = utcnow()
        stored: list[Message] = []
        for message in messages:
            stored.append(
                message.model_copy(
                    update={
                        "id": message.id or new_id(),
                        "timestamp": as_utc(message.timestamp) or now,
                        "score": None,
                    },
                    deep=True,
                )
            )
        rows = [
            (
                m.id,
                m.role,
                m.content,
                m.name,
                json.dumps(m.metadata, ensure_ascii=False),
                m.timestamp.isoformat(),  # type: ignore[union-attr]
                _terms_text(m.content),
                vector,
            )
            for m, vector in zip(
                stored, await self._vectors.blobs([m.content for m in stored]), strict=True
            )
        ]

        def write(conn: sqlite3.Connection) -> None:
            with _Transaction(conn, immediate=True):
                row = conn.execute(
                    "SELECT seq, user_id FROM sessions WHERE id = ?", (session_id,)
                ).fetchone()
                if row is None:
                    seq = conn.execute(
                        "INSERT INTO sessions (id, user_id, created_at) VALUES (?, ?, ?)",
                        (session_id, user_id, now.isoformat()),
                    ).lastrowid
                else:
                    seq, owner = row
                    if user_id is not None and user_id != owner:
                        raise ConflictError(
                            f"session {session_id!r} belongs to another user", field="user_id"
                        )
                (start,) = conn.execute(
                    "SELECT COALESCE(MAX(position), -1) + 1 FROM messages WHERE session = ?",
                    (seq,),
                ).fetchone()
                conn.executemany(
                    "INSERT INTO messages (session, position, id, role, content, name, metadata,"
                    " timestamp, terms, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(seq, start + k, *values) for k, values in enumerate(rows)],
                )

        await self._run("add", write)
        return stored

    async def delete(self, *, session_id: str, user_id: str | None) -> None:

        def remove(conn: sqlite3.Connection) -> None:
            with _Transaction(conn, immediate=True):
                seq = self._session(conn, session_id, user_id)
                conn.execute("DELETE FROM messages WHERE session = ?", (seq,))
                conn.execute("DELETE FROM sessions WHERE seq = ?", (seq,))

        await self._run("delete", remove)

    async def delete_all(self, *, user_id: str | None) -> int:

        def remove(conn: sqlite3.Connection) -> int:
            with _Transaction(conn, immediate=True):
                if user_id is None:
                    conn.execute("DELETE FROM messages")
                    return conn.execute("DELETE FROM sessions").rowcount
                conn.execute(
                    "DELETE FROM messages WHERE session IN"
                    " (SELECT seq FROM sessions WHERE user_id = ?)",
                    (user_id,),
                )
                return conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,)).rowcount

        return await self._run("delete_all", remove)

    # --- reads ------------------------------------------------------------------------------

    async def get(
        self, *, session_id: str, limit: int, cursor: str | None, user_id: str | None
    ) -> Page[Message]:
        listing = {"list": "messages", "session_id": session_id, "user_id": user_id}
        after = int_position(decode_cursor(cursor, scope=listing))

        def read(conn: sqlite3.Connection) -> tuple[list[Any], list[int]]:
            with _Transaction(conn, immediate=False):  # one snapshot for both queries
                seq = self._session(conn, session_id, user_id)
                rows = conn.execute(
                    f"SELECT {_MESSAGE_COLUMNS}, m.position FROM messages m"
                    " WHERE m.session = ? AND m.position > ? ORDER BY m.position LIMIT ?",
                    (seq, after, limit + 1),  # one more: is there a next page?
                ).fetchall()
            return rows, [row[6] for row in rows]

        rows, positions = await self._run("get", read)
        more = len(rows) > limit
        page = Page([_message(row) for row in rows[:limit]])
        if more:
            page.next_cursor = encode_cursor({"after": positions[limit - 1]}, scope=listing)
        return page

    async def get_all(self, *, user_id: str | None, limit: int, cursor: str | None) -> Page[str]:
        listing = {"list": "sessions", "user_id": user_id}
        after = int_position(decode_cursor(cursor, scope=listing))

        def read(conn: sqlite3.Connection) -> list[Any]:
            if user_id is None:
                return conn.execute(
                    "SELECT id, seq FROM sessions WHERE seq > ? ORDER BY seq LIMIT ?",
                    (after, limit + 1),
                ).fetchall()
            return conn.execute(
                "SELECT id, seq FROM sessions WHERE user_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (user_id, after, limit + 1),
            ).fetchall()

        rows = await self._run("get_all", read)
        page = Page([row[0] for row in rows[:limit]])
        if len(rows) > limit:
            page.next_cursor = encode_cursor({"after": rows[limit - 1][1]}, scope=listing)
        return page

    async def search(self, *, request: HistorySearch) -> list[FoundMessage]:
        query, session_id, user_id = request.text, request.session_id, request.user_id
        search_mode = request.mode
        self._vectors.check(search_mode)

        def scope(conn: sqlite3.Connection) -> tuple[str, tuple[Any, ...]]:
            """The searched messages (alias m) as an SQL condition; NotFoundError for a session
            that is missing or someone else's, even before a wordless query is known to find
            nothing."""
            if session_id is not None:
                return "m.session = ?", (self._session(conn, session_id, user_id),)
            if user_id is not None:
                return "m.session IN (SELECT seq FROM sessions WHERE user_id = ?)", (user_id,)
            return "1", ()

        def candidates(conn: sqlite3.Connection, words: list[str]) -> tuple[list[Any], int]:
            with _Transaction(conn, immediate=False):
                where, params = scope(conn)
                if not words:
                    return [], 0
                # every word starting with a term (a stem, see memio.ranking)
                match = "terms : (" + " OR ".join(_phrase(w.casefold()) + "*" for w in words) + ")"
                rows = conn.execute(
                    f"SELECT {_MESSAGE_COLUMNS}, s.id FROM messages_fts"
                    " JOIN messages m ON m.mid = messages_fts.rowid"
                    " JOIN sessions s ON s.seq = m.session"
                    f" WHERE messages_fts MATCH ? AND {where} ORDER BY m.session, m.position",
                    (match, *params),
                ).fetchall()
                (total,) = conn.execute(
                    f"SELECT count(*) FROM messages m WHERE {where}", params
                ).fetchone()
            return [_found(row) for row in rows], total

        def in_scope(conn: sqlite3.Connection) -> list[Any]:
            with _Transaction(conn, immediate=False):
                where, params = scope(conn)
                return conn.execute(
                    f"SELECT {_MESSAGE_COLUMNS}, s.id, m.mid, m.embedding FROM messages m"
                    f" JOIN sessions s ON s.seq = m.session WHERE {where}"
                    " ORDER BY m.session, m.position",
                    params,
                ).fetchall()

        async def keyword(words: list[str]) -> tuple[list[Any], int]:
            return await self._run("search", lambda conn: candidates(conn, words))

        async def semantic(n: int) -> list[FoundMessage]:
            rows = await self._run("search", in_scope)
            if not rows:
                return []

            async def keep(fresh: dict[int, bytes]) -> None:
                def store(conn: sqlite3.Connection) -> None:
                    with _Transaction(conn, immediate=True):
                        conn.executemany(
                            "UPDATE messages SET embedding = ? WHERE mid = ?",
                            [(blob, rows[i][7]) for i, blob in fresh.items()],
                        )

                await self._run("search", store)

            best = await self._vectors.nearest(
                query, [row[8] for row in rows], [row[2] for row in rows], n=n, keep=keep
            )
            return [_found(rows[i]).model_copy(update={"score": score}) for i, score in best]

        if search_mode == "keyword":
            # a wordless query finds nothing, but a missing session is still NotFoundError
            await self._run("search", lambda conn: candidates(conn, []))
        return await ranking.search(
            search_mode, query=query, limit=request.limit, semantic=semantic, keyword=keyword
        )

    # --- housekeeping -----------------------------------------------------------------------

    async def count(self) -> int:
        (n,) = await self._run(
            "count", lambda conn: conn.execute("SELECT COUNT(*) FROM messages").fetchone()
        )
        return int(n)

    async def ping(self) -> None:
        await self._run("ping", lambda conn: conn.execute("SELECT 1").fetchone())

    async def aclose(self) -> None:
        """Close the connection (after any call in flight). Idempotent; a later call reopens."""

        def close() -> None:
            with self._lock:
                conn, self._conn = self._conn, None
                try:
                    if conn is not None:
                        conn.close()
                finally:
                    if self.path_lock is not None:
                        self.path_lock.release()

        self._open.reset()
        with provider_errors(PROVIDER, "aclose", backend_errors=BACKEND_ERRORS):
            await asyncio.to_thread(close)
