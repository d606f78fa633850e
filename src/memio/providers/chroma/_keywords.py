"""SQLite FTS5 beside an embedded Chroma collection: which documents hold a word, per owner.

Chroma has no word index memio can rank with, so the documents store keeps one next to its data
(`<chroma path>/memio-keywords-<collection>.sqlite3`): id, owner and content in a table, the
content's words in an FTS5 index. It only finds keyword candidates; memio.ranking scores them.

It follows Chroma, never leads: a write marks it dirty (committed) before Chroma is written and
clean in the transaction that applies the change after Chroma succeeded. While a write is in
flight the index holds the state before it, which is what a concurrent search may see of a write
not yet acknowledged, so it stays in use (bypassing it then sent nearly every search under a
write-heavy load to a full scope read: bench soak). Only a write that failed between the two
steps makes it unusable (`stale`): the writer rebuilds it from Chroma at once, and failing that
the next open does, as it does for a dirty index left by a crash or for other counts (a store
written before this index existed).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

_SCHEMA = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS docs (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, user_id TEXT, content TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_user ON docs (user_id);
CREATE VIRTUAL TABLE IF NOT EXISTS docs_fts USING fts5 (
    content, content = 'docs', content_rowid = 'rowid', tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER IF NOT EXISTS docs_ai AFTER INSERT ON docs BEGIN
    INSERT INTO docs_fts (rowid, content) VALUES (new.rowid, new.content);
END;
CREATE TRIGGER IF NOT EXISTS docs_ad AFTER DELETE ON docs BEGIN
    INSERT INTO docs_fts (docs_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
END;
CREATE TRIGGER IF NOT EXISTS docs_au AFTER UPDATE ON docs BEGIN
    INSERT INTO docs_fts (docs_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
    INSERT INTO docs_fts (rowid, content) VALUES (new.rowid, new.content);
END;
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
# A read's scope, as everywhere (`_shared.in_read_scope`); parameters: user_id, user_id, shared.
_SCOPE = "(? IS NULL OR d.user_id = ? OR (? AND d.user_id IS NULL))"

Entry = tuple[str, str | None, str]  # id, owner, content


class KeywordIndex:
    """One collection's word index; every method is blocking (call it from a thread)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self.stale = False  # a write failed between Chroma and this index: not used until rebuilt
        with self._lock:
            self._db.executescript(_SCHEMA)

    def _dirty(self) -> bool:
        row = self._db.execute("SELECT value FROM state WHERE key = 'dirty'").fetchone()
        return bool(row and row[0])

    def sync(self, count: int, entries: Callable[[], Iterable[Entry]]) -> None:
        """Rebuild from `entries` (Chroma's documents) when dirty or holding another count."""
        with self._lock:
            held = self._db.execute("SELECT count(*) FROM docs").fetchone()[0]
            if not self._dirty() and held == count:
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM docs")
                self._db.executemany(
                    "INSERT INTO docs (id, user_id, content) VALUES (?, ?, ?)", entries()
                )
                self._db.execute("INSERT OR REPLACE INTO state VALUES ('dirty', 0)")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self.stale = False

    def mark_dirty(self) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO state VALUES ('dirty', 1)")

    def apply(self, *, upserts: Sequence[Entry] = (), deletes: Sequence[str] = ()) -> None:
        """What Chroma now holds, and clean again, in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO docs (id, user_id, content) VALUES (?, ?, ?) ON CONFLICT (id)"
                    " DO UPDATE SET user_id = excluded.user_id, content = excluded.content",
                    upserts,
                )
                self._db.executemany("DELETE FROM docs WHERE id = ?", [(i,) for i in deletes])
                self._db.execute("INSERT OR REPLACE INTO state VALUES ('dirty', 0)")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def candidates(
        self, words: Sequence[str], user_id: str | None, shared: bool
    ) -> tuple[list[tuple[str, str]], int] | None:
        """(id, content) of the scope's documents holding one of `words` (letters and digits
        only, so each is a valid FTS5 string), and the scope's size; None when stale."""
        scope = (user_id, user_id, shared)
        match = " OR ".join(f'"{word}"' for word in words)
        with self._lock:
            if self.stale:
                return None
            found = self._db.execute(
                "SELECT d.id, d.content FROM docs_fts JOIN docs AS d ON d.rowid = docs_fts.rowid"
                f" WHERE docs_fts MATCH ? AND {_SCOPE}",
                (match, *scope),
            ).fetchall()
            total = self._db.execute(
                f"SELECT count(*) FROM docs AS d WHERE {_SCOPE}", scope
            ).fetchone()[0]
        return found, total

    def close(self) -> None:
        with self._lock:
            self._db.close()
