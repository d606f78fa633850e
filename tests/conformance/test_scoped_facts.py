"""Facts through `memio.scoping`: what a credential bound to a user or an app may see and do, on
every facts provider (the wrapper relies on each provider's scoping being exact)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from memio.errors import ForbiddenError, InvalidRequestError, NotFoundError
from memio.models import utcnow
from memio.scoping import Scope, WriteRecord, confine

KIND = "facts"


@pytest.fixture
def records() -> list[WriteRecord]:
    return []


@pytest.fixture
def alice(fact_store, records):
    return confine("facts", fact_store, Scope(user_id="alice"), observe=records.append)


@pytest.fixture
def bob(fact_store):
    return confine("facts", fact_store, Scope(user_id="bob"))


async def test_writes_get_the_bound_user(alice, fact_store, records):
    fact = await alice.add(content="prefers dark mode", run_id="r1")
    assert fact.user_id == "alice"
    assert (await fact_store.get(fact_id=fact.id)).user_id == "alice"
    (batch,) = await alice.add_many(facts=[{"content": "likes tea"}])
    assert batch.user_id == "alice"
    assert [(r.operation, r.ids, r.outcome) for r in records] == [
        ("add", [fact.id], "ok"),
        ("add_many", [batch.id], "ok"),
    ]


async def test_naming_another_user_is_forbidden(alice, fact_store, records):
    with pytest.raises(ForbiddenError) as exc:
        await alice.add(content="likes tea", user_id="bob")
    assert exc.value.field == "user_id"
    with pytest.raises(ForbiddenError) as exc:
        await alice.add_many(facts=[{"content": "a"}, {"content": "b", "user_id": "bob"}])
    assert exc.value.field == "facts[1].user_id"
    for read in (alice.get_all(user_id="bob"), alice.search(query="tea", user_id="bob")):
        with pytest.raises(ForbiddenError):
            await read
    with pytest.raises(ForbiddenError):
        await alice.delete_all(user_id="bob")
    assert await fact_store.get_all(user_id="alice") == []
    assert await fact_store.get_all(user_id="bob") == []


async def test_other_users_facts_are_not_found_like_unknown_ids(alice, bob):
    theirs = await bob.add(content="bob likes chess", metadata={"k": 1})
    for call in (
        lambda fact_id: alice.get(fact_id=fact_id),
        lambda fact_id: alice.update(fact_id=fact_id, content="mine now"),
        lambda fact_id: alice.delete(fact_id=fact_id),
        lambda fact_id: alice.history(fact_id=fact_id),
    ):
        with pytest.raises(NotFoundError) as other:
            await call(theirs.id)
        with pytest.raises(NotFoundError) as unknown:
            await call("no-such-fact")
        assert (other.value.kind, type(other.value)) == (unknown.value.kind, type(unknown.value))
    assert await bob.get(fact_id=theirs.id) == theirs  # untouched


async def test_reads_see_only_the_scope(alice, bob, fact_store):
    mine = await alice.add(content="alice hikes on weekends")
    await bob.add(content="bob hikes on weekends")
    await fact_store.add(content="the team hikes on weekends", agent_id="bot")  # no user
    assert [f.id for f in await alice.get_all()] == [mine.id]
    assert [f.id for f in await alice.search(query="hiking")] == [mine.id]
    assert [f.id for f in await alice.get_all(filters={"user_id": {"ne": "alice"}})] == []
    assert await alice.count() == 1  # a count is a read of the scope, as the listing is
    assert await alice.count(filters={"user_id": {"ne": "alice"}}) == 0
    with pytest.raises(ForbiddenError):
        await alice.count(user_id="bob")


async def test_deletes_are_confined(alice, bob):
    mine = await alice.add(content="alice fact")
    theirs = await bob.add(content="bob fact")
    assert await alice.delete_many(fact_ids=[mine.id, theirs.id]) == 1
    assert await bob.get(fact_id=theirs.id) == theirs
    await alice.add(content="another alice fact")
    assert await alice.delete_all() == 1
    assert [f.id for f in await bob.get_all()] == [theirs.id]


async def test_history_of_a_deleted_fact_stays_in_its_scope(alice, bob, backend):
    mine = await alice.add(content="alice fact")
    theirs = await bob.add(content="bob fact")
    await alice.delete(fact_id=mine.id)
    await bob.delete(fact_id=theirs.id)
    with pytest.raises(NotFoundError):
        await alice.history(fact_id=theirs.id)
    if "event_scope" in backend.cannot:
        # Events that do not say whose the fact was are shown to no bound credential.
        with pytest.raises(NotFoundError):
            await alice.history(fact_id=mine.id)
        return
    assert [e.event.value for e in await alice.history(fact_id=mine.id)] == ["ADD", "DELETE"]


async def test_a_cursor_belongs_to_its_scope(alice, bob):
    for n in range(3):
        await alice.add(content=f"alice fact {n}")
        await bob.add(content=f"bob fact {n}")
    page = await alice.get_all(limit=1)
    assert page.next_cursor
    with pytest.raises(InvalidRequestError) as exc:
        await bob.get_all(limit=1, cursor=page.next_cursor)
    assert exc.value.field == "cursor"


async def test_app_bound_scope(fact_store):
    app = confine("facts", fact_store, Scope(app_id="support"))
    other = await fact_store.add(content="another app's fact", user_id="carol", app_id="crm")
    fact = await app.add(content="carol asked about refunds", user_id="carol")
    assert (fact.user_id, fact.app_id) == ("carol", "support")
    assert [f.id for f in await app.get_all(user_id="carol")] == [fact.id]
    with pytest.raises(NotFoundError):
        await app.get(fact_id=other.id)


async def test_expired_facts_stay_confined_and_only_operators_purge(alice, bob, fact_store):
    past = utcnow() - timedelta(hours=1)
    mine = await alice.add(content="was in Paris", expires_at=past)
    await bob.add(content="was in Rome", expires_at=past)
    assert await alice.get_all() == []
    assert [f.id for f in await alice.get_all(include_expired=True)] == [mine.id]
    with pytest.raises(ForbiddenError):
        await alice.purge_expired(before=utcnow())
    assert len(await fact_store.get_all(user_id="bob", include_expired=True)) == 1


async def test_entities_are_the_scopes_own(alice, bob):
    await alice.add(content="likes tea", agent_id="coach")
    await bob.add(content="plays chess")
    assert [(e.field, e.value, e.facts) for e in await alice.entities()] == [
        ("user_id", "alice", 1),
        ("agent_id", "coach", 1),
    ]
    assert [(e.field, e.value) for e in await bob.entities()] == [("user_id", "bob")]
    with pytest.raises(ForbiddenError) as exc:
        await alice.entities(user_id="bob")
    assert exc.value.field == "user_id"
