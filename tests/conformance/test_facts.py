"""FactStore conformance: every provider of the facts store must pass this unchanged."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from memio.errors import ConflictError, InvalidRequestError, NotFoundError, NotSupportedError
from memio.models import MAX_METADATA_KEYS, Fact, FactEvent, FactEventType, FactInput, utcnow
from memio.protocols import FactStore
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

KIND = "facts"


# --- CRUD -----------------------------------------------------------------------------------


async def test_add_get_round_trip(fact_store, backend, env):
    assert isinstance(fact_store, FactStore)
    assert fact_store.provider == backend.config(env)["provider"]
    metadata = {"source": "chat", "n": 3, "w": 0.5, "ok": True, "tags": ["ui", "theme"]}
    added = await fact_store.add(
        content="prefers dark mode",
        user_id="alice",
        agent_id="bot",
        app_id="app",
        run_id="run-1",
        metadata=metadata,
    )
    assert added.id
    assert (added.content, added.user_id, added.agent_id, added.app_id, added.run_id) == (
        "prefers dark mode",
        "alice",
        "bot",
        "app",
        "run-1",
    )
    assert added.metadata == metadata
    assert added.score is None
    assert added.event == "ADD"
    assert "event" not in added.model_dump()
    assert_utc(added.created_at)
    assert added.updated_at == added.created_at
    got = await fact_store.get(fact_id=added.id)
    assert got == added
    assert got.event is None
    assert await fact_store.count() == 1
    await fact_store.ping()


async def test_explicit_id_and_conflict(fact_store, backend):
    if "fact_ids" in backend.cannot:
        with pytest.raises(NotSupportedError):
            await fact_store.add(content="likes tea", fact_id="fact-1")
        assert await fact_store.count() == 0
        return
    fact = await fact_store.add(content="likes tea", fact_id="fact-1")
    assert fact.id == "fact-1"
    with pytest.raises(ConflictError) as exc:
        await fact_store.add(content="likes coffee", fact_id="fact-1")
    assert exc.value.field == "fact_id"
    assert await fact_store.get(fact_id="fact-1") == fact
    assert await fact_store.count() == 1


async def test_get_all_in_creation_order(fact_store):
    added = [await fact_store.add(content=text) for text in ("one", "two", "three")]
    page = await fact_store.get_all()
    assert list(page) == added
    assert page.next_cursor is None


INVALID = [
    (lambda s: s.add(content=""), "content"),
    (lambda s: s.add(content="   "), "content"),
    (lambda s: s.add(content="x", metadata={"a": {"b": 1}}), "metadata.a"),
    (lambda s: s.add(content="x", metadata={"a": None}), "metadata.a"),
    (lambda s: s.add(content="x", metadata={"a": float("nan")}), "metadata.a"),
    (lambda s: s.add(content="x", metadata={"a": [1, {"b": 2}]}), "metadata.a"),
    (lambda s: s.add(content="x", user_id=""), "user_id"),
    (lambda s: s.add(content="x", fact_id=""), "fact_id"),
    (lambda s: s.add(content="lone \ud800"), "content"),  # a lone surrogate: no store keeps it
    (lambda s: s.add(content="x", user_id="\udfff"), "user_id"),
    (lambda s: s.add(content="x", metadata={"a": ["ok", "\ud800"]}), "metadata.a"),
    (lambda s: s.search(query="\ud800 x"), "query"),
    (lambda s: s.get(fact_id=""), "fact_id"),
    (lambda s: s.search(query=""), "query"),
    (lambda s: s.search(query="x", limit=0), "limit"),
    (lambda s: s.search(query="x", limit=1001), "limit"),
    (lambda s: s.search(query="x", threshold=1.5), "threshold"),
    (lambda s: s.search(query="x", threshold=-0.1), "threshold"),
    (lambda s: s.search(query="x", search_mode="fuzzy"), "search_mode"),
    (lambda s: s.get_all(limit=0), "limit"),
    (lambda s: s.get_all(limit=1001), "limit"),
    (lambda s: s.get_all(cursor="not-a-cursor"), "cursor"),
    (
        lambda s: s.add_many(facts=[FactInput(content="ok"), FactInput(content=" ")]),
        "facts[1].content",
    ),
]


@pytest.mark.parametrize(
    ("call", "field"), INVALID, ids=[f"{field}-{i}" for i, (_, field) in enumerate(INVALID)]
)
async def test_invalid_requests(fact_store, call, field):
    with pytest.raises(InvalidRequestError) as exc:
        await call(fact_store)
    if field is not None:
        assert exc.value.field == field
    assert await fact_store.count() == 0


# What no provider may store: NUL (decision D6) and metadata past the caps (D7).
REFUSED = [
    (lambda s: s.add(content=f"a{NUL}b", user_id="u"), "content"),
    (lambda s: s.add(content="x", user_id=f"u{NUL}"), "user_id"),
    (lambda s: s.add(content="x", user_id="u", agent_id=NUL), "agent_id"),
    (lambda s: s.add(content="x", user_id="u", fact_id=f"f{NUL}"), "fact_id"),
    (lambda s: s.search(query=f"tea{NUL}"), "query"),
    (lambda s: s.get(fact_id=f"f{NUL}"), "fact_id"),
    (lambda s: s.history(fact_id=f"f{NUL}"), "fact_id"),
    (lambda s: s.update(fact_id="f", content=f"a{NUL}"), "content"),
    (lambda s: s.delete_many(fact_ids=["ok", f"f{NUL}"]), "fact_ids[1]"),
    (
        lambda s: s.add_many(facts=[{"content": "ok", "user_id": "u"}, {"content": NUL * 2}]),
        "facts[1].content",
    ),
    # metadata caps (decision D7) and NUL in metadata
    *[
        (lambda s, m=metadata: s.add(content="x", user_id="u", metadata=m), field)
        for metadata, field in over_the_caps()
    ],
    *[
        (
            lambda s, m=metadata: s.add_many(
                facts=[{"content": "ok", "user_id": "u"}, {"content": "x", "metadata": m}]
            ),
            field,
        )
        for metadata, field in over_the_caps("facts[1].metadata")
    ],
]


async def test_nul_and_metadata_past_the_caps_are_refused(fact_store):
    failures = await refusal_failures(fact_store, REFUSED)
    assert not failures, "\n".join(failures)


async def test_update_requires_content_or_metadata(fact_store):
    fact = await fact_store.add(content="likes tea")
    with pytest.raises(InvalidRequestError):
        await fact_store.update(fact_id=fact.id)
    with pytest.raises(InvalidRequestError) as exc:
        await fact_store.update(fact_id=fact.id, content="")
    assert exc.value.field == "content"
    assert await fact_store.get(fact_id=fact.id) == fact
    assert [e.event for e in await fact_store.history(fact_id=fact.id)] == [FactEventType.ADD]


async def test_not_found(fact_store):
    for call in (
        lambda: fact_store.get(fact_id="missing"),
        lambda: fact_store.update(fact_id="missing", content="x"),
        lambda: fact_store.delete(fact_id="missing"),
        lambda: fact_store.history(fact_id="missing"),
    ):
        with pytest.raises(NotFoundError):
            await call()


async def test_update_replaces_content_and_merges_metadata(fact_store):
    fact = await fact_store.add(content="likes tea", user_id="alice", metadata={"a": 1, "b": "x"})
    updated = await fact_store.update(
        fact_id=fact.id, content="likes coffee", metadata={"b": "y", "c": True}
    )
    assert updated.id == fact.id
    assert updated.content == "likes coffee"
    assert updated.metadata == {"a": 1, "b": "y", "c": True}
    assert updated.user_id == "alice"
    assert updated.created_at == fact.created_at
    assert_utc(updated.updated_at)
    assert updated.updated_at >= fact.updated_at
    assert await fact_store.get(fact_id=fact.id) == updated

    again = await fact_store.update(fact_id=fact.id, metadata={"d": 2.5})
    assert again.content == "likes coffee"
    assert again.metadata == {"a": 1, "b": "y", "c": True, "d": 2.5}
    assert await fact_store.get(fact_id=fact.id) == again


async def test_update_onto_another_facts_content_is_a_conflict(fact_store):
    """One fact per content per scope holds for updates as it does for repeat adds: every
    provider refuses the update (a database constraint enforces it in postgres)."""
    tea = await fact_store.add(content="likes tea", user_id="alice")
    coffee = await fact_store.add(content="likes coffee", user_id="alice")
    elsewhere = await fact_store.add(content="likes juice", user_id="bob")
    with pytest.raises(ConflictError) as exc:
        await fact_store.update(fact_id=coffee.id, content="  likes   tea ")
    assert exc.value.field == "content" and tea.id in exc.value.message
    assert await fact_store.get(fact_id=coffee.id) == coffee
    assert [e.event for e in await fact_store.history(fact_id=coffee.id)] == [FactEventType.ADD]
    # Another scope may hold the same content; a fact may keep its own (respaced) content.
    moved = await fact_store.update(fact_id=elsewhere.id, content="likes tea")
    assert moved.content == "likes tea" and moved.user_id == "bob"
    same = await fact_store.update(fact_id=tea.id, content="likes  tea")
    assert same.content == "likes  tea"


async def test_update_re_embeds_content(fact_store):
    fact = await fact_store.add(content="likes tea")
    await fact_store.add(content=STOCKS)
    await fact_store.update(fact_id=fact.id, content=HIKE)
    results = await fact_store.search(query="hiking")
    assert [r.content for r in results] == [HIKE, STOCKS]


async def test_delete(fact_store):
    keep = await fact_store.add(content="keep me")
    gone = await fact_store.add(content="delete me")
    assert await fact_store.delete(fact_id=gone.id) is None
    with pytest.raises(NotFoundError):
        await fact_store.get(fact_id=gone.id)
    with pytest.raises(NotFoundError):
        await fact_store.delete(fact_id=gone.id)
    assert list(await fact_store.get_all()) == [keep]
    assert await fact_store.count() == 1


# --- dedup and history ----------------------------------------------------------------------


async def test_dedup_same_content_same_scope(fact_store):
    first = await fact_store.add(content="likes tea", user_id="alice")
    again = await fact_store.add(content="  likes   tea ", user_id="alice")
    assert again == first
    assert (first.event, again.event) == ("ADD", "NONE")
    assert len(await fact_store.history(fact_id=first.id)) == 1

    others = [
        await fact_store.add(content="likes tea", user_id="bob"),
        await fact_store.add(content="likes tea", user_id="alice", agent_id="bot"),
        await fact_store.add(content="likes tea", user_id="alice", run_id="r1"),
        await fact_store.add(content="likes tea", app_id="app"),
        await fact_store.add(content="Likes tea", user_id="alice"),
    ]
    assert len({first.id, *(fact.id for fact in others)}) == 6
    assert {fact.event for fact in others} == {"ADD"}
    assert await fact_store.count() == 6
    assert await fact_store.get(fact_id=first.id) == first


async def test_repeat_add_merges_new_metadata(fact_store):
    """Decision D3: re-sending a stored fact with new metadata keeps the metadata (it used to
    answer with the old fact and drop it)."""
    first = await fact_store.add(content="likes tea", user_id="alice", metadata={"a": 1})
    merged = await fact_store.add(
        content=" likes  tea", user_id="alice", metadata={"b": "new", "a": 1}
    )
    assert merged.event == "UPDATE"
    assert (merged.id, merged.content, merged.user_id) == (first.id, "likes tea", "alice")
    assert merged.metadata == {"a": 1, "b": "new"}
    assert merged.created_at == first.created_at
    assert_utc(merged.updated_at)
    assert merged.updated_at > first.updated_at
    assert await fact_store.get(fact_id=first.id) == merged

    same = await fact_store.add(content="likes tea", user_id="alice", metadata={"b": "new"})
    assert same.event == "NONE"
    assert same == merged
    retyped = await fact_store.add(content="likes tea", user_id="alice", metadata={"a": True})
    assert retyped.event == "UPDATE"  # True is not 1: the stored value changes type
    assert retyped.metadata == {"a": True, "b": "new"}
    assert await fact_store.count() == 1

    events = await fact_store.history(fact_id=first.id)
    assert [e.event for e in events] == [
        FactEventType.ADD,
        FactEventType.UPDATE,
        FactEventType.UPDATE,
    ]
    update = events[1]
    assert (update.old_content, update.new_content) == ("likes tea", "likes tea")
    assert (update.old_metadata, update.new_metadata) == ({"a": 1}, {"a": 1, "b": "new"})
    assert events[2].new_metadata == {"a": True, "b": "new"}
    assert [e.created_at for e in events] == sorted(e.created_at for e in events)


async def test_add_many_repeats_merge_in_order(fact_store):
    stored_fact = await fact_store.add(content="likes tea", user_id="alice")
    results = await fact_store.add_many(
        facts=[
            FactInput(content="likes tea", user_id="alice", metadata={"src": "batch"}),
            FactInput(content="likes jazz", user_id="alice", metadata={"n": 1}),
            FactInput(content="likes jazz", user_id="alice", metadata={"m": 2}),
            FactInput(content="likes jazz", user_id="alice"),
            FactInput(content="likes tea", user_id="alice", metadata={"src": "batch"}),
        ]
    )
    assert [r.event for r in results] == ["UPDATE", "ADD", "UPDATE", "NONE", "NONE"]
    tea, jazz_added, jazz_merged, jazz_same, tea_same = results
    assert tea.id == tea_same.id == stored_fact.id
    assert tea.metadata == tea_same.metadata == {"src": "batch"}
    assert jazz_added.id == jazz_merged.id == jazz_same.id
    assert jazz_added.metadata == {"n": 1}  # each result is the fact as its item left it
    assert jazz_merged.metadata == jazz_same.metadata == {"n": 1, "m": 2}
    assert await fact_store.get(fact_id=jazz_added.id) == jazz_merged
    assert await fact_store.get(fact_id=stored_fact.id) == tea
    assert await fact_store.count() == 2
    jazz_events = await fact_store.history(fact_id=jazz_added.id)
    assert [e.event for e in jazz_events] == [FactEventType.ADD, FactEventType.UPDATE]
    assert jazz_events[0].new_metadata == {"n": 1}
    assert (jazz_events[1].old_metadata, jazz_events[1].new_metadata) == (
        {"n": 1},
        {"n": 1, "m": 2},
    )
    tea_events = await fact_store.history(fact_id=stored_fact.id)
    assert [e.event for e in tea_events] == [FactEventType.ADD, FactEventType.UPDATE]


async def test_history_names_the_scope(fact_store, backend):
    """Decision D1: every event carries the fact's scope ids, also after the fact is gone."""
    fact = await fact_store.add(
        content="likes tea", user_id="alice", agent_id="bot", app_id="app", run_id="r1"
    )
    await fact_store.update(fact_id=fact.id, content="likes coffee")
    await fact_store.add(
        content="likes coffee",
        user_id="alice",
        agent_id="bot",
        app_id="app",
        run_id="r1",
        metadata={"k": 1},
    )
    await fact_store.delete(fact_id=fact.id)
    bare = await fact_store.add(content="no owner", app_id="app")
    await fact_store.delete(fact_id=bare.id)

    events = await fact_store.history(fact_id=fact.id)
    assert len(events) == 4
    scopes = {(e.user_id, e.agent_id, e.app_id, e.run_id) for e in events}
    bare_scopes = {
        (e.user_id, e.agent_id, e.app_id, e.run_id)
        for e in await fact_store.history(fact_id=bare.id)
    }
    if "event_scope" in backend.cannot:
        assert scopes == bare_scopes == {(None, None, None, None)}
    else:
        assert scopes == {("alice", "bot", "app", "r1")}
        assert bare_scopes == {(None, None, "app", None)}


async def test_metadata_at_the_caps_round_trips(fact_store):
    for i, metadata in enumerate(at_the_caps()):
        fact = await fact_store.add(content=f"fact {i}", user_id="alice", metadata=metadata)
        assert fact.metadata == metadata
        assert (await fact_store.get(fact_id=fact.id)).metadata == metadata
    assert len(await fact_store.get_all(user_id="alice")) == 2


async def test_merges_past_the_caps_are_refused(fact_store):
    full = {f"k{i}": i for i in range(MAX_METADATA_KEYS - 1)}
    fact = await fact_store.add(content="likes tea", user_id="alice", metadata=full)
    for call, field in (
        (lambda: fact_store.update(fact_id=fact.id, metadata={"x": 1, "y": 2}), "metadata"),
        (
            lambda: fact_store.add(content="likes tea", user_id="alice", metadata={"x": 1, "y": 2}),
            "metadata",
        ),
        (
            lambda: fact_store.add_many(
                facts=[
                    FactInput(content="fresh", user_id="alice"),
                    FactInput(content="likes tea", user_id="alice", metadata={"x": 1, "y": 2}),
                ]
            ),
            "facts[1].metadata",
        ),
    ):
        with pytest.raises(InvalidRequestError) as exc:
            await call()
        assert exc.value.field == field
        assert str(MAX_METADATA_KEYS) in exc.value.reason
    assert await fact_store.get(fact_id=fact.id) == fact
    assert [f.id for f in await fact_store.get_all()] == [fact.id]
    assert len(await fact_store.history(fact_id=fact.id)) == 1
    one_more = await fact_store.update(fact_id=fact.id, metadata={"x": 1})
    assert len(one_more.metadata) == MAX_METADATA_KEYS


async def test_concurrent_duplicate_adds_store_one_fact(fact_store):
    facts = await asyncio.gather(
        *(fact_store.add(content="likes green tea", user_id="alice") for _ in range(5))
    )
    assert len({fact.id for fact in facts}) == 1
    assert await fact_store.count() == 1


async def test_history_records_every_change(fact_store):
    fact = await fact_store.add(content="likes tea", metadata={"src": "chat"})
    await fact_store.update(fact_id=fact.id, content="likes coffee")
    await fact_store.update(fact_id=fact.id, metadata={"mood": "happy"})
    await fact_store.delete(fact_id=fact.id)

    events = await fact_store.history(fact_id=fact.id)
    assert [e.event for e in events] == [
        FactEventType.ADD,
        FactEventType.UPDATE,
        FactEventType.UPDATE,
        FactEventType.DELETE,
    ]
    add, update1, update2, delete = events
    assert (add.old_content, add.new_content) == (None, "likes tea")
    assert add.new_metadata == {"src": "chat"}
    assert (update1.old_content, update1.new_content) == ("likes tea", "likes coffee")
    assert update1.old_metadata == update1.new_metadata == {"src": "chat"}
    assert (update2.old_content, update2.new_content) == ("likes coffee", "likes coffee")
    assert update2.old_metadata == {"src": "chat"}
    assert update2.new_metadata == {"src": "chat", "mood": "happy"}
    assert delete.old_content == "likes coffee"
    assert delete.old_metadata == {"src": "chat", "mood": "happy"}
    assert (delete.new_content, delete.new_metadata) == (None, None)
    assert {e.fact_id for e in events} == {fact.id}
    assert len({e.id for e in events}) == 4
    for event in events:
        assert_utc(event.created_at)
    assert [e.created_at for e in events] == sorted(e.created_at for e in events)

    with pytest.raises(NotFoundError):
        await fact_store.get(fact_id=fact.id)
    assert await fact_store.history(fact_id=fact.id) == events
    with pytest.raises(NotFoundError):
        await fact_store.history(fact_id="never-existed")


# --- batches ---------------------------------------------------------------------------------


async def test_add_many(fact_store, backend):
    chosen_id = None if "fact_ids" in backend.cannot else "fact-2"
    existing = await fact_store.add(content="already here", user_id="alice")
    result = await fact_store.add_many(
        facts=[
            FactInput(content="first", user_id="alice", metadata={"i": 1}),
            FactInput(content="second", fact_id=chosen_id, agent_id="bot"),
            FactInput(content="already here", user_id="alice"),
            FactInput(content="first", user_id="alice"),
        ]
    )
    assert len(result) == 4
    first, second, dup_existing, dup_batch = result
    assert [f.event for f in result] == ["ADD", "ADD", "NONE", "NONE"]
    assert (first.content, first.user_id, first.metadata) == ("first", "alice", {"i": 1})
    assert (second.id, second.agent_id) == (chosen_id or second.id, "bot")
    assert dup_existing == existing
    assert dup_batch == first
    for fact in (first, second):
        assert_utc(fact.created_at)
        assert await fact_store.get(fact_id=fact.id) == fact
        assert [e.event for e in await fact_store.history(fact_id=fact.id)] == [FactEventType.ADD]
    assert await fact_store.count() == 3
    assert [f.id for f in await fact_store.get_all()] == [existing.id, first.id, second.id]


async def test_add_many_conflict_writes_nothing(fact_store, backend):
    if "fact_ids" in backend.cannot:
        # refused as a whole before anything is sent, the id-less item included
        with pytest.raises(NotSupportedError):
            await fact_store.add_many(
                facts=[FactInput(content="new one"), FactInput(content="new two", fact_id="f1")]
            )
        assert await fact_store.count() == 0
        return
    await fact_store.add(content="taken", fact_id="f1")
    with pytest.raises(ConflictError):
        await fact_store.add_many(
            facts=[FactInput(content="new one"), FactInput(content="new two", fact_id="f1")]
        )
    with pytest.raises(ConflictError):
        await fact_store.add_many(
            facts=[
                FactInput(content="new three", fact_id="f2"),
                FactInput(content="new four", fact_id="f2"),
            ]
        )
    assert [f.id for f in await fact_store.get_all()] == ["f1"]


async def test_delete_many_and_delete_all(fact_store):
    a1, a2, a3, _b1, b2 = await fact_store.add_many(
        facts=[
            FactInput(content="a1", user_id="alice"),
            FactInput(content="a2", user_id="alice"),
            FactInput(content="a3", user_id="alice", agent_id="bot"),
            FactInput(content="b1", user_id="bob"),
            FactInput(content="b2", user_id="bob"),
        ]
    )
    assert await fact_store.delete_many(fact_ids=[a1.id, a2.id, "missing"]) == 2
    assert (await fact_store.history(fact_id=a1.id))[-1].event == FactEventType.DELETE
    assert await fact_store.delete_all(user_id="bob") == 2
    assert (await fact_store.history(fact_id=b2.id))[-1].event == FactEventType.DELETE
    assert await fact_store.delete_all(user_id="alice", agent_id="other") == 0
    assert list(await fact_store.get_all()) == [a3]
    assert await fact_store.delete_all() == 1
    assert await fact_store.count() == 0


# --- scoping, search ------------------------------------------------------------------------


async def test_scoping(fact_store):
    alice = await fact_store.add(content=HIKE, user_id="alice")
    alice_bot = await fact_store.add(content="uses the bot", user_id="alice", agent_id="bot")
    bob = await fact_store.add(content=STOCKS, user_id="bob")

    assert list(await fact_store.get_all(user_id="alice")) == [alice, alice_bot]
    assert list(await fact_store.get_all(user_id="alice", agent_id="bot")) == [alice_bot]
    assert list(await fact_store.get_all(agent_id="bot")) == [alice_bot]
    assert list(await fact_store.get_all(user_id="bob")) == [bob]
    assert list(await fact_store.get_all(user_id="carol")) == []
    assert [f.id for f in await fact_store.get_all()] == [alice.id, alice_bot.id, bob.id]

    found = await fact_store.search(query="hiking", user_id="bob")
    assert [f.id for f in found] == [bob.id]
    found = await fact_store.search(query="hiking", user_id="alice", limit=100)
    assert {f.id for f in found} == {alice.id, alice_bot.id}


async def test_semantic_search_ranks_by_meaning(fact_store):
    stocks = await fact_store.add(content=STOCKS)
    hike = await fact_store.add(content=HIKE)
    results = await fact_store.search(query="hiking")
    assert [r.id for r in results] == [hike.id, stocks.id]
    scores = [r.score for r in results]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] > scores[1]
    assert [stored(r) for r in results] == [hike, stocks]
    assert [r.id for r in await fact_store.search(query="hiking", limit=1)] == [hike.id]


async def test_search_threshold(fact_store):
    await fact_store.add(content=HIKE)
    await fact_store.add(content=STOCKS)
    semantic = {"query": "hiking", "search_mode": "semantic"}
    high, low = (r.score for r in await fact_store.search(**semantic))
    above = await fact_store.search(**semantic, threshold=(high + low) / 2)
    assert [r.content for r in above] == [HIKE]
    assert len(await fact_store.search(**semantic, threshold=0.0)) == 2
    assert high < 1.0
    assert await fact_store.search(**semantic, threshold=1.0) == []
    # in hybrid (the default) the threshold applies to the fused score: the best is 1
    assert [r.content for r in await fact_store.search(query="hiking", threshold=0.5)] == [HIKE]


# --- search modes: the same ranking on every provider -----------------------------------------


async def _mode_corpus(store, **scope):
    """The corpus under `scope` (a user by default: mem0's platform keeps only scoped facts);
    returns a function naming found facts by their corpus label."""
    scope = scope or {"user_id": "u"}
    await store.add_many(facts=[{"content": text, **scope} for text in MODE_CORPUS.values()])
    label = {text: name for name, text in MODE_CORPUS.items()}

    def ranked(results):
        """(label, score) pairs; scores within SCORE_TOLERANCE."""
        return [(label[f.content], pytest.approx(f.score, abs=SCORE_TOLERANCE)) for f in results]

    return ranked


async def test_keyword_mode_ranks_by_bm25(fact_store):
    """BM25 over the words shared with the query (stopwords left out), the same scores as
    documents' on every provider; a fact without a shared word is not a keyword result."""
    ranked = await _mode_corpus(fact_store)
    found = await fact_store.search(query=QUERY, user_id="u", search_mode="keyword")
    assert ranked(found) == [("k1", 0.713), ("k5", 0.700), ("k3", 0.652), ("k2", 0.374)]
    assert [stored(f) for f in found] == [await fact_store.get(fact_id=f.id) for f in found]
    assert await fact_store.search(query="hiking", user_id="u", search_mode="keyword") == []
    limited = await fact_store.search(
        query="when did Caroline paint?", user_id="u", search_mode="keyword", limit=1
    )
    assert ranked(limited) == [("k3", 0.652)]


async def test_hybrid_is_the_default_and_fuses_both_rankings(fact_store):
    ranked = await _mode_corpus(fact_store)
    semantic = await fact_store.search(query=QUERY, user_id="u", search_mode="semantic")
    assert [label for label, _ in ranked(semantic)] == ["k3", "k1", "k5", "k2", "k4"]
    hybrid = await fact_store.search(query=QUERY, user_id="u")
    assert hybrid == await fact_store.search(query=QUERY, user_id="u", search_mode="hybrid")
    assert ranked(hybrid) == [("k1", 0.977), ("k3", 0.910), ("k5", 0.874), ("k2", 0.193), ("k4", 0)]
    top = await fact_store.search(query=QUERY, user_id="u", limit=2, threshold=0.8)
    assert [label for label, _ in ranked(top)] == ["k1", "k3"]


async def test_keyword_results_follow_writes(fact_store):
    """Whatever keeps a provider's keyword index, updates and deletes show at once."""
    await _mode_corpus(fact_store)
    listed = await fact_store.get_all(user_id="u")
    found = {name: f for f in listed for name, text in MODE_CORPUS.items() if f.content == text}
    await fact_store.update(fact_id=found["k4"].id, content="Caroline sold her stocks")
    await fact_store.delete(fact_id=found["k2"].id)
    after = await fact_store.search(query="Caroline", user_id="u", search_mode="keyword")
    assert sorted(f.content for f in after) == sorted(
        [MODE_CORPUS["k1"], MODE_CORPUS["k3"], "Caroline sold her stocks"]
    )
    await fact_store.delete_all(user_id="u")
    assert await fact_store.search(query=QUERY, user_id="u", search_mode="keyword") == []


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "semantic"])
async def test_every_mode_applies_scope_and_filters_first(fact_store, mode):
    await _mode_corpus(fact_store, user_id="bob")
    alice = await fact_store.add(content="Caroline painted a mural", user_id="alice")
    other = await fact_store.add(
        content="support group listings", user_id="alice", agent_id="a1", metadata={"n": 1}
    )
    found = await fact_store.search(query=QUERY, user_id="alice", search_mode=mode)
    assert {f.id for f in found} == {alice.id, other.id}
    agent = await fact_store.search(query=QUERY, user_id="alice", agent_id="a1", search_mode=mode)
    assert [f.id for f in agent] == [other.id]
    filtered = await fact_store.search(
        query=QUERY, user_id="alice", filters={"n": 1}, search_mode=mode
    )
    assert [f.id for f in filtered] == [other.id]
    assert all(0.0 <= f.score <= 1.0 for f in found)


# --- filters ----------------------------------------------------------------------------------


async def test_filter_table(fact_store):
    stored = {}
    for item in ITEMS:  # one by one: creation order is part of what the table checks
        stored[item.label] = await fact_store.add(
            content=item.content, user_id=item.user_id, metadata=item.metadata
        )
    failures = await filter_table_failures(fact_store, stored)
    assert not failures, "\n".join(failures)


async def test_malformed_filters(fact_store):
    failures = await malformed_failures(fact_store)
    assert not failures, "\n".join(failures)


# --- pagination -------------------------------------------------------------------------------


async def test_pagination_walk(fact_store):
    added = await fact_store.add_many(
        facts=[FactInput(content=f"fact number {i}") for i in range(57)]
    )
    pages = await walk(fact_store.get_all, limit=10)
    assert [len(page) for page in pages] == [10, 10, 10, 10, 10, 7]
    assert [f.id for page in pages for f in page] == [f.id for f in added]

    whole = await fact_store.get_all(limit=57)
    assert len(whole) == 57
    assert whole.next_cursor is None


async def test_pagination_with_scope_and_filters(fact_store):
    facts = await fact_store.add_many(
        facts=[
            FactInput(content=f"note {i}", user_id="alice" if i % 2 else "bob", metadata={"i": i})
            for i in range(20)
        ]
    )
    want = [f.id for f in facts if f.user_id == "alice" and f.metadata["i"] >= 5]
    pages = await walk(fact_store.get_all, limit=3, user_id="alice", filters={"i": {"gte": 5}})
    assert [f.id for page in pages for f in page] == want
    assert all(len(page) == 3 for page in pages[:-1])


async def test_cursor_is_bound_to_its_listing(fact_store):
    await fact_store.add_many(facts=[FactInput(content=f"f{i}", user_id="alice") for i in range(3)])
    first = await fact_store.get_all(user_id="alice", limit=1)
    assert first.next_cursor is not None
    for kwargs in (
        {"user_id": "bob"},
        {},
        {"user_id": "alice", "agent_id": "bot"},
        {"user_id": "alice", "filters": {"kind": "note"}},
    ):
        with pytest.raises(InvalidRequestError) as exc:
            await fact_store.get_all(cursor=first.next_cursor, limit=1, **kwargs)
        assert exc.value.field == "cursor"
    second = await fact_store.get_all(user_id="alice", limit=1, cursor=first.next_cursor)
    assert [f.content for f in second] == ["f1"]


# --- concurrency, persistence -----------------------------------------------------------------


async def test_concurrent_writes_all_land(fact_store):
    facts = await asyncio.gather(
        *(fact_store.add(content=f"concurrent fact {i}", user_id="alice") for i in range(50))
    )
    assert len({f.id for f in facts}) == 50
    assert await fact_store.count() == 50
    assert {f.id for f in await fact_store.get_all(limit=100)} == {f.id for f in facts}


async def test_close_is_idempotent(fact_store):
    await fact_store.add(content="x")
    await fact_store.aclose()
    await fact_store.aclose()


@pytest.mark.persistent_only
async def test_close_and_reopen_keeps_everything(fact_store, open_store):
    kept = await fact_store.add(content=HIKE, user_id="alice", metadata={"tags": ["a", "b"]})
    changed = await fact_store.add(content="likes tea", user_id="alice")
    changed = await fact_store.update(fact_id=changed.id, content="likes coffee", metadata={"n": 1})
    gone = await fact_store.add(content=STOCKS, user_id="alice")
    await fact_store.delete(fact_id=gone.id)
    histories = {f: await fact_store.history(fact_id=f) for f in (kept.id, changed.id, gone.id)}
    await fact_store.aclose()

    store = open_store()
    assert await store.get(fact_id=kept.id) == kept
    assert await store.get(fact_id=changed.id) == changed
    assert list(await store.get_all(user_id="alice")) == [kept, changed]
    for fact_id, events in histories.items():
        assert await store.history(fact_id=fact_id) == events
    with pytest.raises(NotFoundError):
        await store.get(fact_id=gone.id)
    assert (await store.search(query="hiking", user_id="alice"))[0].id == kept.id
    assert await store.add(content=HIKE, user_id="alice") == kept
    assert await store.count() == 2


# --- restore (memio import / migrate) ------------------------------------------------------------


async def test_restore_keeps_id_timestamps_and_history(fact_store, backend):
    created = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    updated = datetime(2024, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    fact = Fact(
        id="restored-1",
        content="likes green tea",
        user_id="alice",
        agent_id="bot",
        metadata={"source": "dump", "tags": ["a", "b"]},
        created_at=created,
        updated_at=updated,
        expires_at=datetime(2999, 1, 1, tzinfo=timezone.utc),
    )
    scope = {"user_id": "alice", "agent_id": "bot"}
    history = [
        FactEvent(
            id="ev-2",
            fact_id=fact.id,
            event=FactEventType.UPDATE,
            old_content="likes tea",
            new_content=fact.content,
            old_metadata={"source": "dump"},
            new_metadata=fact.metadata,
            created_at=updated,
            **scope,
        ),
        FactEvent(  # out of order on purpose: the store keeps them oldest first
            id="ev-1",
            fact_id=fact.id,
            event=FactEventType.ADD,
            new_content="likes tea",
            new_metadata={"source": "dump"},
            created_at=created,
            **scope,
        ),
    ]
    # no history given (a source that keeps none): the ADD that made the fact
    bare = Fact(id="restored-3", content="owns a bike", created_at=created, updated_at=created)
    if "restore" in backend.cannot:
        with pytest.raises(NotSupportedError):
            await fact_store.restore(facts=[fact], histories={fact.id: history})
        return
    written = await fact_store.restore(facts=[fact, bare], histories={fact.id: history})
    assert written == [True, True]
    assert await fact_store.get(fact_id=fact.id) == fact
    assert list(await fact_store.get_all(user_id="alice")) == [fact]
    assert [f.id for f in await fact_store.get_all()] == [fact.id, bare.id]
    assert await fact_store.history(fact_id=fact.id) == [history[1], history[0]]
    assert (await fact_store.search(query="green tea", user_id="alice"))[0].id == fact.id
    [added] = await fact_store.history(fact_id=bare.id)
    assert (added.event, added.new_content, added.created_at) == (
        FactEventType.ADD,
        "owns a bike",
        created,
    )
    # a second run leaves the stored facts as they are, and writes the new one
    changed = fact.model_copy(update={"content": "something else"})
    new = Fact(id="restored-5", content="reads poems", user_id="alice")
    assert await fact_store.restore(facts=[changed, new]) == [False, True]
    assert await fact_store.get(fact_id=fact.id) == fact
    # the same content in the same scope under another id (stored, or earlier in the batch) is
    # a conflict naming the holder, and nothing of the batch is written
    taken = fact.model_copy(update={"id": "restored-2"})
    with pytest.raises(ConflictError, match="restored-1") as raised:
        await fact_store.restore(facts=[Fact(id="restored-6", content="x"), taken])
    assert raised.value.field == "facts[1].content"
    twice = [Fact(id="a-1", content="same"), Fact(id="a-2", content="same")]
    with pytest.raises(ConflictError, match="a-1"):
        await fact_store.restore(facts=twice)
    with pytest.raises(InvalidRequestError, match=r"histories\.restored-4"):
        await fact_store.restore(
            facts=[bare.model_copy(update={"id": "restored-4", "content": "x"})],
            histories={"restored-4": history},
        )
    with pytest.raises(InvalidRequestError, match="facts"):
        await fact_store.restore(facts=[])
    assert await fact_store.count() == 3


async def test_entities_count_the_scope_ids_of_live_facts(fact_store):
    first = await fact_store.add(content="likes tea", user_id="alice", agent_id="bot")
    await fact_store.add(content="likes jazz", user_id="alice")
    chess = await fact_store.add(content="plays chess", user_id="bob", run_id="r1")
    hour = timedelta(hours=1)
    await fact_store.add(content="was on holiday", user_id="carol", expires_at=utcnow() - hour)
    changed = await fact_store.update(fact_id=first.id, metadata={"seen": True})
    found = await fact_store.entities()
    assert [(e.field, e.value, e.facts) for e in found] == [
        ("user_id", "alice", 2),
        ("agent_id", "bot", 1),
        ("user_id", "bob", 1),
        ("run_id", "r1", 1),
    ]
    alice = found[0]
    assert alice.created_at == first.created_at
    assert alice.updated_at >= changed.updated_at
    assert found[3].created_at == chess.created_at
    for entity in found:
        assert_utc(entity.created_at)
        assert_utc(entity.updated_at)
    scoped = await fact_store.entities(user_id="alice")
    assert [(e.field, e.value, e.facts) for e in scoped] == [
        ("user_id", "alice", 2),
        ("agent_id", "bot", 1),
    ]
    assert [(e.field, e.value) for e in await fact_store.entities(agent_id="bot")] == [
        ("user_id", "alice"),
        ("agent_id", "bot"),
    ]
    assert await fact_store.entities(user_id="nobody") == []
    everything = await fact_store.entities(include_expired=True)
    assert ("user_id", "carol", 1) in [(e.field, e.value, e.facts) for e in everything]
    with pytest.raises(InvalidRequestError) as caught:
        await fact_store.entities(run_id="")
    assert caught.value.field == "run_id"


async def test_count_is_what_the_listing_holds(fact_store):
    await fact_store.add(content="likes tea", user_id="u1", metadata={"topic": "food", "n": 1})
    await fact_store.add(content="likes jazz", user_id="u1", metadata={"topic": "music", "n": 2})
    await fact_store.add(content="runs at dawn", user_id="u2", agent_id="coach", metadata={"n": 3})
    assert await fact_store.count() == 3
    assert await fact_store.count(user_id="u1") == 2
    assert await fact_store.count(user_id="u1", filters={"topic": "food"}) == 1
    assert await fact_store.count(filters={"n": {"gte": 2}}) == 2
    assert await fact_store.count(agent_id="coach") == 1
    assert await fact_store.count(user_id="nobody") == 0
    for scope in ({}, {"user_id": "u1"}, {"filters": {"n": {"gte": 2}}}):
        listed = await fact_store.get_all(limit=100, **scope)
        assert await fact_store.count(**scope) == len(listed)
    with pytest.raises(InvalidRequestError) as caught:
        await fact_store.count(user_id="")
    assert caught.value.field == "user_id"
