"""Export from every provider, import into another, compare everything.

For each store kind the backends of the conformance suites (tests/conformance/backends) form a
ring: each one is exported (through the dump format, as text) and imported into the next, so
every provider is a source once and a target once with a small dataset. The target must then
hold exactly what the source held: ids, content, scope, metadata, timestamps and fact histories,
in the same order. A backend that declares it "cannot" restore (mem0 stamps its own times) is
compared on everything else. A second import writes nothing and skips everything.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import pytest

from memio.client import Memio
from memio.dump import Header, encode_item, read_dump
from memio.providers import STORE_KINDS, build_store
from memio.providers.shared import ProviderContext
from memio.transfer import Importer, Tally, read_items
from tests.conformance.backends import Backend, BackendEnv, backends_for


@dataclass(frozen=True)
class Pair:
    kind: str
    source: Backend
    target: Backend


def _ring(kind: str) -> list[Pair]:
    backends = backends_for(kind)
    return [
        Pair(kind, backend, backends[(i + 1) % len(backends)]) for i, backend in enumerate(backends)
    ]


PAIRS = [
    pytest.param(
        pair,
        id=f"{pair.kind}-{pair.source.id}-to-{pair.target.id}",
        marks=[*pair.source.marks, *pair.target.marks],
    )
    for kind in STORE_KINDS
    for pair in _ring(kind)
]


async def _populate(kind: str, store: Any) -> None:
    if kind == "facts":
        tea = await store.add(content="likes tea", user_id="alice", metadata={"tags": ["a", "b"]})
        await store.update(fact_id=tea.id, content="likes green tea", metadata={"n": 1})
        await store.add(content="runs marathons", user_id="bob", agent_id="coach")
        await store.add(content="answers in French", app_id="app", run_id="r1")
    elif kind == "history":
        await store.add(
            session_id="s-alice",
            user_id="alice",
            messages=[
                {"role": "user", "content": "I moved to Basel", "metadata": {"lang": "en"}},
                {"role": "assistant", "content": "Welcome!", "name": "bot"},
                {"role": "user", "content": "Thanks", "timestamp": "2024-05-06T07:08:09Z"},
            ],
        )
        await store.add(session_id="s-anon", messages=[{"role": "user", "content": "hello"}])
    elif kind == "documents":
        await store.add(content="The Rhine flows through Basel.", doc_id="d-shared")
        await store.add(
            content="Alice's notes", user_id="alice", metadata={"pages": 3, "tags": ["x"]}
        )
    else:
        await store.add(
            triples=[{"subject": "alice", "predicate": "lives_in", "object": "Basel"}],
            user_id="alice",
        )
        await store.add(
            triples=[
                {"subject": "Basel", "predicate": "on", "object": "Rhine", "metadata": {"k": 1}}
            ]
        )


def _open(backend: Backend, request: pytest.FixtureRequest, tmp_path: Any, embedder: Any) -> Any:
    fixtures = {name: request.getfixturevalue(name) for name in backend.requires}
    env = BackendEnv(data_dir=tmp_path, fixtures=fixtures)
    cfg = backend.config(env)
    context = ProviderContext(data_dir=env.data_dir, embedder=embedder)
    return build_store(backend.kind, cfg["provider"], cfg["config"], context)


async def _lines(memio: Memio, kind: str) -> list[dict[str, Any]]:
    return [json.loads(encode_item(item)) async for item in read_items(memio, stores=[kind])]


def _renewed(line: dict[str, Any], *, ids: bool) -> dict[str, Any]:
    """What a store that stamps its own times (and, without `ids`, picks ids) must keep."""
    dropped = {"created_at", "updated_at", "history"} | (set() if ids else {"id"})
    return {k: v for k, v in line.items() if k not in dropped}


async def _import(text: str, memio: Memio) -> Tally:
    header, items = read_dump(io.StringIO(text))
    assert header.version == 1
    importer = Importer(memio)
    for item in items:
        await importer.write(item)
    await importer.flush()
    return importer.tally


@pytest.mark.parametrize("pair", PAIRS)
async def test_export_then_import_keeps_everything(pair, request, tmp_path, embedder):
    kind = pair.kind
    source = _open(pair.source, request, tmp_path / "source", embedder)
    target = _open(pair.target, request, tmp_path / "target", embedder)
    async with Memio(**{kind: source}) as exported, Memio(**{kind: target}) as imported:
        await _populate(kind, source)
        dump = io.StringIO()
        dump.write(Header(stores={kind: source.provider}).line() + "\n")
        async for item in read_items(exported, stores=[kind]):
            dump.write(encode_item(item) + "\n")

        tally = await _import(dump.getvalue(), imported)
        assert not tally.conflicts and not tally.failures, tally.lines()
        expected = await _lines(exported, kind)
        got = await _lines(imported, kind)
        if "restore" in pair.target.cannot:
            ids = "fact_ids" not in pair.target.cannot
            assert [_renewed(line, ids=ids) for line in got] == [
                _renewed(line, ids=ids) for line in expected
            ]
            assert tally.renewed["fact"] == len(expected)
        else:
            assert got == expected
        ids = [line.get("id") for line in expected]
        assert len(ids) == len(set(ids)) >= 2

        again = await _import(dump.getvalue(), imported)
        assert not again.conflicts and not again.failures, again.lines()
        assert sum(again.written.values()) + sum(again.renewed.values()) == 0
        assert sum(again.skipped.values()) == len(expected)
        assert await _lines(imported, kind) == got
