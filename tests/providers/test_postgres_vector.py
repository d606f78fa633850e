"""What only the postgres facts and documents stores (pgvector) have: migrations and indexes, the
embedder check at open and at server start, constraints that hold across store instances (as
they would across replicas), and filters pushed down to SQL.

The store semantics are checked by tests/conformance (backend id "pgvector"). Every test works in
its own schema of the session's PostgreSQL + pgvector cluster (`pgvector_dsn`).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest
import yaml

psycopg = pytest.importorskip("psycopg")

from memio.errors import (  # noqa: E402
    ConflictError,
    EmbedderMismatchError,
    ProviderError,
)
from memio.filters import matches, parse_filters  # noqa: E402
from memio.models import FactInput  # noqa: E402
from memio.providers.postgres import PostgresDocumentStore, PostgresFactStore  # noqa: E402
from memio.providers.postgres._filters import where_sql  # noqa: E402
from memio.providers.postgres.facts import _FILTER_COLUMNS  # noqa: E402
from memio.providers.shared import FACT_FIELDS, TIMESTAMP_FIELDS  # noqa: E402
from memio.validating import validating  # noqa: E402
from tests.support.fixtures_pgvector import pgvector_schema  # noqa: E402
from tests.support.fixtures_postgres import new_schema  # noqa: E402

pytestmark = pytest.mark.pgvector


class OtherEmbedder:
    """Another embedding model: deterministic unit vectors of `dimensions`."""

    def __init__(self, model: str = "other-model", dimensions: int = 384) -> None:
        self.model = model
        self.dimensions = dimensions

    async def embed(self, texts: Any) -> np.ndarray:
        rng = np.random.default_rng(len(texts))
        vectors = rng.standard_normal((len(texts), self.dimensions)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    async def aclose(self) -> None:
        return None


@pytest.fixture
def schema(pgvector_dsn: str) -> str:
    return pgvector_schema()


@pytest.fixture
async def stores(pgvector_dsn: str, embedder) -> AsyncIterator[Callable[..., Any]]:
    """``stores("facts" | "documents", schema, embedder=..., dsn=...)``, closed at teardown."""
    made: list[Any] = []

    def _make(kind: str, schema: str, **kwargs: Any) -> Any:
        cls = PostgresFactStore if kind == "facts" else PostgresDocumentStore
        kwargs.setdefault("embedder", embedder)
        kwargs.setdefault("dsn", pgvector_dsn)
        store = validating(kind, cls(schema=schema, pool_max_size=4, **kwargs))
        made.append(store)
        return store

    yield _make
    for store in made:
        await store.aclose()


def _query(dsn: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


# -- migrations -------------------------------------------------------------------------------


async def test_migration_creates_tables_indexes_and_the_embedder_record(
    pgvector_dsn: str, schema: str, stores, embedder
) -> None:
    facts, documents = stores("facts", schema), stores("documents", schema)
    # facts: 2 added the expiry (a column with a partial index) and events' reason
    assert (await facts.schema_version(), await documents.schema_version()) == (2, 1)
    indexes = dict(
        _query(
            pgvector_dsn,
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s",
            (schema,),
        )
    )
    assert "CREATE UNIQUE INDEX facts_same" in indexes["facts_same"]
    assert "WHERE (expires_at IS NOT NULL)" in indexes["facts_expires"]
    for name in ("facts_embedding", "documents_embedding"):
        assert "USING hnsw (embedding vector_cosine_ops)" in indexes[name]
    for name in ("facts_search", "documents_search"):
        assert "USING gin (search)" in indexes[name]
    [(column_type,)] = _query(
        pgvector_dsn,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attname = 'embedding'",
        (f"{schema}.facts",),
    )
    assert column_type == f"vector({embedder.dimensions})"
    assert sorted(
        _query(pgvector_dsn, f"SELECT kind, model, dimensions FROM {schema}.memio_embedders")
    ) == [
        ("documents", embedder.model, embedder.dimensions),
        ("facts", embedder.model, embedder.dimensions),
    ]
    # The keyword column is there for in-database keyword search.
    fact = await facts.add(content="Likes green tea", user_id="u")
    assert _query(
        pgvector_dsn,
        f"SELECT id FROM {schema}.facts WHERE search @@ plainto_tsquery('simple', 'TEA')",
    ) == [(fact.id,)]


async def test_concurrent_opens_of_one_schema(pgvector_dsn: str, schema: str, stores) -> None:
    many = [stores(kind, schema) for kind in ("facts", "documents") for _ in range(4)]
    await asyncio.gather(*(store.ping() for store in many))
    versions = {store.kind: await store.schema_version() for store in many}
    assert versions == {"facts": 2, "documents": 1}
    assert len(_query(pgvector_dsn, f"SELECT * FROM {schema}.memio_embedders")) == 2


async def test_a_database_without_pgvector_says_how_to_add_it(postgres_dsn: str, embedder) -> None:
    """The machine's PostgreSQL has no pgvector: the open names the fix, nothing is half made."""
    store = validating(
        "facts", PostgresFactStore(dsn=postgres_dsn, schema=new_schema(), embedder=embedder)
    )
    try:
        with pytest.raises(ProviderError) as exc:
            await store.ping()
        assert exc.value.operation == "migrate"
        assert "CREATE EXTENSION vector" in exc.value.message
    finally:
        await store.aclose()


# -- the embedder check -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "other", [OtherEmbedder(), OtherEmbedder("mini-8", 8)], ids=["model", "dims"]
)
@pytest.mark.parametrize("kind", ["facts", "documents"])
async def test_another_embedder_is_refused_at_open(
    schema: str, stores, embedder, kind: str, other: OtherEmbedder
) -> None:
    first = stores(kind, schema)
    await first.ping()
    await first.aclose()
    store = stores(kind, schema, embedder=other)
    for call in (store.ping, store.check_embedder, store.count):
        with pytest.raises(EmbedderMismatchError) as exc:
            await call()
        error = exc.value
        assert (error.stored_model, error.stored_dimensions) == (
            embedder.model,
            embedder.dimensions,
        )
        assert (error.model, error.dimensions) == (other.model, other.dimensions)
        assert "memio reembed --config FILE" in error.message
    assert await stores(kind, schema).count() == 0  # the original embedder still opens it


async def test_check_embedder_leaves_an_unreachable_database_to_the_requests(embedder) -> None:
    store = PostgresFactStore(
        dsn="postgresql://postgres@127.0.0.1:1/none",
        schema="memio",
        embedder=embedder,
        connect_timeout=1,
    )
    try:
        assert await store.check_embedder(timeout=5) is None
        with pytest.raises(ProviderError):
            await store.ping()
    finally:
        await store.aclose()


def test_server_refuses_to_start_on_another_embedder(
    pgvector_dsn: str, schema: str, embedder, tmp_path
) -> None:
    async def record_other() -> None:
        store = validating(
            "facts", PostgresFactStore(dsn=pgvector_dsn, schema=schema, embedder=OtherEmbedder())
        )
        await store.ping()
        await store.aclose()

    asyncio.run(record_other())
    config = {
        "stores": {
            "facts": {"provider": "postgres", "config": {"dsn": pgvector_dsn, "schema": schema}}
        },
        "data_dir": str(tmp_path / "data"),
    }
    path = tmp_path / "memio.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [sys.executable, "-m", "memio.server", "--config", str(path), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "cannot serve this data" in done.stderr
    assert "'other-model'" in done.stderr and "memio reembed" in done.stderr


# -- constraints across store instances (as across replicas) ----------------------------------


async def test_one_fact_per_content_and_scope_across_two_stores(schema: str, stores) -> None:
    a, b = stores("facts", schema), stores("facts", schema)
    results = await asyncio.gather(
        *(
            (a if i % 2 else b).add(content="likes tea", user_id="alice", metadata={f"k{i}": i})
            for i in range(12)
        )
    )
    assert len({fact.id for fact in results}) == 1
    assert [fact.event for fact in results].count("ADD") == 1
    assert await a.count() == 1
    stored = await b.get(fact_id=results[0].id)
    assert stored.metadata == {f"k{i}": i for i in range(12)}
    events = await a.history(fact_id=stored.id)
    assert [e.event.value for e in events] == ["ADD"] + ["UPDATE"] * 11
    for before, after in itertools.pairwise(events):  # one linear history
        assert after.old_metadata == before.new_metadata
        assert after.created_at >= before.created_at


async def test_an_explicit_id_is_taken_once_across_two_stores(schema: str, stores) -> None:
    a, b = stores("facts", schema), stores("facts", schema)
    results = await asyncio.gather(
        *((a if i % 2 else b).add(content=f"fact {i}", fact_id="same") for i in range(6)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, ConflictError) for r in results if isinstance(r, BaseException))
    assert await a.count() == 1
    assert len(await b.history(fact_id="same")) == 1


async def test_concurrent_updates_across_two_stores_form_one_history(schema: str, stores) -> None:
    a, b = stores("facts", schema), stores("facts", schema)
    fact = await a.add(content="version start", user_id="alice")
    await asyncio.gather(
        *(
            (a if i % 2 else b).update(fact_id=fact.id, content=f"version {i}", metadata={"i": i})
            for i in range(10)
        )
    )
    events = await b.history(fact_id=fact.id)
    assert [e.event.value for e in events] == ["ADD"] + ["UPDATE"] * 10
    for before, after in itertools.pairwise(events):
        assert after.old_content == before.new_content
        assert after.old_metadata == before.new_metadata
        assert after.created_at > before.created_at
    final = await a.get(fact_id=fact.id)
    assert (final.content, final.metadata) == (events[-1].new_content, events[-1].new_metadata)
    assert final.updated_at == events[-1].created_at


async def test_an_update_onto_another_facts_content_is_a_conflict(schema: str, stores) -> None:
    facts = stores("facts", schema)
    tea = await facts.add(content="likes tea", user_id="alice")
    coffee = await facts.add(content="likes coffee", user_id="alice")
    with pytest.raises(ConflictError) as exc:
        await facts.update(fact_id=coffee.id, content="  likes   tea")
    assert exc.value.field == "content" and tea.id in exc.value.message
    assert await facts.get(fact_id=coffee.id) == coffee
    bobs = await facts.add(content="likes coffee", user_id="bob")
    moved = await facts.update(fact_id=bobs.id, content="likes tea")  # another scope: fine
    assert moved.content == "likes tea"


async def test_a_document_id_is_taken_once_across_two_stores(schema: str, stores) -> None:
    a, b = stores("documents", schema), stores("documents", schema)
    results = await asyncio.gather(
        *((a if i % 2 else b).add(content=f"doc {i}", doc_id="d") for i in range(6)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, ConflictError) for r in results if isinstance(r, BaseException))
    assert await b.count() == 1


# -- filters in SQL ---------------------------------------------------------------------------

_KEYS = ["a", "b", 'it\'s "q"; --', "metadata.x"]
_VALUES: list[Any] = [
    0,
    1,
    1.0,
    2,
    -3.5,
    10**18,
    1e16,
    True,
    False,
    "",
    "a",
    "B",
    "b",
    "Éclair",
    "éclair",
    "zeta",
    "x y",
    ["a", "b"],
    ["b", "a"],
    ["Éclair"],
    [1, 2.0],
    [True],
    [],
]
_OPS = ["eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "contains", "icontains"]


def _random_filter(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    if depth < 2 and rng.random() < 0.25:
        logic = rng.choice(["$and", "$or", "$not"])
        if logic == "$not":
            return {logic: _random_filter(rng, depth + 1)}
        return {logic: [_random_filter(rng, depth + 1) for _ in range(rng.randint(1, 3))]}
    field = rng.choice([*_KEYS, "user_id", "content", "metadata.a"])
    op = rng.choice(_OPS)
    scalars = [v for v in _VALUES if not isinstance(v, list)]
    if op in ("in", "nin"):
        value: Any = rng.sample(scalars, rng.randint(1, 3))
    elif op == "icontains":
        value = rng.choice([v for v in scalars if isinstance(v, str)])
    elif op in ("gt", "gte", "lt", "lte"):
        value = rng.choice([v for v in scalars if not isinstance(v, bool)])
    elif op in ("eq", "ne"):
        value = rng.choice([v for v in _VALUES if v != []])
    else:
        value = rng.choice(scalars)
    return {field: {op: value}}


async def test_filters_in_sql_agree_with_the_reference_evaluator(schema: str, stores) -> None:
    """Random items and random filters (every operator, mixed types, odd keys, non-ASCII text,
    floats past 1e16): the SQL push-down returns exactly what `memio.filters.matches` keeps."""
    rng = random.Random(12)
    facts = stores("facts", schema)
    items = []
    for i in range(40):
        metadata = {key: rng.choice(_VALUES) for key in rng.sample(_KEYS, rng.randint(0, 4))}
        metadata = {k: v for k, v in metadata.items() if v != []}
        items.append(
            FactInput(
                content=rng.choice(["Éclair recipe", "likes tea", "ZETA notes", "x"]) + f" {i}",
                user_id=rng.choice([None, "a", "b", "Éclair"]),
                metadata=metadata,
            )
        )
    stored = await facts.add_many(facts=items)
    records = {f.id: f.model_dump(exclude={"score", "event"}) for f in stored}
    for n in range(150):
        raw = _random_filter(rng)
        tree = parse_filters(raw, fields=FACT_FIELDS, datetime_fields=TIMESTAMP_FIELDS)
        want = [fid for fid, record in records.items() if matches(tree, record)]
        got = [f.id for f in await facts.get_all(filters=raw, limit=100)]
        assert got == want, f"filter {n}: {raw}"


async def test_metadata_keeps_its_types_through_jsonb(schema: str, stores) -> None:
    facts = stores("facts", schema)
    metadata = {"big": 1e16, "huge": 1.5e300, "tiny": 1e-7, "int": 10**18, "f": 2.0, "l": [1e20, 3]}
    fact = await facts.add(content="numbers", metadata=metadata)
    got = (await facts.get(fact_id=fact.id)).metadata
    assert got == metadata
    assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in metadata.items()}
    assert [type(v) for v in got["l"]] == [float, int]
    assert [f.id for f in await facts.get_all(filters={"big": {"gte": 1e16}})] == [fact.id]


def test_filter_values_never_reach_the_sql_text() -> None:
    evil = "x'; DROP TABLE facts; --"
    tree = parse_filters(
        {evil: {"contains": evil}, "content": {"icontains": evil}, "$or": [{"n": {"gt": evil}}]},
        fields=FACT_FIELDS,
        datetime_fields=TIMESTAMP_FIELDS,
    )
    sql, params = where_sql(tree, _FILTER_COLUMNS)
    assert "DROP" not in sql
    assert sql.count("%s") == len(params)


async def test_filtered_search_on_the_index_finds_every_match(
    pgvector_dsn: str, schema: str, stores
) -> None:
    """With the HNSW index in use (sequential scans disabled), a filter keeping few rows still
    fills the page (pgvector's iterative index scan), instead of keeping only the first
    ef_search candidates that pass."""
    dsn = pgvector_dsn + "?options=-c%20enable_seqscan%3Doff"
    documents = stores("documents", schema, dsn=dsn)
    await documents.add_many(
        documents=[
            {"content": f"note {i} about topic {i % 7}", "metadata": {"k": i % 50}}
            for i in range(300)
        ]
    )
    found = await documents.search(query="note about a topic", filters={"k": 7}, limit=10)
    assert sorted(d.metadata["k"] for d in found) == [7] * 6
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
