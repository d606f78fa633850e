"""FactStore conformance, expiring facts: every provider of the facts store must pass this."""

from __future__ import annotations

from datetime import timedelta

import pytest

from memio.errors import InvalidRequestError, NotFoundError
from memio.models import FactEventType, FactInput, utcnow

KIND = "facts"

PAST = timedelta(hours=-1)
LATER = timedelta(days=30)


async def test_expired_fact_is_left_out_of_reads_unless_asked(fact_store):
    now = utcnow()
    gone = await fact_store.add(content="was on holiday", user_id="u", expires_at=now + PAST)
    kept = await fact_store.add(content="likes tea", user_id="u", expires_at=now + LATER)
    forever = await fact_store.add(content="lives in Oslo", user_id="u")
    assert gone.expires_at == now + PAST
    assert kept.expires_at is not None and forever.expires_at is None

    with pytest.raises(NotFoundError):
        await fact_store.get(fact_id=gone.id)
    assert (await fact_store.get(fact_id=gone.id, include_expired=True)).id == gone.id
    assert (await fact_store.get(fact_id=kept.id)).expires_at == kept.expires_at

    listed = await fact_store.get_all(user_id="u")
    assert {f.id for f in listed} == {kept.id, forever.id}
    everything = await fact_store.get_all(user_id="u", include_expired=True)
    assert {f.id for f in everything} == {gone.id, kept.id, forever.id}

    found = await fact_store.search(query="holiday", user_id="u", limit=10)
    assert gone.id not in {f.id for f in found}
    found = await fact_store.search(query="holiday", user_id="u", limit=10, include_expired=True)
    assert gone.id in {f.id for f in found}


async def test_count_leaves_out_expired_facts_unless_asked(fact_store):
    now = utcnow()
    await fact_store.add(content="was on holiday", user_id="u", expires_at=now + PAST)
    await fact_store.add(content="likes tea", user_id="u", expires_at=now + LATER)
    await fact_store.add(content="lives in Oslo", user_id="v")
    assert await fact_store.count() == 2
    assert await fact_store.count(include_expired=True) == 3
    with pytest.raises(InvalidRequestError) as caught:
        await fact_store.count(include_expired="yes")
    assert caught.value.field == "include_expired"
    await fact_store.purge_expired(before=utcnow())
    assert await fact_store.count(include_expired=True) == 2


async def test_expiry_is_a_filter_field(fact_store):
    now = utcnow()
    soon = await fact_store.add(content="at the dentist", user_id="u", expires_at=now + LATER)
    await fact_store.add(content="owns a bike", user_id="u")
    page = await fact_store.get_all(
        user_id="u", filters={"expires_at": {"lte": (now + 2 * LATER).isoformat()}}
    )
    assert [f.id for f in page] == [soon.id]
    page = await fact_store.get_all(
        user_id="u", filters={"$not": {"expires_at": {"lte": (now + 2 * LATER).isoformat()}}}
    )
    assert [f.content for f in page] == ["owns a bike"]


async def test_update_sets_keeps_and_clears_the_expiry(fact_store):
    fact = await fact_store.add(content="is in Rome", user_id="u")
    later = utcnow() + LATER
    set_ = await fact_store.update(fact_id=fact.id, expires_at=later)
    assert set_.expires_at == later and set_.content == "is in Rome"
    kept = await fact_store.update(fact_id=fact.id, metadata={"k": 1})
    assert kept.expires_at == later
    cleared = await fact_store.update(fact_id=fact.id, expires_at=None)
    assert cleared.expires_at is None
    assert (await fact_store.get(fact_id=fact.id)).expires_at is None
    events = [e.event for e in await fact_store.history(fact_id=fact.id)]
    assert events == [FactEventType.ADD] + [FactEventType.UPDATE] * 3

    expired = await fact_store.update(fact_id=fact.id, expires_at=utcnow() + PAST)
    with pytest.raises(NotFoundError):
        await fact_store.get(fact_id=expired.id)
    with pytest.raises(InvalidRequestError) as caught:
        await fact_store.update(fact_id=fact.id, expires_at="tomorrow")
    assert caught.value.field == "expires_at"


async def test_saying_an_expired_fact_again_revives_it(fact_store):
    old = await fact_store.add(content="is sad", user_id="u", expires_at=utcnow() + PAST)
    again = await fact_store.add(content="is sad", user_id="u")
    assert (again.id, again.event, again.expires_at) == (old.id, "UPDATE", None)
    assert [f.id for f in await fact_store.get_all(user_id="u")] == [old.id]

    live = await fact_store.add(content="is happy", user_id="u", expires_at=utcnow() + LATER)
    same = await fact_store.add(content="is happy", user_id="u")
    assert (same.event, same.expires_at) == ("NONE", live.expires_at)
    moved = utcnow() + 2 * LATER
    longer = await fact_store.add(content="is happy", user_id="u", expires_at=moved)
    assert (longer.id, longer.event, longer.expires_at) == (live.id, "UPDATE", moved)


async def test_batch_adds_carry_their_expiry(fact_store):
    later = utcnow() + LATER
    facts = await fact_store.add_many(
        facts=[
            FactInput(content="a", user_id="u", expires_at=later),
            {"content": "b", "user_id": "u", "expires_at": (utcnow() + PAST).isoformat()},
        ]
    )
    assert facts[0].expires_at == later
    assert [f.content for f in await fact_store.get_all(user_id="u")] == ["a"]


async def test_purge_expired_deletes_with_a_reason(fact_store, backend):
    now = utcnow()
    gone = await fact_store.add(content="in a meeting", user_id="u", expires_at=now + PAST)
    kept = await fact_store.add(content="has a cat", user_id="u", expires_at=now + LATER)
    forever = await fact_store.add(content="speaks Welsh", user_id="u")
    # a grace period: only what expired before the cutoff goes
    assert await fact_store.purge_expired(before=now + 2 * PAST) == 0
    assert await fact_store.purge_expired(before=utcnow()) == 1
    assert await fact_store.purge_expired(before=utcnow()) == 0
    with pytest.raises(NotFoundError):
        await fact_store.get(fact_id=gone.id, include_expired=True)
    last = (await fact_store.history(fact_id=gone.id))[-1]
    assert last.event == FactEventType.DELETE
    assert last.reason == (None if "event_reason" in backend.cannot else "expired")
    if "event_scope" not in backend.cannot:
        assert last.user_id == "u"
    remaining = await fact_store.get_all(user_id="u", include_expired=True)
    assert {f.id for f in remaining} == {kept.id, forever.id}


async def test_expiry_arguments_are_checked(fact_store):
    with pytest.raises(InvalidRequestError) as caught:
        await fact_store.add(content="x", user_id="u", expires_at="soon")
    assert caught.value.field == "expires_at"
    with pytest.raises(InvalidRequestError) as caught:
        await fact_store.get_all(user_id="u", include_expired="yes")
    assert caught.value.field == "include_expired"
