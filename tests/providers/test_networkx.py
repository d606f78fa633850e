"""What only the networkx graph provider has: crash durability, the single-process lock (tested
with real second processes), stored embeddings, atomic writes, and agreement with the memory
provider on traversal, paging and search scores.

The store semantics themselves are checked by tests/conformance (backend id "networkx").
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memio.errors import InvalidRequestError, ProviderError
from memio.providers import build_store
from memio.providers.memory import MemoryGraphStore
from memio.providers.networkx import SCHEMA_VERSION, GraphLockedError, NetworkXGraphStore
from memio.providers.shared import ProviderContext
from memio.validating import validating

REPO = Path(__file__).resolve().parents[2]


def t(subject: str, predicate: str, obj: str, **extra: Any) -> dict:
    return {"subject": subject, "predicate": predicate, "object": obj, **extra}


class CountingEmbedder:
    """Wraps the real embedder, counting the texts it embeds; `model` can be renamed."""

    def __init__(self, inner: Any, model: str | None = None) -> None:
        self.inner = inner
        self.model = model or inner.model
        self.dimensions = inner.dimensions
        self.texts: list[str] = []

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return await self.inner.embed(texts)

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def stores(tmp_path: Path, embedder) -> AsyncIterator[Callable[..., NetworkXGraphStore]]:
    """``stores(**kwargs)`` builds a store on ``tmp_path/graph.sqlite3`` (closed at teardown)."""
    made: list[NetworkXGraphStore] = []

    def _make(**kwargs: Any) -> NetworkXGraphStore:
        kwargs.setdefault("path", tmp_path / "graph.sqlite3")
        kwargs.setdefault("embedder", embedder)
        store = validating("graph", NetworkXGraphStore(**kwargs))
        made.append(store)
        return store

    yield _make
    for store in made:
        await store.aclose()


async def _spawn(script: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", textwrap.dedent(script), *args, cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _expect_line(proc: asyncio.subprocess.Process, expected: str) -> None:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 120)
    assert line.decode().strip() == expected, line


# --- config -----------------------------------------------------------------------------------


def test_config_defaults_and_paths(tmp_path: Path, embedder) -> None:
    context = ProviderContext(data_dir=tmp_path, embedder=embedder)
    store = build_store("graph", "networkx", {}, context)
    assert store.path == tmp_path / "graph.sqlite3"
    assert store.lock_path == tmp_path / "graph.sqlite3.lock"
    store = build_store("graph", "networkx", {"path": str(tmp_path / "g" / "kg.db")}, context)
    assert store.path == tmp_path / "g" / "kg.db"
    assert store.lock_path == tmp_path / "g" / "kg.db.lock"
    assert not any(tmp_path.iterdir()), "constructing a store must not touch the disk"
    with pytest.raises(InvalidRequestError) as exc:
        build_store("graph", "networkx", {"paht": "x"}, context)
    assert exc.value.field == "stores.graph.config.paht"


async def test_file_is_wal_full_sync_and_versioned(stores, tmp_path: Path) -> None:
    store = stores()
    await store.add(triples=[t("a", "b", "c")])
    conn = store._conn
    assert conn is not None
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


# --- durability -------------------------------------------------------------------------------

_CRASHER = """
    import asyncio, sys, time
    from memio.embeddings import default_embedder
    from memio.providers.networkx import NetworkXGraphStore
    from memio.validating import validating

    async def main():
        graph = NetworkXGraphStore(path=sys.argv[1], embedder=default_embedder())
        store = validating("graph", graph)
        await store.add(triples=[{"subject": f"s{i}", "predicate": "p", "object": f"o{i}",
                                  "metadata": {"i": i}} for i in range(5)], user_id="alice")
        for i in range(5, 25):
            await store.add(triples=[{"subject": f"s{i}", "predicate": "p", "object": f"o{i}"}])
        await store.add(triples=[{"subject": "s0", "predicate": "p", "object": "o0",
                                  "metadata": {"merged": True}}], user_id="alice")
        await store.delete(entity="s24")
        print("ok", flush=True)
        time.sleep(600)  # killed here, never closing anything

    asyncio.run(main())
"""


async def test_acknowledged_writes_survive_sigkill(stores, tmp_path: Path) -> None:
    path = tmp_path / "graph.sqlite3"
    proc = await _spawn(_CRASHER, str(path))
    try:
        await _expect_line(proc, "ok")
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL

    store = stores()  # the dead process's lock went with it
    assert await store.count() == 24
    mine = (await store.get_all(user_id="alice")).triples
    assert [x.subject for x in mine] == [f"s{i}" for i in range(5)]
    assert mine[0].metadata == {"i": 0, "merged": True}
    assert all(x.created_at is not None for x in mine)
    assert (await store.get(entity="s24")).triples == []  # never acknowledged, never stored
    result = await store.search(query="s7 p o7")
    assert result.triples[0].subject == "s7"


async def test_failed_write_changes_nothing(stores, tmp_path: Path) -> None:
    store = stores()
    await store.add(triples=[t("alice", "knows", "bob")])
    conn = sqlite3.connect(tmp_path / "graph.sqlite3")
    conn.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON triples WHEN NEW.subject = 'boom'"
        " BEGIN SELECT RAISE(ABORT, 'boom'); END"
    )
    conn.commit()
    conn.close()
    with pytest.raises(ProviderError) as exc:
        await store.add(triples=[t("carol", "knows", "dave"), t("boom", "is", "bad")])
    assert exc.value.provider == "networkx"
    assert isinstance(exc.value.cause, sqlite3.DatabaseError)
    assert await store.count() == 1
    assert (await store.get(entity="carol")).triples == []  # the failed write left nothing
    assert [x.subject for x in (await store.search(query="carol knows dave")).triples] == ["alice"]
    await store.aclose()
    assert await stores().count() == 1


# --- the single-process lock ------------------------------------------------------------------

_HOLDER = """
    import asyncio, sys
    from memio.embeddings import default_embedder
    from memio.providers.networkx import NetworkXGraphStore
    from memio.validating import validating

    async def main():
        graph = NetworkXGraphStore(path=sys.argv[1], embedder=default_embedder())
        store = validating("graph", graph)
        await store.count()
        print("ready", flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
"""


async def test_second_process_is_refused_loudly(stores, tmp_path: Path) -> None:
    path = tmp_path / "graph.sqlite3"
    first = stores()
    await first.add(triples=[t("a", "b", "c")])
    await first.aclose()  # released: another process may take it now

    holder = await _spawn(_HOLDER, str(path))
    try:
        await _expect_line(holder, "ready")
        store = stores()
        with pytest.raises(GraphLockedError) as exc:
            await store.count()
        assert isinstance(exc.value, ProviderError)
        assert exc.value.pid == holder.pid
        assert exc.value.directory == await asyncio.to_thread(tmp_path.resolve)
        assert str(exc.value.directory) in str(exc.value)
        assert f"pid {holder.pid}" in str(exc.value)
        assert exc.value.provider == "networkx"
        assert exc.value.operation == "open"
    finally:
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
    assert await store.count() == 1  # the holder died; the same store object now opens


async def test_second_store_object_in_process_is_refused(stores) -> None:
    first, second = stores(), stores()
    await first.add(triples=[t("a", "b", "c")])
    with pytest.raises(GraphLockedError, match=f"in this process \\(pid {os.getpid()}\\)"):
        await second.add(triples=[t("x", "y", "z")])
    await first.aclose()
    await first.aclose()
    assert await second.count() == 1  # first released the lock on aclose
    with pytest.raises(GraphLockedError):
        await first.count()  # and now first is the one refused


async def test_lock_file_names_the_holder(stores) -> None:
    store = stores()
    await store.ping()
    assert store.lock_path.read_text().strip() == str(os.getpid())
    await store.aclose()
    assert store.lock_path.read_text() == ""


# --- stored embeddings --------------------------------------------------------------------------


async def test_reopen_does_not_reembed(stores, embedder) -> None:
    counting = CountingEmbedder(embedder)
    store = stores(embedder=counting)
    await store.add(triples=[t(f"e{i}", "rel", f"f{i}") for i in range(10)])
    assert len(counting.texts) == 10
    await store.add(triples=[t("e1", "rel", "f1", metadata={"x": 1})])  # re-add: no embedding
    assert len(counting.texts) == 10
    await store.aclose()

    counting.texts.clear()
    reopened = stores(embedder=counting)
    assert await reopened.count() == 10
    assert counting.texts == []
    result = await reopened.search(query="e3 rel f3")
    assert counting.texts == ["e3 rel f3"]  # only the query
    assert result.triples[0].subject == "e3"


async def test_new_embedding_model_reembeds_once(stores, embedder) -> None:
    store = stores(embedder=embedder)
    await store.add(triples=[t(f"e{i}", "rel", f"f{i}") for i in range(5)])
    await store.aclose()

    renamed = CountingEmbedder(embedder, model="another-model")
    store = stores(embedder=renamed)
    assert await store.count() == 5
    assert sorted(renamed.texts) == sorted(f"e{i} rel f{i}" for i in range(5))
    await store.aclose()

    renamed.texts.clear()
    store = stores(embedder=renamed)
    assert await store.count() == 5
    assert renamed.texts == []  # the re-embedded vectors were stored


# --- agreement with the memory provider ---------------------------------------------------------


def _random_triples(rng: random.Random, n: int) -> list[tuple[dict, str | None]]:
    people = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]
    things = ["acme", "paris", "berlin", "python", "hiking", "chess", "jazz"]
    predicates = ["knows", "works_at", "lives_in", "likes", "located_in"]
    nodes = people + things
    return [
        (
            t(rng.choice(nodes), rng.choice(predicates), rng.choice(nodes), metadata={"k": i}),
            rng.choice(["u1", "u2", None]),
        )
        for i in range(n)
    ]


async def test_agrees_with_memory_provider(stores, embedder) -> None:
    rng = random.Random(11)
    store = stores()
    memory = validating("graph", MemoryGraphStore(embedder=embedder))
    for triple, user in _random_triples(rng, 120):
        got = await store.add(triples=[triple], user_id=user)
        want = await memory.add(triples=[triple], user_id=user)
        assert [(x.id, x.metadata) for x in got] == [(x.id, x.metadata) for x in want]
    # some deletes, so the vector matrix and word index have holes filled by later rows
    for entity, user in (("chess", "u1"), ("jazz", None)):
        assert await store.delete(entity=entity, user_id=user) == await memory.delete(
            entity=entity, user_id=user
        )
    for triple, user in _random_triples(rng, 30):
        await store.add(triples=[triple], user_id=user)
        await memory.add(triples=[triple], user_id=user)
    assert await store.count() == await memory.count()

    for user in ("u1", "u2", None):
        for entity in ("alice", "paris", "hiking", "frank"):
            for depth in (1, 2, 3):
                want = await memory.get(entity=entity, user_id=user, depth=depth)
                got = await store.get(entity=entity, user_id=user, depth=depth)
                assert [x.id for x in got.triples] == [x.id for x in want.triples]
                assert got.nodes == want.nodes

        ours = [x.id for page in await _walk(store, user) for x in page]
        theirs = [x.id for page in await _walk(memory, user) for x in page]
        assert ours == theirs

        for query in ("who lives in paris", "alice", "jazz music", "works_at acme", "zzz"):
            got = await store.search(query=query, user_id=user, limit=1000)
            want = await memory.search(query=query, user_id=user, limit=1000)
            mine = dict(zip([x.id for x in got.triples], got.scores, strict=True))
            ref = dict(zip([x.id for x in want.triples], want.scores, strict=True))
            assert mine.keys() == ref.keys()
            for tid, score in ref.items():
                assert mine[tid] == pytest.approx(score, abs=1e-6)
            assert got.scores == sorted(got.scores, reverse=True)


async def _walk(store: Any, user: str | None) -> list[list[Any]]:
    pages, cursor = [], None
    while True:
        result = await store.get_all(user_id=user, limit=7, cursor=cursor)
        pages.append(result.triples)
        cursor = result.next_cursor
        if cursor is None:
            return pages


async def test_paging_survives_deletes_between_pages(stores) -> None:
    store = stores()
    await store.add(triples=[t(f"s{i}", "p", f"o{i}") for i in range(10)])
    first = await store.get_all(limit=4)
    assert [x.subject for x in first.triples] == ["s0", "s1", "s2", "s3"]
    await store.delete(entity="s3")
    await store.delete(entity="s4")
    await store.add(triples=[t("s10", "p", "o10")])
    second = await store.get_all(limit=4, cursor=first.next_cursor)
    assert [x.subject for x in second.triples] == ["s5", "s6", "s7", "s8"]
    third = await store.get_all(limit=4, cursor=second.next_cursor)
    assert [x.subject for x in third.triples] == ["s9", "s10"]
    assert third.next_cursor is None


async def test_delete_all_then_reuse(stores) -> None:
    store = stores()
    await store.add(triples=[t("a", "b", "c"), t("c", "d", "e")], user_id="u1")
    await store.add(triples=[t("a", "b", "c")], user_id="u2")
    assert await store.delete_all(user_id="u1") == 2
    assert [x.user_id for x in (await store.get(entity="a")).triples] == ["u2"]
    assert await store.delete_all() == 1
    assert await store.count() == 0
    assert (await store.search(query="a b c")).triples == []
    added = await store.add(triples=[t("a", "b", "c")], user_id="u1")
    await store.aclose()
    reopened = stores()
    assert (await reopened.get_all()).triples == added
