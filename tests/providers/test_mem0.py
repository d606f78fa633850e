"""What only the mem0 provider has, on a real mem0 `AsyncMemory` (embedded Qdrant, SQLite history):
the offline setup (telemetry off, MEM0_DIR under memio's data dir, no network), LLM extraction
(`infer`) against a real OpenAI-compatible server on loopback, memio's embedder plugged into mem0,
blocking work kept off the event loop, scope and metadata encoding, mem0-native interop, shared
embedded Qdrant clients, config validation and the platform mode's refusals.

The store semantics themselves are checked by tests/conformance (backend id "mem0").

Every test here runs under a socket guard: a connection (or DNS lookup) to anything but loopback
fails the test.
"""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memio.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    NotSupportedError,
    ProviderError,
)
from memio.models import FactEventType, FactInput, cosine_score
from memio.providers import build_store
from memio.providers.shared import ProviderContext
from tests.support.ci import unavailable
from tests.support.openai_fake import FakeOpenAI

if importlib.util.find_spec("mem0") is None:
    unavailable("memio[mem0]", "needs memio[mem0] (pip install 'memio[mem0]')")

REPO = Path(__file__).resolve().parents[2]


# --- guards and fixtures ----------------------------------------------------------------------


def _loopback(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_remote_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Fail any connection or name lookup that would leave the machine (a guard, not a mock:
    loopback traffic goes through the real socket calls)."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def remote(address: Any) -> bool:
        return isinstance(address, tuple) and not _loopback(address[0])

    def connect(self: socket.socket, address: Any) -> Any:
        if remote(address):
            attempts.append(address)
            raise OSError(f"test guard: connection to {address!r} blocked")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if remote(address):
            attempts.append(address)
            raise OSError(f"test guard: connection to {address!r} blocked")
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(host):
            attempts.append(host)
            raise OSError(f"test guard: lookup of {host!r} blocked")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert attempts == [], f"network access outside loopback: {attempts}"


@pytest.fixture
async def make_store(tmp_path: Path, embedder) -> AsyncIterator[Callable[..., Any]]:
    """``make_store(config=None, data_dir=None, embedder=None)`` builds a mem0 facts store the
    way the server does; every store is closed at teardown."""
    made: list[Any] = []

    def _make(
        config: dict[str, Any] | None = None,
        *,
        data_dir: Path | None = None,
        embed: Any = None,
    ) -> Any:
        context = ProviderContext(
            data_dir=data_dir or tmp_path / "data", embedder=embed or embedder
        )
        store = build_store("facts", "mem0", config or {}, context)
        made.append(store)
        return store

    yield _make
    for store in reversed(made):
        await store.aclose()


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def llm_config(server: FakeOpenAI) -> dict[str, Any]:
    return {"llm": {"base_url": server.base_url, "model": "fake-chat", "api_key": "test"}}


def new_messages(request: dict[str, Any]) -> str:
    """The "## New Messages" section of mem0's extraction prompt."""
    prompt = request["messages"][-1]["content"]
    match = re.search(r"## New Messages\n(.*?)\n\n## ", prompt, re.S)
    assert match, prompt
    return match.group(1)


def existing_memories(request: dict[str, Any]) -> list[dict[str, str]]:
    prompt = request["messages"][-1]["content"]
    match = re.search(r"## Existing Memories\n(.*?)\n\n## ", prompt, re.S)
    assert match, prompt
    return json.loads(match.group(1))


def extracted(*texts: str) -> str:
    return json.dumps({"memory": [{"id": str(i), "text": t} for i, t in enumerate(texts)]})


class CountingEmbedder:
    """memio's embedder, counting calls and recording the threads of blocking ones."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model = inner.model
        self.dimensions = inner.dimensions
        self.async_calls: list[int] = []
        self.sync_threads: list[int] = []

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.async_calls.append(len(texts))
        return await self.inner.embed(texts)

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        self.sync_threads.append(threading.get_ident())
        return self.inner.embed_sync(texts)

    async def aclose(self) -> None:
        return None


class Recording:
    """Proxy recording the thread of every method call on the wrapped object."""

    def __init__(self, inner: Any, threads: list[tuple[str, int]]) -> None:
        self._inner = inner
        self._threads = threads

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._threads.append((name, threading.get_ident()))
            return attr(*args, **kwargs)

        return call


# --- offline setup ------------------------------------------------------------------------


def test_fresh_process_imports_mem0_lazily_offline_and_under_the_data_dir(tmp_path: Path) -> None:
    """In a new interpreter (so mem0 is imported for the first time) with no MEM0_* variables:
    mem0 is imported only on first use, with telemetry off, MEM0_DIR under memio's data dir,
    nothing written to ~/.mem0, no connection beyond loopback (import time included), and the
    environment left as it was."""
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    script = textwrap.dedent(
        """
        import asyncio, ipaddress, json, os, socket, sys
        from pathlib import Path

        attempts = []
        real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

        def loopback(host):
            try:
                return host in (None, "localhost") or ipaddress.ip_address(host).is_loopback
            except ValueError:
                return False

        def connect(self, address):
            if isinstance(address, tuple) and not loopback(address[0]):
                attempts.append(str(address))
                raise OSError("blocked")
            return real_connect(self, address)

        def getaddrinfo(host, *args, **kwargs):
            if not loopback(host):
                attempts.append(str(host))
                raise OSError("blocked")
            return real_getaddrinfo(host, *args, **kwargs)

        socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo

        import memio
        from memio.embeddings import default_embedder
        from memio.providers import build_store
        from memio.providers.shared import ProviderContext

        data = Path(sys.argv[1])
        context = ProviderContext(data_dir=data, embedder=default_embedder())
        store = build_store("facts", "mem0", {}, context)
        imported_before_use = "mem0" in sys.modules

        async def main():
            fact = await store.add(content="likes green tea", user_id="alice")
            found = await store.search(query="tea", user_id="alice")
            await store.aclose()
            return found[0].id == fact.id

        found = asyncio.run(main())
        from mem0.memory import setup, telemetry

        print(json.dumps({
            "imported_before_use": imported_before_use,
            "found": found,
            "env": os.environ.get("MEM0_TELEMETRY"),
            "telemetry": telemetry.MEM0_TELEMETRY,
            "posthog": telemetry.client_telemetry.posthog is not None,
            "mem0_dir": setup.mem0_dir,
            "attempts": attempts,
        }))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEM0_")}
    env.update(HOME=str(home), PYTHONPATH=str(REPO / "src"))
    done = subprocess.run(
        [sys.executable, "-c", script, str(data)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {
        "imported_before_use": False,
        "found": True,
        "env": None,  # set only while mem0 was imported
        "telemetry": False,
        "posthog": False,
        "mem0_dir": str(data / "mem0"),
        "attempts": [],
    }
    assert not (home / ".mem0").exists()
    assert (data / "mem0" / "config.json").is_file()
    assert {p.name for p in (data / "mem0").iterdir()} >= {"qdrant", "history.db", "memio.db"}


async def test_without_an_llm_mem0_gets_memios_embedder_and_no_usable_llm(
    make_store, embedder
) -> None:
    store = make_store()
    assert store.infer is False
    fact = await store.add(content="prefers dark mode", user_id="alice")
    await store.update(fact_id=fact.id, content="prefers light mode", metadata={"k": "v"})
    memory = store.backend.memory
    assert memory.embedding_model is store.backend.adapter
    assert type(memory.llm).__name__ == "_NoLLM"
    assert memory.llm.calls == 0  # mem0 never asked for an LLM
    # mem0 stored memio's vectors: the stored vector is memio's embedding of the content
    point = memory.vector_store.client.retrieve(
        memory.vector_store.collection_name, ids=[fact.id], with_vectors=True
    )[0]
    expected = (await embedder.embed(["prefers light mode"]))[0]
    stored = np.asarray(point.vector if isinstance(point.vector, list) else point.vector[""])
    assert np.allclose(stored / np.linalg.norm(stored), expected, atol=1e-5)


async def test_add_many_embeds_the_batch_in_one_call(make_store, embedder) -> None:
    counting = CountingEmbedder(embedder)
    store = make_store(embed=counting)
    facts = await store.add_many(
        facts=[FactInput(content=f"fact number {i}", user_id="alice") for i in range(5)]
    )
    assert len({f.id for f in facts}) == 5
    assert counting.async_calls == [5]
    assert counting.sync_threads == []  # mem0 was served the prefilled vectors


# --- LLM extraction (infer) ---------------------------------------------------------------


async def test_infer_stores_every_extracted_fact_and_returns_the_first(
    make_store, fake_llm
) -> None:
    fake_llm.chat_handler = lambda request: extracted(
        "Alice likes green tea", "Alice moved to Berlin in May"
    )
    store = make_store(llm_config(fake_llm))
    assert store.infer is True
    fact = await store.add(
        content="I'm Alice. I love green tea, and I moved to Berlin in May!",
        user_id="alice",
        metadata={"source": "chat"},
    )
    assert (fact.content, fact.user_id, fact.metadata) == (
        "Alice likes green tea",
        "alice",
        {"source": "chat"},
    )
    listed = await store.get_all(user_id="alice")
    assert {f.content for f in listed} == {"Alice likes green tea", "Alice moved to Berlin in May"}
    assert all(f.metadata == {"source": "chat"} for f in listed)
    for f in listed:
        [event] = await store.history(fact_id=f.id)
        assert (event.event, event.new_content, event.new_metadata) == (
            FactEventType.ADD,
            f.content,
            {"source": "chat"},
        )
    best = await store.search(query="which city does Alice live in", user_id="alice", limit=1)
    assert best[0].content == "Alice moved to Berlin in May"

    assert fake_llm.count("/v1/chat/completions") == 1
    assert fake_llm.count("/v1/embeddings") == 0  # embeddings are memio's, never the LLM server's
    request = fake_llm.requests[0]
    assert request.json["model"] == "fake-chat"
    assert request.json["response_format"] == {"type": "json_object"}
    assert request.headers["authorization"] == "Bearer test"
    assert "I love green tea" in new_messages(request.json)


async def test_infer_with_nothing_new_stores_the_content_as_given(make_store, fake_llm) -> None:
    fake_llm.chat_handler = lambda request: '{"memory": []}'
    store = make_store(llm_config(fake_llm))
    fact = await store.add(content="Hey, good morning!", user_id="alice")
    assert fact.content == "Hey, good morning!"
    assert [f.id for f in await store.get_all()] == [fact.id]
    assert fake_llm.count("/v1/chat/completions") == 1
    # memio's exact dedup runs before the LLM: the same content again asks nothing
    assert await store.add(content="Hey,  good morning! ", user_id="alice") == fact
    assert fake_llm.count("/v1/chat/completions") == 1


async def test_infer_prompt_only_shows_memories_of_the_same_scope(make_store, fake_llm) -> None:
    def remember(request: dict[str, Any]) -> str:
        said = new_messages(request).strip().removeprefix("user: ")
        return extracted(f"Remembered: {said}")

    fake_llm.chat_handler = remember
    store = make_store(llm_config(fake_llm))
    await store.add(content="my locker code is 4242", user_id="alice")
    await store.add(content="I play chess", user_id="bob")
    await store.add(content="my locker is on floor 3", user_id="alice")
    first, bob, alice_again = (r.json for r in fake_llm.requests)
    assert existing_memories(first) == []
    assert existing_memories(bob) == []  # alice's memory never reaches bob's prompt
    assert [m["text"] for m in existing_memories(alice_again)] == [
        "Remembered: my locker code is 4242"
    ]
    assert fake_llm.requests[0].json["messages"][0]["role"] == "system"


async def test_infer_keeps_caller_ids_and_the_rest_of_memios_rules(make_store, fake_llm) -> None:
    fake_llm.chat_handler = lambda request: extracted("Likes tea", "Likes scones")
    store = make_store(llm_config(fake_llm))
    fact = await store.add(content="tea and scones, please", fact_id="pref-1", app_id="cafe")
    assert (fact.id, fact.content, fact.app_id, fact.user_id) == (
        "pref-1",
        "Likes tea",
        "cafe",
        None,
    )
    with pytest.raises(ConflictError):
        await store.add(content="more", fact_id="pref-1")
    others = [f for f in await store.get_all(app_id="cafe") if f.id != "pref-1"]
    assert [f.content for f in others] == ["Likes scones"]
    assert await store.get(fact_id="pref-1") == fact


async def test_llm_failure_is_a_provider_error_and_stores_nothing(make_store, fake_llm) -> None:
    fake_llm.fail(500, times=None)
    store = make_store(llm_config(fake_llm))
    with pytest.raises(ProviderError) as exc:
        await store.add(content="I like tea", user_id="alice")
    assert (exc.value.provider, exc.value.operation) == ("mem0", "add")
    assert await store.count() == 0
    fake_llm.recover()
    fake_llm.chat_handler = lambda request: extracted("Likes tea")
    assert (await store.add(content="I like tea", user_id="alice")).content == "Likes tea"


# --- the event loop -----------------------------------------------------------------------


async def test_blocking_work_runs_off_the_event_loop(make_store, fake_llm, embedder) -> None:
    fake_llm.chat_handler = lambda request: extracted("Likes tea")
    counting = CountingEmbedder(embedder)
    store = make_store(llm_config(fake_llm), embed=counting)
    loop_thread = threading.get_ident()

    ticks = 0
    stop = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    beat = asyncio.create_task(heartbeat())
    await store.ping()  # opens: imports mem0 (first time), builds the AsyncMemory
    stop.set()
    await beat
    assert ticks > 1  # the loop kept running while the store opened

    threads: list[tuple[str, int]] = []
    memory = store.backend.memory
    memory.vector_store = Recording(memory.vector_store, threads)
    memory.db = Recording(memory.db, threads)
    memory.llm = Recording(memory.llm, threads)

    fact = await store.add(content="I like tea", user_id="alice")  # LLM extraction path
    await store.add(content="plain content stored verbatim", user_id="bob")
    await store.search(query="tea", user_id="alice")
    await store.update(fact_id=fact.id, content="I like coffee")
    await store.history(fact_id=fact.id)
    await store.get_all()
    await store.delete(fact_id=fact.id)

    called = {name for name, _ in threads}
    assert {"generate_response", "insert", "search", "get", "update", "delete"} <= called
    assert {"add_history", "get_history"} <= called
    assert [name for name, thread in threads if thread == loop_thread] == []
    assert counting.sync_threads  # mem0 embedded the LLM's extraction itself...
    assert loop_thread not in counting.sync_threads  # ...in a worker thread


# --- scores, scope and metadata encoding ----------------------------------------------------


async def test_scores_are_the_cosine_of_memios_embeddings(make_store, embedder) -> None:
    store = make_store()
    texts = ["I enjoy hiking in the mountains", "the stock market fell", "cats sleep a lot"]
    for text in texts:
        await store.add(content=text, user_id="alice")
    query = "walking on mountain trails"
    semantic = {"query": query, "search_mode": "semantic"}
    results = await store.search(**semantic, user_id="alice", limit=3)
    vectors = await embedder.embed([query, *(f.content for f in results)])
    expected = [cosine_score(float(vectors[0] @ v)) for v in vectors[1:]]
    assert [f.score for f in results] == pytest.approx(expected, abs=1e-5)
    assert results[0].content == texts[0]
    assert [f.score for f in results] == sorted((f.score for f in results), reverse=True)
    cut = expected[0] - 1e-6
    assert [f.content for f in await store.search(**semantic, threshold=cut)] == [texts[0]]


async def test_scope_ids_and_metadata_round_trip_exactly(make_store) -> None:
    store = make_store()
    metadata = {
        "role": "admin",  # mem0 would overwrite: it stores the message role here
        "data": "not the content",
        "created_at": "2000-01-01",  # mem0 would take it as the creation time
        "expiration_date": "2000-01-01",  # mem0 would hide the memory as expired
        "user_id": "shadow",
        "memio_meta_x": 1,
        "memio_unscoped": True,
        "n": 1,
        "f": 1.0,
        "flag": False,
        "tags": ["a", 2, 2.5, True],
    }
    spaced = await store.add(
        content="likes jazz", user_id="alice smith", agent_id="50%", run_id=" r ", metadata=metadata
    )
    assert (spaced.user_id, spaced.agent_id, spaced.run_id) == ("alice smith", "50%", " r ")
    assert spaced.metadata == metadata
    assert type(spaced.metadata["n"]) is int and type(spaced.metadata["f"]) is float
    assert await store.get(fact_id=spaced.id) == spaced
    assert list(await store.get_all(user_id="alice smith")) == [spaced]
    assert list(await store.get_all(user_id="alice")) == []
    assert [f.id for f in await store.search(query="jazz", agent_id="50%")] == [spaced.id]

    loose = await store.add(content="unscoped fact")
    app_only = await store.add(content="app fact", app_id="my app")
    assert (loose.user_id, loose.agent_id, loose.app_id, loose.run_id) == (None, None, None, None)
    assert (app_only.app_id, app_only.run_id) == ("my app", None)
    # mem0 needs an entity id: the placeholder memio gives it never shows as a scope
    for run_id in ("memio:unscoped", "memio:app:my%20app"):
        assert list(await store.get_all(run_id=run_id)) == []
        assert await store.search(query="fact", run_id=run_id) == []
    assert [f.id for f in await store.get_all(app_id="my app")] == [app_only.id]
    assert {f.id for f in await store.get_all()} == {spaced.id, loose.id, app_only.id}
    assert await store.delete_all(app_id="my app") == 1
    assert await store.count() == 2

    native = await store.backend.memory.get(spaced.id)
    assert (native["user_id"], native["agent_id"], native["run_id"]) == (
        "alice%20smith",
        "50%25",
        "%20r%20",
    )
    assert native["role"] == "user" and native["memory"] == "likes jazz"


async def test_facts_are_native_mem0_memories(make_store) -> None:
    store = make_store()
    fact = await store.add(content="likes green tea", user_id="alice", metadata={"topic": "food"})
    memory = store.backend.memory
    native = await memory.get(fact.id)  # memio's generated ids are mem0's ids
    assert (native["memory"], native["user_id"], native["metadata"]) == (
        "likes green tea",
        "alice",
        {"topic": "food"},
    )
    listed = await memory.get_all(filters={"user_id": "alice"})
    assert [m["id"] for m in listed["results"]] == [fact.id]
    found = await memory.search("green tea", filters={"user_id": "alice"})
    assert found["results"][0]["id"] == fact.id

    # a memory written with mem0 directly is a fact too (its id is mem0's), history included
    written = await memory.add("lives in Lisbon", user_id="alice", infer=False)
    mem0_id = written["results"][0]["id"]
    direct = await store.get(fact_id=mem0_id)
    assert (direct.content, direct.user_id) == ("lives in Lisbon", "alice")
    assert [f.id for f in await store.get_all(user_id="alice")] == [fact.id, mem0_id]
    await store.update(fact_id=mem0_id, content="lives in Porto")
    events = await store.history(fact_id=mem0_id)
    assert [e.event for e in events] == [FactEventType.ADD, FactEventType.UPDATE]
    assert events[1].new_content == "lives in Porto"

    # mem0 hides memories past their expiration_date from listings and search; so does memio
    old = await memory.add(
        "old promo code", user_id="alice", infer=False, expiration_date="2000-01-01"
    )
    old_id = old["results"][0]["id"]
    assert old_id not in {f.id for f in await store.get_all(user_id="alice")}
    assert old_id not in {f.id for f in await store.search(query="old promo code")}
    assert (await store.get(fact_id=old_id)).content == "old promo code"


async def test_a_reused_fact_id_keeps_its_whole_history(make_store) -> None:
    store = make_store()
    await store.add(content="first life", fact_id="f-1", metadata={"v": 1})
    await store.delete(fact_id="f-1")
    with pytest.raises(NotFoundError):
        await store.get(fact_id="f-1")
    again = await store.add(content="second life", fact_id="f-1", metadata={"v": 2})
    assert again.id == "f-1"
    events = await store.history(fact_id="f-1")
    assert [(e.event, e.old_content, e.new_content) for e in events] == [
        (FactEventType.ADD, None, "first life"),
        (FactEventType.DELETE, "first life", None),
        (FactEventType.ADD, None, "second life"),
    ]
    assert [e.new_metadata for e in events] == [{"v": 1}, None, {"v": 2}]
    assert events[1].old_metadata == {"v": 1}
    with pytest.raises(NotFoundError):
        await store.history(fact_id="never-existed")


# --- files and clients ----------------------------------------------------------------------


async def test_stores_on_one_path_share_the_embedded_qdrant(make_store, tmp_path) -> None:
    first, second = make_store(), make_store()  # same data dir, both open at once
    fact = await first.add(content="shared fact", user_id="alice")
    assert await second.get(fact_id=fact.id) == fact
    assert first.backend.memory.vector_store.client is second.backend.memory.vector_store.client
    await first.aclose()
    assert (await second.search(query="shared", user_id="alice"))[0].id == fact.id
    await second.aclose()
    third = make_store()  # the path's lock was released: a new client opens it
    assert await third.get(fact_id=fact.id) == fact
    elsewhere = make_store(data_dir=tmp_path / "other")
    assert await elsewhere.count() == 0


async def test_custom_path_and_collection(make_store, tmp_path) -> None:
    path = tmp_path / "elsewhere"
    store = make_store({"path": str(path), "collection": "team_facts"})
    await store.add(content="x", user_id="u")
    assert store.backend.memory.vector_store.collection_name == "team_facts"
    assert (path / "history.db").is_file() and not (tmp_path / "data" / "mem0").exists()


# --- config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"nope": 1}, "stores.facts.config.nope"),
        ({"mode": "cloud"}, "stores.facts.config.mode"),
        ({"infer": True}, "stores.facts.config.infer"),
        ({"llm": {"base_url": "http://127.0.0.1:1/v1"}}, "stores.facts.config.llm.model"),
        (
            {"llm": {"base_url": "x", "model": "m", "temperature": 0}},
            "stores.facts.config.llm.temperature",
        ),
        ({"api_key": "k"}, "stores.facts.config.api_key"),
        ({"timeout": 5}, "stores.facts.config.timeout"),
        ({"mode": "platform"}, "stores.facts.config.api_key"),
        ({"mode": "platform", "api_key": "k", "path": "/tmp/x"}, "stores.facts.config.path"),
        (
            {"mode": "platform", "api_key": "k", "llm": {"base_url": "x", "model": "m"}},
            "stores.facts.config.llm",
        ),
    ],
)
def test_config_errors_name_the_key(config, field, tmp_path, embedder) -> None:
    context = ProviderContext(data_dir=tmp_path, embedder=embedder)
    with pytest.raises(InvalidRequestError) as exc:
        build_store("facts", "mem0", config, context)
    assert exc.value.field == field


# --- platform mode --------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_platform_mode_refuses_what_it_cannot_store_and_reports_failures(make_store) -> None:
    host = f"http://127.0.0.1:{_closed_port()}"
    store = make_store({"mode": "platform", "api_key": "k", "host": host, "timeout": 10})
    assert store.mode == "platform" and store.infer is False
    with pytest.raises(NotSupportedError):
        await store.add(content="no scope")  # the platform needs an entity id
    with pytest.raises(NotSupportedError):
        await store.add(content="x", user_id="alice", fact_id="mine")  # ids are the platform's
    with pytest.raises(NotSupportedError):
        await store.add_many(facts=[{"content": "x"}])
    with pytest.raises(ProviderError) as exc:  # nobody listens there
        await store.add(content="x", user_id="alice")
    assert (exc.value.provider, exc.value.operation) == ("mem0", "add")


PLATFORM_KEY = "platform-test-key"


@pytest.fixture
def mem0_dialect_server(tmp_path: Path) -> Iterator[str]:
    """A real memio-server process (facts in the memory provider) whose mem0 platform dialect
    routes the platform mode talks to, as it would to api.mem0.ai."""
    from tests.support.server_process import run_server

    config = {
        "data_dir": str(tmp_path / "server-data"),
        "auth": {"api_keys": [{"name": "app", "key": PLATFORM_KEY}]},
        "server": {"rate_limit": {"enabled": False}},
        "stores": {"facts": {"provider": "memory"}},
    }
    with run_server(config) as server:
        yield server.base_url


async def test_platform_mode_against_a_server_speaking_the_platform_dialect(
    make_store, mem0_dialect_server, embedder
) -> None:
    store = make_store({"mode": "platform", "api_key": PLATFORM_KEY, "host": mem0_dialect_server})
    await store.ping()
    tea = await store.add(content="likes green tea", user_id="alice", metadata={"n": 1, "t": ["x"]})
    assert (tea.content, tea.user_id, tea.metadata) == (
        "likes green tea",
        "alice",
        {"n": 1, "t": ["x"]},
    )
    assert await store.get(fact_id=tea.id) == tea
    assert await store.add(content=" likes  green tea", user_id="alice") == tea  # memio's dedup
    stocks = await store.add(content="the stock market fell", user_id="alice", agent_id="bot")
    app = await store.add(content="an app-wide fact", app_id="shop")
    assert list(await store.get_all(user_id="alice")) == [tea, stocks]
    assert [f.id for page in [await store.get_all(user_id="alice", limit=1)] for f in page] == [
        tea.id
    ]
    assert {f.id for f in await store.get_all()} >= {tea.id, stocks.id, app.id}
    assert [f.id for f in await store.get_all(filters={"n": 1})] == [tea.id]

    found = await store.search(
        query="what does alice drink", user_id="alice", search_mode="semantic"
    )
    assert found[0].id == tea.id
    vectors = await embedder.embed(["what does alice drink", tea.content])
    assert found[0].score == pytest.approx(cosine_score(float(vectors[0] @ vectors[1])), abs=1e-5)

    changed = await store.update(fact_id=tea.id, metadata={"k": "v"})
    assert changed.metadata == {"n": 1, "t": ["x"], "k": "v"}
    changed = await store.update(fact_id=tea.id, content="likes black tea")
    assert (changed.content, changed.metadata["k"]) == ("likes black tea", "v")
    events = await store.history(fact_id=tea.id)
    assert [e.event for e in events] == [
        FactEventType.ADD,
        FactEventType.UPDATE,
        FactEventType.UPDATE,
    ]
    assert events[-1].new_content == "likes black tea"

    await store.delete(fact_id=stocks.id)
    with pytest.raises(NotFoundError):
        await store.get(fact_id=stocks.id)
    with pytest.raises(NotFoundError):
        await store.delete(fact_id=stocks.id)
    assert await store.delete_all(user_id="alice") == 1
    assert await store.count() == 1
