"""What only the postgres provider has: migrations, concurrency, FTS ranking, recursive expansion,
error mapping, recovery after a server restart, and two processes sharing one database.

The store semantics themselves are checked by tests/conformance (backend id "postgres").
Every test works in its own schema (`new_schema()`), dropped when the session ends.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.ci import unavailable

psycopg = pytest.importorskip("psycopg")

from memio.errors import (  # noqa: E402
    InvalidRequestError,
    NotSupportedError,
    ProviderError,
)
from memio.providers import build_store, load_store_class  # noqa: E402
from memio.providers.memory import MemoryGraphStore  # noqa: E402
from memio.providers.postgres import PostgresGraphStore, PostgresHistoryStore  # noqa: E402
from memio.providers.shared import ProviderContext  # noqa: E402
from memio.validating import validating  # noqa: E402
from tests.support.fixtures_postgres import (  # noqa: E402
    cluster_versions,
    disruptive_skip_reason,
    new_schema,
    pg_ctl,
    wait_for_postgres,
)

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def schema(postgres_dsn: str) -> str:
    return new_schema()


@pytest.fixture
async def stores(postgres_dsn: str, embedder) -> AsyncIterator[Callable[..., Any]]:
    """Build history/graph stores (closed at teardown): ``stores("history", schema, **kwargs)``."""
    made: list[Any] = []

    def _make(kind: str, schema: str, *, dsn: str | None = None, **kwargs: Any) -> Any:
        cls = PostgresHistoryStore if kind == "history" else PostgresGraphStore
        if kind == "graph":
            kwargs.setdefault("embedder", embedder)
        store = validating(
            kind, cls(dsn=dsn or postgres_dsn, schema=schema, pool_max_size=4, **kwargs)
        )
        made.append(store)
        return store

    yield _make
    for store in made:
        await store.aclose()


def _query(dsn: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


# -- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "config.dsn"),
        ({"dsn": ""}, "config.dsn"),
        ({"dsn": "host=localhost port"}, "config.dsn"),
        ({"dsn": "postgresql://localhost/db", "schema": "bad-name"}, "config.schema"),
        ({"dsn": "postgresql://localhost/db", "schema": "pg_mine"}, "config.schema"),
        ({"dsn": "postgresql://localhost/db", "pool_min_size": -1}, "config.pool_min_size"),
        (
            {"dsn": "postgresql://localhost/db", "pool_min_size": 5, "pool_max_size": 2},
            "config.pool_max_size",
        ),
        ({"dsn": "postgresql://localhost/db", "pool_timeout": 0}, "config.pool_timeout"),
        ({"dsn": "postgresql://localhost/db", "search_scan_limit": 0}, "config.search_scan_limit"),
        ({"dsn": "postgresql://localhost/db", "bogus": 1}, "config.bogus"),
    ],
)
def test_config_errors_name_the_key(embedder, config: dict[str, Any], field: str) -> None:
    context = ProviderContext(data_dir=Path("."), embedder=embedder)
    kind = "history" if field != "config.search_scan_limit" else "graph"
    with pytest.raises(InvalidRequestError) as caught:
        build_store(kind, "postgres", config, context)
    assert caught.value.field == f"stores.{kind}.{field}"


def test_history_has_no_search_scan_limit(embedder) -> None:
    context = ProviderContext(data_dir=Path("."), embedder=embedder)
    config = {"dsn": "postgresql://localhost/db", "search_scan_limit": 5}
    with pytest.raises(InvalidRequestError) as caught:
        build_store("history", "postgres", config, context)
    assert caught.value.field == "stores.history.config.search_scan_limit"


def test_bad_dsn_error_does_not_repeat_the_password(embedder) -> None:
    context = ProviderContext(data_dir=Path("."), embedder=embedder)
    config = {"dsn": "postgresql://memio:s3cret-pw@localhost/db?no_such_option=1"}
    with pytest.raises(InvalidRequestError) as caught:
        build_store("history", "postgres", config, context)
    assert caught.value.field == "stores.history.config.dsn"
    assert "s3cret-pw" not in str(caught.value)


def test_building_a_store_does_no_io(embedder) -> None:
    context = ProviderContext(data_dir=Path("."), embedder=embedder)
    config = {"dsn": "postgresql://nobody@127.0.0.1:1/none", "schema": "anything"}
    store = build_store("graph", "postgres", config, context)
    assert isinstance(store.adapter, PostgresGraphStore)
    assert store.provider == "postgres"


def test_missing_psycopg_is_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "memio.providers.postgres" or name.startswith("memio.providers.postgres."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(NotSupportedError) as caught:
        load_store_class("postgres", "history")
    assert "memio[postgres]" in str(caught.value)


# -- migrations -------------------------------------------------------------------------------


async def test_schema_version_is_recorded(postgres_dsn: str, schema: str, stores) -> None:
    history, graph = stores("history", schema), stores("graph", schema)
    await history.ping()
    await graph.ping()
    rows = _query(
        postgres_dsn, f'SELECT kind, version FROM "{schema}".memio_schema_version ORDER BY kind'
    )
    assert rows == [("graph", 1), ("history", 2)]
    assert await history.schema_version() == 2
    assert await graph.schema_version() == 1


async def test_migration_is_idempotent(postgres_dsn: str, schema: str, stores) -> None:
    first = stores("history", schema)
    await first.add(session_id="s", messages=[{"role": "user", "content": "hello"}])
    await first.aclose()
    await first.aclose()  # idempotent
    second = stores("history", schema)
    page = await second.get(session_id="s")
    assert [m.content for m in page] == ["hello"]
    # The closed store reopens lazily, against the same tables.
    assert await first.count() == 1
    rows = _query(
        postgres_dsn, f'SELECT kind, version FROM "{schema}".memio_schema_version ORDER BY kind'
    )
    assert rows == [("history", 2)]


async def test_concurrent_migrations_of_one_schema(postgres_dsn: str, schema: str, stores) -> None:
    # Eight stores, each with its own pool (so its own server connections), opening at once.
    many = [stores(kind, schema) for kind in ("history", "graph") * 4]
    await asyncio.gather(*(store.ping() for store in many))
    rows = _query(
        postgres_dsn, f'SELECT kind, version FROM "{schema}".memio_schema_version ORDER BY kind'
    )
    assert rows == [("graph", 1), ("history", 2)]


def test_concurrent_migrations_from_two_processes(postgres_dsn: str, schema: str) -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys
        from memio.providers.postgres import PostgresHistoryStore
        from memio.validating import validating

        async def main():
            store = validating("history", PostgresHistoryStore(dsn=sys.argv[1], schema=sys.argv[2]))
            await store.ping()
            await store.aclose()

        asyncio.run(main())
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, postgres_dsn, schema], cwd=REPO)
        for _ in range(3)
    ]
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0, 0]
    rows = _query(postgres_dsn, f'SELECT kind, version FROM "{schema}".memio_schema_version')
    assert rows == [("history", 2)]


async def test_a_newer_schema_is_refused(postgres_dsn: str, schema: str, stores) -> None:
    await stores("history", schema).ping()
    _query(
        postgres_dsn,
        f"UPDATE \"{schema}\".memio_schema_version SET version = 99 WHERE kind = 'history'",
    )
    with pytest.raises(ProviderError) as caught:
        await stores("history", schema).ping()
    assert caught.value.provider == "postgres"
    assert caught.value.operation == "migrate"
    assert "99" in str(caught.value)


async def test_indexes_exist(postgres_dsn: str, schema: str, stores) -> None:
    await stores("history", schema).ping()
    await stores("graph", schema).ping()
    names = {
        row[0]
        for row in _query(
            postgres_dsn, "SELECT indexname FROM pg_indexes WHERE schemaname = %s", (schema,)
        )
    }
    assert {
        "history_sessions_user_seq",
        "history_messages_search",
        "graph_triples_user_seq",
        "graph_triples_subject",
        "graph_triples_object",
        "graph_triples_search",
    } <= names


# -- history ----------------------------------------------------------------------------------


async def test_fifty_concurrent_adds_to_one_session(postgres_dsn: str, schema: str, stores) -> None:
    store = stores("history", schema)
    await store.ping()

    async def add(i: int) -> list[Any]:
        return await store.add(
            session_id="busy",
            messages=[{"role": "user", "content": f"{i}-a"}, {"role": "user", "content": f"{i}-b"}],
        )

    added = await asyncio.gather(*(add(i) for i in range(50)))
    messages = []
    page = await store.get(session_id="busy", limit=7)
    while True:
        messages.extend(page)
        if page.next_cursor is None:
            break
        page = await store.get(session_id="busy", limit=7, cursor=page.next_cursor)
    assert len(messages) == 100
    assert len({m.id for m in messages}) == 100
    assert {m.id for batch in added for m in batch} == {m.id for m in messages}
    # Each add's two messages are adjacent and in order: appends never interleave.
    contents = [m.content for m in messages]
    for first, second in zip(contents[::2], contents[1::2], strict=True):
        assert first.endswith("-a")
        assert second == first[:-1] + "b"
    positions = _query(
        postgres_dsn,
        f"SELECT position FROM \"{schema}\".history_messages WHERE session_id = 'busy'"
        " ORDER BY position",
    )
    assert [row[0] for row in positions] == list(range(100))
    assert await store.count() == 100


async def test_conflicting_owner_leaves_no_trace(postgres_dsn: str, schema: str, stores) -> None:
    store = stores("history", schema)
    await store.add(session_id="s", messages=[{"role": "user", "content": "a"}], user_id="alice")
    from memio.errors import ConflictError

    with pytest.raises(ConflictError):
        await store.add(session_id="s", messages=[{"role": "user", "content": "b"}], user_id="bob")
    await store.add(session_id="s", messages=[{"role": "user", "content": "c"}])
    page = await store.get(session_id="s")
    assert [m.content for m in page] == ["a", "c"]
    positions = _query(
        postgres_dsn,
        f"SELECT position FROM \"{schema}\".history_messages WHERE session_id = 's'"
        " ORDER BY position",
    )
    assert [row[0] for row in positions] == [0, 1]


async def test_search_ranks_by_full_text_match(schema: str, stores) -> None:
    store = stores("history", schema)
    await store.add(
        session_id="s",
        messages=[
            {"role": "user", "content": "I like tea"},
            {"role": "user", "content": "coffee, please"},
            {"role": "user", "content": "Green tea is brewed at 80 degrees; green tea is best"},
            {"role": "user", "content": "the lawn is green"},
        ],
    )
    found = await store.search(session_id="s", query="green tea")
    assert found[0].content.startswith("Green tea")
    assert {m.content for m in found} == {
        "I like tea",
        "Green tea is brewed at 80 degrees; green tea is best",
        "the lawn is green",
    }
    scores = [m.score for m in found]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert [m.content for m in await store.search(session_id="s", query="green tea", limit=1)] == [
        found[0].content
    ]
    # Case, punctuation and underscores split words as the other providers do.
    assert [m.content for m in await store.search(session_id="s", query="COFFEE_please!")] == [
        "coffee, please"
    ]


@pytest.mark.parametrize(
    "query",
    ["tea & | ! ( )", "'tea", 'tea"', "tea:*", "<-> tea", "!!!", "(((", "tea\\", "a:b:c & !"],
)
async def test_search_accepts_any_input(schema: str, stores, query: str) -> None:
    store = stores("history", schema)
    await store.add(session_id="s", messages=[{"role": "user", "content": "green tea"}])
    found = await store.search(session_id="s", query=query)
    assert all(0.0 <= m.score <= 1.0 for m in found)


# -- graph ------------------------------------------------------------------------------------

CHAIN = [
    {"subject": "a", "predicate": "to", "object": "b"},
    {"subject": "b", "predicate": "to", "object": "c"},
    {"subject": "c", "predicate": "to", "object": "d"},
    {"subject": "d", "predicate": "to", "object": "e"},
    {"subject": "e", "predicate": "to", "object": "c"},  # a cycle c -> d -> e -> c
    {"subject": "x", "predicate": "to", "object": "a"},
]


async def test_recursive_expansion(schema: str, stores) -> None:
    store = stores("graph", schema)
    await store.add(triples=CHAIN, user_id="u")
    await store.add(triples=[{"subject": "b", "predicate": "to", "object": "z"}], user_id="other")

    def edges(result) -> list[str]:
        return [f"{t.subject}{t.object}" for t in result.triples]

    one = await store.get(entity="a", user_id="u")
    assert edges(one) == ["ab", "xa"]
    assert one.nodes == ["a", "b", "x"]
    two = await store.get(entity="a", user_id="u", depth=2)
    assert edges(two) == ["ab", "bc", "xa"]
    three = await store.get(entity="a", user_id="u", depth=3)
    assert edges(three) == ["ab", "bc", "cd", "ec", "xa"]
    assert three.nodes == ["a", "b", "c", "d", "e", "x"]
    ten = await store.get(entity="a", user_id="u", depth=10)
    assert edges(ten) == ["ab", "bc", "cd", "de", "ec", "xa"]
    # Unscoped, the other user's edge b -> z is reached too.
    assert "bz" in edges(await store.get(entity="a", depth=2))
    empty = await store.get(entity="z", user_id="u")  # no triples in scope: empty, as in 0.3.1
    assert (empty.triples, empty.nodes) == ([], [])


async def test_expansion_agrees_with_the_reference(schema: str, stores, embedder) -> None:
    store, reference = (
        stores("graph", schema),
        validating("graph", MemoryGraphStore(embedder=embedder)),
    )
    for target in (store, reference):
        await target.add(triples=CHAIN, user_id="u")
    for entity in ("a", "c", "x", "e"):
        for depth in (1, 2, 3, 4):
            ours = await store.get(entity=entity, user_id="u", depth=depth)
            theirs = await reference.get(entity=entity, user_id="u", depth=depth)
            assert [t.id for t in ours.triples] == [t.id for t in theirs.triples]
            assert ours.nodes == theirs.nodes


FACTS = [
    {"subject": "alice", "predicate": "works_at", "object": "Acme Corporation"},
    {"subject": "Acme Corporation", "predicate": "located_in", "object": "Paris"},
    {"subject": "Paris", "predicate": "capital_of", "object": "France"},
    {"subject": "bob", "predicate": "likes", "object": "hiking"},
    {"subject": "carol", "predicate": "drinks", "object": "green tea"},
]


async def test_search_scores_equal_the_reference(schema: str, stores, embedder) -> None:
    store, reference = (
        stores("graph", schema),
        validating("graph", MemoryGraphStore(embedder=embedder)),
    )
    for target in (store, reference):
        await target.add(triples=FACTS, user_id="u")
        await target.add(triples=FACTS[:2], user_id="v")
    for query in ("where does alice work", "tea", "France capital", "???", "outdoor sports"):
        for user_id in ("u", "v", None):
            ours = await store.search(query=query, user_id=user_id, limit=4)
            theirs = await reference.search(query=query, user_id=user_id, limit=4)
            assert [t.id for t in ours.triples] == [t.id for t in theirs.triples]
            assert ours.scores == pytest.approx(theirs.scores, abs=1e-6)
            assert ours.nodes == theirs.nodes


async def test_word_matches_outside_the_scan_window_are_found(schema: str, stores) -> None:
    store = stores("graph", schema, search_scan_limit=2)
    await store.add(triples=FACTS, user_id="u")
    found = await store.search(query="hiking", user_id="u", limit=10)
    # Candidates: the two newest triples plus the full-text match on "hiking" (not among them).
    assert found.triples[0].object == "hiking"
    assert found.scores[0] == 1.0
    assert len(found.triples) <= 3


async def test_search_repairs_missing_embeddings(postgres_dsn: str, schema: str, stores) -> None:
    store = stores("graph", schema)
    await store.add(triples=FACTS, user_id="u")
    before = await store.search(query="who drinks tea", user_id="u")
    _query(
        postgres_dsn,
        f'UPDATE "{schema}".graph_triples SET embedding = NULL, embedding_model = NULL'
        " WHERE subject = 'carol'",
    )
    _query(postgres_dsn, f"UPDATE \"{schema}\".graph_triples SET embedding_model = 'old/384'")
    after = await store.search(query="who drinks tea", user_id="u")
    assert [t.id for t in after.triples] == [t.id for t in before.triples]
    assert after.scores == pytest.approx(before.scores, abs=1e-6)
    stale = _query(
        postgres_dsn,
        f'SELECT count(*) FROM "{schema}".graph_triples'
        " WHERE embedding IS NULL OR embedding_model = 'old/384'",
    )
    assert stale == [(0,)]


async def test_readding_a_triple_keeps_it_and_merges_metadata(schema: str, stores) -> None:
    store = stores("graph", schema)
    first = (await store.add(triples=[{**FACTS[0], "metadata": {"a": 1}}], user_id="u"))[0]
    again = await store.add(
        triples=[{**FACTS[0], "metadata": {"b": 2}}, {**FACTS[0], "metadata": {"a": 3}}],
        user_id="u",
    )
    assert [t.id for t in again] == [first.id, first.id]
    assert again[0].metadata == again[1].metadata == {"a": 3, "b": 2}
    assert again[0].created_at == first.created_at
    assert await store.count() == 1


async def test_concurrent_batches_in_different_orders(schema: str, stores) -> None:
    """Batches writing the same triples in different orders would deadlock on the unique index
    (before: about 1 add in 8 failed with 8 such batches); they take their locks in one global
    order, so every add succeeds."""
    store = stores("graph", schema)
    await store.ping()
    triples = [{"subject": f"s{i}", "predicate": "p", "object": f"o{i}"} for i in range(40)]
    for round_no in range(3):
        batches = [random.Random(round_no * 8 + k).sample(triples, len(triples)) for k in range(8)]
        results = await asyncio.gather(*(store.add(triples=batch) for batch in batches))
        assert all(len(result) == 40 for result in results)
    assert await store.count() == 40


async def test_trigram_candidates_when_pg_trgm_is_installed(postgres_dsn: str, embedder) -> None:
    """pg_trgm is optional: in a scratch database that has it, near spellings become candidates
    even outside the scan window, and the trigram index is created."""
    database = f"{new_schema()}_db"
    try:
        _query(postgres_dsn, f'CREATE DATABASE "{database}"')
    except psycopg.Error as exc:
        unavailable(
            "a PostgreSQL role that may create databases",
            f"cannot create a scratch database: {exc}",
        )
    info = psycopg.conninfo.conninfo_to_dict(postgres_dsn)
    dsn = psycopg.conninfo.make_conninfo(**{**info, "dbname": database})
    store = None
    try:
        try:
            _query(dsn, "CREATE EXTENSION pg_trgm")
        except psycopg.Error as exc:
            unavailable("pg_trgm", f"pg_trgm is not available: {exc}")
        store = validating(
            "graph",
            PostgresGraphStore(dsn=dsn, schema="memio", embedder=embedder, search_scan_limit=1),
        )
        await store.add(triples=FACTS, user_id="u")
        indexes = _query(dsn, "SELECT indexname FROM pg_indexes WHERE schemaname = 'memio'")
        assert ("graph_triples_trgm",) in indexes
        found = await store.search(query="Acmee Corporaton", user_id="u", limit=10)
        # No word matches (both misspelt) and the scan window holds only the newest triple
        # (carol's): the Acme triples are candidates through pg_trgm alone.
        entities = {e for t in found.triples for e in (t.subject, t.object)}
        assert "Acme Corporation" in entities
    finally:
        if store is not None:
            await store.aclose()
        _query(postgres_dsn, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def test_without_pg_trgm_search_still_works(schema: str, stores) -> None:
    store = stores("graph", schema)
    await store.add(triples=FACTS, user_id="u")
    assert store._trigram is None or isinstance(store._trigram, str)
    found = await store.search(query="Acme Corporaton", user_id="u")
    assert found.triples and all(0.0 <= s <= 1.0 for s in found.scores)


# -- errors -----------------------------------------------------------------------------------


async def test_backend_errors_name_provider_and_operation(
    postgres_dsn: str, schema: str, stores
) -> None:
    history, graph = stores("history", schema), stores("graph", schema)
    await history.add(session_id="s", messages=[{"role": "user", "content": "hi"}])
    await graph.add(triples=FACTS[:1])
    _query(postgres_dsn, f'DROP TABLE "{schema}".history_messages')
    _query(postgres_dsn, f'DROP TABLE "{schema}".graph_triples')
    with pytest.raises(ProviderError) as caught:
        await history.get(session_id="s")
    assert (caught.value.provider, caught.value.operation) == ("postgres", "get")
    assert isinstance(caught.value.cause, psycopg.errors.UndefinedTable)
    with pytest.raises(ProviderError) as caught:
        await graph.search(query="alice")
    assert (caught.value.provider, caught.value.operation) == ("postgres", "search")
    with pytest.raises(ProviderError) as caught:
        await graph.count()
    assert caught.value.operation == "count"


async def test_text_postgres_cannot_hold_is_a_client_error(schema: str, stores) -> None:
    """NUL, which PostgreSQL cannot store, is refused by memio before PostgreSQL sees it, naming
    the field, as for every provider (decision D6)."""
    history, graph = stores("history", schema), stores("graph", schema)
    for call, field in (
        (
            lambda: history.add(session_id="s", messages=[{"role": "user", "content": "a\x00b"}]),
            "messages[0].content",
        ),
        (
            lambda: history.add(
                session_id="s",
                messages=[{"role": "user", "content": "ok", "metadata": {"k": "\x00"}}],
            ),
            "messages[0].metadata.k",
        ),
        (
            lambda: graph.add(triples=[{"subject": "a\x00", "predicate": "p", "object": "o"}]),
            "triples[0].subject",
        ),
    ):
        with pytest.raises(InvalidRequestError) as exc:
            await call()
        assert exc.value.field == field
    # Nothing was half-written, and the stores carry on.
    await history.add(session_id="s", messages=[{"role": "user", "content": "fine"}])
    assert [m.content for m in await history.get(session_id="s")] == ["fine"]
    assert await graph.count() == 0


async def test_unreachable_server_is_a_provider_error(stores) -> None:
    store = stores(
        "history", "memio", dsn="postgresql://postgres@127.0.0.1:1/test", pool_timeout=1.0
    )
    with pytest.raises(ProviderError) as caught:
        await store.ping()
    assert (caught.value.provider, caught.value.operation) == ("postgres", "ping")
    with pytest.raises(ProviderError) as caught:
        await store.add(session_id="s", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.operation == "add"
    await store.aclose()
    await store.aclose()


# -- a server restart -------------------------------------------------------------------------


def _local_cluster() -> str:
    """The version of the machine's cluster `main`, or skip when it is not ours to stop."""
    reason = disruptive_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    return cluster_versions()[-1]


@pytest.mark.disruptive
async def test_store_recovers_after_a_server_restart(
    postgres_dsn: str, schema: str, stores
) -> None:
    version = _local_cluster()
    history = stores("history", schema, pool_timeout=2.0, connect_timeout=2)
    graph = stores("graph", schema, pool_timeout=2.0, connect_timeout=2)
    never_opened = stores("history", schema, pool_timeout=2.0, connect_timeout=2)
    await history.add(session_id="s", messages=[{"role": "user", "content": "before"}])
    await graph.add(triples=FACTS[:1])
    try:
        pg_ctl(version, "stop", "-m", "fast")
        with pytest.raises(ProviderError) as caught:
            await history.get(session_id="s")
        assert (caught.value.provider, caught.value.operation) == ("postgres", "get")
        with pytest.raises(ProviderError) as caught:
            await history.ping()
        assert caught.value.operation == "ping"
        with pytest.raises(ProviderError) as caught:
            await graph.add(triples=FACTS[1:2])
        assert (caught.value.provider, caught.value.operation) == ("postgres", "add")
        with pytest.raises(ProviderError) as caught:
            await never_opened.count()
        assert caught.value.operation == "count"
    finally:
        pg_ctl(version, "start")
        wait_for_postgres(postgres_dsn)
    # The same objects work again: dead connections are replaced, a failed open is retried.
    await history.ping()
    await history.add(session_id="s", messages=[{"role": "user", "content": "after"}])
    assert [m.content for m in await history.get(session_id="s")] == ["before", "after"]
    await graph.add(triples=FACTS[1:2])
    assert await graph.count() == 2
    assert await never_opened.count() == 2


# -- two processes, one database --------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import asyncio, json, sys
    from memio.embeddings import default_embedder
    from memio.providers.postgres import PostgresGraphStore, PostgresHistoryStore
    from memio.validating import validating

    async def main():
        dsn, schema = sys.argv[1], sys.argv[2]
        history = validating("history", PostgresHistoryStore(dsn=dsn, schema=schema))
        graph = PostgresGraphStore(dsn=dsn, schema=schema, embedder=default_embedder())
        graph = validating("graph", graph)
        try:
            seen_messages = [m.content for m in await history.get(session_id="shared")]
            seen_triples = [t.object for t in (await graph.get(entity="alice")).triples]
            for i in range(20):
                await history.add(
                    session_id="shared", messages=[{"role": "assistant", "content": f"child {i}"}]
                )
            await graph.add(triples=[{"subject": "alice", "predicate": "knows", "object": "bob"}])
            final = [m.content for m in await history.get(session_id="shared", limit=1000)]
        finally:
            await history.aclose()
            await graph.aclose()
        print(json.dumps({"messages": seen_messages, "triples": seen_triples, "final": final}))

    asyncio.run(main())
    """
)


async def test_two_processes_see_each_others_writes(postgres_dsn: str, schema: str, stores) -> None:
    history, graph = stores("history", schema), stores("graph", schema)
    await history.add(
        session_id="shared", messages=[{"role": "user", "content": "hello from the parent"}]
    )
    await graph.add(triples=[{"subject": "alice", "predicate": "works_at", "object": "Acme"}])

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _WRITER,
        postgres_dsn,
        schema,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    # Write concurrently with the other process, into the same session.
    for i in range(20):
        await history.add(
            session_id="shared", messages=[{"role": "user", "content": f"parent {i}"}]
        )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=180)
    assert proc.returncode == 0, stderr.decode()
    child = json.loads(stdout.decode().strip().splitlines()[-1])

    # The other process saw this one's writes ...
    assert child["messages"][0] == "hello from the parent"
    assert child["triples"] == ["Acme"]
    # ... and this one sees the other's, in one order both agree on.
    mine = [m.content for m in await history.get(session_id="shared", limit=1000)]
    assert len(mine) == 41
    assert mine[: len(child["final"])] == child["final"]
    assert [c for c in mine if c.startswith("child")] == [f"child {i}" for i in range(20)]
    assert [c for c in mine if c.startswith("parent ")] == [f"parent {i}" for i in range(20)]
    assert [t.object for t in (await graph.get(entity="alice")).triples] == ["Acme", "bob"]


def test_two_gateway_servers_share_one_database(postgres_dsn: str, schema: str, tmp_path) -> None:
    """Two real `python -m memio.server` processes over one schema (the DSN comes through
    `${VAR}` interpolation) see each other's history and graph writes over HTTP."""
    import httpx

    from tests.support.server_process import run_server

    store = {"dsn": "${MEMIO_PG_TEST_DSN}", "schema": schema, "pool_max_size": 4}

    def config(name: str) -> dict[str, Any]:
        return {
            "data_dir": str(tmp_path / name),
            "server": {"rate_limit": {"enabled": False}},
            "stores": {
                "history": {"provider": "postgres", "config": store},
                "graph": {"provider": "postgres", "config": store},
            },
        }

    env = {"MEMIO_PG_TEST_DSN": postgres_dsn}
    with (
        run_server(config("a"), env=env) as a_server,
        run_server(config("b"), env=env) as b_server,
        httpx.Client(base_url=a_server.base_url, timeout=60) as a,
        httpx.Client(base_url=b_server.base_url, timeout=60) as b,
    ):
        messages = "/v1/history/sessions/shared/messages"

        def post(client: httpx.Client, content: str) -> None:
            reply = client.post(messages, json={"messages": [{"role": "user", "content": content}]})
            assert reply.status_code == 204, reply.text

        def contents(client: httpx.Client) -> list[str]:
            reply = client.get(messages, params={"limit": 1000})
            assert reply.status_code == 200, reply.text
            return [m["content"] for m in reply.json()]

        post(a, "from a")
        assert contents(b) == ["from a"]
        post(b, "from b")
        assert contents(a) == ["from a", "from b"]

        # Both servers append at once; both then read the same single order.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=8) as pool:
            jobs = [pool.submit(post, a, f"a{i}") for i in range(10)]
            jobs += [pool.submit(post, b, f"b{i}") for i in range(10)]
            for job in jobs:
                job.result()
        seen_by_a, seen_by_b = contents(a), contents(b)
        assert seen_by_a == seen_by_b
        assert len(seen_by_a) == 22

        alice = {"subject": "alice", "predicate": "works_at", "object": "Acme"}
        assert a.post("/v1/graph/triples", json={"triples": [alice]}).status_code == 204
        reply = b.get("/v1/graph/entities/alice")
        assert reply.status_code == 200, reply.text
        assert [t["object"] for t in reply.json()["triples"]] == ["Acme"]
        bob = {"subject": "alice", "predicate": "knows", "object": "bob"}
        assert b.post("/v1/graph/triples", json={"triples": [bob]}).status_code == 204
        reply = a.get("/v1/graph/entities/alice")
        assert [t["object"] for t in reply.json()["triples"]] == ["Acme", "bob"]
        nobody = a.get("/v1/graph/entities/nobody")
        assert (nobody.status_code, nobody.json()["triples"]) == (200, [])
