"""HistoryStore conformance: every provider of the history store must pass this unchanged."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from memio.errors import ConflictError, InvalidRequestError, NotFoundError
from memio.models import Message
from memio.protocols import HistoryStore
from tests.conformance.helpers import (
    MODE_CORPUS,
    NUL,
    SCORE_TOLERANCE,
    assert_utc,
    over_the_caps,
    refusal_failures,
    walk,
)
from tests.conformance.helpers import MODE_QUERY as QUERY

KIND = "history"


def msg(content: str, role: str = "user") -> dict:
    return {"role": role, "content": content}


# --- CRUD -----------------------------------------------------------------------------------


async def test_add_get_round_trip(history_store, backend, env):
    assert isinstance(history_store, HistoryStore)
    assert history_store.provider == backend.config(env)["provider"]
    stamp = datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)
    added = await history_store.add(
        session_id="s1",
        user_id="alice",
        messages=[
            {"role": "user", "content": "hello there", "metadata": {"lang": "en", "n": 1}},
            Message(role="assistant", content="", name="bot"),
            {"role": "tool", "content": "42", "id": "m-3", "timestamp": stamp},
        ],
    )
    assert [(m.role, m.content) for m in added] == [
        ("user", "hello there"),
        ("assistant", ""),
        ("tool", "42"),
    ]
    assert added[0].metadata == {"lang": "en", "n": 1}
    assert added[1].name == "bot"
    assert added[2].id == "m-3"
    assert added[2].timestamp == stamp
    assert len({m.id for m in added}) == 3
    for message in added:
        assert message.id
        assert message.score is None
        assert_utc(message.timestamp)

    page = await history_store.get(session_id="s1")
    assert list(page) == added
    assert page.next_cursor is None
    assert list(await history_store.get(session_id="s1", user_id="alice")) == added
    assert await history_store.count() == 3
    await history_store.ping()


async def test_appends_keep_order(history_store):
    first = await history_store.add(session_id="s", messages=[msg("one"), msg("two", "assistant")])
    second = await history_store.add(session_id="s", messages=[msg("three")])
    assert list(await history_store.get(session_id="s")) == first + second


INVALID = [
    (lambda s: s.add(session_id="", messages=[msg("x")]), "session_id"),
    (lambda s: s.add(session_id="s", messages=[]), "messages"),
    (lambda s: s.add(session_id="s", messages="hello"), "messages"),
    (lambda s: s.add(session_id="s", messages=[msg("x")], user_id=""), "user_id"),
    (lambda s: s.add(session_id="s", messages=[msg("ok"), msg("x", role="")]), "messages[1]"),
    (lambda s: s.add(session_id="s", messages=[{"role": "user", "content": 5}]), "messages[0]"),
    (lambda s: s.add(session_id="s", messages=[{"role": "user"}]), "messages[0]"),
    (
        lambda s: s.add(
            session_id="s",
            messages=[{"role": "user", "content": "x", "metadata": {"a": {"b": 1}}}],
        ),
        "messages[0]",
    ),
    (lambda s: s.get(session_id=""), "session_id"),
    (lambda s: s.get_all(limit=0), "limit"),
    (lambda s: s.get_all(limit=1001), "limit"),
    (lambda s: s.get_all(cursor="not-a-cursor"), "cursor"),
]


@pytest.mark.parametrize(
    ("call", "field"), INVALID, ids=[f"{field}-{i}" for i, (_, field) in enumerate(INVALID)]
)
async def test_invalid_requests(history_store, call, field):
    with pytest.raises(InvalidRequestError) as exc:
        await call(history_store)
    assert exc.value.field is not None
    assert exc.value.field.startswith(field)
    assert await history_store.count() == 0


# What no provider may store: NUL (decision D6) and metadata past the caps (D7).
REFUSED = [
    (lambda s: s.add(session_id=f"s{NUL}", messages=[msg("x")]), "session_id"),
    (lambda s: s.add(session_id="s", messages=[msg("x")], user_id=NUL), "user_id"),
    (lambda s: s.add(session_id="s", messages=[msg("ok"), msg(f"a{NUL}b")]), "messages[1].content"),
    (lambda s: s.add(session_id="s", messages=[msg(NUL)]), "messages[0].content"),
    (lambda s: s.add(session_id="s", messages=[msg("x", role=f"user{NUL}")]), "messages[0].role"),
    (
        lambda s: s.add(session_id="s", messages=[{"role": "user", "content": "x", "name": NUL}]),
        "messages[0].name",
    ),
    (lambda s: s.add(session_id="s", messages=[{**msg("x"), "id": f"m{NUL}"}]), "messages[0].id"),
    (lambda s: s.get(session_id=f"s{NUL}"), "session_id"),
    (lambda s: s.search(session_id="s", query=f"x{NUL}"), "query"),
    # metadata caps (decision D7) and NUL in metadata
    *[
        (
            lambda s, m=metadata: s.add(
                session_id="s", messages=[msg("ok"), {**msg("x"), "metadata": m}]
            ),
            field,
        )
        for metadata, field in over_the_caps("messages[1].metadata")
    ],
]


async def test_nul_and_metadata_past_the_caps_are_refused(history_store):
    failures = await refusal_failures(history_store, REFUSED, prefix=True)
    assert not failures, "\n".join(failures)


async def test_invalid_requests_on_existing_session(history_store):
    await history_store.add(session_id="s", messages=[msg("hello")])
    for call, field in (
        (lambda: history_store.get(session_id="s", limit=0), "limit"),
        (lambda: history_store.get(session_id="s", limit=1001), "limit"),
        (lambda: history_store.get(session_id="s", cursor="garbage"), "cursor"),
        (lambda: history_store.search(session_id="s", query=""), "query"),
        (lambda: history_store.search(session_id="s", query="hello", limit=0), "limit"),
        (lambda: history_store.search(session_id="s", query="hello", limit=1001), "limit"),
    ):
        with pytest.raises(InvalidRequestError) as exc:
            await call()
        assert exc.value.field == field
    assert await history_store.count() == 1


async def test_unknown_session_is_not_found(history_store):
    for call in (
        lambda: history_store.get(session_id="nope"),
        lambda: history_store.search(session_id="nope", query="hello"),
        lambda: history_store.delete(session_id="nope"),
    ):
        with pytest.raises(NotFoundError):
            await call()


# --- ownership and scoping -----------------------------------------------------------------


async def test_session_ownership(history_store):
    await history_store.add(session_id="s1", user_id="alice", messages=[msg("from alice")])
    with pytest.raises(ConflictError) as exc:
        await history_store.add(session_id="s1", user_id="bob", messages=[msg("from bob")])
    assert exc.value.field == "user_id"
    await history_store.add(session_id="s1", messages=[msg("no user")])
    await history_store.add(session_id="s1", user_id="alice", messages=[msg("alice again")])
    contents = [m.content for m in await history_store.get(session_id="s1")]
    assert contents == ["from alice", "no user", "alice again"]

    for call in (
        lambda: history_store.get(session_id="s1", user_id="bob"),
        lambda: history_store.search(session_id="s1", query="alice", user_id="bob"),
        lambda: history_store.delete(session_id="s1", user_id="bob"),
    ):
        with pytest.raises(NotFoundError):
            await call()
    assert len(await history_store.get(session_id="s1", user_id="alice")) == 3


async def test_session_created_without_user_belongs_to_nobody(history_store):
    await history_store.add(session_id="open", messages=[msg("anonymous")])
    with pytest.raises(ConflictError) as exc:
        await history_store.add(session_id="open", user_id="alice", messages=[msg("claim")])
    assert exc.value.field == "user_id"
    with pytest.raises(NotFoundError):
        await history_store.get(session_id="open", user_id="alice")
    assert [m.content for m in await history_store.get(session_id="open")] == ["anonymous"]


async def test_get_all_lists_sessions_oldest_first(history_store):
    for session_id, user_id in (("s-a", "alice"), ("s-b", "bob"), ("s-c", "alice"), ("s-d", None)):
        await history_store.add(session_id=session_id, user_id=user_id, messages=[msg("hi")])
    await history_store.add(session_id="s-a", messages=[msg("later message")])

    everything = await history_store.get_all()
    assert list(everything) == ["s-a", "s-b", "s-c", "s-d"]
    assert everything.next_cursor is None
    assert list(await history_store.get_all(user_id="alice")) == ["s-a", "s-c"]
    assert list(await history_store.get_all(user_id="bob")) == ["s-b"]
    assert list(await history_store.get_all(user_id="zed")) == []
    pages = await walk(lambda **kw: history_store.get_all(user_id="alice", **kw), limit=1)
    assert pages == [["s-a"], ["s-c"]]


# --- pagination -------------------------------------------------------------------------------


async def test_order_kept_for_200_messages_across_pages(history_store):
    for start in range(0, 200, 50):
        await history_store.add(
            session_id="long",
            user_id="alice",
            messages=[
                msg(f"message {i}", "user" if i % 2 else "assistant")
                for i in range(start, start + 50)
            ],
        )
    pages = await walk(lambda **kw: history_store.get(session_id="long", **kw), limit=30)
    assert [len(page) for page in pages] == [30, 30, 30, 30, 30, 30, 20]
    assert [m.content for page in pages for m in page] == [f"message {i}" for i in range(200)]
    assert len({m.id for page in pages for m in page}) == 200

    whole = await history_store.get(session_id="long", limit=200)
    assert len(whole) == 200
    assert whole.next_cursor is None
    assert await history_store.count() == 200


async def test_cursor_is_bound_to_its_listing(history_store):
    await history_store.add(session_id="s1", user_id="alice", messages=[msg("a"), msg("b")])
    await history_store.add(session_id="s2", user_id="alice", messages=[msg("c"), msg("d")])
    await history_store.add(session_id="s3", user_id="bob", messages=[msg("e")])

    page = await history_store.get(session_id="s1", limit=1)
    assert page.next_cursor is not None
    with pytest.raises(InvalidRequestError) as exc:
        await history_store.get(session_id="s2", limit=1, cursor=page.next_cursor)
    assert exc.value.field == "cursor"
    rest = await history_store.get(session_id="s1", limit=1, cursor=page.next_cursor)
    assert [m.content for m in rest] == ["b"]

    sessions = await history_store.get_all(user_id="alice", limit=1)
    assert sessions.next_cursor is not None
    for other in ("bob", None):
        with pytest.raises(InvalidRequestError) as exc:
            await history_store.get_all(user_id=other, limit=1, cursor=sessions.next_cursor)
        assert exc.value.field == "cursor"


# --- search ---------------------------------------------------------------------------------


async def test_search_best_first(history_store):
    added = await history_store.add(
        session_id="s",
        user_id="alice",
        messages=[
            msg("the weather is nice today"),
            msg("hiking boots and hiking poles"),
            msg("I love hiking in the Alps", "assistant"),
            msg("nothing relevant here"),
        ],
    )
    await history_store.add(session_id="other", messages=[msg("hiking in the alps again")])
    weather, boots, alps, _ = added

    results = await history_store.search(session_id="s", query="hiking alps")
    assert [m.id for m in results][:2] == [alps.id, boots.id]
    assert weather.id not in {m.id for m in results}
    scores = [m.score for m in results]
    assert all(s is not None and 0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[1]
    assert results[0].session_id == "s"
    assert Message(**results[0].model_dump(exclude={"score", "session_id"})) == alps

    upper = await history_store.search(session_id="s", query="HIKING", user_id="alice")
    assert {m.id for m in upper} >= {alps.id, boots.id}
    assert [
        m.id for m in await history_store.search(session_id="s", query="hiking alps", limit=1)
    ] == [alps.id]
    assert await history_store.search(session_id="s", query="submarine") == []


MODE_TURNS = list(MODE_CORPUS.values())


def _labels(results):
    """(turn index, score) pairs, scores within SCORE_TOLERANCE, as facts and documents pin them."""
    return [
        (MODE_TURNS.index(m.content), pytest.approx(m.score, abs=SCORE_TOLERANCE)) for m in results
    ]


async def test_search_modes_rank_as_facts_and_documents_do(history_store):
    """keyword (the default) is BM25 over the session, as for facts and documents; semantic and
    hybrid rank by meaning too, with the same scores on every provider."""
    await history_store.add(session_id="s", messages=[msg(text) for text in MODE_TURNS])
    await history_store.add(session_id="t", messages=[msg("Caroline painted support group")])
    keyword = await history_store.search(session_id="s", query=QUERY)
    assert keyword == await history_store.search(session_id="s", query=QUERY, search_mode="keyword")
    assert _labels(keyword) == [(0, 0.713), (4, 0.700), (2, 0.652), (1, 0.374)]
    semantic = await history_store.search(session_id="s", query=QUERY, search_mode="semantic")
    assert [i for i, _ in _labels(semantic)] == [2, 0, 4, 1, 3]
    hybrid = await history_store.search(session_id="s", query=QUERY, search_mode="hybrid")
    assert _labels(hybrid) == [(0, 0.977), (2, 0.910), (4, 0.874), (1, 0.193), (3, 0)]
    assert {m.session_id for m in hybrid} == {"s"}
    with pytest.raises(InvalidRequestError) as exc:
        await history_store.search(session_id="s", query=QUERY, search_mode="fuzzy")
    assert exc.value.field == "search_mode"


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
async def test_search_across_a_users_sessions(history_store, mode):
    await history_store.add(
        session_id="a1", user_id="alice", messages=[msg("I love hiking in the Alps")]
    )
    await history_store.add(
        session_id="a2", user_id="alice", messages=[msg("hiking boots"), msg("the stock market")]
    )
    await history_store.add(session_id="b1", user_id="bob", messages=[msg("hiking in the Alps")])
    mine = await history_store.search(query="hiking alps", user_id="alice", search_mode=mode)
    assert [(m.session_id, m.content) for m in mine][:2] == [
        ("a1", "I love hiking in the Alps"),
        ("a2", "hiking boots"),
    ]
    assert {m.session_id for m in mine} == {"a1", "a2"}
    assert all(0.0 <= m.score <= 1.0 for m in mine)
    one = await history_store.search(
        query="hiking alps", session_id="a2", user_id="alice", search_mode=mode
    )
    assert {m.session_id for m in one} == {"a2"}
    everyone = await history_store.search(query="hiking alps", search_mode=mode)
    assert {m.session_id for m in everyone} >= {"a1", "a2", "b1"}
    with pytest.raises(NotFoundError):
        await history_store.search(query="hiking", session_id="b1", user_id="alice")
    assert await history_store.search(query="hiking", user_id="carol", search_mode=mode) == []


# --- deletes ------------------------------------------------------------------------------------


async def test_delete_and_delete_all(history_store):
    for session_id, user_id in (("a1", "alice"), ("a2", "alice"), ("b1", "bob"), ("n1", None)):
        await history_store.add(
            session_id=session_id, user_id=user_id, messages=[msg("x"), msg("y")]
        )
    assert await history_store.delete(session_id="a1", user_id="alice") is None
    with pytest.raises(NotFoundError):
        await history_store.get(session_id="a1")
    assert await history_store.count() == 6

    assert await history_store.delete_all(user_id="alice") == 1
    assert list(await history_store.get_all()) == ["b1", "n1"]
    assert await history_store.delete_all(user_id="carol") == 0
    assert await history_store.delete_all() == 2
    assert await history_store.count() == 0

    # a deleted session id can start over, owned by whoever adds first
    await history_store.add(session_id="a1", user_id="bob", messages=[msg("fresh")])
    assert [m.content for m in await history_store.get(session_id="a1", user_id="bob")] == ["fresh"]


# --- concurrency, persistence -----------------------------------------------------------------


async def test_concurrent_writes_all_land(history_store):
    await asyncio.gather(
        *(
            history_store.add(session_id="busy", user_id="alice", messages=[msg(f"m{i}")])
            for i in range(50)
        )
    )
    await asyncio.gather(
        *(history_store.add(session_id=f"s{i}", messages=[msg("hi")]) for i in range(20))
    )
    messages = await history_store.get(session_id="busy", limit=100)
    assert sorted(m.content for m in messages) == sorted(f"m{i}" for i in range(50))
    assert len({m.id for m in messages}) == 50
    assert len(await history_store.get_all(limit=100)) == 21
    assert await history_store.count() == 70


async def test_close_is_idempotent(history_store):
    await history_store.add(session_id="s", messages=[msg("x")])
    await history_store.aclose()
    await history_store.aclose()


@pytest.mark.persistent_only
async def test_close_and_reopen_keeps_everything(history_store, open_store):
    s1 = await history_store.add(
        session_id="s1", user_id="alice", messages=[msg("hello"), msg("hi", "assistant")]
    )
    s2 = await history_store.add(session_id="s2", messages=[msg("anonymous")])
    await history_store.add(session_id="gone", user_id="alice", messages=[msg("bye")])
    await history_store.delete(session_id="gone")
    await history_store.aclose()

    store = open_store()
    assert list(await store.get(session_id="s1", user_id="alice")) == s1
    assert list(await store.get(session_id="s2")) == s2
    assert list(await store.get_all()) == ["s1", "s2"]
    with pytest.raises(NotFoundError):
        await store.get(session_id="gone")
    with pytest.raises(ConflictError):
        await store.add(session_id="s1", user_id="bob", messages=[msg("mine now")])
    more = await store.add(session_id="s1", user_id="alice", messages=[msg("still here")])
    assert list(await store.get(session_id="s1")) == s1 + more
    assert await store.count() == 4


async def test_owner_says_whose_a_session_is(history_store):
    await history_store.add(
        session_id="mine", messages=[{"role": "user", "content": "hi"}], user_id="alice"
    )
    await history_store.add(session_id="nobodys", messages=[{"role": "user", "content": "hi"}])
    assert await history_store.owner(session_id="mine") == "alice"
    assert await history_store.owner(session_id="nobodys") is None
    with pytest.raises(NotFoundError):
        await history_store.owner(session_id="absent")
