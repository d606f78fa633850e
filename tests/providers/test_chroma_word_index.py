"""The word index beside embedded Chroma, on its own: its in-memory term counts give the hits
FTS5 gives, scope by scope, and stay right while they load, as records change and after they are
compacted; its vectors in memory give each scope's exact nearest records (the store-level
behaviour is in test_chroma.py's word index section)."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memio import ranking
from memio.providers.chroma import _keywords, _postings
from memio.providers.chroma._keywords import Entry, KeywordIndex, exact_scope, owner_scope
from memio.providers.chroma._postings import EXACT_UP_TO, Postings, Scope

WORDS = ["tea", "coffee", "green", "black", "painting", "painted", "paints", "river", "basel"]
WORDS += ["snake", "hike", "trip"]
OWNERS = ["u", "v", None]
VECTORS_OF = "words/8"  # the embedder the vectors come from


def _entries(n: int, seed: int = 7) -> list[tuple[str, str | None, str]]:
    """(id, owner, content) of `n` records."""
    rng = random.Random(seed)
    return [
        (f"d{i}", rng.choice(OWNERS), " ".join(rng.choices(WORDS, k=rng.randint(1, 8))))
        for i in range(n)
    ]


def _entry(item_id: str, owner: str | None, content: str, metadata: Any = None) -> Entry:
    return Entry(item_id, (owner,), content, metadata or {})


def _open(path: Path, records: list[tuple[str, str | None, str]], **held: bool) -> KeywordIndex:
    entries = [_entry(*record, {"n": i}) for i, record in enumerate(records)]
    index = KeywordIndex(path, ["user_id"], **held)
    index.sync(len(entries), lambda: entries, VECTORS_OF)
    return index


def _wait_loaded(index: KeywordIndex) -> None:
    deadline = time.monotonic() + 30
    while index._postings is not None and index._loaded is not None:
        assert time.monotonic() < deadline, "the in-memory counts never finished loading"
        time.sleep(0.01)


def _ranked(hits: ranking.TermHits) -> list[tuple[str, float]]:
    return [(record.id, round(score, 12)) for record, score in ranking.bm25(hits)]


def _from_fts5(index: KeywordIndex, words: list[str], scope: Scope) -> ranking.TermHits:
    loaded, index._loaded = index._loaded, 0  # as before the counts were complete
    try:
        hits = index.hits(words, scope)
    finally:
        index._loaded = loaded
    assert hits is not None
    return hits


SCOPES = [
    owner_scope(None, False),
    owner_scope("u", False),
    owner_scope("u", True),
    owner_scope("nobody", True),
    owner_scope("nobody", False),
]
QUERIES = ["green tea", "painting by the river", "snake", "coffee trip basel hike", "zebra"]


def test_in_memory_counts_rank_as_fts5_matches_do_in_every_scope(tmp_path: Path):
    index = _open(tmp_path / "words.sqlite3", _entries(300))
    _wait_loaded(index)
    for query in QUERIES:
        words = ranking.query_terms(query)
        for scope in SCOPES:
            from_memory = index.hits(words, scope)
            assert from_memory is not None
            assert _ranked(from_memory) == _ranked(_from_fts5(index, words, scope))
            assert from_memory.in_scope == _from_fts5(index, words, scope).in_scope
    mine = index.hits(["tea"], owner_scope("u", False))
    assert mine is not None and mine.records
    assert {record.id for record in mine.records} <= {
        item_id for item_id, owner, _ in _entries(300) if owner == "u"
    }
    index.close()


def test_facts_scopes_need_every_given_field(tmp_path: Path):
    index = KeywordIndex(tmp_path / "facts.sqlite3", ["user_id", "agent_id"])
    entries = [
        Entry(item_id, scope, "tea", {})
        for item_id, scope in [("a", ("u", "x")), ("b", ("u", None)), ("c", ("v", "x"))]
    ]
    index.sync(len(entries), lambda: entries, VECTORS_OF)
    _wait_loaded(index)

    def ids(**scope: str | None) -> set[str]:
        hits = index.hits(["tea"], exact_scope(scope))
        assert hits is not None
        return {record.id for record in hits.records}

    assert ids(user_id="u") == {"a", "b"}
    assert ids(user_id="u", agent_id="x") == {"a"}
    assert ids(agent_id="x") == {"a", "c"}
    assert ids(agent_id=None) == {"a", "b", "c"}
    assert ids(user_id="w") == set()
    index.close()


def test_writes_while_the_counts_load_are_kept(tmp_path: Path, monkeypatch):
    """A write during loading changes the table and the counts together; the loader then keeps
    what the write put there and never brings back what it deleted."""
    monkeypatch.setattr(_keywords, "_LOAD_CHUNK", 7)
    entries = _entries(40)
    index = _open(tmp_path / "words.sqlite3", entries)
    _wait_loaded(index)
    index._postings, index._loaded = Postings(["user_id"]), 0  # as just rebuilt, not loaded
    index._loader = object()  # no loader thread: this test runs it
    index.apply(
        upserts=[_entry("d3", "u", "zebra crossing"), _entry("new", "v", "zebra")], deletes=["d5"]
    )
    index._load()
    assert index._loaded is None
    words = ranking.query_terms("zebra tea painting")
    for scope in SCOPES:
        hits = index.hits(words, scope)
        assert hits is not None
        assert _ranked(hits) == _ranked(_from_fts5(index, words, scope))
    everything = index.hits(words, owner_scope(None, False))
    assert everything is not None
    found = {record.id for record in everything.records}
    assert {"d3", "new"} <= found and "d5" not in found
    index.close()


def test_removed_records_are_compacted_away():
    postings = Postings(["user_id"])
    for item_id, owner, content in _entries(3000):
        postings.add(item_id, (owner,), content)
    for i in range(2500):
        postings.remove(f"d{i}")
    postings.add("d2999", ("u",), "zebra")  # replaced: its old words go
    assert len(postings._ids) < 2000  # compacted once the removed outnumbered the rest
    kept = {item_id: (owner, content) for item_id, owner, content in _entries(3000)[2500:]}
    kept["d2999"] = ("u", "zebra")
    for word in ["tea", "zebra", "paint"]:
        hits = postings.hits([word], Scope(), in_scope=len(kept))
        expected = {i for i, (_, text) in kept.items() if word in ranking.terms(text)}
        assert {record.id for record in hits.records} == expected
        column = np.asarray([ranking.terms(kept[r.id][1]).count(word) for r in hits.records])
        assert (hits.counts[:, 0] == column).all()


@pytest.mark.parametrize("query", ["", "zebra"])
def test_no_hits_is_an_empty_ranking(query: str):
    postings = Postings(["user_id"])
    postings.add("a", (None,), "green tea")
    hits = postings.hits(ranking.query_terms(query), Scope(), in_scope=1)
    assert ranking.bm25(hits) == []


def test_records_follow_chromas_metadata_merge_within_their_scope(tmp_path: Path):
    """The index keeps each record's metadata as Chroma holds it after a write: an update
    merges into what was there and a key given None goes; a read sees only its scope."""
    index = _open(tmp_path / "words.sqlite3", [("a", "u", "green tea"), ("b", None, "coffee")])
    index.apply(upserts=[_entry("a", "u", "green tea", {"k": 1.5, "n": None, "tags": ["x", "y"]})])
    assert index.records(["a", "b", "gone"], owner_scope(None, False)) == {
        "a": ("green tea", {"k": 1.5, "tags": ["x", "y"]}),
        "b": ("coffee", {"n": 1}),
    }
    assert index.records(["a", "b"], owner_scope("v", False)) == {}
    assert index.records(["a", "b"], owner_scope("v", True)) == {"b": ("coffee", {"n": 1})}
    index.stale = True
    assert index.records(["a"], owner_scope(None, False)) is None
    index.close()


def test_an_index_of_an_older_layout_is_rebuilt(tmp_path: Path):
    import sqlite3

    path = tmp_path / "words.sqlite3"
    with sqlite3.connect(path) as db:  # as memio wrote it before records were kept
        db.execute("CREATE TABLE docs (rowid INTEGER PRIMARY KEY, id TEXT, user_id TEXT, content)")
        db.execute("INSERT INTO docs VALUES (1, 'old', NULL, 'stale words')")
        db.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        db.execute("INSERT INTO state VALUES ('dirty', 0)")
    index = _open(path, [("a", None, "green tea")])
    _wait_loaded(index)
    hits = index.hits(["tea"], owner_scope(None, False))
    assert hits is not None and [r.id for r in hits.records] == ["a"]
    assert index.records(["a", "old"], owner_scope(None, False)) == {"a": ("green tea", {"n": 0})}
    index.close()


@pytest.mark.parametrize("vectors", [False, True])
def test_without_counts_in_memory_fts5_ranks(tmp_path: Path, vectors: bool):
    entries = _entries(300)
    counted = _open(tmp_path / "counted.sqlite3", entries)
    plain = _open(tmp_path / "plain.sqlite3", entries, counts=False, vectors=vectors)
    plain.apply(upserts=[_entry("d3", "u", "zebra")], deletes=["d5"])
    counted.apply(upserts=[_entry("d3", "u", "zebra")], deletes=["d5"])
    _wait_loaded(counted)
    _wait_loaded(plain)
    assert (plain._postings is None) == (not vectors)
    assert plain._postings is None or not plain._postings._terms
    for query in [*QUERIES, "zebra"]:
        words = ranking.query_terms(query)
        for scope in SCOPES:
            hits = plain.hits(words, scope)
            assert hits is not None
            assert _ranked(hits) == _ranked(counted.hits(words, scope))
    plain.close()
    counted.close()


# --- vectors in memory ----------------------------------------------------------------------------


def _vectored(n: int, seed: int = 11) -> list[Entry]:
    """`n` records of `_entries` with random 8-dimension vectors (not unit length: the index
    compares directions, as Chroma's cosine space does)."""
    rng = np.random.default_rng(seed)
    return [
        Entry(item_id, (owner,), content, {}, rng.normal(size=8).astype(np.float32))
        for item_id, owner, content in _entries(n, seed)
    ]


def _exact(entries: list[Entry], query: np.ndarray, scope: Scope, n: int) -> list[str]:
    """The reference: every record of the scope by cosine similarity, ties by position."""
    (owner,) = [value for _, value in scope.equal] or [None]

    def visible(entry: Entry) -> bool:
        held = entry.scope[0]
        return not scope.equal or held == owner or (scope.or_null and held is None)

    def cosine(entry: Entry) -> float:
        vector = np.asarray(entry.vector, dtype=np.float64)
        return float(vector @ query / np.linalg.norm(vector) / np.linalg.norm(query))

    return [e.id for e in sorted(filter(visible, entries), key=lambda e: -cosine(e))][:n]


def _nearest(index: KeywordIndex | Postings, vector: Any, scope: Scope, n: int) -> Any:
    """`nearest_many` of one search."""
    return index.nearest_many([(vector, scope, n)])[0]


def _vector_index(path: Path, entries: list[Entry]) -> KeywordIndex:
    index = KeywordIndex(path, ["user_id"])
    index.sync(len(entries), lambda: entries, VECTORS_OF)
    _wait_loaded(index)
    return index


@pytest.mark.parametrize("limit", [EXACT_UP_TO, 120])  # 120: 300 records, scopes of about 100
def test_nearest_in_memory_is_the_exact_ranking_in_every_scope(
    tmp_path: Path, monkeypatch, limit: int
):
    """Every scope's nearest records by cosine similarity, whether the product runs over all
    vectors (a scope of most records) or over the scope's alone (a few: w's 20); a scope larger
    than `EXACT_UP_TO` is left to Chroma."""
    monkeypatch.setattr(_postings, "EXACT_UP_TO", limit)
    rng = np.random.default_rng(3)
    few = [Entry(f"w{i}", ("w",), "x", {}, rng.normal(size=8)) for i in range(20)]
    entries = _vectored(300) + few
    index = _vector_index(tmp_path / "words.sqlite3", entries)
    answered = set()
    for _ in range(5):
        query = rng.normal(size=8)
        for scope in [*SCOPES, owner_scope("w", False)]:
            found = _nearest(index, query, scope, 10)
            if len(_exact(entries, query, scope, len(entries))) > limit:
                assert found is None
                continue
            assert found is not None
            ids, similarities = found
            assert ids == _exact(entries, query, scope, 10)
            answered.add(scope)
            assert (np.diff(similarities) <= 0).all() and (abs(similarities) <= 1 + 1e-6).all()
    assert len(answered) == (len(SCOPES) + 1 if limit > 320 else 4)  # at 120: u's, w's, nobody's
    index.close()


def test_searches_compared_together_get_what_each_gets_alone(tmp_path: Path):
    """`nearest_many`: scopes of most records share one product over all the vectors, a few
    records' scopes take their rows alone; each answer is the search's own."""
    rng = np.random.default_rng(5)
    few = [Entry(f"w{i}", ("w",), "x", {}, rng.normal(size=8)) for i in range(20)]
    index = _vector_index(tmp_path / "words.sqlite3", _vectored(300) + few)
    scopes = [*SCOPES, owner_scope("w", False)]
    searches = [(rng.normal(size=8), scope, n) for scope in scopes for n in (1, 10)]
    together = index.nearest_many(searches)
    for (vector, scope, n), found in zip(searches, together, strict=True):
        alone = _nearest(index, vector, scope, n)
        assert found is not None and alone is not None
        assert found[0] == alone[0]
        np.testing.assert_allclose(found[1], alone[1], atol=1e-6)
    assert index.nearest_many([]) == []
    index.close()


def test_vectors_follow_writes_and_are_kept_on_disk(tmp_path: Path):
    """An update of metadata alone keeps the vector, a new vector replaces it, a delete takes the
    record out; an index opened again (clean, the same count) loads them from its file, unless
    they are another embedder's (`memio reembed` ran): then it is rebuilt."""
    path = tmp_path / "words.sqlite3"
    entries = _vectored(50)
    index = _vector_index(path, entries)
    query = np.asarray(entries[7].vector)
    assert _nearest(index, query, owner_scope(None, False), 1)[0] == ["d7"]  # type: ignore[index]
    index.apply(upserts=[Entry("d7", (entries[7].scope[0],), entries[7].content, {"k": 1})])
    assert _nearest(index, query, owner_scope(None, False), 1)[0] == ["d7"]  # type: ignore[index]
    index.apply(upserts=[Entry("d7", ("u",), "moved", {}, -query)], deletes=["d8"])
    ids, similarities = _nearest(index, -query, owner_scope("u", False), 50)  # type: ignore[misc]
    assert ids[0] == "d7" and similarities[0] == pytest.approx(1.0)
    expected = _nearest(index, query, owner_scope(None, False), 50)
    assert expected is not None and "d8" not in expected[0]
    index.close()
    again = KeywordIndex(path, ["user_id"])
    again.sync(49, lambda: pytest.fail("rebuilt"), VECTORS_OF)  # clean, 49: nothing read again
    _wait_loaded(again)
    found = _nearest(again, query, owner_scope(None, False), 50)
    assert found is not None and found[0] == expected[0]
    again.close()
    reembedded = KeywordIndex(path, ["user_id"])
    fresh = [_entry(f"n{i}", None, "x") for i in range(49)]
    reembedded.sync(49, lambda: fresh, "other/8")  # the same count, another embedder's vectors
    assert reembedded.records(["n0", "d7"], owner_scope(None, False)) == {"n0": ("x", {})}
    reembedded.close()


def test_nearest_is_left_to_chroma_when_memory_cannot_answer(tmp_path: Path):
    """A record held without a vector, a stale index, or vectors still loading: None."""
    entries = _vectored(20)
    index = _vector_index(tmp_path / "words.sqlite3", entries)
    query = np.ones(8)
    assert _nearest(index, query, owner_scope(None, False), 5) is not None
    index._loaded = 0
    assert _nearest(index, query, owner_scope(None, False), 5) is None
    index._loaded = None
    index.stale = True
    assert _nearest(index, query, owner_scope(None, False), 5) is None
    index.stale = False
    index.apply(upserts=[_entry("bare", "u", "no vector")])
    assert _nearest(index, query, owner_scope(None, False), 5) is None
    index.apply(deletes=["bare"])
    assert _nearest(index, query, owner_scope(None, False), 5) is not None
    with pytest.raises(ValueError, match="dimensions"):
        index.apply(upserts=[Entry("wide", (None,), "x", {}, np.ones(9))])
    index.close()


def test_compaction_keeps_each_vector_with_its_record():
    postings = Postings(["user_id"], counts=False)
    rng = np.random.default_rng(5)
    vectors = {f"d{i}": rng.normal(size=4) for i in range(3000)}
    for item_id, vector in vectors.items():
        postings.add(item_id, (None,), "", vector)
    for i in range(2500):
        postings.remove(f"d{i}")
    assert len(postings._ids) < 2000
    for item_id in ("d2500", "d2999"):
        found = _nearest(postings, vectors[item_id], Scope(), 1)
        assert found is not None and found[0] == [item_id]


def test_expiry_in_memory_follows_metadata_and_is_loaded_again(tmp_path: Path):
    """With an expiry key, memory knows which records of a scope have expired: from the
    metadata of each write (merged as Chroma merges it) and, opened again, from the table."""
    path = tmp_path / "facts.sqlite3"
    entries = [
        Entry("a", ("u", "x"), "tea", {"exp": 10}),
        Entry("b", ("u", None), "tea", {"exp": 30}),
        Entry("c", ("v", "x"), "tea", {"exp": 5}),
        Entry("d", ("u", "x"), "tea", {}),
    ]

    def opened() -> KeywordIndex:
        index = KeywordIndex(path, ["user_id", "agent_id"], expiry="exp")
        index.sync(len(entries), lambda: entries, VECTORS_OF)
        _wait_loaded(index)
        return index

    index = opened()
    assert index.expired(exact_scope({"user_id": "u"}), 20) == ["a"]
    assert sorted(index.expired(exact_scope({}), 20) or []) == ["a", "c"]
    assert index.expired(exact_scope({"agent_id": "x"}), 40) == ["a", "c"]
    index.apply(upserts=[Entry("a", ("u", "x"), "tea", {"exp": None, "k": 1})])  # no expiry now
    index.apply(upserts=[Entry("d", ("u", "x"), "tea", {"exp": 1})])
    index.apply(upserts=[Entry("c", ("v", "x"), "tea", {"k": 2})])  # the expiry stays
    expected = {"u": ["b", "d"], "v": ["c"]}
    for user, ids in expected.items():
        assert sorted(index.expired(exact_scope({"user_id": user}), 40) or []) == ids
    index.stale = True
    assert index.expired(exact_scope({}), 40) is None
    index.stale = False
    index.close()
    again = opened()  # clean, the same count: loaded from the table
    for user, ids in expected.items():
        assert sorted(again.expired(exact_scope({"user_id": user}), 40) or []) == ids
    again.close()
    plain = _vector_index(tmp_path / "plain.sqlite3", _vectored(5))  # no expiry key
    assert plain.expired(owner_scope(None, False), 40) is None
    plain.close()


def test_searches_read_together_and_a_write_waits_for_them(tmp_path: Path, monkeypatch):
    """Concurrent searches hold the index at once (one lock for all took turns and was what a
    busy server waited on); a write waits for the searches in progress, and they for it."""
    index = _vector_index(tmp_path / "words.sqlite3", _vectored(50))
    nearest = Postings.nearest_many
    together = threading.Barrier(2, timeout=10)  # broken unless two searches are inside at once

    def meeting(self: Postings, *args: Any) -> Any:
        together.wait()
        return nearest(self, *args)

    monkeypatch.setattr(Postings, "nearest_many", meeting)
    query, everyone = np.ones(8), owner_scope(None, False)
    with ThreadPoolExecutor(2) as pool:
        found = list(pool.map(lambda _: _nearest(index, query, everyone, 3), range(2)))
        assert all(result is not None for result in found)

        inside, leave = threading.Event(), threading.Event()

        def staying(self: Postings, *args: Any) -> Any:
            inside.set()
            leave.wait(10)
            return nearest(self, *args)

        monkeypatch.setattr(Postings, "nearest_many", staying)
        search = pool.submit(_nearest, index, query, everyone, 3)
        assert inside.wait(10)
        write = pool.submit(index.apply, upserts=[Entry("d1", ("u",), "moved", {}, -query)])
        time.sleep(0.2)
        assert not write.done()  # waits for the search in progress
        leave.set()
        assert search.result(timeout=10) is not None
        write.result(timeout=10)
    monkeypatch.setattr(Postings, "nearest_many", nearest)
    assert _nearest(index, -query, owner_scope("u", False), 1)[0] == ["d1"]  # type: ignore[index]
    index.close()
