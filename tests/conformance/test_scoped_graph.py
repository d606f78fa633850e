"""The graph through `memio.scoping`, on every graph provider: a user's own triples plus the
shared ones (stored without a user), which are readable but not writable."""

from __future__ import annotations

import pytest

from memio.errors import ForbiddenError, NotFoundError
from memio.scoping import Scope, confine

KIND = "graph"


@pytest.fixture
def alice(graph_store):
    return confine("graph", graph_store, Scope(user_id="alice"))


@pytest.fixture
async def seeded(graph_store, alice):
    await graph_store.add(
        triples=[{"subject": "Acme", "predicate": "based_in", "object": "Berlin"}]
    )
    await graph_store.add(
        triples=[{"subject": "bob", "predicate": "works_at", "object": "Acme"}], user_id="bob"
    )
    await alice.add(triples=[{"subject": "alice", "predicate": "works_at", "object": "Acme"}])
    return graph_store


def _edges(result) -> set[tuple[str, str, str]]:
    return {(t.subject, t.predicate, t.object) for t in result.triples}


async def test_reads_walk_own_and_shared_triples(alice, seeded):
    mine = ("alice", "works_at", "Acme")
    shared = ("Acme", "based_in", "Berlin")
    assert _edges(await alice.get(entity="alice", depth=2)) == {mine, shared}
    assert _edges(await alice.get(entity="Acme")) == {mine, shared}
    assert _edges(await alice.get_all()) == {mine, shared}
    assert _edges(await alice.search(query="works at Acme", limit=10)) <= {mine, shared}
    hidden = await alice.get(entity="bob")  # only in bob's triples: nothing in alice's view
    assert (hidden.triples, hidden.nodes) == ([], [])


async def test_writes_are_the_users_own(alice, seeded):
    (triple,) = await alice.add(
        triples=[{"subject": "alice", "predicate": "likes", "object": "tea"}]
    )
    assert triple.user_id == "alice"
    with pytest.raises(ForbiddenError) as exc:
        await alice.add(
            triples=[{"subject": "bob", "predicate": "likes", "object": "tea", "user_id": "bob"}]
        )
    assert exc.value.field == "triples[0].user_id"


async def test_deletes_are_confined_and_shared_triples_read_only(alice, seeded):
    with pytest.raises(ForbiddenError):
        await alice.delete(entity="Berlin")  # only in shared triples
    with pytest.raises(NotFoundError):
        await alice.delete(entity="bob")
    assert await alice.delete(entity="Acme") == 1  # alice's own edge only
    assert _edges(await seeded.get(entity="Acme")) == {
        ("Acme", "based_in", "Berlin"),
        ("bob", "works_at", "Acme"),
    }
    await alice.add(triples=[{"subject": "alice", "predicate": "likes", "object": "tea"}])
    assert await alice.delete_all() == 1
    assert len((await seeded.get_all()).triples) == 2
