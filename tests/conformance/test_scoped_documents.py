"""Documents through `memio.scoping`, on every documents provider: a user's own documents plus
the shared ones (stored without a user), which are readable but not writable."""

from __future__ import annotations

import pytest

from memio.errors import ConflictError, ForbiddenError, NotFoundError
from memio.scoping import Scope, confine

KIND = "documents"


@pytest.fixture
def alice(document_store):
    return confine("documents", document_store, Scope(user_id="alice"))


@pytest.fixture
async def seeded(document_store, alice):
    await document_store.add(content="Green tea is brewed at 80 degrees.", doc_id="shared")
    await document_store.add(
        content="Bob brews his tea at 95 degrees.", doc_id="bobs", user_id="bob"
    )
    await alice.add(content="Alice brews her tea at 70 degrees.", doc_id="alices")
    return document_store


async def test_reads_see_own_and_shared_documents(alice, seeded):
    assert {d.id for d in await alice.get_all()} == {"shared", "alices"}
    assert {d.id for d in await alice.search(query="tea temperature", limit=10)} == {
        "shared",
        "alices",
    }
    assert (await alice.get(doc_id="shared")).user_id is None
    with pytest.raises(NotFoundError):
        await alice.get(doc_id="bobs")
    with pytest.raises(ForbiddenError):
        await alice.get_all(user_id="bob")


async def test_writes_are_the_users_own(alice, seeded):
    document = await alice.add(content="Alice's notes")
    assert document.user_id == "alice"
    (batch,) = await alice.upsert_many(documents=[{"content": "more notes", "doc_id": "n2"}])
    assert batch.user_id == "alice"
    with pytest.raises(ForbiddenError) as exc:
        await alice.add_many(documents=[{"content": "x"}, {"content": "y", "user_id": "bob"}])
    assert exc.value.field == "documents[1].user_id"


async def test_shared_documents_are_read_only(alice, seeded):
    for call in (
        alice.update(doc_id="shared", content="overwritten"),
        alice.delete(doc_id="shared"),
    ):
        with pytest.raises(ForbiddenError):
            await call
    with pytest.raises(ConflictError):  # an upsert never takes a document from its owner
        await alice.upsert_many(documents=[{"content": "mine now", "doc_id": "shared"}])
    assert (await seeded.get(doc_id="shared")).content == "Green tea is brewed at 80 degrees."


async def test_other_users_documents_are_not_found(alice, seeded):
    for call in (
        alice.update(doc_id="bobs", content="overwritten"),
        alice.delete(doc_id="bobs"),
    ):
        with pytest.raises(NotFoundError):
            await call
    assert await alice.delete_many(doc_ids=["bobs", "shared", "alices"]) == 1
    await alice.add(content="again", doc_id="again")
    assert await alice.delete_all() == 1
    assert {d.id for d in await seeded.get_all()} == {"shared", "bobs"}
