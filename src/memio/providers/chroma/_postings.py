"""The word index's records in memory: who each belongs to, which terms it holds and how often,
and its vector, so a keyword search reads its exact BM25 inputs from arrays and a search by
meaning within a scope compares the query with the scope's vectors directly.

SQLite FTS5 finds the records holding a word well, but ranking its matches to hand over the best
few took most of a keyword search at 10,000 documents (about 3 of 5 ms; the rest went to
counting the candidates' terms in Python), and it handed over FTS5's best by its own whole-table
weighting, not memio's BM25 over the scope. Here every matching in-scope record is counted, so
the keyword ranking is exact (no candidate cap), in a fraction of the time. The cost is memory:
8 bytes per distinct term of each record and its id's share of two tables, about 450 bytes a
record of 34 words (measured with tracemalloc at 10,000 documents).

Vectors: Chroma's HNSW query with a `where` costs 6.6 ms for one user's 100 documents among
10,000, against 1.3 ms unscoped (it resolves the `where` in SQLite first), while comparing the
query with 100 vectors here takes microseconds, and with all 10,000 about 0.5 ms; the answer is
exact, where HNSW's is approximate. The cost is 4 bytes a dimension a record (1.5 KB for MiniLM's
384), as much again as Chroma's own index; a scope above `EXACT_UP_TO` records goes to Chroma.

Not thread-safe: its KeywordIndex calls it under its own lock.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from memio.ranking import Candidate, TermHits, terms

_INT = np.dtype(f"i{array('i').itemsize}")


@dataclass(frozen=True)
class Scope:
    """Which records a read may see: those holding each (column, value) of `equal`, or, with
    `or_null`, holding no value in that column (documents without an owner, when shared)."""

    equal: tuple[tuple[str, str], ...] = ()
    or_null: bool = False

    def sql(self) -> tuple[str, tuple[Any, ...]]:
        """An SQL condition over the `d` alias, and its parameters."""
        test = "(d.{0} = ? OR d.{0} IS NULL)" if self.or_null else "d.{0} = ?"
        condition = " AND ".join(test.format(column) for column, _ in self.equal)
        return condition or "1", tuple(value for _, value in self.equal)


class _Growing:
    """A vector (or matrix, of `width` columns) appended to a row at a time, readable as a numpy
    array."""

    def __init__(self, dtype: Any, width: int | None = None) -> None:
        self._data = np.zeros((64,) if width is None else (64, width), dtype=dtype)
        self._size = 0

    def append(self, value: Any) -> None:
        if self._size == len(self._data):
            grown = np.zeros((2 * self._size, *self._data.shape[1:]), self._data.dtype)
            grown[: self._size] = self._data
            self._data = grown
        self._data[self._size] = value
        self._size += 1

    @property
    def values(self) -> np.ndarray:
        return self._data[: self._size]

    def keep(self, positions: np.ndarray) -> None:
        """Only the rows at `positions`, in that order."""
        kept = self.values[positions]
        spare = np.zeros((64, *kept.shape[1:]), kept.dtype)
        self._data, self._size = np.concatenate([kept, spare]), len(kept)


class _Ids(Sequence[Candidate]):
    """Hit records as Candidates, made only for those BM25 reads (the best, and their ties)."""

    def __init__(self, ids: list[str]) -> None:
        self._ids = ids

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, i: Any) -> Any:
        return Candidate(self._ids[i], "")


class _Term(NamedTuple):
    slots: array  # the records holding the term (dead ones too, until compacted)
    counts: array  # how often each holds it


# A search by meaning compares the query with every vector of its scope here when the scope holds
# at most this many records (the product with 10,000 vectors of 384 dimensions takes 0.48 ms of
# one core, against Chroma's 1.0 to 1.3 ms for an HNSW query without a `where`); larger scopes go
# to Chroma's HNSW index, whose cost grows with the logarithm of the store.
EXACT_UP_TO = 20_000

# A search's nearest records from memory: (ids, similarities), or None when memory cannot answer.
Nearest = tuple[list[str], np.ndarray] | None


class Postings:
    """Records given as id, scope values (in `columns` order), content, vector and expiry: their
    term counts (with `counts`), their vectors normalised (with `vectors`) and when they expire
    (facts: `expiry`, so a search leaves the expired out without asking Chroma which they are)."""

    def __init__(
        self,
        columns: Sequence[str],
        *,
        counts: bool = True,
        vectors: bool = True,
        expiry: bool = False,
    ) -> None:
        self.counts, self.vectors = counts, vectors
        self._columns = {column: i for i, column in enumerate(columns)}
        self._slot: dict[str, int] = {}  # live record id -> its slot
        self._ids: list[str] = []  # slot -> id
        self._alive = _Growing(np.bool_)
        self._lengths = _Growing(np.float64)  # in terms
        self._codes = [_Growing(np.int32) for _ in columns]  # slot -> code of its scope value
        self._known: list[dict[str, int]] = [{} for _ in columns]  # value -> code (0: none)
        self._terms: dict[str, _Term] = {}
        self._matrix: _Growing | None = None  # slot -> unit vector, made by the first vector
        self._vectored = _Growing(np.bool_)  # slot -> whether it came with a vector
        self._unvectored = 0  # live records without one: no search by meaning here then
        self._expires = _Growing(np.float64) if expiry else None  # slot -> when (inf: never)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._slot

    def __len__(self) -> int:
        return len(self._slot)

    def add(
        self,
        item_id: str,
        scope: Sequence[str | None],
        content: str,
        vector: np.ndarray | None = None,
        expires: float | None = None,
    ) -> None:
        """Hold this record in place of what its id held; without a `vector`, it keeps the one
        held (an update of metadata alone). `expires`: when it expires, None never."""
        slot = self._slot.get(item_id)
        matrix = None if self._matrix is None else self._matrix.values
        if (
            vector is None
            and slot is not None
            and matrix is not None
            and self._vectored.values[slot]
        ):
            vector = matrix[slot].copy()
        elif vector is not None and matrix is not None and len(vector) != matrix.shape[1]:
            # refused before anything changes
            raise ValueError(
                f"a vector of {len(vector)} dimensions among ones of {matrix.shape[1]}"
            )
        self.remove(item_id)
        slot = len(self._ids)
        self._slot[item_id] = slot
        self._ids.append(item_id)
        self._alive.append(True)
        for codes, known, value in zip(self._codes, self._known, scope, strict=True):
            codes.append(0 if value is None else known.setdefault(value, len(known) + 1))
        if self.vectors:
            self._add_vector(vector)
        if self._expires is not None:
            self._expires.append(np.inf if expires is None else expires)
        if not self.counts:
            self._lengths.append(0)
            return
        counts = Counter(terms(content))
        self._lengths.append(sum(counts.values()))
        for term, count in counts.items():
            held = self._terms.get(term)
            if held is None:
                held = self._terms[term] = _Term(array("i"), array("i"))
            held.slots.append(slot)
            held.counts.append(count)

    def _add_vector(self, vector: np.ndarray | None) -> None:
        """The newest slot's vector, as a unit vector (zeros and counted when it has none)."""
        self._vectored.append(vector is not None)
        if vector is None:
            self._unvectored += 1
            if self._matrix is not None:
                self._matrix.append(0.0)
            return
        unit = np.asarray(vector, dtype=np.float32)
        unit = unit / max(float(np.linalg.norm(unit)), 1e-12)
        if self._matrix is None:
            self._matrix = _Growing(np.float32, len(unit))
            for _ in range(len(self._ids) - 1):  # the slots before held no vector
                self._matrix.append(0.0)
        self._matrix.append(unit)

    def remove(self, item_id: str) -> None:
        slot = self._slot.pop(item_id, None)
        if slot is None:
            return
        self._alive.values[slot] = False
        if self.vectors and not self._vectored.values[slot]:
            self._unvectored -= 1
        dead = len(self._ids) - len(self._slot)
        if dead > max(1024, len(self._slot)):
            self._compact()

    def hits(self, words: Sequence[str], scope: Scope, in_scope: int) -> TermHits:
        """The in-scope records holding one of the distinct terms `words` exactly, with their
        counts of each, over a scope of `in_scope` records."""
        parts = [(j, held) for j, word in enumerate(words) if (held := self._terms.get(word))]
        if not parts:
            return TermHits([], np.zeros((0, len(words))), np.zeros(0), in_scope)
        slots = np.concatenate([_array(held.slots) for _, held in parts])
        counts = np.concatenate([_array(held.counts) for _, held in parts])
        columns = np.concatenate([np.full(len(held.slots), j) for j, held in parts])
        keep = self._alive.values[slots] & self._visible(slots, scope)
        found, rows = np.unique(slots[keep], return_inverse=True)
        matrix = np.zeros((len(found), len(words)))
        matrix[rows, columns[keep]] = counts[keep]
        ids = [self._ids[slot] for slot in found.tolist()]
        return TermHits(_Ids(ids), matrix, self._lengths.values[found], in_scope)

    def nearest_many(self, searches: Sequence[tuple[np.ndarray, Scope, int]]) -> list[Nearest]:
        """For each search (vector, scope, n): the `n` records of its scope most similar to its
        vector and their cosine similarity, best first; None when vectors are not held here (all
        of them) or the scope holds more than `EXACT_UP_TO` records. Searches whose scope holds
        most records share one product over all the vectors, which reads them from memory once
        for all (concurrent searches, `KeywordIndexedStore._nearest`)."""
        found: list[Nearest] = [None] * len(searches)
        if self._matrix is None or self._unvectored:
            return found
        matrix = self._matrix.values
        shared: list[tuple[int, np.ndarray, int]] = []
        queries = []
        for i, (vector, scope, n) in enumerate(searches):
            positions = self._in_scope(scope)
            if len(positions) > EXACT_UP_TO:
                continue
            query = np.asarray(vector, dtype=np.float32)
            query = query / max(float(np.linalg.norm(query)), 1e-12)
            if 4 * len(positions) >= len(matrix):  # most records: the shared product
                shared.append((i, positions, n))
                queries.append(query)
            else:  # a few: their rows alone
                found[i] = self._best(positions, np.einsum("ij,j->i", matrix[positions], query), n)
        if not queries:
            return found
        if len(queries) == 1:
            # numpy's own loop, not BLAS (`@`), whose threads spin after a product: under 64
            # concurrent searches that CPU came out of the model's share (bench wrk: 275 req/s
            # with them, 357 with BLAS held to one thread, as memio-server now holds it).
            products = np.einsum("ij,j->i", matrix, queries[0])[:, None]
        else:  # BLAS: one pass over the matrix for all of them
            products = matrix @ np.stack(queries, axis=1)
        for column, (i, positions, n) in enumerate(shared):
            found[i] = self._best(positions, products[positions, column], n)
        return found

    def _best(
        self, positions: np.ndarray, similarities: np.ndarray, n: int
    ) -> tuple[list[str], np.ndarray]:
        """The `n` most similar of the records at `positions`, best first."""
        if n < len(positions):
            best = np.argpartition(-similarities, n - 1)[:n]
        else:
            best = np.arange(len(positions))
        best = best[np.argsort(-similarities[best], kind="stable")]
        return [self._ids[slot] for slot in positions[best].tolist()], similarities[best]

    def expired(self, scope: Scope, now: float) -> list[str]:
        """The records of `scope` that have expired by `now` (none without `expiry`)."""
        if self._expires is None:
            return []
        everyone = np.arange(len(self._ids))
        gone = self._alive.values & (self._expires.values <= now)
        gone[gone] &= self._visible(everyone[gone], scope)
        return [self._ids[slot] for slot in np.flatnonzero(gone).tolist()]

    def count(self, scope: Scope) -> int:
        """How many records `scope` holds."""
        return len(self._in_scope(scope)) if scope.equal else len(self._slot)

    def _in_scope(self, scope: Scope) -> np.ndarray:
        """The slots of the records of `scope`."""
        everyone = np.arange(len(self._ids))
        return np.flatnonzero(self._alive.values & self._visible(everyone, scope))

    def _visible(self, slots: np.ndarray, scope: Scope) -> np.ndarray:
        visible = np.ones(len(slots), dtype=np.bool_)
        for column, value in scope.equal:
            i = self._columns[column]
            codes = self._codes[i].values[slots]
            match = codes == self._known[i].get(value, -1)
            visible &= (match | (codes == 0)) if scope.or_null else match
        return visible

    def _compact(self) -> None:
        """Drop the slots of removed records, once they outnumber the live ones."""
        live = np.flatnonzero(self._alive.values)
        moved = np.full(len(self._ids), -1, dtype=np.int64)
        moved[live] = np.arange(len(live))
        self._ids = [self._ids[slot] for slot in live.tolist()]
        self._slot = {item_id: slot for slot, item_id in enumerate(self._ids)}
        held = (self._alive, self._lengths, self._vectored, *self._codes)
        for values in (*held, self._matrix, self._expires):
            if values is not None:
                values.keep(live)
        for term, held_term in list(self._terms.items()):
            slots = moved[_array(held_term.slots)]
            keep = slots >= 0
            if not keep.any():
                del self._terms[term]
                continue
            self._terms[term] = _Term(
                array("i", slots[keep].astype(_INT).tobytes()),
                array("i", _array(held_term.counts)[keep].astype(_INT).tobytes()),
            )


def _array(values: array) -> np.ndarray:
    """A copy: a numpy view would stop the array from growing while the view lives."""
    return np.frombuffer(values, dtype=_INT).copy()
