"""History through `memio.scoping`, on every history provider: sessions are per user."""

from __future__ import annotations

import pytest

from memio.errors import ForbiddenError, NotFoundError
from memio.scoping import Scope, confine

KIND = "history"
HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def alice(history_store):
    return confine("history", history_store, Scope(user_id="alice"))


@pytest.fixture
def bob(history_store):
    return confine("history", history_store, Scope(user_id="bob"))


async def test_sessions_belong_to_the_bound_user(alice, history_store):
    await alice.add(session_id="s-alice", messages=HELLO)
    assert list(await history_store.get_all(user_id="alice")) == ["s-alice"]
    with pytest.raises(ForbiddenError) as exc:
        await alice.add(session_id="s-2", messages=HELLO, user_id="bob")
    assert exc.value.field == "user_id"


async def test_other_and_ownerless_sessions_are_not_found(alice, bob, history_store):
    await bob.add(session_id="s-bob", messages=HELLO)
    await history_store.add(session_id="s-nobody", messages=HELLO)
    for session in ("s-bob", "s-nobody", "s-unknown"):
        for call in (
            alice.get(session_id=session),
            alice.search(session_id=session, query="hello"),
            alice.delete(session_id=session),
        ):
            with pytest.raises(NotFoundError):
                await call
    # Appending to someone else's session reads as "not found", never as "exists".
    for session in ("s-bob", "s-nobody"):
        with pytest.raises(NotFoundError):
            await alice.add(session_id=session, messages=HELLO)
    assert [m.content for m in await bob.get(session_id="s-bob")] == ["hello there"]


async def test_listing_and_delete_all_are_confined(alice, bob):
    await alice.add(session_id="s-a", messages=HELLO)
    await bob.add(session_id="s-b", messages=HELLO)
    assert list(await alice.get_all()) == ["s-a"]
    assert await alice.delete_all() == 1
    assert list(await bob.get_all()) == ["s-b"]


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
async def test_searching_across_sessions_stays_in_the_users_own(alice, bob, history_store, mode):
    await alice.add(session_id="s-a", messages=HELLO)
    await bob.add(session_id="s-b", messages=HELLO)
    await history_store.add(session_id="s-nobody", messages=HELLO)
    found = await alice.search(query="hello", search_mode=mode)
    assert [m.session_id for m in found] == ["s-a"]
    with pytest.raises(ForbiddenError):
        await alice.search(query="hello", user_id="bob", search_mode=mode)


async def test_a_scope_without_a_user_cannot_use_history(history_store):
    app = confine("history", history_store, Scope(app_id="support"))
    with pytest.raises(ForbiddenError) as exc:
        await app.get_all()
    assert exc.value.field == "user_id"
    with pytest.raises(ForbiddenError):
        await app.search(query="hello")
