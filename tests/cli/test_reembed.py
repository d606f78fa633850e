"""`memio reembed` as a user runs it after changing the embedder: a real process over the embedded
defaults (chroma, sqlite, networkx) and over PostgreSQL with pgvector, written with the bundled
MiniLM, re-embedded with an OpenAI-compatible embedder of another dimension (the local stand-in,
which embeds by words: enough to tell the right item from the wrong one, not a real model)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest

from memio.client import Memio
from memio.config import ServerConfig, build_embedder, build_memio
from memio.errors import EmbedderMismatchError, ProviderError
from memio.providers.chroma import _reembed as chroma_reembed
from memio.providers.postgres import _reembed as postgres_reembed
from tests.support.commands import BIN, run_command
from tests.support.commands import write_config as config
from tests.support.fixtures_pgvector import postgres_stores
from tests.support.openai_fake import FakeOpenAI
from tests.support.server_process import free_port, server_env

DIMENSIONS = 64


@pytest.fixture
def words_embedder():
    with FakeOpenAI(dimensions=DIMENSIONS) as server:
        yield {
            "provider": "openai",
            "base_url": server.base_url,
            "model": "words-64",
            "dimensions": DIMENSIONS,
        }


def memio(*args: str, cwd: Path) -> Any:
    return run_command([str(BIN / "memio")], *args, cwd=cwd)


async def _populate(settings: dict[str, Any]) -> dict[str, Any]:
    async with _stores(settings) as m:
        tea = await m.facts.add(content="likes green tea", user_id="alice", metadata={"k": 1})
        await m.facts.update(fact_id=tea.id, content="likes green tea a lot")
        await m.facts.add(content="runs marathons", user_id="alice")
        await m.history.add(
            session_id="s1",
            user_id="alice",
            messages=[
                {"role": "user", "content": "my bike has a flat tyre"},
                {"role": "assistant", "content": "sorry to hear that"},
            ],
        )
        await m.documents.add(content="The Rhine flows through Basel.", doc_id="d1")
        await m.documents.add(content="Bread needs flour and yeast.", doc_id="d2")
        await m.graph.add(
            triples=[{"subject": "alice", "predicate": "lives_in", "object": "Basel"}],
            user_id="alice",
        )
        return {
            "facts": await m.facts.get_all(user_id="alice"),
            "history": await m.facts.history(fact_id=tea.id),
            "documents": await m.documents.get_all(),
        }


def _stores(settings: dict[str, Any]) -> Memio:
    server = ServerConfig.model_validate(settings)
    return build_memio(server, build_embedder(server.embedder))


async def _read(settings: dict[str, Any], fact_id: str) -> dict[str, Any]:
    async with _stores(settings) as m:
        return {
            "facts": await m.facts.get_all(user_id="alice"),
            "history": await m.facts.history(fact_id=fact_id),
            "documents": await m.documents.get_all(),
            "tea": await m.facts.search(query="green tea", user_id="alice", limit=1),
            "rhine": await m.documents.search(query="Rhine Basel", limit=1),
            "bike": await m.history.search(
                query="flat tyre bike", user_id="alice", search_mode="semantic", limit=1
            ),
            "graph": await m.graph.search(query="alice Basel", user_id="alice"),
        }


async def _refused(settings: dict[str, Any]) -> None:
    async with _stores(settings) as m:
        with pytest.raises(EmbedderMismatchError):
            await m.facts.get_all(user_id="alice")


def _same(before: list[Any], after: list[Any]) -> bool:
    fields = ("id", "content", "metadata", "created_at", "updated_at", "user_id")
    return [[getattr(i, f) for f in fields] for i in before] == [
        [getattr(i, f) for f in fields] for i in after
    ]


def _profiles(tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    base: dict[str, Any] = {"data_dir": str(tmp_path / "data")}
    if request.param == "postgres":
        base["stores"] = postgres_stores(request.getfixturevalue("pgvector_dsn"))
    return base


@pytest.fixture(params=["embedded", "postgres"])
def settings(tmp_path, request) -> dict[str, Any]:
    return _profiles(tmp_path, request)


def test_reembed_after_an_embedder_change(tmp_path, settings, words_embedder):
    before = asyncio.run(_populate(settings))
    changed = {**settings, "embedder": words_embedder}
    asyncio.run(_refused(changed))  # another embedder: the store refuses until re-embedded
    path = config(tmp_path / "new.yaml", changed)

    first = memio("reembed", "--config", str(path), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    provider = settings.get("stores", {}).get("facts", {}).get("provider", "chroma")
    assert f"facts ({provider}): 2 facts re-embedded with words-64" in lines[0]
    assert "history" in lines[1] and ": 2 messages re-embedded with words-64" in lines[1]
    assert f"documents ({provider}): 2 documents re-embedded" in lines[2]
    assert ": 1 triples re-embedded" in lines[3]

    fact_id = before["facts"][0].id
    after = asyncio.run(_read(changed, fact_id))
    assert _same(before["facts"], after["facts"])
    assert _same(before["documents"], after["documents"])
    assert after["history"] == before["history"]
    assert after["tea"][0].id == fact_id
    assert after["rhine"][0].id == "d1"
    assert after["bike"][0].content == "my bike has a flat tyre"
    assert after["graph"].triples[0].object == "Basel"

    again = memio("reembed", "--config", str(path), "--stores", "facts,documents", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert [line.split(": ")[1].split(" re-embedded")[0] for line in again.stdout.splitlines()] == [
        "0 facts",
        "0 documents",
    ]


def test_an_interrupted_reembed_keeps_the_old_vectors_and_the_next_run_finishes(
    tmp_path, words_embedder
):
    settings = {"data_dir": str(tmp_path / "data")}
    before = asyncio.run(_populate(settings))
    broken = {**words_embedder, "base_url": "http://127.0.0.1:9/v1"}  # nothing listens there
    path = config(tmp_path / "broken.yaml", {**settings, "embedder": broken})
    failed = memio("reembed", "--config", str(path), "--stores", "facts", cwd=tmp_path)
    assert failed.returncode == 1
    assert "embed" in failed.stderr
    # nothing switched: the old embedder still opens the store and finds by meaning
    old = asyncio.run(_read(settings, before["facts"][0].id))
    assert _same(before["facts"], old["facts"])
    assert old["tea"][0].id == before["facts"][0].id

    path = config(tmp_path / "new.yaml", {**settings, "embedder": words_embedder})
    done = memio("reembed", "--config", str(path), "--stores", "facts", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 facts re-embedded" in done.stdout


def test_reembed_names_what_it_cannot_do(tmp_path):
    path = config(
        tmp_path / "memory.yaml",
        {"data_dir": str(tmp_path / "data"), "stores": {"facts": {"provider": "memory"}}},
    )
    result = memio("reembed", "--config", str(path), "--stores", "facts", cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # an in-memory store holds nothing to redo
    assert result.stdout == "facts (memory): nothing stored\n"


class _FailsOnSecondCall:
    """The new embedder, failing on its second call: a reembed stopped half way."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.model, self.dimensions, self.calls = (
            inner,
            inner.model,
            inner.dimensions,
            0,
        )

    async def embed(self, texts: Any) -> Any:
        self.calls += 1
        if self.calls == 2:
            raise ProviderError("connection reset", provider="openai", operation="embed")
        return await self.inner.embed(texts)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _reembed(settings: dict[str, Any], embedder: Any, *kinds: str) -> list[int]:
    async with build_memio(ServerConfig.model_validate(settings), embedder) as m:
        return [await m.stores[kind].reembed() for kind in kinds]


def test_a_reembed_stopped_half_way_resumes(tmp_path, settings, words_embedder, monkeypatch):
    monkeypatch.setattr(chroma_reembed, "PAGE", 1)
    monkeypatch.setattr(postgres_reembed, "BATCH", 1)
    before = asyncio.run(_populate(settings))
    changed = {**settings, "embedder": words_embedder}
    new = ServerConfig.model_validate(changed).embedder

    with pytest.raises(ProviderError):  # one fact done, the second one's embedding failed
        asyncio.run(_reembed(changed, _FailsOnSecondCall(build_embedder(new)), "facts"))
    old = asyncio.run(_read(settings, before["facts"][0].id))  # still the old embedder's
    assert old["tea"][0].id == before["facts"][0].id
    asyncio.run(_refused(changed))

    done = asyncio.run(_reembed(changed, build_embedder(new), "facts", "documents"))
    assert done == [1, 2]  # the facts left to do, then every document
    after = asyncio.run(_read(changed, before["facts"][0].id))
    assert _same(before["facts"], after["facts"])
    assert after["tea"][0].id == before["facts"][0].id


def test_the_server_refuses_another_embedders_vectors_and_says_what_to_run(
    tmp_path, settings, words_embedder
):
    asyncio.run(_populate(settings))
    path = config(tmp_path / "new.yaml", {**settings, "embedder": words_embedder})
    started = subprocess.run(
        [str(BIN / "memio-server"), "--config", str(path), "--port", str(free_port())],
        cwd=tmp_path,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode != 0
    assert "all-MiniLM-L6-v2" in started.stderr and "words-64" in started.stderr
    assert "memio reembed --config FILE" in started.stderr


async def _search_history(settings: dict[str, Any]) -> list[Any]:
    async with _stores(settings) as m:
        return await m.history.search(
            query="flat tyre bike", user_id="alice", search_mode="semantic", limit=1
        )


def test_history_search_embeds_messages_of_another_dimension_anew(
    tmp_path, settings, words_embedder
):
    """History keeps no record of its embedder: a search meeting vectors of another size embeds
    those messages again (and keeps them) instead of failing."""
    asyncio.run(_populate(settings))
    found = asyncio.run(_search_history({**settings, "embedder": words_embedder}))
    assert [m.content for m in found] == ["my bike has a flat tyre"]
