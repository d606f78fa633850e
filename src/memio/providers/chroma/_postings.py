"""The word index's term counts in memory: which records hold each term, how often, and who
they belong to, so a keyword search reads its exact BM25 inputs from arrays.

SQLite FTS5 finds the records holding a word well, but ranking its matches to hand over the best
few took most of a keyword search at 10,000 documents (about 3 of 5 ms; the rest went to
counting the candidates' terms in Python), and it handed over FTS5's best by its own whole-table
weighting, not memio's BM25 over the scope. Here every matching in-scope record is counted, so
the keyword ranking is exact (no candidate cap), in a fraction of the time. The cost is memory:
8 bytes per distinct term of each record and its id's share of two tables, about 450 bytes a
record of 34 words (measured with tracemalloc at 10,000 documents).

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
    """An int vector appended to one value at a time, readable as a numpy array."""

    def __init__(self, dtype: Any) -> None:
        self._data = np.zeros(64, dtype=dtype)
        self._size = 0

    def append(self, value: Any) -> None:
        if self._size == len(self._data):
            self._data = np.resize(self._data, 2 * self._size)
        self._data[self._size] = value
        self._size += 1

    @property
    def values(self) -> np.ndarray:
        return self._data[: self._size]

    def keep(self, positions: np.ndarray) -> None:
        """Only the values at `positions`, in that order."""
        kept = self.values[positions]
        self._data, self._size = np.concatenate([kept, np.zeros(64, kept.dtype)]), len(kept)


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


class Postings:
    """Term counts of records given as (id, scope values in `columns` order, content)."""

    def __init__(self, columns: Sequence[str]) -> None:
        self._columns = {column: i for i, column in enumerate(columns)}
        self._slot: dict[str, int] = {}  # live record id -> its slot
        self._ids: list[str] = []  # slot -> id
        self._alive = _Growing(np.bool_)
        self._lengths = _Growing(np.float64)  # in terms
        self._codes = [_Growing(np.int32) for _ in columns]  # slot -> code of its scope value
        self._known: list[dict[str, int]] = [{} for _ in columns]  # value -> code (0: none)
        self._terms: dict[str, _Term] = {}

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._slot

    def __len__(self) -> int:
        return len(self._slot)

    def add(self, entry: Sequence[Any]) -> None:
        """Hold `entry` (id, scope values, content), in place of what its id held."""
        item_id, *scope, content = entry
        self.remove(item_id)
        slot = len(self._ids)
        self._slot[item_id] = slot
        self._ids.append(item_id)
        self._alive.append(True)
        counts = Counter(terms(content))
        self._lengths.append(sum(counts.values()))
        for codes, known, value in zip(self._codes, self._known, scope, strict=True):
            codes.append(0 if value is None else known.setdefault(value, len(known) + 1))
        for term, count in counts.items():
            held = self._terms.get(term)
            if held is None:
                held = self._terms[term] = _Term(array("i"), array("i"))
            held.slots.append(slot)
            held.counts.append(count)

    def remove(self, item_id: str) -> None:
        slot = self._slot.pop(item_id, None)
        if slot is None:
            return
        self._alive.values[slot] = False
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
        for vector in (self._alive, self._lengths, *self._codes):
            vector.keep(live)
        for term, held in list(self._terms.items()):
            slots = moved[_array(held.slots)]
            keep = slots >= 0
            if not keep.any():
                del self._terms[term]
                continue
            self._terms[term] = _Term(
                array("i", slots[keep].astype(_INT).tobytes()),
                array("i", _array(held.counts)[keep].astype(_INT).tobytes()),
            )


def _array(values: array) -> np.ndarray:
    """A copy: a numpy view would stop the array from growing while the view lives."""
    return np.frombuffer(values, dtype=_INT).copy()
