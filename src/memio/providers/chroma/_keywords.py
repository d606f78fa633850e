"""SQLite FTS5 beside an embedded Chroma collection: which records hold a word, per scope.

Chroma has no word index memio can rank with, so the documents and facts stores keep one next to
their data (`<chroma path>/memio-keywords-<collection>.sqlite3`, `KeywordIndexedStore`): id, scope
fields (documents: the owner; facts: user, agent, app and run), content, metadata and vector in a
table, the content's words in an FTS5 index. It finds keyword candidates (memio.ranking scores
them), loads a ranked page, and, held in memory (`Postings`), answers searches by meaning within a
scope, which Chroma's filtered query answers slowly.

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

import asyncio
import contextlib
import itertools
import json
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence, Set
from pathlib import Path
from typing import Any, NamedTuple

import fasteners
import numpy as np

from memio import ranking
from memio.coalescing import Coalescer
from memio.filters import FilterNode
from memio.models import cosine_score
from memio.providers.chroma._base import ChromaBackend, chunks
from memio.providers.chroma._codec import scope_key
from memio.providers.chroma._postings import Nearest, Postings, Scope
from memio.providers.chroma._store import TIE_MARGIN, ChromaStore, M, Row
from memio.ranking import KEYWORD_CANDIDATES, Candidate, SearchMode, TermHits, term_hits

logger = logging.getLogger("memio.providers.chroma")


# The index's layout; a file of another is dropped and rebuilt from Chroma when opened. 2: each
# record's Chroma metadata beside its content, so a search loads its page here; 3: its vector.
# A record-format upgrade of the collection that rewrites metadata (_base's `upgrades`) must
# raise this too.
INDEX_FORMAT = 3


def _schema(columns: Sequence[str]) -> str:
    """The index's tables: id, the scope `columns`, content, Chroma's metadata as JSON (`record`)
    and the vector (float32), the content's words in FTS5."""
    owners = "".join(f", {column} TEXT" for column in columns)
    indexes = "".join(
        f"CREATE INDEX IF NOT EXISTS docs_{column.removesuffix('_id')} ON docs ({column});\n"
        for column in columns
    )
    return f"""
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS docs (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE{owners}, content TEXT NOT NULL,
    record TEXT NOT NULL, vector BLOB
);
{indexes}CREATE VIRTUAL TABLE IF NOT EXISTS docs_fts USING fts5 (
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
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value NOT NULL);
"""


_LOAD_CHUNK = 2000  # records moved into memory per hold of the index's lock


class Entry(NamedTuple):
    """A record as the index holds it; `metadata` is what Chroma was given (keys set to None are
    removed), `vector` None when unchanged (an update of metadata alone)."""

    id: str
    scope: tuple[str | None, ...]  # the index's scope columns' values
    content: str
    metadata: Mapping[str, Any]
    vector: np.ndarray | None = None


def owner_scope(user_id: str | None, shared: bool) -> Scope:
    """A documents read's scope, as everywhere (`shared.in_read_scope`)."""
    return Scope(() if user_id is None else (("user_id", user_id),), or_null=shared)


def exact_scope(scope: Mapping[str, str | None]) -> Scope:
    """A facts read's scope: every given field equal."""
    return Scope(tuple((name, value) for name, value in scope.items() if value is not None))


class KeywordIndex:
    """One collection's word index; every method is blocking (call it from a thread).

    With `counts`, its term counts are also held in memory, and with `vectors` its vectors
    (`Postings`), loaded from the table by a thread of their own once the index is in sync, so
    that opening a large store does not wait for them. Until they are complete, searches rank
    FTS5's matches (or without `counts`), and searches by meaning go to Chroma (or without
    `vectors`). With an `expiry` key (facts), memory also holds when each record expires, the
    time its metadata holds under that key."""

    def __init__(
        self,
        path: Path,
        columns: Sequence[str],
        *,
        counts: bool = True,
        vectors: bool = True,
        expiry: str | None = None,
    ) -> None:
        self._columns = tuple(columns)
        self._expiry = expiry
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # Searches read memory together; writes, loading and closing have it alone. Searches
        # that read the table take turns on the one connection (`_reading`).
        self._lock = fasteners.ReaderWriterLock()
        self._reading = threading.Lock()
        self.stale = False  # a write failed between Chroma and this index: not used until rebuilt
        self._held = {"counts": counts, "vectors": vectors}
        self._postings = self._new_postings()
        self._loaded: int | None = 0  # the rowid the postings hold the table up to; None: all
        self._loader: threading.Thread | None = None
        self._closed = False
        with self._lock.write_lock():
            self._db.executescript(_schema(columns))
            found = self._db.execute("SELECT value FROM state WHERE key = 'format'").fetchone()
            if found is None or found[0] != INDEX_FORMAT:  # empty, it is rebuilt from Chroma
                self._db.executescript("DROP TABLE docs; DROP TABLE docs_fts; DROP TABLE state;")
                self._db.executescript(_schema(columns))
                self._db.execute("INSERT INTO state VALUES ('format', ?)", (INDEX_FORMAT,))

    def _dirty(self) -> bool:
        row = self._db.execute("SELECT value FROM state WHERE key = 'dirty'").fetchone()
        return bool(row and row[0])

    def sync(self, count: int, entries: Callable[[], Iterable[Entry]], vectors_of: str) -> None:
        """Rebuild from `entries` (Chroma's records) when dirty, holding another count, or
        holding the vectors of another embedder than `vectors_of` (`memio reembed` ran)."""
        with self._lock.write_lock():
            held = self._db.execute("SELECT count(*) FROM docs").fetchone()[0]
            embedder = self._db.execute("SELECT value FROM state WHERE key = 'vectors_of'")
            if self._dirty() or held != count or embedder.fetchone() != (vectors_of,):
                with self._clean_after():
                    self._db.execute("DELETE FROM docs")
                    self._db.executemany(
                        self._insert(), (_row(entry, _merged(entry, None)) for entry in entries())
                    )
                    self._db.execute(
                        "INSERT OR REPLACE INTO state VALUES ('vectors_of', ?)", (vectors_of,)
                    )
                self._postings, self._loaded = self._new_postings(), 0
                self.stale = False
            self._start_loading()

    def _new_postings(self) -> Postings | None:
        if not any(self._held.values()):
            return None
        return Postings(self._columns, **self._held, expiry=self._expiry is not None)

    def _expires(self, metadata: Mapping[str, Any]) -> Any:
        return None if self._expiry is None else metadata.get(self._expiry)

    def _start_loading(self) -> None:
        """Load the records into memory in a thread of their own, unless one is at it or they
        are complete (the caller holds the lock)."""
        if self._postings is not None and self._loader is None and self._loaded is not None:
            self._loader = threading.Thread(target=self._load, name="memio-postings", daemon=True)
            self._loader.start()

    def _load(self) -> None:
        """Move the table into memory a chunk at a time, so writes and searches go on
        meanwhile. A record a write already put there is the latest: the write changed the table
        and the postings under the same lock."""
        try:
            while True:
                with self._lock.write_lock():
                    if self._closed or self._loaded is None:
                        return
                    rows = self._db.execute(
                        "SELECT rowid, id, content, vector, record,"
                        f" {', '.join(self._columns)} FROM docs"
                        " WHERE rowid > ? ORDER BY rowid LIMIT ?",
                        (self._loaded, _LOAD_CHUNK),
                    ).fetchall()
                    postings = self._postings
                    assert postings is not None  # only loaded when kept
                    for _, item_id, content, vector, record, *scope in rows:
                        if item_id not in postings:
                            metadata = {} if self._expiry is None else json.loads(record)
                            expires = self._expires(metadata)
                            postings.add(item_id, scope, content, _vector(vector), expires)
                    self._loaded = rows[-1][0] if len(rows) == _LOAD_CHUNK else None
        except Exception:  # searches go on with FTS5's matches and Chroma's queries
            logger.exception("the word index's records could not be loaded into memory")
        finally:
            with self._lock.write_lock():
                self._loader = None

    @contextlib.contextmanager
    def _clean_after(self) -> Iterator[None]:
        """One write transaction that leaves the index clean, or nothing (the caller holds the
        lock)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("INSERT OR REPLACE INTO state VALUES ('dirty', 0)")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def mark_dirty(self) -> None:
        with self._lock.write_lock():
            self._db.execute("INSERT OR REPLACE INTO state VALUES ('dirty', 1)")

    def apply(self, *, upserts: Sequence[Entry] = (), deletes: Sequence[str] = ()) -> None:
        """What Chroma now holds, and clean again, in one transaction."""
        with self._lock.write_lock():
            with self._clean_after():
                held = self._records([entry.id for entry in upserts])
                merged = [_merged(entry, held.get(entry.id)) for entry in upserts]
                rows = [
                    _row(entry, metadata) for entry, metadata in zip(upserts, merged, strict=True)
                ]
                changed = ", ".join(
                    f"{c} = excluded.{c}" for c in (*self._columns, "content", "record")
                )
                self._db.executemany(
                    f"{self._insert()} ON CONFLICT (id) DO UPDATE SET {changed},"
                    " vector = coalesce(excluded.vector, docs.vector)",
                    rows,
                )
                self._db.executemany("DELETE FROM docs WHERE id = ?", [(i,) for i in deletes])
            if self._postings is not None:
                for entry, metadata in zip(upserts, merged, strict=True):
                    expires = self._expires(metadata)
                    self._postings.add(entry.id, entry.scope, entry.content, entry.vector, expires)
                for item_id in deletes:
                    self._postings.remove(item_id)

    def _insert(self) -> str:
        names = ("id", *self._columns, "content", "record", "vector")
        return f"INSERT INTO docs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"

    def _records(self, ids: Sequence[str], scope: Scope | None = None) -> dict[str, Any]:
        """(content, Chroma's metadata) of the records `ids` names that the index holds, within
        `scope` when given (the caller holds the lock)."""
        condition, params = scope.sql() if scope is not None else ("1", ())
        found = {}
        for part in chunks(list(ids), 500):
            marks = ", ".join("?" * len(part))
            found.update(
                (item_id, (content, json.loads(record)))
                for item_id, content, record in self._db.execute(
                    f"SELECT d.id, d.content, d.record FROM docs AS d WHERE d.id IN ({marks})"
                    f" AND {condition}",
                    (*part, *params),
                )
            )
        return found

    def records(self, ids: Sequence[str], scope: Scope) -> dict[str, Any] | None:
        """(content, Chroma's metadata) by id of the records of `scope` among `ids` that the
        index holds; None when stale."""
        with self._lock.read_lock(), self._reading:
            return None if self.stale else self._records(ids, scope)

    def hits(self, words: Sequence[str], scope: Scope) -> TermHits | None:
        """The hits of the distinct terms `words` (stems of letters and digits only, so each is
        a valid FTS5 string) in the scope: from the in-memory counts once loaded, else among the
        scope's records holding a word that starts with a term, at most `KEYWORD_CANDIDATES` of
        them, FTS5's best by its bm25. None when stale."""
        with self._lock.read_lock():
            if self.stale:
                return None
            postings = self._postings if self._loaded is None else None
            if postings is not None and postings.counts:
                return postings.hits(words, scope, postings.count(scope))
            with self._reading:
                return self._fts5_hits(words, scope)

    def _fts5_hits(self, words: Sequence[str], scope: Scope) -> TermHits:
        """`hits` before the counts are in memory (the caller holds the lock and the
        connection)."""
        condition, params = scope.sql()
        total = self._db.execute(
            f"SELECT count(*) FROM docs AS d WHERE {condition}", params
        ).fetchone()[0]
        found = self._db.execute(
            "SELECT d.id, d.content FROM docs_fts JOIN docs AS d ON d.rowid = docs_fts.rowid"
            f" WHERE docs_fts MATCH ? AND {condition} ORDER BY docs_fts.rank LIMIT ?",
            (" OR ".join(f'"{word}"*' for word in words), *params, KEYWORD_CANDIDATES),
        ).fetchall()
        return term_hits(words, [Candidate(item_id, content) for item_id, content in found], total)

    def nearest_many(self, searches: Sequence[tuple[np.ndarray, Scope, int]]) -> list[Nearest]:
        """For each search (vector, scope, n): the `n` records of `scope` nearest `vector` and
        their cosine similarity, best first, compared in memory; None when that cannot answer
        (vectors not held or not yet loaded, the index stale, or the scope too large:
        `Postings.nearest_many`)."""
        with self._lock.read_lock():
            if self.stale or self._loaded is not None or self._postings is None:
                return [None] * len(searches)
            return self._postings.nearest_many(searches)

    def expired(self, scope: Scope, now: float) -> list[str] | None:
        """The records of `scope` expired by `now` (on the expiry key's clock), from memory;
        None when memory cannot tell (no expiry kept, not loaded yet, or the index stale)."""
        with self._lock.read_lock():
            if self.stale or self._loaded is not None or self._postings is None:
                return None
            return self._postings.expired(scope, now) if self._expiry is not None else None

    def close(self) -> None:
        with self._lock.write_lock():
            self._closed = True
            self._db.close()


def _merged(entry: Entry, held: tuple[str, dict[str, Any]] | None) -> dict[str, Any]:
    """The metadata of `entry` as Chroma holds it after the write: merged into what the index
    `held` of the record (keys given None are removed, as Chroma's update removes them)."""
    merged = {**(held[1] if held is not None else {}), **entry.metadata}
    return {key: value for key, value in merged.items() if value is not None}


def _row(entry: Entry, metadata: Mapping[str, Any]) -> tuple[Any, ...]:
    """The table row of `entry`, holding `metadata`."""
    vector = None if entry.vector is None else np.asarray(entry.vector, "<f4").tobytes()
    return (entry.id, *entry.scope, entry.content, json.dumps(metadata), vector)


def _vector(stored: bytes | None) -> np.ndarray | None:
    return None if stored is None else np.frombuffer(stored, dtype="<f4")


_ENTRY_PAGE = 1000
_Comparison = tuple[KeywordIndex, np.ndarray, Scope, int]  # a search's index, vector, scope, n


class KeywordIndexedStore(ChromaStore[M]):
    """A Chroma store with a KeywordIndex beside its embedded data, kept by its row writes; the
    index holds the scope fields `index_columns` (top-level fields under their `scope_key`)."""

    index_columns: tuple[str, ...]
    index_expiry: str | None = None  # the metadata key of the records' expiry (facts)

    def __init__(self, *, backend: ChromaBackend) -> None:
        super().__init__(backend=backend)
        self._index: KeywordIndex | None = None
        self._index_opening = asyncio.Lock()
        # Concurrent searches by meaning compare their vectors with the index's in one pass.
        self._comparisons: Coalescer[_Comparison, Nearest] = Coalescer(self._compare, max_batch=32)

    def _index_entries(
        self,
        ids: Sequence[str],
        documents: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
        vectors: Sequence[np.ndarray] | None,
    ) -> list[Entry]:
        keys = [scope_key(column) for column in self.index_columns]
        return [
            Entry(item_id, tuple(raw.get(key) for key in keys), content, raw, vector)
            for item_id, content, raw, vector in zip(
                ids,
                documents,
                metadatas,
                [None] * len(ids) if vectors is None else vectors,
                strict=True,
            )
        ]

    def _entries(self, collection: Any) -> Iterator[Entry]:
        """Every record of `collection` for the word index (blocking: runs in a thread)."""
        offset = 0
        while True:
            page = collection.get(
                include=["documents", "metadatas", "embeddings"], limit=_ENTRY_PAGE, offset=offset
            )
            yield from self._index_entries(
                page["ids"], page["documents"] or [], page["metadatas"] or [], page["embeddings"]
            )
            if len(page["ids"]) < _ENTRY_PAGE:
                return
            offset += _ENTRY_PAGE

    async def _rebuild(self, operation: str, index: KeywordIndex) -> None:
        handles = await self._backend.handles(operation)  # holds the path lock
        count = await self._backend.count()
        # Opened, the collection holds the configured embedder's vectors (or the open failed).
        embedder = self._backend.embedder
        await asyncio.to_thread(
            index.sync,
            count,
            lambda: self._entries(handles.main),
            f"{embedder.model}/{int(embedder.dimensions)}",
        )

    async def _keyword_index(self, operation: str) -> KeywordIndex | None:
        """The FTS5 index beside embedded data (opened, and rebuilt if needed, on first use);
        None for a Chroma server, whose keyword candidates are read from Chroma."""
        path = self._backend.path
        if path is None:
            return None
        async with self._index_opening:
            if self._index is None:
                await self._backend.handles(operation)  # holds the path lock
                file = path / f"memio-keywords-{self._backend.collection}.sqlite3"
                config = self._backend.config
                index = await asyncio.to_thread(
                    KeywordIndex,
                    file,
                    self.index_columns,
                    counts=config.keyword_counts,
                    vectors=config.vectors_in_memory,
                    expiry=self.index_expiry,
                )
                try:
                    await self._rebuild(operation, index)
                except BaseException:
                    await asyncio.to_thread(index.close)
                    raise
                self._index = index
            return self._index

    async def _keyword_candidates(
        self,
        operation: str,
        words: list[str],
        *,
        scope: Scope,
        scope_where: dict[str, Any] | None,
        tree: FilterNode | None,
        leave_out: Set[str] = frozenset(),
    ) -> TermHits:
        """The keyword hits of a search (memio.ranking's `keyword`): from the word index, or,
        with filters (they need the metadata Chroma holds) or a Chroma server, counted in the
        scope read from Chroma. `leave_out`: ids of records of the scope that do not count
        (expired facts)."""
        index = None if tree is not None else await self._keyword_index(operation)
        found = None
        if index is not None:
            found = await asyncio.to_thread(index.hits, words, scope)
        if found is None:
            records = await self._in_scope(operation, scope_where=scope_where, tree=tree)
            records = [record for record in records if record.id not in leave_out]
            return await asyncio.to_thread(term_hits, words, records, len(records))
        if not leave_out:
            return found
        return found.without(leave_out, in_scope=found.in_scope - len(leave_out))

    def _light(self, mode: str, own_tree: FilterNode | None) -> bool:
        """Whether a search's vector ranking reads ids and scores alone, its page loaded once
        ranked (`_hydrate`): without a filter of the caller's, for a hybrid search and for
        embedded data (a Chroma server answers a search by meaning alone in one round trip)."""
        return own_tree is None and (mode == "hybrid" or self._backend.path is not None)

    async def _ranked_search(
        self,
        mode: SearchMode,
        *,
        query: str,
        limit: int,
        scope: Scope,
        scope_where: dict[str, Any] | None,
        own_tree: FilterNode | None,
        tree: FilterNode | None,
        threshold: float | None = None,
        leave_out: Set[str] = frozenset(),
    ) -> list[M]:
        """A search in `mode` (memio.ranking) over a scope (`scope` in the word index,
        `scope_where` in Chroma). `own_tree` is the caller's filter, `tree` the one Chroma's query
        applies (facts add "not expired"); `leave_out`: records of the scope that do not count."""
        light = self._light(mode, own_tree)

        async def semantic(n: int) -> list[Any]:
            if light:
                nearest = await self._nearest(
                    "search",
                    query=query,
                    scope=scope,
                    scope_where=scope_where,
                    limit=n,
                    leave_out=leave_out,
                )
                if nearest is not None:
                    return nearest
            return await self._search(
                "search", query=query, scope_where=scope_where, tree=tree, limit=n
            )

        async def keyword(words: list[str]) -> TermHits:
            return await self._keyword_candidates(
                "search",
                words,
                scope=scope,
                scope_where=scope_where,
                tree=own_tree,
                leave_out=leave_out,
            )

        async def hydrate(records: list[Any]) -> dict[str, M]:
            return await self._hydrate("search", records, scope=scope, scope_where=scope_where)

        return await ranking.search(
            mode,
            query=query,
            limit=limit,
            semantic=semantic,
            keyword=keyword,
            hydrate=hydrate,
            threshold=threshold,
        )

    async def _nearest(
        self,
        operation: str,
        *,
        query: str,
        scope: Scope,
        scope_where: dict[str, Any] | None,
        limit: int,
        leave_out: Set[str] = frozenset(),
    ) -> list[Candidate] | None:
        """The vector ranking of a search without a filter: the `limit` nearest as ids and
        scores, for `_hydrate` to load once ranked (a query that reads content and metadata
        costs about three times as much at 50 results), compared in the word index's memory
        when it can (`KeywordIndex.nearest_many`, with the searches in flight), else by Chroma.
        None when scores tie within them or at the cut: their order then needs the stored
        sequence (`_search` reads it). `leave_out`: ids of records of the scope that do not
        count (expired facts)."""
        vector = (await self._backend.embed([query]))[0]
        n = limit + TIE_MARGIN + len(leave_out)
        index = await self._keyword_index(operation)
        found = None if index is None else await self._comparisons((index, vector, scope, n))
        if found is None:
            rows, similarities = await self._query(operation, vector, scope_where, n, include=())
            found = [row.id for row in rows], similarities
        ids, similarities = found
        nearest = [
            Candidate(item_id, "", cosine_score(float(similarity)))
            for item_id, similarity in zip(ids, similarities, strict=True)
            if item_id not in leave_out
        ][: limit + TIE_MARGIN]
        if any(a.score == b.score for a, b in itertools.pairwise(nearest)):
            return None
        return nearest[:limit]

    @staticmethod
    async def _compare(comparisons: list[_Comparison]) -> list[Nearest]:
        """`KeywordIndex.nearest_many` of concurrent searches, in one thread hop."""

        def compare() -> list[Nearest]:
            found: list[Nearest] = [None] * len(comparisons)
            for index in {id(c[0]): c[0] for c in comparisons}.values():  # one, unless rebuilt
                mine = [i for i, c in enumerate(comparisons) if c[0] is index]
                answers = index.nearest_many([comparisons[i][1:] for i in mine])
                for i, answer in zip(mine, answers, strict=True):
                    found[i] = answer
            return found

        return await asyncio.to_thread(compare)

    async def _expired_in_memory(
        self, operation: str, scope: Scope, now: float
    ) -> list[str] | None:
        """The records of `scope` expired by `now`, from the word index's memory; None when it
        cannot tell (`KeywordIndex.expired`)."""
        index = await self._keyword_index(operation)
        return None if index is None else await asyncio.to_thread(index.expired, scope, now)

    async def _hydrate(
        self,
        operation: str,
        records: list[Any],
        *,
        scope: Scope,
        scope_where: dict[str, Any] | None,
    ) -> dict[str, M]:
        """The full records of ranked candidates (memio.ranking's `hydrate`): from the word
        index (a Chroma read of a few records by id costs more than the rest of a keyword
        search), and from Chroma those it does not hold (written since, or the index unusable)."""
        wanted = [r.id for r in records if isinstance(r, Candidate)]
        loaded = {r.id: r for r in records if not isinstance(r, Candidate)}
        index = await self._keyword_index(operation) if wanted else None
        if index is not None:
            found = await asyncio.to_thread(index.records, wanted, scope) or {}
            loaded.update(
                (item_id, self._decode(Row(item_id, content, raw)))
                for item_id, (content, raw) in found.items()
            )
            wanted = [item_id for item_id in wanted if item_id not in loaded]
        if wanted:
            rows = await self._get_rows(operation, ids=wanted, where=scope_where)
            loaded.update((row.id, self._decode(row)) for row in rows)
        return loaded

    async def _indexed(
        self,
        operation: str,
        write: Callable[[], Awaitable[None]],
        *,
        upserts: Sequence[Entry] = (),
        deletes: Sequence[str] = (),
    ) -> None:
        """Run a Chroma write with the word index marked dirty until it holds the change; if
        either step fails, rebuild the index from Chroma (the caller holds the store's write
        lock), or leave it stale for the next open."""
        index = await self._keyword_index(operation)
        if index is None:
            await write()
            return
        await asyncio.to_thread(index.mark_dirty)
        try:
            await write()
            await asyncio.to_thread(index.apply, upserts=upserts, deletes=deletes)
        except BaseException:
            index.stale = True
            with contextlib.suppress(Exception):
                await self._rebuild(operation, index)
            raise

    async def _add_rows(
        self,
        operation: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        documents: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        await self._indexed(
            operation,
            lambda: super(KeywordIndexedStore, self)._add_rows(
                operation, ids, vectors, documents, metadatas
            ),
            upserts=self._index_entries(ids, documents, metadatas, vectors),
        )

    async def _update_rows(
        self,
        operation: str,
        ids: Sequence[str],
        vectors: np.ndarray | None,
        documents: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Without new `vectors` the content is unchanged (see ChromaStore), but the index
        still learns the metadata."""
        await self._indexed(
            operation,
            lambda: super(KeywordIndexedStore, self)._update_rows(
                operation, ids, vectors, documents, metadatas
            ),
            upserts=self._index_entries(ids, documents, metadatas, vectors),
        )

    async def _delete_rows(self, operation: str, ids: Sequence[str]) -> None:
        await self._indexed(
            operation,
            lambda: super(KeywordIndexedStore, self)._delete_rows(operation, ids),
            deletes=ids,
        )

    async def aclose(self) -> None:
        index, self._index = self._index, None
        try:
            if index is not None:
                await asyncio.to_thread(index.close)
        finally:
            await super().aclose()
