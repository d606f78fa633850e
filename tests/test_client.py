"""`Memio`: composing stores, the in-memory and local presets, closing, unset stores."""

from __future__ import annotations

import pytest

from memio import Memio
from memio.errors import InvalidRequestError, NotSupportedError
from memio.protocols import DocumentStore, FactStore, GraphStore, HistoryStore
from memio.providers.memory import MemoryFactStore, MemoryGraphStore

HIKE = "I enjoy walking in the mountains"
STOCKS = "the stock market fell"


async def exercise(memio: Memio) -> None:
    """Write one item to each store and read it back."""
    await memio.facts.add(content=HIKE, user_id="alice")
    await memio.facts.add(content=STOCKS, user_id="alice")
    assert (await memio.facts.search(query="hiking", user_id="alice"))[0].content == HIKE
    await memio.history.add(
        session_id="s1", user_id="alice", messages=[{"role": "user", "content": "hi"}]
    )
    assert [m.content for m in await memio.history.get(session_id="s1")] == ["hi"]
    await memio.documents.add(content="Paris is in France", doc_id="d1")
    assert (await memio.documents.get(doc_id="d1")).content == "Paris is in France"
    await memio.graph.add(triples=[{"subject": "alice", "predicate": "likes", "object": "tea"}])
    assert (await memio.graph.get(entity="alice")).nodes[0] == "alice"


async def test_in_memory_has_all_four_stores(embedder):
    async with Memio.in_memory(embedder=embedder) as memio:
        assert isinstance(memio.facts, FactStore)
        assert isinstance(memio.history, HistoryStore)
        assert isinstance(memio.documents, DocumentStore)
        assert isinstance(memio.graph, GraphStore)
        assert {kind: store.provider for kind, store in memio.stores.items()} == {
            "facts": "memory",
            "history": "memory",
            "documents": "memory",
            "graph": "memory",
        }
        await exercise(memio)


async def test_in_memory_defaults_to_the_offline_embedder():
    memio = Memio.in_memory()
    try:
        await memio.facts.add(content=HIKE)
        await memio.facts.add(content=STOCKS)
        assert [f.content for f in await memio.facts.search(query="hiking")] == [HIKE, STOCKS]
    finally:
        await memio.aclose()


async def test_in_memory_instances_do_not_share_data(embedder):
    async with Memio.in_memory(embedder=embedder) as one, Memio.in_memory(embedder=embedder) as two:
        await one.facts.add(content="only in one")
        assert await two.facts.count() == 0


async def test_local_is_persistent_and_embedded(tmp_path, embedder):
    path = tmp_path / "not-yet-created" / "memio-data"
    async with Memio.local(path, embedder=embedder) as memio:
        assert {kind: store.provider for kind, store in memio.stores.items()} == {
            "facts": "chroma",
            "history": "sqlite",
            "documents": "chroma",
            "graph": "networkx",
        }
        await exercise(memio)

    async with Memio.local(path, embedder=embedder) as memio:
        assert await memio.facts.count() == 2
        assert (await memio.facts.search(query="hiking", user_id="alice"))[0].content == HIKE
        assert [m.content for m in await memio.history.get(session_id="s1", user_id="alice")] == [
            "hi"
        ]
        assert (await memio.documents.get(doc_id="d1")).content == "Paris is in France"
        assert [t.object for t in (await memio.graph.get(entity="alice")).triples] == ["tea"]


async def test_async_with_returns_the_client_and_closes_every_store():
    closed = []

    class Spy:
        provider = "spy"

        def __init__(self, name):
            self.name = name

        async def aclose(self):
            closed.append(self.name)

    memio = Memio(facts=Spy("facts"), graph=Spy("graph"))
    async with memio as entered:
        assert entered is memio
    assert sorted(closed) == ["facts", "graph"]


async def test_aclose_closes_the_rest_when_one_store_fails():
    closed = []

    class Broken:
        provider = "broken"

        async def aclose(self):
            raise RuntimeError("boom")

    class Fine:
        provider = "fine"

        async def aclose(self):
            closed.append("fine")

    memio = Memio(facts=Broken(), history=Fine(), graph=Fine())
    with pytest.raises(RuntimeError, match="boom"):
        await memio.aclose()
    assert closed == ["fine", "fine"]


async def test_unset_store_raises_not_supported(embedder):
    facts = MemoryFactStore(embedder=embedder)
    memio = Memio(facts=facts)
    assert memio.facts.adapter is facts
    assert memio.stores == {"facts": memio.facts}
    for kind in ("history", "documents", "graph"):
        with pytest.raises(NotSupportedError) as exc:
            getattr(memio, kind)
        assert kind in str(exc.value)
        assert exc.value.hint
    with pytest.raises(NotSupportedError):
        _ = Memio().facts
    await memio.aclose()


async def test_from_providers(tmp_path, embedder):
    memio = Memio.from_providers(
        {"facts": "memory", "graph": ("memory", {})}, data_dir=tmp_path, embedder=embedder
    )
    assert isinstance(memio.facts.adapter, MemoryFactStore)
    assert isinstance(memio.graph.adapter, MemoryGraphStore)
    assert set(memio.stores) == {"facts", "graph"}
    with pytest.raises(NotSupportedError):
        _ = memio.history
    await memio.facts.add(content="works")
    assert await memio.facts.count() == 1
    await memio.aclose()


@pytest.mark.parametrize(
    ("providers", "field"),
    [
        ({"facts": "no-such-provider"}, "stores.facts.provider"),
        ({"facts": "sqlite"}, "stores.facts.provider"),
        ({"graph": ("memory", {"bogus": 1})}, "stores.graph.config.bogus"),
        ({"widgets": "memory"}, "stores"),
    ],
)
def test_from_providers_rejects_bad_config(providers, field, tmp_path, embedder):
    with pytest.raises(InvalidRequestError) as exc:
        Memio.from_providers(providers, data_dir=tmp_path, embedder=embedder)
    assert exc.value.field == field
