"""What only the chroma provider has: config validation, server mode (headers, token), the embedding
function guard, collection/embedder mismatches, lossless metadata, filter pushdown vs Python,
shared history between replicas, batching, and failure and recovery of a real Chroma server.

The store semantics themselves are checked by tests/conformance (backend ids "chroma" and
"chroma-server").
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from memio import Memio
from memio.embeddings import OpenAIEmbedder
from memio.errors import (
    ConflictError,
    EmbedderMismatchError,
    InvalidRequestError,
    NotFoundError,
    ProviderError,
)
from memio.filters import parse_filters
from memio.models import DocumentInput, FactInput
from memio.providers import build_store
from memio.providers.chroma import ChromaDocumentStore, ChromaFactStore
from memio.providers.chroma import _base as chroma_base
from memio.providers.chroma import _store as chroma_store
from memio.providers.chroma._where import translate
from memio.providers.memory import MemoryDocumentStore
from memio.providers.shared import DOCUMENT_FIELDS, TIMESTAMP_FIELDS, ProviderContext
from memio.validating import validating
from tests.conformance.filter_cases import CASES, ITEMS
from tests.support.fixtures_chroma import ChromaServer
from tests.support.openai_fake import FakeOpenAI

# --- helpers -----------------------------------------------------------------------------------


def _calls(
    monkeypatch: Any, target: Any, name: str
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every call of the coroutine method `target.name` from now on, as (args, kwargs); each
    still runs."""
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    real = getattr(target, name)

    async def recorded(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return await real(*args, **kwargs)

    monkeypatch.setattr(target, name, recorded)
    return calls


@pytest.fixture
async def make(tmp_path: Path, embedder) -> AsyncIterator[Callable[..., Any]]:
    """Build chroma stores through the registry (closed at teardown):
    ``make("facts", {"path": ...}, embedder=...)``."""
    made: list[Any] = []

    def _make(kind: str, config: dict[str, Any], *, embedder_: Any = None) -> Any:
        context = ProviderContext(data_dir=tmp_path / "data", embedder=embedder_ or embedder)
        store = build_store(kind, "chroma", config, context)
        made.append(store)
        return store

    yield _make
    for store in reversed(made):
        await store.aclose()


class RecordingProxy:
    """A plain HTTP reverse proxy in front of the real Chroma server that records the headers it
    receives, so tests can see exactly what the provider sends."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.headers: list[dict[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.headers.append({k.lower(): v for k, v in self.headers.items()})
                upstream = httpx.request(
                    self.command,
                    proxy.target + self.path,
                    content=body,
                    headers={
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() not in ("host", "content-length", "connection")
                    },
                    timeout=30,
                )
                self.send_response(upstream.status_code)
                for key, value in upstream.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(chroma_server: ChromaServer) -> Iterator[RecordingProxy]:
    with RecordingProxy(chroma_server.url) as running:
        yield running


# --- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"nope": 1}, "config.nope"),
        ({"path": ""}, "config.path"),
        ({"collection": "x"}, "config.collection"),
        ({"collection": "has space"}, "config.collection"),
        ({"url": "ftp://example.com"}, "config.url"),
        ({"url": "http://"}, "config.url"),
        ({"url": "http://example.com:99999"}, "config.url"),
        ({"url": "http://a:8000", "host": "a"}, "config.host"),
        ({"url": "http://a:8000", "port": 8000}, "config.port"),
        ({"url": "http://a:8000", "ssl": True}, "config.ssl"),
        ({"url": "http://a:8000", "path": "/tmp/x"}, "config.path"),
        ({"host": "a", "port": 0}, "config.port"),
        ({"host": "a", "port": "eighty"}, "config.port"),
        ({"host": "a", "token": "has space"}, "config.token"),
        ({"host": "a", "token_header": "X-Api-Key"}, "config.token_header"),
        ({"host": "a", "headers": {"X-A": 1}}, "config.headers.X-A"),
        ({"token": "abc"}, "config.token"),
        ({"port": 8000}, "config.port"),
        ({"headers": {"X-A": "b"}}, "config.headers"),
        ({"filter_pushdown": "maybe"}, "config.filter_pushdown"),
        ({"lock_url": "redis://127.0.0.1:6379"}, "config.lock_url"),  # embedded: one process
        ({"url": "http://a:8000", "lock_url": "http://127.0.0.1:6379"}, "config.lock_url"),
        ({"url": "http://a:8000", "lock_ttl": 0}, "config.lock_ttl"),
        ({"url": "http://a:8000", "lock_timeout": -1}, "config.lock_timeout"),
    ],
)
@pytest.mark.parametrize("kind", ["facts", "documents"])
def test_config_errors_name_the_key(kind: str, config: dict[str, Any], field: str, embedder):
    context = ProviderContext(data_dir=Path("unused"), embedder=embedder)
    with pytest.raises(InvalidRequestError) as info:
        build_store(kind, "chroma", config, context)
    assert info.value.field == f"stores.{kind}.{field}"


async def test_a_large_scope_is_read_in_chunks(tmp_path: Path, embedder, monkeypatch):
    """A large scope is read a chunk at a time (one read of 100k records with their metadata
    overflows Chroma's SQL); chunks of 2 give the counts, filtered counts and filtered searches
    one read gives."""
    monkeypatch.setattr(chroma_store, "SCAN_CHUNK", 2)
    context = ProviderContext(data_dir=tmp_path / "data", embedder=embedder)
    async with build_store("facts", "chroma", {}, context) as store:
        for i, user in enumerate(["ann", "ann", "bo", "ann", "cy"]):
            await store.add(content=f"fact {i}", user_id=user, agent_id="coach")
        backend = store.adapter._backend
        calls: list[str] = []
        real_run = backend.run

        async def counted(operation: str, call: Any) -> Any:
            calls.append(operation)
            return await real_run(operation, call)

        monkeypatch.setattr(backend, "run", counted)
        found = [(e.field, e.value, e.facts) for e in await store.entities()]
        assert calls == ["entities"] * 3  # 5 records, 2 a read
        assert found == [
            ("user_id", "ann", 3),
            ("agent_id", "coach", 5),
            ("user_id", "bo", 1),
            ("user_id", "cy", 1),
        ]
        assert [e.facts for e in await store.entities(user_id="ann")] == [3, 3]
        assert await store.count(filters={"user_id": {"in": ["ann", "cy"]}}) == 4
        found = await store.search(query="fact", filters={"user_id": "ann"}, limit=10)
        assert sorted(fact.content for fact in found) == ["fact 0", "fact 1", "fact 3"]


async def test_a_hybrid_search_reads_the_nearest_as_ids_and_loads_only_the_page(
    tmp_path: Path, embedder, monkeypatch
):
    """Its vector half asks Chroma for ids and distances alone (a read with content and metadata
    costs three times as much at 50 results); the fused page is loaded by id. Equal scores fall
    back to the full read, whose order (stored sequence) is the semantic search's. (Vectors held
    in memory answer without Chroma: test_vectors_in_memory_answer_searches_by_meaning.)"""
    context = ProviderContext(data_dir=tmp_path / "data", embedder=embedder)
    async with build_store("documents", "chroma", {"vectors_in_memory": False}, context) as store:
        for i, text in enumerate(["red kite over hills", "blue boat on lakes", "green tea"]):
            await store.add(doc_id=f"d{i}", content=text)
        queries = _calls(monkeypatch, store.adapter, "_query")

        def includes() -> list[tuple[str, ...]]:
            return [tuple(kw.get("include", chroma_store.ROW_INCLUDE)) for _, kw in queries]

        found = await store.search(query="kite hills", limit=2)
        assert includes() == [()]
        assert found[0].id == "d0" and found[0].content == "red kite over hills"
        assert found[0].metadata == {} and found[0].created_at is not None
        assert [d.id for d in found] == [
            d.id for d in await store.search(query="kite hills", limit=2, search_mode="hybrid")
        ]
        for i in (3, 4):  # the same content twice: equal scores
            await store.add(doc_id=f"d{i}", content="yellow sun")
        queries.clear()
        tied = await store.search(query="yellow sun", limit=2)
        assert includes() == [(), tuple(chroma_store.ROW_INCLUDE)]
        assert [d.id for d in tied] == ["d3", "d4"]


def test_construction_does_no_io(tmp_path: Path, embedder):
    context = ProviderContext(data_dir=tmp_path / "data", embedder=embedder)
    store = build_store("facts", "chroma", {"url": "http://127.0.0.1:9"}, context)
    assert isinstance(store.adapter, ChromaFactStore)
    embedded = build_store("documents", "chroma", {}, context)
    assert isinstance(embedded.adapter, ChromaDocumentStore)
    assert not (tmp_path / "data").exists()  # nothing opened, nothing created


async def test_default_path_and_collections(tmp_path: Path, make):
    facts = make("facts", {})
    documents = make("documents", {})
    await facts.add(content="likes tea", user_id="u")
    await documents.add(content="a page", doc_id="d1")
    assert (tmp_path / "data" / "chroma").is_dir()
    handles = await facts._backend.handles("test")
    names = {c.name for c in handles.client.list_collections()}
    assert {"memio_facts", "memio_facts_events", "memio_documents"} <= names


# --- server mode -------------------------------------------------------------------------------


async def test_server_mode_sends_headers_and_bearer_token(make, proxy: RecordingProxy):
    store = make(
        "facts",
        {
            "url": proxy.url,
            "headers": {"X-Team": "memio"},
            "token": "s3cr3t-token",
            "collection": "memio_headers_bearer",
        },
    )
    fact = await store.add(content="prefers green tea", user_id="alice")
    assert (await store.get(fact_id=fact.id)).content == "prefers green tea"
    await store.ping()
    assert proxy.headers, "no request went through the proxy"
    for headers in proxy.headers:
        assert headers.get("x-team") == "memio"
        assert headers.get("authorization") == "Bearer s3cr3t-token"


async def test_server_mode_token_in_chroma_header(make, proxy: RecordingProxy):
    store = make(
        "documents",
        {
            "url": proxy.url + "/",
            "token": "tok_123",
            "token_header": "X-Chroma-Token",
            "collection": "memio_headers_chroma",
        },
    )
    await store.add(content="hello", doc_id="d1")
    assert proxy.headers
    assert all(h.get("x-chroma-token") == "tok_123" for h in proxy.headers)
    assert all("authorization" not in h for h in proxy.headers)


async def test_server_mode_host_and_port(make, chroma_server: ChromaServer):
    store = make(
        "documents",
        {"host": chroma_server.host, "port": chroma_server.port, "collection": "memio_hostport"},
    )
    doc = await store.add(content="reached by host and port", metadata={"n": 1})
    assert (await store.get(doc_id=doc.id)) == doc
    await store.ping()


async def test_tenant_and_database_must_exist(make, chroma_server: ChromaServer):
    store = make("facts", {"url": chroma_server.url, "database": "no_such_database"})
    with pytest.raises(ProviderError) as info:
        await store.add(content="x")
    assert info.value.provider == "chroma"
    assert info.value.operation == "add"
    assert "no_such_database" in str(info.value)


# --- embedding function ------------------------------------------------------------------------


async def test_chroma_default_embedding_function_is_never_used(
    make, monkeypatch, chroma_server: ChromaServer
):
    from chromadb.utils.embedding_functions import DefaultEmbeddingFunction
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("chroma's default embedding function must never be used")

    monkeypatch.setattr(DefaultEmbeddingFunction, "__init__", forbidden)
    monkeypatch.setattr(DefaultEmbeddingFunction, "__call__", forbidden)
    monkeypatch.setattr(ONNXMiniLM_L6_V2, "__init__", forbidden)

    for config in ({}, {"url": chroma_server.url, "collection": "memio_no_default_ef"}):
        facts = make("facts", config)
        fact = await facts.add(content="enjoys long walks", user_id="u")
        await facts.update(fact_id=fact.id, metadata={"k": 1})
        await facts.update(fact_id=fact.id, content="enjoys long hikes")
        assert (await facts.search(query="hiking", user_id="u"))[0].id == fact.id
        docs = make("documents", {**config, "collection": "memio_no_default_ef_docs"})
        await docs.upsert_many(documents=[DocumentInput(content="a", doc_id="1")])
        await docs.upsert_many(documents=[DocumentInput(content="b", doc_id="1")])
        assert [d.id for d in await docs.search(query="b")] == ["1"]
        await facts.aclose()
        reopened = make("facts", config)  # the persisted collection config reopens too
        assert (await reopened.get(fact_id=fact.id)).content == "enjoys long hikes"


async def test_collection_records_the_embedder(make):
    store = make("facts", {})
    await store.add(content="x")
    handles = await store._backend.handles("test")
    meta = handles.main.metadata
    assert meta["memio:embedder_model"] == store._backend.embedder.model
    assert meta["memio:embedder_dimensions"] == store._backend.embedder.dimensions
    assert handles.main.configuration_json["hnsw"]["space"] == "cosine"


async def test_other_embedder_on_existing_collection_is_a_clear_error(make):
    first = make("documents", {"collection": "memio_embedder_check"})
    await first.add(content="embedded with MiniLM", doc_id="d1")
    await first.aclose()
    with FakeOpenAI(dimensions=64) as fake:
        other = OpenAIEmbedder(fake.base_url, "text-embedding-3-small", dimensions=64)
        try:
            store = make("documents", {"collection": "memio_embedder_check"}, embedder_=other)
            with pytest.raises(EmbedderMismatchError) as info:
                await store.search(query="anything")
            assert info.value.provider == "chroma"
            assert info.value.operation == "open"
            assert (info.value.stored_model, info.value.stored_dimensions) == (
                "all-MiniLM-L6-v2",
                384,
            )
            message = str(info.value)
            assert "text-embedding-3-small" in message and "64" in message
            assert "384" in message and "memio reembed" in message
            with pytest.raises(ProviderError):
                await store.ping()  # /ready reports it too
            # A fresh collection for the new embedder works.
            fresh = make("documents", {"collection": "memio_embedder_64"}, embedder_=other)
            await fresh.add(content="hashed words", doc_id="d2")
            assert [d.id for d in await fresh.search(query="hashed words")] == ["d2"]
        finally:
            await other.aclose()


async def test_facts_store_refuses_a_documents_collection(make):
    docs = make("documents", {"collection": "memio_shared_name"})
    await docs.add(content="a document")
    facts = make("facts", {"collection": "memio_shared_name"})
    with pytest.raises(ProviderError, match="documents store"):
        await facts.count()


# --- metadata ----------------------------------------------------------------------------------

AWKWARD = {
    "float_chroma_rounds": -943305.0469559873,
    "another": 123456789.12345679,
    "int": 7,
    "i64_max": 2**63 - 1,
    "big_int": 2**70,
    "bool": True,
    "str": "",
    "float_list": [0.1, 443080.06468156516],
    "int_list": [1, 2, 3],
    "bool_list": [False, True],
    "mixed_list": [1, "a", True, 2.5],
    "int_float_list": [1, 2.5],
    "empty_list": [],
    "#hash": "key chroma rejects",
    "$dollar": 1,
    "chroma:hidden": "key chroma hides",
    "neg_zero": -0.0,
}


@pytest.mark.parametrize("kind", ["facts", "documents"])
async def test_metadata_round_trips_exactly(make, kind: str):
    store = make(kind, {})
    if kind == "facts":
        added = await store.add(content="awkward metadata", metadata=AWKWARD)
        got = await store.get(fact_id=added.id)
        listed = await store.get_all()
    else:
        added = await store.add(content="awkward metadata", metadata=AWKWARD)
        got = await store.get(doc_id=added.id)
        listed = await store.get_all()
    assert got == added
    assert listed == [added]
    for key, value in AWKWARD.items():
        assert type(got.metadata[key]) is type(value), key
        assert got.metadata[key] == value, key
        assert repr(got.metadata[key]) == repr(value), key  # -0.0 keeps its sign
    # Merging keeps the others exact and removes nothing.
    if kind == "facts":
        updated = await store.update(fact_id=added.id, metadata={"int": 2**64, "big_int": 3})
        assert await store.get(fact_id=added.id) == updated
    else:
        updated = await store.update(doc_id=added.id, metadata={"int": 2**64, "big_int": 3})
        assert await store.get(doc_id=added.id) == updated
    assert updated.metadata == {**AWKWARD, "int": 2**64, "big_int": 3}
    assert type(updated.metadata["big_int"]) is int


@pytest.mark.parametrize("kind", ["facts", "documents"])
async def test_reserved_metadata_keys_are_rejected(make, kind: str):
    store = make(kind, {})
    with pytest.raises(InvalidRequestError) as info:
        await store.add(content="x", metadata={"__memio_seq": 1})
    assert info.value.field == "metadata.__memio_seq"
    if kind == "facts":
        with pytest.raises(InvalidRequestError) as info:
            await store.add_many(
                facts=[FactInput(content="a"), FactInput(content="b", metadata={"__memio_x": 1})]
            )
        assert info.value.field == "facts[1].metadata.__memio_x"
    else:
        with pytest.raises(InvalidRequestError) as info:
            await store.upsert_many(
                documents=[DocumentInput(content="b", metadata={"__memio_x": 1})]
            )
        assert info.value.field == "documents[0].metadata.__memio_x"
    assert await store.count() == 0


# --- filters: pushdown vs Python ---------------------------------------------------------------

EXTRA_ITEMS = [
    ("g", "Eta with awkward numbers", "u3", {"n": 2**70, "weight": -943305.0469559873}),
    ("h", "Theta with lists", "u3", {"tags": [], "n": [1, "a"], "weight": 443080.06468156516}),
    ("i", "Iota with odd keys", None, {"#k": 1, "$k": "x", "kind": "note", "n": 1.5}),
]

EXTRA_FILTERS = [
    {"n": 2**70},
    {"n": {"gt": 2**69}},
    {"n": {"gte": 1, "lt": 2}},
    {"weight": -943305.0469559873},
    {"weight": {"gte": -943305.0469559873}},
    {"weight": {"lt": -943305.0469559873}},
    {"weight": {"lte": 443080.06468156516}},
    {"weight": {"in": [443080.06468156516, 0.5]}},
    {"weight": {"ne": 0.5}},
    {"weight": {"nin": [0.5, 1.5]}},
    {"tags": []},
    {"n": [1, "a"]},
    {"#k": 1},
    {"$not": {"#k": 1}},
    {"$k": {"eq": "x"}},
    {"$not": {"n": {"gt": 1}}},
    {"$not": {"$and": [{"kind": "note"}, {"user_id": "u1"}]}},
    {"$not": {"$or": [{"kind": "note"}, {"n": {"lt": 2}}]}},
    {"$or": [{"kind": "task"}, {"name": {"contains": "et"}}]},
    {"$and": [{"kind": {"in": ["note", "task"]}}, {"flag": {"nin": [True]}}]},
    {"user_id": {"in": ["u1", "u3"]}},
    {"user_id": {"nin": ["u1"]}},
    {"user_id": 5},
    {"metadata.__memio_seq": {"gt": 0}},
    {"content": {"contains": "with"}},
    {"id": "nope"},
]


async def _load(store: Any) -> dict[str, str]:
    labels = {}
    for label, content, user_id, metadata in [
        *((i.label, i.content, i.user_id, i.metadata) for i in ITEMS),
        *EXTRA_ITEMS,
    ]:
        doc = await store.add(content=content, user_id=user_id, metadata=metadata)
        labels[doc.id] = label
    return labels


async def _compare_with_python_and_memory(make, embedder, base: dict[str, Any]) -> None:
    pushed = make("documents", {**base, "collection": "memio_pushdown_on"})
    python = make(
        "documents", {**base, "collection": "memio_pushdown_off", "filter_pushdown": False}
    )
    memory = validating("documents", MemoryDocumentStore(embedder=embedder))
    stores = {"pushed": pushed, "python": python, "memory": memory}
    labels = {name: await _load(store) for name, store in stores.items()}
    filters = [case.filters for case in CASES] + EXTRA_FILTERS
    exact_seen = relaxed_seen = 0
    negations = (await pushed._backend.features("test")).negations
    for raw in filters:
        tree = parse_filters(raw, fields=DOCUMENT_FIELDS, datetime_fields=TIMESTAMP_FIELDS)
        push = translate(tree, pushed.fields, negations=negations)
        exact_seen += push.exact
        relaxed_seen += not push.exact
        listed, found = {}, {}
        for name, store in stores.items():
            page = await store.get_all(filters=raw, limit=1000)
            listed[name] = [labels[name][d.id] for d in page]
            query = {"query": "note about a reminder", "filters": raw, "limit": 3}
            hits = await store.search(**query, search_mode="semantic")
            found[name] = [(labels[name][d.id], round(d.score, 5)) for d in hits]
            # hybrid rescales over the candidates, which magnifies float32 differences
            hits = await store.search(**query)
            found[name] += [(labels[name][d.id], round(d.score, 2)) for d in hits]
        assert listed["pushed"] == listed["python"] == listed["memory"], raw
        assert found["pushed"] == found["python"] == found["memory"], raw
    assert exact_seen and relaxed_seen  # both paths were exercised


@pytest.mark.parametrize("server", [False, True], ids=["embedded", "server"])
async def test_filter_pushdown_matches_python_and_memory(make, embedder, request, server: bool):
    base = {"url": request.getfixturevalue("chroma_server").url} if server else {}
    await _compare_with_python_and_memory(make, embedder, base)


@pytest.fixture
def pre_1_5_chroma(monkeypatch):
    """Behave as on a Chroma before 1.5 (no list metadata), and without $ne/$nin pushdown."""
    monkeypatch.setattr(
        chroma_base.Features,
        "detect",
        classmethod(lambda cls, client: cls(native_lists=False, negations=False)),
    )


async def test_pre_1_5_chroma_keeps_lists_in_json(make, embedder, pre_1_5_chroma):
    store = make("documents", {})
    doc = await store.add(content="lists", metadata={"tags": ["x", "y"], "n": 1})
    assert await store.get(doc_id=doc.id) == doc
    raw = (await store._backend.handles("test")).main.get(ids=[doc.id])["metadatas"][0]
    assert not any(isinstance(value, list) for value in raw.values())
    assert raw["__memio_absent:tags"] is True and raw["n"] == 1
    await _compare_with_python_and_memory(make, embedder, {})


def test_translation_exactness():
    fields = ChromaDocumentStore.fields

    def push(raw: Any, negations: bool = True) -> Any:
        tree = parse_filters(raw, fields=DOCUMENT_FIELDS, datetime_fields=TIMESTAMP_FIELDS)
        return translate(tree, fields, negations=negations)

    assert push({"kind": "note"}).exact
    assert push({"kind": {"nin": ["a", "b"]}, "flag": {"ne": True}}).exact
    assert push({"$not": {"user_id": "u1"}}).exact
    assert push({"created_at": {"gt": "2024-01-01"}}).exact
    assert push({"$not": {"created_at": {"gt": "2024-01-01"}}}).exact
    relaxed = push({"n": 1})
    assert relaxed.where is not None and not relaxed.exact
    assert push({"name": {"contains": "a"}}).where is None
    assert push({"n": {"ne": 1}}).where is None
    assert push({"$or": [{"kind": "note"}, {"name": {"gt": "b"}}]}).where is None
    partly = push({"kind": "note", "name": {"icontains": "A"}})
    assert partly.where == {"kind": {"$in": ["note"]}} and not partly.exact
    assert push({"n": 2}).where == {
        "$or": [
            {"$and": [{"n": {"$gte": 2 - 2e-9}}, {"n": {"$lte": 2 + 2e-9}}]},
            {"__memio_absent:n": True},
        ]
    }
    # Without verified $ne semantics, negations stay in Python (timestamps are always present).
    assert push({"kind": {"ne": "a"}}, negations=False).where is None
    assert push({"$not": {"user_id": "u1"}}, negations=False).where is None
    assert push({"created_at": {"ne": "2024-01-01"}}, negations=False).exact


# --- facts specifics ---------------------------------------------------------------------------


async def test_history_is_shared_by_replicas(make, chroma_server: ChromaServer):
    config = {"url": chroma_server.url, "collection": "memio_replicas"}
    one, two = make("facts", config), make("facts", config)
    fact = await one.add(content="works at the harbour", user_id="u")
    await two.update(fact_id=fact.id, content="works at the airport")
    again = await one.add(content="works at the airport", user_id="u")  # dedup across replicas
    assert again.id == fact.id
    await two.delete(fact_id=fact.id)
    events = await one.history(fact_id=fact.id)
    assert [e.event.value for e in events] == ["ADD", "UPDATE", "DELETE"]
    assert events == await two.history(fact_id=fact.id)
    with pytest.raises(NotFoundError):
        await one.get(fact_id=fact.id)
    assert await one.count() == await two.count() == 0


async def test_unreachable_lock_server_is_a_provider_error_and_writes_nothing(
    make, chroma_server: ChromaServer
):
    config = {
        "url": chroma_server.url,
        "collection": "memio_nolock",
        "lock_url": "redis://127.0.0.1:1",
    }
    store = make("documents", config)
    with pytest.raises(ProviderError) as exc:
        await store.add(content="x", doc_id="d")
    assert (exc.value.provider, exc.value.operation) == ("chroma", "add")
    assert "Redis" in str(exc.value)
    assert await store.count() == 0
    facts = make("facts", {**config, "collection": "memio_nolock_facts"})
    with pytest.raises(ProviderError):
        await facts.add(content="x", user_id="u")
    assert await facts.count() == 0


async def test_events_live_in_their_own_collection(make):
    store = make("facts", {"collection": "memio_evt"})
    fact = await store.add(content="a", user_id="u")
    await store.update(fact_id=fact.id, metadata={"x": 1})
    handles = await store._backend.handles("test")
    assert handles.events.name == "memio_evt_events"
    assert handles.events.count() == 2
    assert await store.count() == 1


async def test_batches_are_embedded_and_written_in_chunks(make, embedder, monkeypatch):
    class CountingEmbedder:
        model, dimensions = embedder.model, embedder.dimensions

        def __init__(self) -> None:
            self.batches: list[int] = []

        async def embed(self, texts):
            self.batches.append(len(texts))
            return await embedder.embed(texts)

        async def aclose(self) -> None:
            pass

    counting = CountingEmbedder()
    monkeypatch.setattr(chroma_base, "MAX_WRITE_CHUNK", 7)
    monkeypatch.setattr(chroma_base, "EMBED_BATCH", 128)
    facts = make("facts", {}, embedder_=counting)
    items = [FactInput(content=f"fact number {i}", user_id="u") for i in range(300)]
    added = await facts.add_many(facts=items)
    assert len({f.id for f in added}) == 300
    assert counting.batches == [128, 128, 44]
    assert (await facts._backend.handles("test")).write_chunk == 7
    assert await facts.count() == 300
    page = await facts.get_all(user_id="u", limit=1000)
    assert [f.content for f in page] == [i.content for i in items]  # creation order
    assert len(await facts.search(query="fact number 7", user_id="u", limit=1000)) == 300
    docs = make("documents", {}, embedder_=counting)
    counting.batches.clear()
    out = await docs.upsert_many(
        documents=[DocumentInput(content=f"doc {i}", doc_id=f"d{i}") for i in range(20)]
    )
    assert counting.batches == [20] and len(out) == 20 and await docs.count() == 20


# --- failure and recovery ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["facts", "documents"])
async def test_server_failure_and_recovery(make, private_chroma_server: ChromaServer, kind: str):
    server = private_chroma_server
    store = make(kind, {"url": server.url, "collection": f"memio_recovery_{kind}"})
    added = await store.add(content="survives a restart", user_id="u")

    async def get() -> Any:
        if kind == "facts":
            return await store.get(fact_id=added.id)
        return await store.get(doc_id=added.id)

    server.stop()
    calls = {
        "add": lambda: store.add(content="while down", user_id="u"),
        "get": get,
        "get_all": lambda: store.get_all(user_id="u"),
        "search": lambda: store.search(query="restart", user_id="u"),
        "count": store.count,
        "ping": store.ping,
    }
    for operation, call in calls.items():
        with pytest.raises(ProviderError) as info:
            await call()
        assert info.value.provider == "chroma"
        assert info.value.operation == operation
        assert isinstance(info.value.cause, Exception)

    server.start()  # same path and port
    await store.ping()
    assert await get() == added
    more = await store.add(content="after the restart", user_id="u")
    assert [item.id for item in await store.get_all(user_id="u")] == [added.id, more.id]

    # A restart with no call in between is also picked up by the same store object.
    server.restart()
    assert await get() == added
    assert await store.count() == 2


async def test_embedded_store_reopens_after_aclose(make):
    store = make("documents", {})
    doc = await store.add(content="kept", doc_id="k")
    await store.aclose()
    await store.aclose()
    assert await store.get(doc_id="k") == doc  # used again: opens again


async def test_facts_and_documents_open_one_embedded_path_concurrently(tmp_path, embedder):
    """The default layout: both stores share `<data_dir>/chroma`, opened at once by /ready."""
    memio = Memio.local(tmp_path, embedder=embedder)
    try:
        await asyncio.gather(memio.facts.ping(), memio.documents.ping())
        fact, doc = await asyncio.gather(
            memio.facts.add(content="prefers tea", user_id="u"),
            memio.documents.add(content="tea is brewed at 80 degrees"),
        )
        assert (await memio.facts.get(fact_id=fact.id)).content == "prefers tea"
        assert (await memio.documents.get(doc_id=doc.id)).content == doc.content
    finally:
        await memio.aclose()


# --- a broken collection, an older record format ------------------------------------------------


async def test_a_broken_segment_fails_ping_and_ready(make, embedder):
    """What 6,500 metadata keys did before memio capped metadata: Chroma's compaction fails, and
    from the next open on the collection's metadata segment is broken for good (every read fails)
    while the client's heartbeat still answers. ping must read, so /ready reports it."""
    from fastapi.testclient import TestClient

    from memio.config import config_from_dict
    from memio.server.app import create_app

    store = make("facts", {})
    await store.add(content="stored before", user_id="u")
    vector = (await embedder.embed(["x"]))[0]
    with pytest.raises(ProviderError, match="compaction"):  # memio's caps refuse this first
        await store._backend.run(
            "add",
            lambda h: h.main.add(
                ids=["bypassed-memio"],
                embeddings=[vector],
                documents=["x"],
                metadatas=[{f"key_{i}": i for i in range(6500)}],
            ),
        )
    await store.aclose()

    reopened = make("facts", {})
    handles = await reopened._backend.handles("test")  # opening still works
    await asyncio.to_thread(handles.client.heartbeat)  # and so does what ping used to check
    with pytest.raises(ProviderError) as exc:
        await reopened.ping()
    assert (exc.value.provider, exc.value.operation) == ("chroma", "ping")
    with pytest.raises(ProviderError):
        await reopened.get_all(user_id="u")

    app = create_app(config_from_dict({}, env={}), memio=Memio(facts=reopened))
    with TestClient(app) as client:
        ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["stores"]["facts"]["status"] == "error"


async def test_a_format_1_documents_collection_is_upgraded(make):
    """Collections written before documents carried the shared flag: opening one flags its shared
    documents once, so include_shared finds them."""
    from memio.providers.chroma._base import META_FORMAT
    from memio.providers.chroma._codec import KEY_SHARED

    store = make("documents", {})
    shared = await store.add(content="shared knowledge", doc_id="s")
    await store.add(content="alice's", doc_id="a", user_id="alice")
    handles = await store._backend.handles("test")
    meta = {**handles.main.metadata, META_FORMAT: 1}
    await asyncio.to_thread(handles.main.modify, metadata=meta)
    await asyncio.to_thread(handles.main.update, ids=["s"], metadatas=[{KEY_SHARED: None}])
    await store.aclose()

    again = make("documents", {})
    listed = await again.get_all(user_id="alice", include_shared=True)
    assert [d.id for d in listed] == ["s", "a"]
    assert listed[0] == shared
    upgraded = await again._backend.handles("test")
    assert upgraded.main.metadata[META_FORMAT] == 2


async def test_concurrent_adds_are_written_together_each_as_if_alone(make):
    store = make("facts", {})
    contents = [f"likes tea number {i}" for i in range(30)]
    calls = [store.add(content=c, user_id="u") for c in contents]
    calls += [store.add(content=f"  {c} ", user_id="u") for c in contents[:10]]  # same content_key
    calls += [store.add(content=contents[0], user_id="other")]  # same content, another scope
    calls += [store.add(content=contents[1], user_id="u", metadata={"k": 1})]  # a merge
    facts = await asyncio.gather(*calls)
    assert store._adds.runs < len(calls)  # group commit: fewer writes than calls
    assert [f.content for f in facts[:30]] == contents
    assert [f.id for f in facts[30:40]] == [f.id for f in facts[:10]]  # deduplicated
    assert {f.event for f in facts[30:40]} == {"NONE"}
    assert facts[40].id != facts[0].id and facts[40].user_id == "other"
    assert (facts[41].id, facts[41].event, facts[41].metadata) == (facts[1].id, "UPDATE", {"k": 1})
    assert await store.count() == 31
    for fact in (facts[0], facts[29], facts[40]):
        assert [e.event.value for e in await store.history(fact_id=fact.id)] == ["ADD"]
    assert [e.event.value for e in await store.history(fact_id=facts[1].id)] == ["ADD", "UPDATE"]


async def test_one_bad_add_in_a_group_fails_alone(make):
    store = make("facts", {})
    await store.add(content="taken", fact_id="f-1")
    results = await asyncio.gather(
        *(store.add(content=f"fact {i}", fact_id="f-1" if i == 3 else None) for i in range(8)),
        return_exceptions=True,
    )
    assert isinstance(results[3], ConflictError) and results[3].field == "fact_id"
    assert [r.content for i, r in enumerate(results) if i != 3] == [
        f"fact {i}" for i in range(8) if i != 3
    ]
    assert await store.count() == 8


class _Crash(Exception):
    """Stands for the process dying between a write's event and its row."""


@pytest.mark.parametrize("step", ["add", "update", "delete"])
async def test_a_write_cut_short_leaves_a_consistent_history(make, monkeypatch, step: str):
    """The fact row is the commit record: a write that stops after appending its event but
    before its row (a SIGKILL there, as the crash test does) leaves the fact and its history as
    they were, and the next write continues one linear history."""
    store = make("facts", {})
    fact = await store.add(content="likes tea", user_id="u", fact_id="f-1")
    await store.update(fact_id="f-1", content="likes green tea")
    before = [e.model_dump() for e in await store.history(fact_id="f-1")]
    row_write = {"add": "_add_rows", "update": "_update_rows", "delete": "_delete_rows"}[step]
    writes: list[str] = []

    def second_write_crashes(name: str) -> Callable[..., Any]:
        real = getattr(store, name)

        async def write(*args: Any, **kwargs: Any) -> Any:
            writes.append(name)
            if len(writes) == 2:
                raise _Crash
            return await real(*args, **kwargs)

        return write

    with monkeypatch.context() as patch:
        for name in (row_write, "_record_events"):
            patch.setattr(store.adapter, name, second_write_crashes(name))
        with pytest.raises(_Crash):
            if step == "add":
                await store.add(content="likes coffee", user_id="u", fact_id="f-2")
            elif step == "update":
                await store.update(fact_id="f-1", content="likes black tea")
            else:
                await store.delete(fact_id="f-1")

    assert [e.model_dump() for e in await store.history(fact_id="f-1")] == before
    assert (await store.get(fact_id="f-1")).content == "likes green tea"
    with pytest.raises(NotFoundError):
        await store.history(fact_id="f-2")  # an add that never finished has no history

    await store.update(fact_id="f-1", content="likes oolong")
    await store.add(content="likes coffee", user_id="u", fact_id="f-2")
    await store.delete(fact_id="f-1")
    events = await store.history(fact_id="f-1")
    assert [(e.event.value, e.old_content, e.new_content) for e in events] == [
        ("ADD", None, fact.content),
        ("UPDATE", "likes tea", "likes green tea"),
        ("UPDATE", "likes green tea", "likes oolong"),
        ("DELETE", "likes oolong", None),
    ]
    assert [e.event.value for e in await store.history(fact_id="f-2")] == ["ADD"]


async def test_an_id_used_again_after_delete_keeps_both_lives(make):
    store = make("facts", {})
    await store.add(content="first life", fact_id="f-1")
    await store.delete(fact_id="f-1")
    await store.add(content="second life", fact_id="f-1")
    events = await store.history(fact_id="f-1")
    assert [(e.event.value, e.new_content or e.old_content) for e in events] == [
        ("ADD", "first life"),
        ("DELETE", "first life"),
        ("ADD", "second life"),
    ]


async def test_concurrent_document_writes_are_written_together_each_as_if_alone(make):
    store = make("documents", {})
    await store.add(content="stored", doc_id="d-0", user_id="u")
    adds = [store.add(content=f"document {i}", doc_id=f"d-{i}") for i in range(1, 21)]
    adds += [store.add(content="anonymous id"), store.add(content="taken", doc_id="d-0")]
    added = await asyncio.gather(*adds, return_exceptions=True)
    assert store._adds.runs < len(adds)  # group commit: fewer writes than calls
    assert [d.id for d in added[:20]] == [f"d-{i}" for i in range(1, 21)]
    assert isinstance(added[21], ConflictError) and added[21].field == "doc_id"
    assert (await store.get(doc_id="d-0")).content == "stored"

    upserts = [
        store.upsert_many(documents=[{"content": f"new {i}", "doc_id": f"d-{i}"}])
        for i in range(1, 6)
    ]
    upserts += [store.upsert_many(documents=[{"content": "later", "doc_id": "d-1"}])]  # same id
    upserts += [store.upsert_many(documents=[{"content": "owner change", "doc_id": "d-0"}])]
    done = await asyncio.gather(*upserts, return_exceptions=True)
    assert [d[0].content for d in done[:6]] == [*(f"new {i}" for i in range(1, 6)), "later"]
    assert isinstance(done[6], ConflictError) and done[6].field == "documents[0].user_id"
    # Two concurrent upserts of one id: one wins whole (their order is the order they were
    # embedded in, which concurrency does not fix).
    assert (await store.get(doc_id="d-1")).content in {"new 1", "later"}
    assert (await store.get(doc_id="d-0")).content == "stored"
    assert await store.count() == 22


# --- the word index beside embedded data -------------------------------------------------------


def _no_scan(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("keyword candidates were read from Chroma, not from the word index")


async def _keyword_ids(store: Any, query: str = "tea") -> list[str]:
    return [d.id for d in await store.search(query=query, search_mode="keyword")]


async def test_word_index_follows_writes_and_answers_keyword_searches(tmp_path: Path, make):
    store = make("documents", {"path": str(tmp_path / "c")})
    await store.add(content="green tea", doc_id="a", user_id="u")
    await store.add_many(documents=[{"content": "black tea, strong tea", "doc_id": "b"}])
    await store.upsert_many(documents=[{"content": "coffee", "doc_id": "b"}])
    await store.add(content="tea time", doc_id="c", user_id="v")
    await store.delete(doc_id="c")
    await store.update(doc_id="a", metadata={"k": 1})  # metadata only: the words stay
    assert (tmp_path / "c" / "memio-keywords-memio_documents.sqlite3").is_file()
    store.adapter._in_scope = _no_scan
    assert await _keyword_ids(store) == ["a"]
    assert await _keyword_ids(store, "coffee") == ["b"]
    mine = await store.search(query="coffee", user_id="u", search_mode="keyword")
    assert mine == []  # b has no user: not in u's own scope...
    found = await store.search(
        query="coffee", user_id="u", include_shared=True, search_mode="keyword"
    )
    assert [(d.id, d.content, d.user_id) for d in found] == [("b", "coffee", None)]  # ...here
    assert (await store.search(query="tea", search_mode="hybrid"))[0].metadata == {"k": 1}


async def test_word_index_out_of_date_is_rebuilt_from_chroma(tmp_path: Path, make):
    import sqlite3

    path = tmp_path / "c"
    store = make("documents", {"path": str(path)})
    await store.add_many(documents=[{"content": "green tea", "doc_id": "a"}])
    await store.aclose()
    index = path / "memio-keywords-memio_documents.sqlite3"
    with sqlite3.connect(index) as db:  # stale words, marked dirty: a write died half done
        db.execute("UPDATE docs SET content = 'stale words'")
        db.execute("UPDATE state SET value = 1 WHERE key = 'dirty'")
    again = make("documents", {"path": str(path)})
    again._in_scope = _no_scan
    assert await _keyword_ids(again) == ["a"]
    await again.aclose()
    index.unlink()  # written before the index existed
    third = make("documents", {"path": str(path)})
    third._in_scope = _no_scan
    assert await _keyword_ids(third) == ["a"]


async def test_a_failed_chroma_write_rebuilds_the_word_index(tmp_path: Path, make, monkeypatch):
    """A write that fails between Chroma and the word index leaves the index unknown: the
    writer rebuilds it from Chroma at once; if even that fails, searches read Chroma instead."""
    from memio.providers.chroma._store import ChromaStore

    store = make("documents", {"path": str(tmp_path / "c")})
    await store.add(content="green tea", doc_id="a")

    async def fail(*args: Any, **kwargs: Any) -> None:
        raise ProviderError("chroma is down", provider="chroma", operation="add")

    monkeypatch.setattr(ChromaStore, "_add_rows", fail)
    with pytest.raises(ProviderError):
        await store.add(content="more tea", doc_id="b")
    monkeypatch.undo()
    real = store.adapter._in_scope
    store.adapter._in_scope = _no_scan
    assert await _keyword_ids(store) == ["a"]  # rebuilt from Chroma by the failed writer

    monkeypatch.setattr(ChromaStore, "_add_rows", fail)
    monkeypatch.setattr(store._backend, "count", fail)  # the rebuild fails too
    with pytest.raises(ProviderError):
        await store.add(content="more tea", doc_id="b")
    monkeypatch.undo()
    scans = []

    async def counted(*args: Any, **kwargs: Any) -> Any:
        scans.append(1)
        return await real(*args, **kwargs)

    store.adapter._in_scope = counted
    assert await _keyword_ids(store) == ["a"] and scans == [1]  # read from Chroma, still right


async def test_searches_during_a_write_use_the_word_index(tmp_path: Path, make, monkeypatch):
    """While a write is in flight the index holds the state before it (the write is not yet
    acknowledged), so concurrent searches keep using it instead of reading the whole scope."""
    from memio.providers.chroma._store import ChromaStore

    store = make("documents", {"path": str(tmp_path / "c")})
    await store.add(content="green tea", doc_id="a")
    started, release = asyncio.Event(), asyncio.Event()
    real_add = ChromaStore._add_rows

    async def slow(*args: Any, **kwargs: Any) -> None:
        started.set()
        await release.wait()
        await real_add(*args, **kwargs)

    monkeypatch.setattr(ChromaStore, "_add_rows", slow)
    writing = asyncio.create_task(store.add(content="more tea", doc_id="b"))
    await started.wait()
    store.adapter._in_scope = _no_scan
    assert await _keyword_ids(store) == ["a"]
    release.set()
    await writing
    assert sorted(await _keyword_ids(store)) == ["a", "b"]


async def test_search_pages_load_from_the_word_index(tmp_path: Path, make, monkeypatch):
    """The ranked page of a keyword or hybrid search is read from the word index, the records as
    a get returns them; a record the index lacks is read from Chroma."""
    store = make("documents", {"path": str(tmp_path / "c")})
    await store.add(content="green tea", doc_id="a", user_id="u", metadata={"k": 1, "t": ["x"]})
    await store.add(content="black tea", doc_id="b", user_id="u", metadata={"k": 2.5})
    await store.add(content="tea for v", doc_id="c", user_id="v")
    await store.update(doc_id="a", metadata={"t": "one", "j": True})
    stored = {d: (await store.get(doc_id=d)).model_dump() for d in ("a", "b")}
    calls = _calls(monkeypatch, store.adapter, "_get_rows")

    def reads() -> list[list[str]]:
        return [list(kw.get("ids") or []) for _, kw in calls]

    for mode in ("keyword", "hybrid"):
        found = await store.search(query="tea", user_id="u", search_mode=mode)
        assert {d.id: d.model_dump(exclude={"score"}) for d in found} == {
            d: {key: value for key, value in record.items() if key != "score"}
            for d, record in stored.items()
        }
    assert stored["a"]["metadata"] == {"k": 1, "t": "one", "j": True} and reads() == []
    await asyncio.to_thread(store.adapter._index._db.execute, "DELETE FROM docs WHERE id = 'b'")
    found = await store.search(query="black tea", user_id="u", search_mode="hybrid")
    assert "b" in [d.id for d in found] and reads() == [["b"]]


@pytest.mark.parametrize("setting", ["keyword_counts", "vectors_in_memory"])
async def test_what_memory_holds_is_configurable(tmp_path: Path, make, setting: str):
    store = make("documents", {"path": str(tmp_path / "c"), setting: False})
    await store.add_many(documents=[{"content": "green tea", "doc_id": "a"}])
    assert await _keyword_ids(store) == ["a"]
    assert [d.id for d in await store.search(query="tea", search_mode="semantic")] == ["a"]
    postings = store.adapter._index._postings
    assert (postings.counts, postings.vectors) == (
        setting != "keyword_counts",
        setting != "vectors_in_memory",
    )
    both = make(
        "documents",
        {"path": str(tmp_path / "e"), "keyword_counts": False, "vectors_in_memory": False},
    )
    await both.add(content="green tea", doc_id="a")
    assert await _keyword_ids(both) == ["a"] and both.adapter._index._postings is None
    with pytest.raises(InvalidRequestError) as exc:
        make("documents", {"path": str(tmp_path / "d"), setting: "lots"})
    assert exc.value.field == f"stores.documents.config.{setting}"


async def test_facts_keep_a_word_index_per_scope(tmp_path: Path, make):
    """Facts share the documents' word index machinery, with their four scope fields."""
    store = make("facts", {"path": str(tmp_path / "c")})
    tea = await store.add(content="green tea", user_id="u", agent_id="a")
    await store.add(content="black tea", user_id="v")
    coffee = await store.add(content="coffee", user_id="u")
    await store.update(fact_id=coffee.id, content="coffee and tea")
    assert (tmp_path / "c" / "memio-keywords-memio_facts.sqlite3").is_file()
    store.adapter._in_scope = _no_scan

    async def ids(**scope: Any) -> set[str]:
        return {f.id for f in await store.search(query="tea", search_mode="keyword", **scope)}

    assert await ids(user_id="u") == {tea.id, coffee.id}
    assert await ids(user_id="u", agent_id="a") == {tea.id}
    await store.delete(fact_id=tea.id)
    assert await ids(user_id="u") == {coffee.id}
    assert len(await ids()) == 2


async def _loaded_index(store: Any) -> Any:
    """The store's word index once its records are in memory."""
    await store.count()
    index = await store.adapter._keyword_index("test")
    for _ in range(3000):
        if index._loaded is None:
            return index
        await asyncio.sleep(0.01)
    raise AssertionError("the word index's records never finished loading")


@pytest.mark.parametrize("kind", ["documents", "facts"])
async def test_vectors_in_memory_answer_searches_by_meaning(
    tmp_path: Path, make, monkeypatch, kind: str
):
    """A search by meaning or hybrid without filters, scoped or not, compares the query with the
    vectors the word index holds, asking Chroma nothing, and finds what Chroma's query finds;
    an expired fact stays out."""
    from datetime import timedelta

    from memio.models import utcnow

    store = make(kind, {"path": str(tmp_path / "c")})
    texts = ["green tea in the morning", "a red kite over the hills", "coffee with milk"]
    texts += ["black tea, strong", "a walk by the river", "sailing on the lake"]
    for i, text in enumerate(texts):
        owner = ["u", "v", None][i % 3] if kind == "documents" else ["u", "v"][i % 2]
        if kind == "documents":
            await store.add(content=text, doc_id=f"d{i}", user_id=owner)
        else:
            await store.add(content=text, user_id=owner)
    if kind == "facts":
        await store.add(content="tea on holiday", user_id="u", expires_at=utcnow() - timedelta(1))
    index = await _loaded_index(store)
    scopes: list[dict[str, Any]] = [{"user_id": "u"}, {"user_id": "v"}]
    scopes += [{"user_id": "u", "include_shared": True}, {}] if kind == "documents" else []

    async def answers() -> list[list[tuple[str, float]]]:
        found = []
        for scope in scopes:
            for mode in ("semantic", "hybrid"):
                results = await store.search(query="tea", search_mode=mode, **scope)
                found.append([(r.id, round(r.score, 5)) for r in results])
        return found

    queries = _calls(monkeypatch, store.adapter, "_query")
    in_memory = await answers()
    assert queries == []
    assert all(found for found in in_memory)
    if kind == "facts":
        assert "tea on holiday" not in {
            f.content for f in await store.search(query="tea", user_id="u", search_mode="semantic")
        }
    monkeypatch.setattr(index, "nearest_many", lambda searches: [None] * len(searches))
    assert await answers() == in_memory and queries  # Chroma's query: the same answers


async def test_concurrent_searches_by_meaning_share_one_pass_over_the_vectors(
    tmp_path: Path, make, monkeypatch
):
    """Searches by meaning in flight together compare their vectors with the word index's in
    one run (`Postings.nearest_many`, one read of the vectors for all), each getting what it
    gets alone."""
    store = make("documents", {"path": str(tmp_path / "c")})
    texts = ["green tea in the morning", "a red kite over the hills", "coffee with milk"]
    texts += ["black tea, strong", "a walk by the river", "sailing on the lake"]
    for i, text in enumerate(texts):
        await store.add(content=text, doc_id=f"d{i}", user_id=["u", None][i % 2])
    index = await _loaded_index(store)
    scopes: list[dict[str, Any]] = [{}, {"user_id": "u"}, {"user_id": "u", "include_shared": True}]
    searches = [(query, scope) for query in ("tea", "river", "kite", "milk") for scope in scopes]

    def ranked(results: list[Any]) -> list[tuple[str, float]]:
        return [(r.id, round(r.score, 5)) for r in results]

    alone = [
        ranked(await store.search(query=query, search_mode="semantic", **scope))
        for query, scope in searches
    ]
    passes: list[int] = []
    many = index.nearest_many

    def slow(batch: list[Any]) -> list[Any]:
        passes.append(len(batch))
        time.sleep(0.1)  # a pass in progress: the searches arriving meanwhile queue for the next
        return many(batch)

    monkeypatch.setattr(index, "nearest_many", slow)
    together = await asyncio.gather(
        *(store.search(query=query, search_mode="semantic", **scope) for query, scope in searches)
    )
    assert [ranked(found) for found in together] == alone
    assert sum(passes) == len(searches) and len(passes) < len(searches)


async def test_fact_expiry_is_known_in_memory(tmp_path: Path, make, monkeypatch):
    """Once the word index is loaded, a facts search learns which facts of its scope expired
    from memory, following every change of a fact's expiry, and reads nothing from Chroma."""
    from datetime import timedelta

    from memio.models import utcnow

    store = make("facts", {"path": str(tmp_path / "c")})
    later, past = utcnow() + timedelta(days=1), utcnow() - timedelta(hours=1)
    tea = await store.add(content="drinks green tea", user_id="u", expires_at=later)
    await store.add(content="drinks black tea", user_id="v", expires_at=past)
    await store.add(content="drinks mint tea", user_id="u")
    await _loaded_index(store)
    reads = _calls(monkeypatch, store.adapter, "_get_rows")

    async def found(**scope: Any) -> set[str]:
        found = set()
        for mode in ("semantic", "hybrid", "keyword"):
            results = await store.search(query="tea", search_mode=mode, **scope)
            found |= {f.content.split()[1] for f in results}
        return found

    assert await found(user_id="u") == {"green", "mint"}
    assert await found() == {"green", "mint"}
    await store.update(fact_id=tea.id, expires_at=past)
    assert await found(user_id="u") == {"mint"}
    await store.update(fact_id=tea.id, expires_at=None)
    assert await found(user_id="u") == {"green", "mint"}
    await store.update(fact_id=tea.id, metadata={"k": 1})  # metadata alone: the expiry stays
    assert await found(user_id="u") == {"green", "mint"}
    assert all(
        kw.get("ids") is not None for _, kw in reads
    )  # updates read their fact; nothing else
