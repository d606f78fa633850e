"""The word index beside embedded Chroma, on its own: its in-memory term counts give the hits
FTS5 gives, scope by scope, and stay right while they load, as records change and after they are
compacted (the store-level behaviour is in test_chroma.py's word index section)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import pytest

from memio import ranking
from memio.providers.chroma import _keywords
from memio.providers.chroma._keywords import KeywordIndex, exact_scope, owner_scope
from memio.providers.chroma._postings import Postings, Scope

WORDS = ["tea", "coffee", "green", "black", "painting", "painted", "paints", "river", "basel"]
WORDS += ["snake", "hike", "trip"]
OWNERS = ["u", "v", None]


def _entries(n: int, seed: int = 7) -> list[tuple[str, str | None, str]]:
    """(id, owner, content) of `n` records."""
    rng = random.Random(seed)
    return [
        (f"d{i}", rng.choice(OWNERS), " ".join(rng.choices(WORDS, k=rng.randint(1, 8))))
        for i in range(n)
    ]


def _open(path: Path, records: list[tuple[str, str | None, str]]) -> KeywordIndex:
    entries = [(*record, {"n": i}) for i, record in enumerate(records)]
    index = KeywordIndex(path, ["user_id"])
    index.sync(len(entries), lambda: entries)
    return index


def _wait_loaded(index: KeywordIndex) -> None:
    deadline = time.monotonic() + 30
    while index._loaded is not None:
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
    entries = [("a", "u", "x", "tea", {}), ("b", "u", None, "tea", {}), ("c", "v", "x", "tea", {})]
    index.sync(len(entries), lambda: entries)
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
        upserts=[("d3", "u", "zebra crossing", {}), ("new", "v", "zebra", {})], deletes=["d5"]
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
        postings.add((item_id, owner, content))
    for i in range(2500):
        postings.remove(f"d{i}")
    postings.add(("d2999", "u", "zebra"))  # replaced: its old words go
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
    postings.add(("a", None, "green tea"))
    hits = postings.hits(ranking.query_terms(query), Scope(), in_scope=1)
    assert ranking.bm25(hits) == []


def test_records_follow_chromas_metadata_merge_within_their_scope(tmp_path: Path):
    """The index keeps each record's metadata as Chroma holds it after a write: an update
    merges into what was there and a key given None goes; a read sees only its scope."""
    index = _open(tmp_path / "words.sqlite3", [("a", "u", "green tea"), ("b", None, "coffee")])
    index.apply(upserts=[("a", "u", "green tea", {"k": 1.5, "n": None, "tags": ["x", "y"]})])
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


def test_without_counts_in_memory_fts5_ranks_and_nothing_is_held(tmp_path: Path):
    entries = _entries(300)
    counted = _open(tmp_path / "counted.sqlite3", entries)
    plain = KeywordIndex(tmp_path / "plain.sqlite3", ["user_id"], counts=False)
    plain.sync(len(entries), lambda: [(*e, {}) for e in entries])
    plain.apply(upserts=[("d3", "u", "zebra", {})], deletes=["d5"])
    counted.apply(upserts=[("d3", "u", "zebra", {})], deletes=["d5"])
    _wait_loaded(counted)
    assert plain._postings is None and plain._loader is None
    for query in [*QUERIES, "zebra"]:
        words = ranking.query_terms(query)
        for scope in SCOPES:
            hits = plain.hits(words, scope)
            assert hits is not None
            assert _ranked(hits) == _ranked(counted.hits(words, scope))
    plain.close()
    counted.close()
