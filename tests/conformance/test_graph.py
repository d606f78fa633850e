"""GraphStore conformance: every provider of the graph store must pass this unchanged."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from memio.errors import InvalidRequestError, NotFoundError
from memio.models import MAX_METADATA_KEYS, Triple
from memio.protocols import GraphStore
from tests.conformance.helpers import NUL, assert_utc, at_the_caps, over_the_caps, refusal_failures

KIND = "graph"


def t(subject: str, predicate: str, obj: str, **extra) -> dict:
    return {"subject": subject, "predicate": predicate, "object": obj, **extra}


def spo(triple: Triple) -> tuple[str, str, str]:
    return (triple.subject, triple.predicate, triple.object)


async def walk(store, *, limit: int, **kwargs) -> list[list[Triple]]:
    pages, cursor = [], None
    while True:
        result = await store.get_all(limit=limit, cursor=cursor, **kwargs)
        pages.append(result.triples)
        assert set(result.nodes) == {e for x in result.triples for e in (x.subject, x.object)}
        cursor = result.next_cursor
        if cursor is None:
            return pages
        assert len(pages) < 1000, "cursor never ends"


# --- CRUD -----------------------------------------------------------------------------------


async def test_add_get_all_round_trip(graph_store, backend, env):
    assert isinstance(graph_store, GraphStore)
    assert graph_store.provider == backend.config(env)["provider"]
    added = await graph_store.add(
        triples=[
            Triple(subject="alice", predicate="works_at", object="acme"),
            t("acme", "located_in", "paris", metadata={"since": 2020, "source": "wiki"}),
        ],
        user_id="alice",
    )
    assert [spo(x) for x in added] == [
        ("alice", "works_at", "acme"),
        ("acme", "located_in", "paris"),
    ]
    # literal ids: stored graphs are keyed by them, so a change of id scheme must fail here
    assert [x.id for x in added] == [
        "ce00cdf62b016d3341dbebc0f34dc9ba",
        "ac5a931e1c0a76d3ff02c80972a99cf4",
    ]
    assert added[1].metadata == {"since": 2020, "source": "wiki"}
    for triple in added:
        assert triple.user_id == "alice"
        assert_utc(triple.created_at)

    result = await graph_store.get_all(user_id="alice")
    assert result.triples == added
    assert set(result.nodes) == {"alice", "acme", "paris"}
    assert result.next_cursor is None
    assert result.scores == []
    assert (await graph_store.get_all()).triples == added
    assert await graph_store.count() == 2
    await graph_store.ping()


async def test_ids_are_stable_and_readd_merges_metadata(graph_store):
    [first] = await graph_store.add(
        triples=[t("alice", "likes", "tea", metadata={"a": 1})], user_id="alice"
    )
    [again] = await graph_store.add(
        triples=[t("alice", "likes", "tea", metadata={"b": 2, "a": 3})], user_id="alice"
    )
    assert again.id == first.id
    assert again.metadata == {"a": 3, "b": 2}
    assert again.created_at == first.created_at
    assert (await graph_store.get_all()).triples == [again]

    [bobs] = await graph_store.add(triples=[t("alice", "likes", "tea")], user_id="bob")
    [unscoped] = await graph_store.add(triples=[t("alice", "likes", "tea")])
    assert len({first.id, bobs.id, unscoped.id}) == 3
    assert (first.id, bobs.id, unscoped.id) == (
        "c996768fc5f972eb4ce5b79fe0c0f086",
        "1b7927dfa324dbb4bf79d827e857785b",
        "ed56858ae1999fe139dad8328dfa1a9f",
    )
    assert unscoped.user_id is None

    twice = await graph_store.add(triples=[t("x", "rel", "y"), t("x", "rel", "y")], user_id="alice")
    assert twice[0].id == twice[1].id
    assert await graph_store.count() == 4


INVALID = [
    (lambda s: s.add(triples=[]), "triples"),
    (lambda s: s.add(triples=[t("a", "b", "c")], user_id=""), "user_id"),
    (lambda s: s.add(triples=[t("a", "b", "c"), t("", "b", "c")]), "triples[1]"),
    (lambda s: s.add(triples=[t("a", " ", "c")]), "triples[0]"),
    (lambda s: s.add(triples=[{"subject": "a", "predicate": "b"}]), "triples[0]"),
    (lambda s: s.add(triples=[t("a", "b", "c", metadata={"x": {"y": 1}})]), "triples[0]"),
    (lambda s: s.get(entity=""), "entity"),
    (lambda s: s.search(query=""), "query"),
    (lambda s: s.search(query="x", limit=0), "limit"),
    (lambda s: s.search(query="x", limit=1001), "limit"),
    (lambda s: s.get_all(limit=0), "limit"),
    (lambda s: s.get_all(limit=1001), "limit"),
    (lambda s: s.get_all(cursor="not-a-cursor"), "cursor"),
    (lambda s: s.get_all(user_id="alice", include_shared="true"), "include_shared"),
    (lambda s: s.get(entity="a", user_id="alice", include_shared=None), "include_shared"),
]


@pytest.mark.parametrize(
    ("call", "field"), INVALID, ids=[f"{field}-{i}" for i, (_, field) in enumerate(INVALID)]
)
async def test_invalid_requests(graph_store, call, field):
    with pytest.raises(InvalidRequestError) as exc:
        await call(graph_store)
    assert exc.value.field is not None
    assert exc.value.field.startswith(field)
    assert await graph_store.count() == 0


# What no provider may store: NUL (decision D6) and metadata past the caps (D7).
REFUSED = [
    (lambda s: s.add(triples=[t("a", "b", "c"), t(f"a{NUL}", "b", "c")]), "triples[1].subject"),
    (lambda s: s.add(triples=[t("a", NUL, "c")]), "triples[0].predicate"),
    (lambda s: s.add(triples=[t("a", "b", f"{NUL}c")]), "triples[0].object"),
    (lambda s: s.add(triples=[t("a", "b", "c")], user_id=f"u{NUL}"), "user_id"),
    (lambda s: s.add(triples=[t("a", "b", "c", user_id=NUL)]), "triples[0].user_id"),
    (lambda s: s.get(entity=f"a{NUL}"), "entity"),
    (lambda s: s.search(query=f"a{NUL}"), "query"),
    (lambda s: s.delete(entity=f"a{NUL}"), "entity"),
    # metadata caps (decision D7) and NUL in metadata
    *[
        (lambda s, m=metadata: s.add(triples=[t("a", "b", "c"), t("d", "e", "f", metadata=m)]), f)
        for metadata, f in over_the_caps("triples[1].metadata")
    ],
]


async def test_nul_and_metadata_past_the_caps_are_refused(graph_store):
    failures = await refusal_failures(graph_store, REFUSED, prefix=True)
    assert not failures, "\n".join(failures)


async def test_metadata_at_the_caps_round_trips(graph_store):
    for i, metadata in enumerate(at_the_caps()):
        [added] = await graph_store.add(triples=[t("a", "r", f"b{i}", metadata=metadata)])
        assert added.metadata == metadata
    assert [x.metadata for x in (await graph_store.get_all()).triples] == at_the_caps()


async def test_readd_merges_past_the_caps_are_refused(graph_store):
    full = {f"k{i}": i for i in range(MAX_METADATA_KEYS - 1)}
    [stored] = await graph_store.add(triples=[t("a", "r", "b", metadata=full)], user_id="alice")
    with pytest.raises(InvalidRequestError) as exc:
        await graph_store.add(
            triples=[t("x", "r", "y"), t("a", "r", "b", metadata={"x": 1, "y": 2})],
            user_id="alice",
        )
    assert exc.value.field == "triples[1].metadata"
    assert str(MAX_METADATA_KEYS) in exc.value.reason
    with pytest.raises(InvalidRequestError) as exc:  # a repeat within the batch merges too
        await graph_store.add(
            triples=[t("x", "r", "y", metadata=full), t("x", "r", "y", metadata={"x": 1, "y": 2})]
        )
    assert exc.value.field == "triples[1].metadata"
    assert (await graph_store.get_all()).triples == [stored]


async def test_get_by_entity_and_depth(graph_store):
    knows1, knows2, knows3, other = await graph_store.add(
        triples=[
            t("alice", "knows", "bob"),
            t("bob", "knows", "carol"),
            t("carol", "knows", "dave"),
            t("eve", "knows", "frank"),
        ],
        user_id="u",
    )
    one = await graph_store.get(entity="alice", user_id="u")
    assert {x.id for x in one.triples} == {knows1.id}
    assert set(one.nodes) == {"alice", "bob"}
    assert one.triples == [knows1]

    two = await graph_store.get(entity="alice", user_id="u", depth=2)
    assert {x.id for x in two.triples} == {knows1.id, knows2.id}
    assert set(two.nodes) == {"alice", "bob", "carol"}

    as_object = await graph_store.get(entity="bob", user_id="u")
    assert {x.id for x in as_object.triples} == {knows1.id, knows2.id}
    assert set(as_object.nodes) == {"alice", "bob", "carol"}

    far = await graph_store.get(entity="alice", depth=5)
    assert {x.id for x in far.triples} == {knows1.id, knows2.id, knows3.id}
    assert other.id not in {x.id for x in far.triples}

    # No triples in view is an empty result, as memio 0.3.1 answered it (not NotFoundError).
    for unseen in (
        await graph_store.get(entity="zed", user_id="u"),
        await graph_store.get(entity="alice", user_id="someone-else"),
        await graph_store.get(entity="zed", depth=3),
    ):
        assert (unseen.triples, unseen.nodes) == ([], [])
    for depth in (0, -1):
        with pytest.raises(InvalidRequestError) as exc:
            await graph_store.get(entity="alice", depth=depth)
        assert exc.value.field == "depth"


# --- search ---------------------------------------------------------------------------------


async def test_search_by_words_and_meaning(graph_store):
    acme, tea, hike, stocks = await graph_store.add(
        triples=[
            t("alice", "works_at", "acme"),
            t("bob", "likes", "tea"),
            t("I", "enjoy", "walking in the mountains"),
            t("the stock market", "fell", "today"),
        ]
    )
    by_word = await graph_store.search(query="acme")
    assert by_word.triples[0].id == acme.id
    assert len(by_word.scores) == len(by_word.triples)
    assert all(0.0 <= s <= 1.0 for s in by_word.scores)
    assert by_word.scores == sorted(by_word.scores, reverse=True)
    assert set(by_word.nodes) == {e for x in by_word.triples for e in (x.subject, x.object)}
    assert by_word.triples[0] == acme

    by_meaning = await graph_store.search(query="hiking")
    ids = [x.id for x in by_meaning.triples]
    assert hike.id in ids
    assert stocks.id not in ids or ids.index(hike.id) < ids.index(stocks.id)
    assert ids[0] == hike.id
    assert len(by_meaning.scores) == len(ids)
    assert by_meaning.scores == sorted(by_meaning.scores, reverse=True)

    assert len((await graph_store.search(query="acme", limit=1)).triples) == 1
    assert tea.id in {x.id for x in (await graph_store.search(query="Bob tea", limit=1)).triples}


async def test_search_is_scoped(graph_store):
    [alices] = await graph_store.add(triples=[t("alice", "works_at", "acme")], user_id="alice")
    [bobs] = await graph_store.add(triples=[t("bob", "works_at", "acme")], user_id="bob")
    result = await graph_store.search(query="acme works", user_id="bob")
    assert [x.id for x in result.triples] == [bobs.id]
    both = await graph_store.search(query="acme works")
    assert {x.id for x in both.triples} == {alices.id, bobs.id}


# --- deletes, scoping ---------------------------------------------------------------------------


async def test_delete_by_triple_id(graph_store):
    keep, gone = await graph_store.add(
        triples=[t("a", "r", "b"), t("a", "r", "c")], user_id="alice"
    )
    with pytest.raises(NotFoundError):
        await graph_store.delete(triple_id=gone.id, user_id="bob")
    assert await graph_store.delete(triple_id=gone.id, user_id="alice") == 1
    with pytest.raises(NotFoundError):
        await graph_store.delete(triple_id=gone.id)
    assert (await graph_store.get_all()).triples == [keep]


async def test_delete_by_entity_stays_in_scope(graph_store):
    alice_x = await graph_store.add(
        triples=[t("x", "r", "y"), t("z", "r", "x"), t("p", "r", "q")], user_id="alice"
    )
    [bob_x] = await graph_store.add(triples=[t("x", "r", "y")], user_id="bob")
    assert await graph_store.delete(entity="x", user_id="alice") == 2
    assert (await graph_store.get_all(user_id="alice")).triples == [alice_x[2]]
    assert (await graph_store.get_all(user_id="bob")).triples == [bob_x]
    with pytest.raises(NotFoundError):
        await graph_store.delete(entity="x", user_id="alice")
    with pytest.raises(NotFoundError):
        await graph_store.delete(entity="nobody")
    assert await graph_store.delete(entity="x") == 1
    assert await graph_store.count() == 1


async def test_delete_needs_exactly_one_target(graph_store):
    [triple] = await graph_store.add(triples=[t("a", "r", "b")])
    with pytest.raises(InvalidRequestError):
        await graph_store.delete()
    with pytest.raises(InvalidRequestError):
        await graph_store.delete(entity="a", triple_id=triple.id)
    assert await graph_store.count() == 1


async def test_include_shared(graph_store):
    """Decision D5: with a user_id, include_shared adds the triples stored without one, and a
    traversal walks the user's and the shared triples together."""
    [works] = await graph_store.add(triples=[t("alice", "works_at", "acme")], user_id="alice")
    [located, capital] = await graph_store.add(
        triples=[t("acme", "located_in", "paris"), t("paris", "capital_of", "france")]
    )
    [bobs] = await graph_store.add(triples=[t("acme", "sued_by", "bob")], user_id="bob")
    [alice_paris] = await graph_store.add(triples=[t("alice", "likes", "paris")], user_id="alice")

    listed = await graph_store.get_all(user_id="alice", include_shared=True)
    assert listed.triples == [works, located, capital, alice_paris]
    assert (await graph_store.get_all(user_id="alice")).triples == [works, alice_paris]
    assert (await graph_store.get_all(include_shared=True)).triples == [
        works,
        located,
        capital,
        bobs,
        alice_paris,
    ]
    pages, cursor = [], None
    while True:
        page = await graph_store.get_all(
            user_id="alice", include_shared=True, limit=1, cursor=cursor
        )
        pages.append(page.triples)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        with pytest.raises(InvalidRequestError) as exc:
            await graph_store.get_all(user_id="alice", limit=1, cursor=cursor)
        assert exc.value.field == "cursor"
    assert [x for page in pages for x in page] == listed.triples

    near = await graph_store.get(entity="alice", user_id="alice", include_shared=True)
    assert near.triples == [works, alice_paris]
    far = await graph_store.get(entity="alice", user_id="alice", depth=2, include_shared=True)
    assert far.triples == [works, located, capital, alice_paris]
    assert set(far.nodes) == {"alice", "acme", "paris", "france"}
    alone = await graph_store.get(entity="alice", user_id="alice", depth=3)
    assert alone.triples == [works, alice_paris]
    shared_only = await graph_store.get(entity="france", user_id="alice", include_shared=True)
    assert shared_only.triples == [capital]
    assert (await graph_store.get(entity="france", user_id="alice")).triples == []
    bobs_only = await graph_store.get(entity="bob", user_id="alice", include_shared=True)
    assert (bobs_only.triples, bobs_only.nodes) == ([], [])

    found = await graph_store.search(query="acme", user_id="alice", include_shared=True)
    assert bobs.id not in {x.id for x in found.triples}
    assert {works.id, located.id} <= {x.id for x in found.triples}
    assert located.id not in {
        x.id for x in (await graph_store.search(query="acme", user_id="alice")).triples
    }


async def test_scoping_and_delete_all(graph_store):
    alice = await graph_store.add(
        triples=[t("alice", "likes", "tea"), t("alice", "owns", "cat")], user_id="alice"
    )
    bob = await graph_store.add(triples=[t("bob", "likes", "coffee")], user_id="bob")
    anon = await graph_store.add(triples=[t("someone", "likes", "jazz")])
    assert (await graph_store.get_all(user_id="alice")).triples == alice
    assert (await graph_store.get_all(user_id="bob")).triples == bob
    assert (await graph_store.get_all()).triples == alice + bob + anon
    assert (await graph_store.get(entity="alice", user_id="bob")).triples == []
    assert await graph_store.delete_all(user_id="alice") == 2
    assert await graph_store.delete_all(user_id="carol") == 0
    assert (await graph_store.get_all()).triples == bob + anon
    assert await graph_store.delete_all() == 2
    assert await graph_store.count() == 0


# --- pagination -------------------------------------------------------------------------------


async def test_pagination_walk(graph_store):
    added = await graph_store.add(
        triples=[t(f"entity {i}", "links_to", f"entity {i + 1}") for i in range(57)]
    )
    pages = await walk(graph_store, limit=10)
    assert [len(page) for page in pages] == [10, 10, 10, 10, 10, 7]
    assert [x.id for page in pages for x in page] == [x.id for x in added]

    whole = await graph_store.get_all(limit=57)
    assert len(whole.triples) == 57
    assert whole.next_cursor is None


async def test_cursor_is_bound_to_its_listing(graph_store):
    await graph_store.add(triples=[t("a", "r", f"b{i}") for i in range(3)], user_id="alice")
    first = await graph_store.get_all(user_id="alice", limit=1)
    assert first.next_cursor is not None
    for other in ("bob", None):
        with pytest.raises(InvalidRequestError) as exc:
            await graph_store.get_all(user_id=other, limit=1, cursor=first.next_cursor)
        assert exc.value.field == "cursor"
    second = await graph_store.get_all(user_id="alice", limit=1, cursor=first.next_cursor)
    assert [x.object for x in second.triples] == ["b1"]


# --- concurrency, persistence -----------------------------------------------------------------


async def test_concurrent_writes_all_land(graph_store):
    results = await asyncio.gather(
        *(
            graph_store.add(triples=[t(f"node {i}", "rel", "hub")], user_id="alice")
            for i in range(50)
        )
    )
    ids = {x.id for result in results for x in result}
    assert len(ids) == 50
    assert await graph_store.count() == 50
    assert {x.id for x in (await graph_store.get_all(limit=100)).triples} == ids
    assert len((await graph_store.get(entity="hub", user_id="alice")).triples) == 50


async def test_close_is_idempotent(graph_store):
    await graph_store.add(triples=[t("a", "r", "b")])
    await graph_store.aclose()
    await graph_store.aclose()


@pytest.mark.persistent_only
async def test_close_and_reopen_keeps_everything(graph_store, open_store):
    added = await graph_store.add(
        triples=[
            t("I", "enjoy", "walking in the mountains", metadata={"n": 1}),
            t("the stock market", "fell", "today"),
            t("alice", "works_at", "acme"),
        ],
        user_id="alice",
    )
    await graph_store.delete(entity="acme", user_id="alice")
    await graph_store.aclose()

    store = open_store()
    assert (await store.get_all(user_id="alice")).triples == added[:2]
    assert (await store.get(entity="I", user_id="alice")).triples == [added[0]]
    assert (await store.search(query="hiking", user_id="alice")).triples[0].id == added[0].id
    [again] = await store.add(
        triples=[t("I", "enjoy", "walking in the mountains")], user_id="alice"
    )
    assert again == added[0]
    assert await store.count() == 2


async def test_restore_keeps_id_owner_and_created_at(graph_store):
    created = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    triple = Triple(
        id="24b255399557d716cf23df38c073c1f2",
        subject="alice",
        predicate="lives_in",
        object="Basel",
        user_id="alice",
        metadata={"source": "dump"},
        created_at=created,
    )
    shared = Triple(subject="Basel", predicate="on", object="Rhine", created_at=created)
    assert await graph_store.restore(triples=[triple, shared]) == [True, True]
    listed = await graph_store.get_all(user_id="alice")
    assert listed.triples == [triple]
    everything = await graph_store.get_all()
    assert [t.id for t in everything.triples] == [
        triple.id,
        "02a8c8041d024875954098a6426420aa",
    ]
    found = await graph_store.search(query="where does alice live", user_id="alice")
    assert found.triples[0] == triple
    again = triple.model_copy(update={"metadata": {}})
    assert await graph_store.restore(triples=[again]) == [False]
    assert (await graph_store.get_all(user_id="alice")).triples == [triple]
    with pytest.raises(InvalidRequestError, match=r"triples\[0\]\.id"):
        await graph_store.restore(triples=[triple.model_copy(update={"id": "made-up"})])
    assert await graph_store.count() == 2
