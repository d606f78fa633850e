"""DocumentStore conformance: every provider of the documents store must pass this unchanged."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from memio.errors import ConflictError, InvalidRequestError, NotFoundError
from memio.models import MAX_METADATA_KEYS, Document, DocumentInput
from memio.protocols import DocumentStore
from tests.conformance.filter_cases import ITEMS, filter_table_failures, malformed_failures
from tests.conformance.helpers import (
    HIKE,
    MODE_CORPUS,
    NUL,
    SCORE_TOLERANCE,
    STOCKS,
    assert_utc,
    at_the_caps,
    over_the_caps,
    refusal_failures,
    stored,
    walk,
)
from tests.conformance.helpers import (
    MODE_QUERY as QUERY,
)

KIND = "documents"


# --- CRUD -----------------------------------------------------------------------------------


async def test_add_get_round_trip(document_store, backend, env):
    assert isinstance(document_store, DocumentStore)
    assert document_store.provider == backend.config(env)["provider"]
    metadata = {"source": "wiki", "page": 3, "w": 0.25, "draft": False, "tags": ["a", "b"]}
    added = await document_store.add(
        content="Paris is in France", metadata=metadata, user_id="alice"
    )
    assert added.id
    assert (added.content, added.user_id, added.metadata) == (
        "Paris is in France",
        "alice",
        metadata,
    )
    assert added.score is None
    assert_utc(added.created_at)
    assert added.updated_at == added.created_at
    assert await document_store.get(doc_id=added.id) == added
    assert await document_store.get(doc_id=added.id, user_id="alice") == added
    assert await document_store.count() == 1
    await document_store.ping()


async def test_explicit_id_and_conflict(document_store):
    doc = await document_store.add(content="first", doc_id="doc-1")
    assert doc.id == "doc-1"
    with pytest.raises(ConflictError) as exc:
        await document_store.add(content="second", doc_id="doc-1")
    assert exc.value.field == "doc_id"
    assert await document_store.get(doc_id="doc-1") == doc
    assert await document_store.count() == 1


async def test_get_all_in_creation_order(document_store):
    added = [await document_store.add(content=text) for text in ("one", "two", "three")]
    page = await document_store.get_all()
    assert list(page) == added
    assert page.next_cursor is None


INVALID = [
    (lambda s: s.add(content=""), "content"),
    (lambda s: s.add(content=" \n"), "content"),
    (lambda s: s.add(content="x", doc_id=""), "doc_id"),
    (lambda s: s.add(content="x", user_id=""), "user_id"),
    (lambda s: s.add(content="lone \ud800"), "content"),  # a lone surrogate: no store keeps it
    (lambda s: s.add(content="x", metadata={"k": "\ud800"}), "metadata.k"),
    (lambda s: s.search(query="\ud800"), "query"),
    (lambda s: s.add(content="x", metadata={"a": {"b": 1}}), "metadata.a"),
    (lambda s: s.add(content="x", metadata={"a": None}), "metadata.a"),
    (lambda s: s.add(content="x", metadata={"a": float("inf")}), "metadata.a"),
    (lambda s: s.get(doc_id=""), "doc_id"),
    (lambda s: s.search(query=""), "query"),
    (lambda s: s.search(query="x", limit=0), "limit"),
    (lambda s: s.search(query="x", limit=1001), "limit"),
    (lambda s: s.search(query="x", search_mode="fuzzy"), "search_mode"),
    (lambda s: s.get_all(limit=0), "limit"),
    (lambda s: s.get_all(limit=1001), "limit"),
    (lambda s: s.get_all(cursor="not-a-cursor"), "cursor"),
    (
        lambda s: s.add_many(documents=[DocumentInput(content="ok"), DocumentInput(content="")]),
        "documents[1].content",
    ),
    (
        lambda s: s.upsert_many(documents=[DocumentInput(content="ok", doc_id="")]),
        "documents[0].doc_id",
    ),
    (lambda s: s.get_all(user_id="alice", include_shared="yes"), "include_shared"),
    (lambda s: s.search(query="x", user_id="alice", include_shared=1), "include_shared"),
]


@pytest.mark.parametrize(
    ("call", "field"), INVALID, ids=[f"{field}-{i}" for i, (_, field) in enumerate(INVALID)]
)
async def test_invalid_requests(document_store, call, field):
    with pytest.raises(InvalidRequestError) as exc:
        await call(document_store)
    assert exc.value.field == field
    assert await document_store.count() == 0


# What no provider may store: NUL (decision D6) and metadata past the caps (D7).
REFUSED = [
    (lambda s: s.add(content=f"a{NUL}b"), "content"),
    (lambda s: s.add(content="x", doc_id=f"d{NUL}"), "doc_id"),
    (lambda s: s.add(content="x", user_id=NUL), "user_id"),
    (lambda s: s.search(query=f"{NUL}x"), "query"),
    (lambda s: s.get(doc_id=f"d{NUL}"), "doc_id"),
    (lambda s: s.update(doc_id="d", content=f"a{NUL}"), "content"),
    (
        lambda s: s.upsert_many(documents=[{"content": "ok"}, {"content": f"x{NUL}"}]),
        "documents[1].content",
    ),
    # metadata caps (decision D7) and NUL in metadata
    *[
        (lambda s, m=metadata: s.add(content="x", metadata=m), field)
        for metadata, field in over_the_caps()
    ],
    *[
        (
            lambda s, m=metadata: s.upsert_many(
                documents=[{"content": "ok"}, {"content": "x", "metadata": m}]
            ),
            field,
        )
        for metadata, field in over_the_caps("documents[1].metadata")
    ],
]


async def test_nul_and_metadata_past_the_caps_are_refused(document_store):
    failures = await refusal_failures(document_store, REFUSED)
    assert not failures, "\n".join(failures)


async def test_update_requires_content_or_metadata(document_store):
    doc = await document_store.add(content="text")
    with pytest.raises(InvalidRequestError):
        await document_store.update(doc_id=doc.id)
    with pytest.raises(InvalidRequestError) as exc:
        await document_store.update(doc_id=doc.id, content="")
    assert exc.value.field == "content"
    assert await document_store.get(doc_id=doc.id) == doc


async def test_not_found(document_store):
    for call in (
        lambda: document_store.get(doc_id="missing"),
        lambda: document_store.update(doc_id="missing", content="x"),
        lambda: document_store.delete(doc_id="missing"),
    ):
        with pytest.raises(NotFoundError):
            await call()


async def test_update_replaces_content_and_merges_metadata(document_store):
    doc = await document_store.add(content="old text", metadata={"a": 1, "b": "x"}, user_id="alice")
    updated = await document_store.update(
        doc_id=doc.id, content="new text", metadata={"b": "y", "c": True}
    )
    assert (updated.id, updated.content, updated.user_id) == (doc.id, "new text", "alice")
    assert updated.metadata == {"a": 1, "b": "y", "c": True}
    assert updated.created_at == doc.created_at
    assert_utc(updated.updated_at)
    assert updated.updated_at >= doc.updated_at
    assert await document_store.get(doc_id=doc.id) == updated

    again = await document_store.update(doc_id=doc.id, metadata={"d": 2}, user_id="alice")
    assert again.content == "new text"
    assert again.metadata == {"a": 1, "b": "y", "c": True, "d": 2}
    assert await document_store.get(doc_id=doc.id) == again


async def test_update_re_embeds_content(document_store):
    doc = await document_store.add(content="a recipe for bread")
    await document_store.add(content=STOCKS)
    await document_store.update(doc_id=doc.id, content=HIKE)
    assert [d.content for d in await document_store.search(query="hiking")] == [HIKE, STOCKS]


async def test_delete(document_store):
    keep = await document_store.add(content="keep me")
    gone = await document_store.add(content="delete me")
    assert await document_store.delete(doc_id=gone.id) is None
    with pytest.raises(NotFoundError):
        await document_store.get(doc_id=gone.id)
    with pytest.raises(NotFoundError):
        await document_store.delete(doc_id=gone.id)
    assert list(await document_store.get_all()) == [keep]
    assert await document_store.count() == 1


# --- batches ---------------------------------------------------------------------------------


async def test_add_many(document_store):
    docs = await document_store.add_many(
        documents=[
            DocumentInput(content="first", metadata={"i": 1}),
            DocumentInput(content="second", doc_id="doc-2", user_id="alice"),
            DocumentInput(content="third"),
        ]
    )
    assert [d.content for d in docs] == ["first", "second", "third"]
    assert docs[0].metadata == {"i": 1}
    assert (docs[1].id, docs[1].user_id) == ("doc-2", "alice")
    assert len({d.id for d in docs}) == 3
    for doc in docs:
        assert_utc(doc.created_at)
        assert await document_store.get(doc_id=doc.id) == doc
    assert list(await document_store.get_all()) == docs


async def test_add_many_conflict_writes_nothing(document_store):
    await document_store.add(content="taken", doc_id="d1")
    with pytest.raises(ConflictError):
        await document_store.add_many(
            documents=[DocumentInput(content="new"), DocumentInput(content="clash", doc_id="d1")]
        )
    with pytest.raises(ConflictError):
        await document_store.add_many(
            documents=[
                DocumentInput(content="x", doc_id="d2"),
                DocumentInput(content="y", doc_id="d2"),
            ]
        )
    assert [d.id for d in await document_store.get_all()] == ["d1"]


async def test_upsert_many_inserts_and_replaces(document_store):
    original = await document_store.add(
        content="a recipe for bread", doc_id="d1", metadata={"old": True, "v": 1}
    )
    other = await document_store.add(content="unrelated", doc_id="d0")
    docs = await document_store.upsert_many(
        documents=[
            DocumentInput(content=HIKE, doc_id="d1", metadata={"v": 2}),
            DocumentInput(content="brand new", doc_id="d2"),
        ]
    )
    replaced, inserted = docs
    assert (replaced.id, replaced.content, replaced.metadata) == ("d1", HIKE, {"v": 2})
    assert replaced.created_at == original.created_at
    assert replaced.updated_at >= original.updated_at
    assert (inserted.id, inserted.content) == ("d2", "brand new")
    assert_utc(inserted.created_at)
    for doc in docs:
        assert await document_store.get(doc_id=doc.id) == doc
    assert [d.id for d in await document_store.get_all()] == ["d1", "d0", "d2"]
    assert await document_store.get(doc_id="d0") == other
    assert await document_store.count() == 3
    assert (await document_store.search(query="hiking"))[0].id == "d1"


async def test_upsert_never_changes_an_owner(document_store):
    """Decision D4: an upsert item whose user_id differs from the stored document's (None is a
    value too) is a conflict, and nothing in its batch is written."""
    alices = await document_store.add(content="alice's notes", doc_id="a", user_id="alice")
    shared = await document_store.add(content="shared notes", doc_id="s")
    for i, (doc_id, user_id) in enumerate(
        [("a", None), ("a", "bob"), ("s", "alice"), ("s", "bob")]
    ):
        with pytest.raises(ConflictError) as exc:
            await document_store.upsert_many(
                documents=[
                    DocumentInput(content=f"new {i}", doc_id=f"new-{i}"),
                    DocumentInput(content="taken over", doc_id=doc_id, user_id=user_id),
                ]
            )
        assert exc.value.field == "documents[1].user_id"
    assert await document_store.get(doc_id="a") == alices
    assert await document_store.get(doc_id="s") == shared
    assert [d.id for d in await document_store.get_all()] == ["a", "s"]

    mine, still_shared = await document_store.upsert_many(
        documents=[
            DocumentInput(content="alice's new notes", doc_id="a", user_id="alice"),
            DocumentInput(content="new shared notes", doc_id="s"),
        ]
    )
    assert (mine.user_id, mine.content) == ("alice", "alice's new notes")
    assert (still_shared.user_id, still_shared.content) == (None, "new shared notes")


async def test_delete_many_and_delete_all(document_store):
    a1, a2, b1, n1 = await document_store.add_many(
        documents=[
            DocumentInput(content="a1", user_id="alice"),
            DocumentInput(content="a2", user_id="alice"),
            DocumentInput(content="b1", user_id="bob"),
            DocumentInput(content="n1"),
        ]
    )
    assert await document_store.delete_many(doc_ids=[a1.id, "missing"]) == 1
    assert await document_store.delete_many(doc_ids=[a2.id, b1.id, n1.id], user_id="alice") == 1
    assert [d.id for d in await document_store.get_all()] == [b1.id, n1.id]
    assert await document_store.delete_all(user_id="bob") == 1
    assert await document_store.delete_all(user_id="carol") == 0
    assert await document_store.delete_all() == 1
    assert await document_store.count() == 0


# --- scoping, search ------------------------------------------------------------------------


async def test_user_scoping(document_store):
    alice = await document_store.add(content=HIKE, user_id="alice")
    bob = await document_store.add(content=STOCKS, user_id="bob")
    shared = await document_store.add(content="no owner")

    with pytest.raises(NotFoundError):
        await document_store.get(doc_id=alice.id, user_id="bob")
    with pytest.raises(NotFoundError):
        await document_store.get(doc_id=shared.id, user_id="alice")
    with pytest.raises(NotFoundError):
        await document_store.update(doc_id=alice.id, content="hijack", user_id="bob")
    with pytest.raises(NotFoundError):
        await document_store.delete(doc_id=alice.id, user_id="bob")
    assert await document_store.get(doc_id=alice.id) == alice

    assert list(await document_store.get_all(user_id="alice")) == [alice]
    assert list(await document_store.get_all(user_id="bob")) == [bob]
    assert list(await document_store.get_all()) == [alice, bob, shared]
    assert [d.id for d in await document_store.search(query="hiking", user_id="bob")] == [bob.id]
    assert {d.id for d in await document_store.search(query="hiking")} == {
        alice.id,
        bob.id,
        shared.id,
    }


async def test_include_shared(document_store):
    """Decision D5: with a user_id, include_shared adds the documents stored without one."""
    alice = await document_store.add(content=HIKE, user_id="alice", metadata={"n": 1})
    bob = await document_store.add(content="hiking boots for sale", user_id="bob")
    shared = await document_store.add(content="a guide to mountain trails", metadata={"n": 2})
    alice2 = await document_store.add(content=STOCKS, user_id="alice", metadata={"n": 3})

    listed = await document_store.get_all(user_id="alice", include_shared=True)
    assert list(listed) == [alice, shared, alice2]
    assert list(await document_store.get_all(user_id="alice")) == [alice, alice2]
    assert list(await document_store.get_all(include_shared=True)) == [alice, bob, shared, alice2]
    filtered = await document_store.get_all(
        user_id="alice", include_shared=True, filters={"n": {"gte": 2}}
    )
    assert list(filtered) == [shared, alice2]

    found = await document_store.search(query="hiking", user_id="alice", include_shared=True)
    assert {d.id for d in found} == {alice.id, shared.id, alice2.id}
    assert {d.id for d in await document_store.search(query="hiking", user_id="alice")} == {
        alice.id,
        alice2.id,
    }
    limited = await document_store.search(
        query="mountain trails", user_id="alice", include_shared=True, limit=1
    )
    assert [d.id for d in limited] == [shared.id]

    assert await document_store.get(doc_id=shared.id, user_id="alice", include_shared=True) == (
        shared
    )
    with pytest.raises(NotFoundError):
        await document_store.get(doc_id=shared.id, user_id="alice")
    with pytest.raises(NotFoundError):
        await document_store.get(doc_id=bob.id, user_id="alice", include_shared=True)

    pages = await walk(document_store.get_all, limit=1, user_id="alice", include_shared=True)
    assert [d.id for page in pages for d in page] == [alice.id, shared.id, alice2.id]
    first = await document_store.get_all(user_id="alice", include_shared=True, limit=1)
    with pytest.raises(InvalidRequestError) as exc:
        await document_store.get_all(user_id="alice", limit=1, cursor=first.next_cursor)
    assert exc.value.field == "cursor"


async def test_metadata_at_the_caps_round_trips(document_store):
    for i, metadata in enumerate(at_the_caps()):
        doc = await document_store.add(content=f"document {i}", metadata=metadata)
        assert doc.metadata == metadata
        assert (await document_store.get(doc_id=doc.id)).metadata == metadata


async def test_merges_past_the_caps_are_refused(document_store):
    full = {f"k{i}": i for i in range(MAX_METADATA_KEYS - 1)}
    doc = await document_store.add(content="text", doc_id="d", metadata=full)
    with pytest.raises(InvalidRequestError) as exc:
        await document_store.update(doc_id="d", metadata={"x": 1, "y": 2})
    assert exc.value.field == "metadata"
    assert str(MAX_METADATA_KEYS) in exc.value.reason
    assert await document_store.get(doc_id="d") == doc
    assert len((await document_store.update(doc_id="d", metadata={"x": 1})).metadata) == (
        MAX_METADATA_KEYS
    )


async def test_semantic_search_ranks_by_meaning(document_store):
    stocks = await document_store.add(content=STOCKS)
    hike = await document_store.add(content=HIKE)
    results = await document_store.search(query="hiking")
    assert [r.id for r in results] == [hike.id, stocks.id]
    scores = [r.score for r in results]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] > scores[1]
    assert [stored(r) for r in results] == [hike, stocks]
    assert [r.id for r in await document_store.search(query="hiking", limit=1)] == [hike.id]


# --- search modes: the same ranking on every provider -----------------------------------------


async def _mode_corpus(store, **fields):
    await store.add_many(
        documents=[{"doc_id": i, "content": text, **fields} for i, text in MODE_CORPUS.items()]
    )


def _ranked(results):
    """(id, score) pairs; scores within SCORE_TOLERANCE."""
    return [(d.id, pytest.approx(d.score, abs=SCORE_TOLERANCE)) for d in results]


async def test_keyword_mode_ranks_by_bm25(document_store):
    """BM25 over the words shared with the query (stopwords left out): a document without one
    is not a keyword result; the scores are the same on every provider."""
    await _mode_corpus(document_store)
    found = await document_store.search(query=QUERY, search_mode="keyword")
    assert _ranked(found) == [("k1", 0.713), ("k5", 0.700), ("k3", 0.652), ("k2", 0.374)]
    assert [stored(d) for d in found] == [await document_store.get(doc_id=d.id) for d in found]
    assert await document_store.search(query="hiking", search_mode="keyword") == []
    assert await document_store.search(query="what did they do", search_mode="keyword") == []
    limited = await document_store.search(query="when did Caroline paint?", search_mode="keyword")
    assert _ranked(limited) == [("k3", 0.652), ("k1", 0.453), ("k2", 0.374), ("k5", 0.355)]


async def test_hybrid_is_the_default_and_fuses_both_rankings(document_store):
    await _mode_corpus(document_store)
    semantic = await document_store.search(query=QUERY, search_mode="semantic")
    assert [d.id for d in semantic] == ["k3", "k1", "k5", "k2", "k4"]
    hybrid = await document_store.search(query=QUERY)
    assert hybrid == await document_store.search(query=QUERY, search_mode="hybrid")
    assert _ranked(hybrid) == [
        ("k1", 0.977),
        ("k3", 0.910),
        ("k5", 0.874),
        ("k2", 0.193),
        ("k4", 0),
    ]
    assert [d.id for d in await document_store.search(query=QUERY, limit=2)] == ["k1", "k3"]
    # nothing shares a word: the semantic order, rescaled (the best 1, the last 0)
    hiking = await document_store.search(query="hiking")
    assert [d.id for d in hiking] == [
        d.id for d in await document_store.search(query="hiking", search_mode="semantic")
    ]
    assert (hiking[0].score, hiking[-1].score) == (1.0, 0.0)


async def test_keyword_results_follow_writes(document_store):
    """Whatever keeps a provider's keyword index, updates, upserts and deletes show at once."""
    await _mode_corpus(document_store)
    await document_store.update(doc_id="k4", content="Caroline sold her stocks")
    await document_store.upsert_many(documents=[{"doc_id": "k2", "content": "a quiet lake"}])
    await document_store.delete(doc_id="k5")
    found = await document_store.search(query=QUERY, search_mode="keyword")
    assert [d.id for d in found] == ["k1", "k3", "k4"]
    assert found[2].content == "Caroline sold her stocks"
    await document_store.delete_all()
    assert await document_store.search(query=QUERY, search_mode="keyword") == []


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "semantic"])
async def test_every_mode_applies_scope_and_filters_first(document_store, mode):
    await _mode_corpus(document_store, user_id="bob")
    alice = await document_store.add(content="Caroline painted a mural", user_id="alice")
    shared = await document_store.add(content="support group listings", metadata={"n": 1})
    found = await document_store.search(query=QUERY, user_id="alice", search_mode=mode)
    assert [d.id for d in found] == [alice.id]
    found = await document_store.search(
        query=QUERY, user_id="alice", include_shared=True, search_mode=mode
    )
    assert {d.id for d in found} == {alice.id, shared.id}
    filtered = await document_store.search(
        query=QUERY, user_id="alice", include_shared=True, filters={"n": 1}, search_mode=mode
    )
    assert [d.id for d in filtered] == [shared.id]
    assert all(0.0 <= d.score <= 1.0 for d in found)


# --- filters ----------------------------------------------------------------------------------


async def test_filter_table(document_store):
    stored = {}
    for item in ITEMS:  # one by one: creation order is part of what the table checks
        stored[item.label] = await document_store.add(
            content=item.content, user_id=item.user_id, metadata=item.metadata
        )
    failures = await filter_table_failures(document_store, stored)
    assert not failures, "\n".join(failures)


async def test_malformed_filters(document_store):
    failures = await malformed_failures(document_store)
    assert not failures, "\n".join(failures)


# --- pagination -------------------------------------------------------------------------------


async def test_pagination_walk(document_store):
    added = await document_store.add_many(
        documents=[DocumentInput(content=f"document number {i}") for i in range(57)]
    )
    pages = await walk(document_store.get_all, limit=10)
    assert [len(page) for page in pages] == [10, 10, 10, 10, 10, 7]
    assert [d.id for page in pages for d in page] == [d.id for d in added]

    whole = await document_store.get_all(limit=57)
    assert len(whole) == 57
    assert whole.next_cursor is None


async def test_pagination_with_scope_and_filters(document_store):
    docs = await document_store.add_many(
        documents=[
            DocumentInput(
                content=f"doc {i}", user_id="alice" if i % 2 else "bob", metadata={"i": i}
            )
            for i in range(20)
        ]
    )
    want = [d.id for d in docs if d.user_id == "alice" and d.metadata["i"] >= 5]
    pages = await walk(document_store.get_all, limit=3, user_id="alice", filters={"i": {"gte": 5}})
    assert [d.id for page in pages for d in page] == want
    assert all(len(page) == 3 for page in pages[:-1])


async def test_cursor_is_bound_to_its_listing(document_store):
    await document_store.add_many(
        documents=[DocumentInput(content=f"d{i}", user_id="alice") for i in range(3)]
    )
    first = await document_store.get_all(user_id="alice", limit=1)
    assert first.next_cursor is not None
    for kwargs in ({"user_id": "bob"}, {}, {"user_id": "alice", "filters": {"kind": "note"}}):
        with pytest.raises(InvalidRequestError) as exc:
            await document_store.get_all(cursor=first.next_cursor, limit=1, **kwargs)
        assert exc.value.field == "cursor"
    second = await document_store.get_all(user_id="alice", limit=1, cursor=first.next_cursor)
    assert [d.content for d in second] == ["d1"]


# --- concurrency, persistence -----------------------------------------------------------------


async def test_concurrent_writes_all_land(document_store):
    docs = await asyncio.gather(
        *(document_store.add(content=f"concurrent document {i}") for i in range(50))
    )
    assert len({d.id for d in docs}) == 50
    assert await document_store.count() == 50
    assert {d.id for d in await document_store.get_all(limit=100)} == {d.id for d in docs}


async def test_close_is_idempotent(document_store):
    await document_store.add(content="x")
    await document_store.aclose()
    await document_store.aclose()


@pytest.mark.persistent_only
async def test_close_and_reopen_keeps_everything(document_store, open_store):
    kept = await document_store.add(
        content=HIKE, user_id="alice", metadata={"tags": ["a", "b"], "n": 1}
    )
    changed = await document_store.add(content="a recipe for bread", doc_id="d2")
    changed = await document_store.update(doc_id="d2", content=STOCKS, metadata={"x": 1.5})
    gone = await document_store.add(content="temporary")
    await document_store.delete(doc_id=gone.id)
    await document_store.aclose()

    store = open_store()
    assert await store.get(doc_id=kept.id) == kept
    assert await store.get(doc_id="d2") == changed
    assert list(await store.get_all()) == [kept, changed]
    with pytest.raises(NotFoundError):
        await store.get(doc_id=gone.id)
    assert [d.id for d in await store.search(query="hiking")] == [kept.id, changed.id]
    with pytest.raises(ConflictError):
        await store.add(content="again", doc_id="d2")
    assert await store.count() == 2


async def test_restore_keeps_id_owner_and_timestamps(document_store):
    created = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    updated = datetime(2024, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    document = Document(
        id="restored-doc",
        content="The Rhine flows through Basel.",
        user_id="alice",
        metadata={"lang": "en", "pages": [1, 2]},
        created_at=created,
        updated_at=updated,
    )
    shared = Document(id="shared-doc", content="shared", created_at=created)
    assert await document_store.restore(documents=[document, shared]) == [True, True]
    assert await document_store.get(doc_id=document.id) == document
    assert list(await document_store.get_all(user_id="alice")) == [document]
    assert [d.id for d in await document_store.get_all()] == [document.id, shared.id]
    found = await document_store.search(query="river in Basel", user_id="alice")
    assert found[0].id == document.id
    stored = await document_store.get(doc_id="shared-doc")
    assert (stored.user_id, stored.created_at, stored.updated_at) == (None, created, created)
    # a second run leaves the stored documents as they are; a repeated id is written once
    other = document.model_copy(update={"content": "changed"})
    new = Document(id="new-doc", content="new")
    assert await document_store.restore(documents=[other, new, new]) == [False, True, False]
    assert await document_store.get(doc_id=document.id) == document
    with pytest.raises(InvalidRequestError, match=r"documents\[0\]\.content"):
        await document_store.restore(documents=[{"id": "x", "content": ""}])
    assert await document_store.count() == 3
