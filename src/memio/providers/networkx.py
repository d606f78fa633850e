"""The embedded knowledge graph: networkx in memory, SQLite on disk. The default graph store.

Memory: a ``networkx.MultiDiGraph`` whose nodes are entity names and whose edges are triples (edge
key = triple id, ``user_id`` on the edge), used for traversal; the triples themselves in creation
order; a word index (word -> triple ids) and a matrix of the triples' embeddings for search.

Disk: ``<data_dir>/graph.sqlite3`` (``config.path``), WAL mode with ``synchronous=FULL``. Every
add and delete is committed (and fsynced) before the call returns, and the in-memory graph changes
only after the commit succeeded: every acknowledged write survives a crash of the process or the
machine, and a failed write changes nothing. Opening loads the whole graph from the file. Each
triple's embedding (of ``"subject predicate object"``, `shared.triple_text`) is stored next to it
with the embedder's model name, so reopening does not re-embed; triples embedded by another model
(the embedder changed) are re-embedded once at open.

Single process: the memory copy is the truth for reads, so two processes (or two store objects in
one process) writing the same file would silently diverge. Opening therefore takes an exclusive,
non-blocking ``flock`` on ``<path>.lock`` next to the file and records its pid there; a second
opener fails at once with a ProviderError naming the directory and the holder's pid. The lock is
released by ``aclose()`` (or by the OS when the process dies). Several processes need the postgres
graph provider.

Semantics follow the memory provider exactly: stable ids (`shared.triple_id`), re-adding merges
metadata and keeps created_at, ``get`` expands hop by hop over both edge directions within the
user's scope, ``search`` scores every triple in scope with `shared.graph_match_score` (word match
and meaning) and keeps scores > 0, listings page by creation rank (keyset cursors).

Concurrency: one ``threading.Lock`` guards the connection and the in-memory state; every call runs
its blocking part in ``asyncio.to_thread`` under it. Embeddings are computed before, on the event
loop, without holding the lock.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import networkx as nx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from memio.checked import listing_scope
from memio.errors import NotFoundError, ProviderError
from memio.models import GraphResult, MetadataValue, Triple, utcnow
from memio.pagination import decode_cursor, encode_cursor, int_position
from memio.protocols import Embedder
from memio.providers.base import Provider
from memio.providers.shared import (
    DataLockedError,
    OpenOnce,
    PathLock,
    ProviderContext,
    graph_match_score,
    graph_neighbourhood,
    graph_nodes,
    in_read_scope,
    merge_triple_metadata,
    new_in_batch,
    parse_config,
    provider_errors,
    triple_text,
    word_terms,
)

__all__ = ["GraphLockedError", "NetworkXGraphConfig", "NetworkXGraphStore"]

PROVIDER = "networkx"
DEFAULT_FILE = "graph.sqlite3"
EMBED_BATCH = 256
BACKEND_ERRORS: tuple[type[BaseException], ...] = (
    sqlite3.OperationalError,
    sqlite3.DatabaseError,
    OSError,
)

_T = TypeVar("_T")

# _MIGRATIONS[n] takes a file from user_version n to n + 1; append, never edit a shipped step.
_MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE IF NOT EXISTS triples (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            subject TEXT NOT NULL,
            predicate TEXT NOT NULL,
            object TEXT NOT NULL,
            user_id TEXT,
            metadata TEXT NOT NULL,
            created_at TEXT NOT NULL,
            embedding BLOB,
            embedding_model TEXT
        )""",
    ],
]
SCHEMA_VERSION = len(_MIGRATIONS)


class NetworkXGraphConfig(BaseModel):
    """``stores.graph.config`` for provider "networkx"."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(
        default=None,
        description="The SQLite file (relative: to the working directory, as for chroma). "
        "Default: <data_dir>/graph.sqlite3 (lock file: <path>.lock).",
    )


# The graph's data is already open in another process (or another store object): the shared
# DataLockedError, under the name this module has always exported.
GraphLockedError = DataLockedError


@dataclass
class _Entry:
    triple: Triple
    seq: int
    terms: frozenset[str]


class _Vectors:
    """The stored triples' embeddings as one float32 matrix, with each row's creation rank and
    owner alongside, so search scores, scopes and sorts every triple with numpy. O(1) add and
    remove (the last row moves into the hole); row order is therefore not creation order."""

    def __init__(self, dimensions: int) -> None:
        self._data = np.zeros((16, dimensions), dtype=np.float32)
        self._seqs = np.zeros(16, dtype=np.int64)
        self._owners = np.zeros(16, dtype=np.int64)
        self._codes: dict[str | None, int] = {}  # user_id -> owner code
        self.ids: list[str] = []
        self._row: dict[str, int] = {}

    def _reserve(self, size: int) -> None:
        if size <= len(self._data):
            return
        capacity = max(size, 2 * len(self._data))
        n = len(self.ids)
        data = np.zeros((capacity, self._data.shape[1]), dtype=np.float32)
        data[:n] = self._data[:n]
        seqs = np.zeros(capacity, dtype=np.int64)
        seqs[:n] = self._seqs[:n]
        owners = np.zeros(capacity, dtype=np.int64)
        owners[:n] = self._owners[:n]
        self._data, self._seqs, self._owners = data, seqs, owners

    def add(self, tid: str, seq: int, owner: str | None, vector: np.ndarray) -> None:
        n = len(self.ids)
        self._reserve(n + 1)
        self._data[n] = vector
        self._seqs[n] = seq
        self._owners[n] = self._codes.setdefault(owner, len(self._codes))
        self.ids.append(tid)
        self._row[tid] = n

    def remove(self, tid: str) -> None:
        row = self._row.pop(tid)
        last = len(self.ids) - 1
        if row != last:  # move the last row into the hole
            moved = self.ids[last]
            self._data[row] = self._data[last]
            self._seqs[row] = self._seqs[last]
            self._owners[row] = self._owners[last]
            self.ids[row] = moved
            self._row[moved] = row
        self.ids.pop()

    def row(self, tid: str) -> int:
        return self._row[tid]

    def similarities(self, query: np.ndarray) -> np.ndarray:
        return self._data[: len(self.ids)] @ query

    def in_scope(self, user_id: str | None, shared: bool = False) -> np.ndarray:
        """Boolean mask of the rows owned by `user_id` (every row when None), plus with `shared`
        the rows nobody owns."""
        n = len(self.ids)
        if user_id is None:
            return np.ones(n, dtype=bool)
        owners = [user_id, None] if shared else [user_id]
        codes = [self._codes[owner] for owner in owners if owner in self._codes]
        return np.isin(self._owners[:n], codes)

    def seqs(self) -> np.ndarray:
        return self._seqs[: len(self.ids)]


def _copy(t: Triple) -> Triple:
    """A copy the caller may mutate (metadata lists included); much cheaper than a deep copy."""
    metadata = {k: list(v) if isinstance(v, list) else v for k, v in t.metadata.items()}
    return t.model_copy(update={"metadata": metadata})


def _text(t: Triple) -> str:
    return triple_text(t.subject, t.predicate, t.object)


def _blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        elif self._conn.in_transaction:
            self._conn.rollback()


# --- the store --------------------------------------------------------------------------------


class NetworkXGraphStore(Provider):
    """Knowledge-graph triples: networkx in memory, every write durable in SQLite before it
    returns, one process per data directory. See the module docstring."""

    provider = PROVIDER

    def __init__(self, *, path: str | Path, embedder: Embedder) -> None:
        self.path = Path(path)
        self.path_lock = PathLock(
            self.path,
            provider=PROVIDER,
            what="networkx graph data",
            remedy="several processes need the postgres graph provider",
            per_object=True,
        )
        self.lock_path = self.path_lock.lock_path
        self._embedder = embedder
        self._lock = threading.Lock()  # guards everything below
        self._open = OpenOnce(self._do_open)
        self._progress: Callable[[int], None] = lambda n: None
        self.reembedded = 0  # triples of another embedder re-embedded by the last open
        self._conn: sqlite3.Connection | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self._graph = nx.MultiDiGraph()
        self._triples: dict[str, _Entry] = {}  # creation order (seq ascending)
        self._seqs: list[int] = []  # sorted seqs of the stored triples, for paging
        self._by_seq: dict[int, str] = {}
        self._words: dict[str, set[str]] = {}  # word -> ids of triples containing it
        self._vectors = _Vectors(self._embedder.dimensions)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: ProviderContext) -> NetworkXGraphStore:
        cfg = parse_config(NetworkXGraphConfig, config)
        path = Path(cfg.path).expanduser() if cfg.path else Path(context.data_dir) / DEFAULT_FILE
        return cls(path=path, embedder=context.embedder)

    # --- open / close -----------------------------------------------------------------------

    async def _embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.asarray(await self._embedder.embed(list(texts)), dtype=np.float32)
        return vectors.reshape(len(texts), self._embedder.dimensions)

    async def _do_open(self) -> None:
        rows = await asyncio.to_thread(self._open_sync)
        try:
            model, dims = self._embedder.model, self._embedder.dimensions
            stale = [
                row for row in rows if row[8] is None or row[9] != model or len(row[8]) != 4 * dims
            ]
            fresh: dict[str, np.ndarray] = {}
            for start in range(0, len(stale), EMBED_BATCH):
                chunk = stale[start : start + EMBED_BATCH]
                vectors = await self._embed([triple_text(r[2], r[3], r[4]) for r in chunk])
                fresh.update((r[1], v) for r, v in zip(chunk, vectors, strict=True))
                self._progress(len(chunk))
            await asyncio.to_thread(self._load_sync, rows, fresh)
            self.reembedded = len(fresh)
        except BaseException:
            await asyncio.to_thread(self._close_sync)
            raise

    def _open_sync(self) -> list[Any]:
        self.path_lock.acquire()
        try:
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                self._migrate(conn)
                rows = conn.execute(
                    "SELECT seq, id, subject, predicate, object, user_id, metadata, created_at,"
                    " embedding, embedding_model FROM triples ORDER BY seq"
                ).fetchall()
            except BaseException:
                conn.close()
                raise
        except BaseException:
            self.path_lock.release()
            raise
        with self._lock:
            self._conn = conn
        return rows

    def _migrate(self, conn: sqlite3.Connection) -> None:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise ProviderError(
                f"{self.path} has schema version {version}, newer than this memio understands "
                f"({SCHEMA_VERSION}); upgrade memio",
                provider=PROVIDER,
                operation="open",
            )
        with _Transaction(conn):
            for step in _MIGRATIONS[version:]:
                for statement in step:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _load_sync(self, rows: list[Any], fresh: Mapping[str, np.ndarray]) -> None:
        with self._lock:
            conn = self._require_conn()
            if fresh:  # re-embedded at open: keep them so the next open does not redo it
                with _Transaction(conn):
                    conn.executemany(
                        "UPDATE triples SET embedding = ?, embedding_model = ? WHERE id = ?",
                        [(_blob(v), self._embedder.model, tid) for tid, v in fresh.items()],
                    )
            self._reset_state()
            for seq, tid, s, p, o, user_id, metadata, created_at, blob, _model in rows:
                # Written by this class after validation: construct without re-validating.
                triple = Triple.model_construct(
                    id=tid,
                    subject=s,
                    predicate=p,
                    object=o,
                    user_id=user_id,
                    metadata=json.loads(metadata),
                    created_at=datetime.fromisoformat(created_at),
                )
                vector = fresh.get(tid)
                if vector is None:
                    vector = np.frombuffer(blob, dtype=np.float32)
                self._insert_memory(triple, seq, vector)

    def _close_sync(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            try:
                if conn is not None:
                    conn.close()
            finally:
                self.path_lock.release()
                self._reset_state()

    async def aclose(self) -> None:
        """Close the file and release the directory lock. Idempotent; a later call reopens."""
        self._open.reset()
        with provider_errors(PROVIDER, "aclose", backend_errors=BACKEND_ERRORS):
            await asyncio.to_thread(self._close_sync)

    # --- plumbing ---------------------------------------------------------------------------

    def _require_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ProviderError(
                "the store was closed while this call waited", provider=PROVIDER, operation="call"
            )
        return self._conn

    def _locked(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            return fn(self._require_conn())

    async def _ensure_open(self, operation: str) -> None:
        with provider_errors(PROVIDER, operation, backend_errors=BACKEND_ERRORS):
            await self._open()

    async def _run(self, operation: str, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        await self._ensure_open(operation)
        with provider_errors(PROVIDER, operation, backend_errors=BACKEND_ERRORS):
            return await asyncio.to_thread(self._locked, fn)

    def _insert_memory(self, triple: Triple, seq: int, vector: np.ndarray) -> None:
        tid = triple.id
        assert tid is not None
        terms = frozenset(word_terms(_text(triple)))
        self._triples[tid] = _Entry(triple, seq, terms)
        self._seqs.append(seq)  # seqs only grow, so appending keeps the list sorted
        self._by_seq[seq] = tid
        for term in terms:
            self._words.setdefault(term, set()).add(tid)
        self._graph.add_edge(triple.subject, triple.object, key=tid, user_id=triple.user_id)
        self._vectors.add(tid, seq, triple.user_id, vector)

    def _remove_memory(self, tid: str) -> None:
        entry = self._triples.pop(tid)
        index = bisect.bisect_left(self._seqs, entry.seq)
        del self._seqs[index]
        del self._by_seq[entry.seq]
        for term in entry.terms:
            ids = self._words[term]
            ids.discard(tid)
            if not ids:
                del self._words[term]
        t = entry.triple
        self._graph.remove_edge(t.subject, t.object, key=tid)
        for node in {t.subject, t.object}:
            if self._graph.degree(node) == 0:
                self._graph.remove_node(node)
        self._vectors.remove(tid)

    def _scoped(self, user_id: str | None) -> Iterable[_Entry]:
        return (
            e for e in self._triples.values() if in_read_scope(e.triple.user_id, user_id, False)
        )

    def _delete_sync(self, conn: sqlite3.Connection, ids: Sequence[str]) -> int:
        """Delete `ids` from the file (committed), then from memory."""
        with _Transaction(conn):
            conn.executemany("DELETE FROM triples WHERE id = ?", [(tid,) for tid in ids])
        for tid in ids:
            self._remove_memory(tid)
        return len(ids)

    # --- writes -----------------------------------------------------------------------------

    async def add(self, *, triples: list[Triple]) -> list[Triple]:
        planned = triples
        await self._ensure_open("add")
        vectors: dict[str, np.ndarray] = {}
        while True:
            # Embed (outside the lock) the triples that look new; if one turns out new only under
            # the lock (deleted meanwhile), embed it and try again.
            missing = {
                t.id: t for t in planned if t.id not in self._triples and t.id not in vectors
            }
            if missing:
                embedded = await self._embed([_text(t) for t in missing.values()])
                vectors.update(zip(missing, embedded, strict=True))
            result = await self._run("add", lambda conn: self._add_sync(conn, planned, vectors))
            if result is not None:
                return result

    def _add_sync(
        self, conn: sqlite3.Connection, planned: Sequence[Triple], vectors: Mapping[str, np.ndarray]
    ) -> list[Triple] | None:
        stored = {
            t.id: entry.triple.metadata
            for t in planned
            if t.id is not None and (entry := self._triples.get(t.id)) is not None
        }
        final = merge_triple_metadata(planned, stored)
        new: dict[str, Triple] = {}
        merged: dict[str, dict[str, MetadataValue]] = {}  # existing id -> merged metadata
        for t in planned:
            assert t.id is not None
            if t.id in stored:
                merged[t.id] = final[t.id]
            elif t.id in new:
                continue
            elif t.id not in vectors:
                return None  # deleted since the caller looked: it needs an embedding
            else:
                new[t.id] = _copy(t)
                new[t.id].metadata = final[t.id]
        now = utcnow()
        inserted: list[tuple[Triple, int]] = []
        with _Transaction(conn):
            for tid, metadata in merged.items():
                conn.execute(
                    "UPDATE triples SET metadata = ? WHERE id = ?",
                    (json.dumps(metadata, ensure_ascii=False), tid),
                )
            for tid, t in new.items():
                t.created_at = t.created_at or now  # set already: a restored triple
                seq = conn.execute(
                    "INSERT INTO triples (id, subject, predicate, object, user_id, metadata,"
                    " created_at, embedding, embedding_model) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        tid,
                        t.subject,
                        t.predicate,
                        t.object,
                        t.user_id,
                        json.dumps(t.metadata, ensure_ascii=False),
                        t.created_at.isoformat(),
                        _blob(vectors[tid]),
                        self._embedder.model,
                    ),
                ).lastrowid
                assert seq is not None
                inserted.append((t, seq))
        # Committed: now (and only now) the memory copy follows.
        for tid, metadata in merged.items():
            self._triples[tid].triple.metadata = metadata
        for t, seq in inserted:
            assert t.id is not None
            self._insert_memory(t, seq, vectors[t.id])
        return [_copy(self._triples[t.id].triple) for t in planned if t.id]

    async def restore(self, *, triples: list[Triple]) -> list[bool]:
        await self._ensure_open("restore")
        embedded = await self._embed([_text(t) for t in triples])
        vectors = dict(zip([str(t.id) for t in triples], embedded, strict=True))

        def write(conn: sqlite3.Connection) -> list[bool]:
            plan = new_in_batch([str(t.id) for t in triples], set(self._triples))
            chosen = [t for t, new in zip(triples, plan, strict=True) if new]
            if chosen:
                self._add_sync(conn, chosen, vectors)
            return plan

        return await self._run("restore", write)

    async def delete(
        self, *, entity: str | None, triple_id: str | None, user_id: str | None
    ) -> int:
        if triple_id is not None:
            tid = triple_id

            def remove(conn: sqlite3.Connection) -> int:
                entry = self._triples.get(tid)
                if entry is None or (user_id is not None and entry.triple.user_id != user_id):
                    raise NotFoundError("triple", tid)
                return self._delete_sync(conn, [tid])

        else:
            name = str(entity)

            def remove(conn: sqlite3.Connection) -> int:
                ids = self._touching({name}, user_id)
                if not ids:
                    raise NotFoundError("entity", name)
                return self._delete_sync(conn, sorted(ids, key=lambda t: self._triples[t].seq))

        return await self._run("delete", remove)

    async def delete_all(self, *, user_id: str | None) -> int:

        def remove(conn: sqlite3.Connection) -> int:
            if user_id is None:
                n = len(self._triples)
                with _Transaction(conn):
                    conn.execute("DELETE FROM triples")
                self._reset_state()
                return n
            return self._delete_sync(
                conn, [e.triple.id for e in self._scoped(user_id) if e.triple.id]
            )

        return await self._run("delete_all", remove)

    # --- reads ------------------------------------------------------------------------------

    def _touching(
        self, frontier: Iterable[str], user_id: str | None, shared: bool = False
    ) -> set[str]:
        """Ids of the triples in scope with a frontier entity as subject or object."""
        ids: set[str] = set()
        graph = self._graph
        for node in frontier:
            if node not in graph:
                continue
            for edges in (
                graph.out_edges(node, keys=True, data="user_id"),
                graph.in_edges(node, keys=True, data="user_id"),
            ):
                for _s, _o, tid, owner in edges:
                    if in_read_scope(owner, user_id, shared):
                        ids.add(tid)
        return ids

    async def get(
        self, *, entity: str, user_id: str | None, shared: bool, depth: int
    ) -> GraphResult:

        def read(_conn: sqlite3.Connection) -> list[Triple]:
            reached = {entity}
            frontier = {entity}
            picked: set[str] = set()
            for _ in range(depth):
                hop = self._touching(frontier, user_id, shared) - picked
                if not hop:
                    break
                picked |= hop
                frontier = set()
                for tid in hop:
                    t = self._triples[tid].triple
                    frontier.update((t.subject, t.object))
                frontier -= reached
                reached |= frontier
            entries = sorted((self._triples[tid] for tid in picked), key=lambda e: e.seq)
            return [_copy(e.triple) for e in entries]

        triples = await self._run("get", read)
        return graph_neighbourhood(triples, entity)

    async def get_all(
        self, *, user_id: str | None, shared: bool, limit: int, cursor: str | None
    ) -> GraphResult:
        listing = listing_scope("triples", user_id, shared)
        after = int_position(decode_cursor(cursor, scope=listing))

        def read(_conn: sqlite3.Connection) -> tuple[list[Triple], int | None]:
            picked: list[_Entry] = []
            for seq in self._seqs[bisect.bisect_right(self._seqs, after) :]:
                entry = self._triples[self._by_seq[seq]]
                if not in_read_scope(entry.triple.user_id, user_id, shared):
                    continue
                if len(picked) == limit:  # one more exists: not the last page
                    return [_copy(e.triple) for e in picked], picked[-1].seq
                picked.append(entry)
            return [_copy(e.triple) for e in picked], None

        triples, last = await self._run("get_all", read)
        next_cursor = None if last is None else encode_cursor({"after": last}, scope=listing)
        return GraphResult(triples=triples, nodes=graph_nodes(triples), next_cursor=next_cursor)

    async def search(
        self, *, query: str, user_id: str | None, shared: bool, limit: int
    ) -> GraphResult:
        await self._ensure_open("search")
        if not self._triples:
            return GraphResult()
        vector = (await self._embed([query]))[0]
        terms = word_terms(query)

        def read(_conn: sqlite3.Connection) -> list[tuple[Triple, float]]:
            vectors = self._vectors
            sims = vectors.similarities(vector)
            # graph_match_score for every triple. For a triple sharing no word with the query it
            # is 1 - (1 - 0) * (1 - cosine_score(sim)), computed here for all rows at once with
            # the same float64 operations (so bit-identical); the triples sharing a word (from
            # the word index) get the helper itself.
            s = np.clip(np.nan_to_num(sims.astype(np.float64), nan=0.0), 0.0, 1.0)
            scores = np.clip(1.0 - (1.0 - 0.0) * (1.0 - s), 0.0, 1.0)
            for tid in {tid for term in terms for tid in self._words.get(term, ())}:
                row = vectors.row(tid)
                scores[row] = graph_match_score(
                    terms, _text(self._triples[tid].triple), float(sims[row])
                )
            rows = np.flatnonzero(vectors.in_scope(user_id, shared) & (scores > 0))
            # best first; equal scores in creation order
            order = rows[np.lexsort((vectors.seqs()[rows], -scores[rows]))][:limit]
            return [
                (_copy(self._triples[vectors.ids[row]].triple), float(scores[row])) for row in order
            ]

        ranked = await self._run("search", read)
        triples = [t for t, _ in ranked]
        scores = [score for _, score in ranked]
        return GraphResult(triples=triples, nodes=graph_nodes(triples), scores=scores)

    # --- housekeeping -----------------------------------------------------------------------

    async def reembed(self, *, progress: Callable[[int], None] | None = None) -> int:
        """Opening re-embeds every triple another embedder made (each keeps its model beside
        it); this opens the store with `progress` told of that work, and says how much it was."""
        self._progress = progress or (lambda n: None)
        try:
            await self._ensure_open("reembed")
        finally:
            self._progress = lambda n: None
        return self.reembedded

    async def count(self) -> int:
        return await self._run("count", lambda _conn: len(self._triples))

    async def ping(self) -> None:
        await self._run("ping", lambda conn: conn.execute("SELECT 1").fetchone())
