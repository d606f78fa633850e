"""What only the sqlite history provider has: its file and schema, FTS5 search over hostile input,
agreement with the memory provider's word matching, error mapping, recovery, and several
processes sharing one file when told to (`exclusive: false`; by default a second process is
refused: tests/providers/test_data_locks.py).

The store semantics themselves are checked by tests/conformance (backend id "sqlite").
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from memio.errors import InvalidRequestError, NotFoundError, NotSupportedError, ProviderError
from memio.providers import build_store
from memio.providers.memory import MemoryHistoryStore
from memio.providers.shared import ProviderContext
from memio.providers.sqlite import SCHEMA_VERSION, SQLiteHistoryStore
from memio.validating import validating

REPO = Path(__file__).resolve().parents[2]


def msg(content: str, role: str = "user") -> dict:
    return {"role": role, "content": content}


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[Callable[..., SQLiteHistoryStore]]:
    """``stores(**kwargs)`` builds a store on ``tmp_path/history.sqlite3`` (closed at teardown)."""
    made: list[SQLiteHistoryStore] = []

    def _make(**kwargs: Any) -> SQLiteHistoryStore:
        kwargs.setdefault("path", tmp_path / "history.sqlite3")
        store = validating("history", SQLiteHistoryStore(**kwargs))
        made.append(store)
        return store

    yield _make
    for store in made:
        await store.aclose()


def _context(data_dir: Path) -> ProviderContext:
    return ProviderContext(data_dir=data_dir, embedder=None)  # type: ignore[arg-type]


# --- config and file --------------------------------------------------------------------------


def test_config_defaults_and_paths(tmp_path: Path) -> None:
    store = build_store("history", "sqlite", {}, _context(tmp_path))
    assert store.path == tmp_path / "history.sqlite3"
    store = build_store("history", "sqlite", {"path": "sub/h.db"}, _context(tmp_path))
    assert store.path == Path("sub/h.db")  # relative to the working directory, as for chroma
    store = build_store("history", "sqlite", {"path": str(tmp_path / "x.db")}, _context(tmp_path))
    assert store.path == tmp_path / "x.db"
    assert not any(tmp_path.iterdir()), "constructing a store must not touch the disk"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"nope": 1}, "stores.history.config.nope"),
        ({"busy_timeout": -1}, "stores.history.config.busy_timeout"),
        ({"synchronous": "off"}, "stores.history.config.synchronous"),
    ],
)
def test_config_is_validated(tmp_path: Path, config: dict, field: str) -> None:
    with pytest.raises(InvalidRequestError) as exc:
        build_store("history", "sqlite", config, _context(tmp_path))
    assert exc.value.field == field


async def test_schema_wal_and_idempotent_migration(stores, tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    store = stores()
    await store.add(session_id="s", user_id="alice", messages=[msg("hello world")])
    await store.aclose()

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"sessions", "messages", "messages_fts", "sessions_by_user"} <= tables
    # Pretend the migration never finished: reopening re-runs it harmlessly.
    conn.execute("PRAGMA user_version = 0")
    conn.close()

    again = stores()
    assert [m.content for m in await again.get(session_id="s")] == ["hello world"]
    assert [m.content for m in await again.search(session_id="s", query="world")] == ["hello world"]
    await again.aclose()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()


async def test_newer_schema_is_refused(stores, tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "history.sqlite3")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ProviderError, match="newer than this memio"):
        await stores().count()


async def test_timestamps_are_stored_as_utc(stores) -> None:
    paris = timezone(timedelta(hours=2))
    store = stores()
    added = await store.add(
        session_id="s",
        messages=[
            {
                "role": "user",
                "content": "a",
                "timestamp": datetime(2024, 5, 1, 14, 0, tzinfo=paris),
            },
            {"role": "user", "content": "b", "timestamp": datetime(2024, 5, 1, 12, 0)},  # naive
        ],
    )
    expected = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    assert [m.timestamp for m in added] == [expected, expected]
    await store.aclose()
    got = await stores().get(session_id="s")
    assert [m.timestamp for m in got] == [expected, expected]
    assert all(m.timestamp.tzinfo is not None for m in got)


# --- search -------------------------------------------------------------------------------------

HOSTILE = [
    '"',
    '""',
    "'",
    'say "hello',
    "hello AND",
    "OR",
    "NOT hello",
    "AND OR NOT",
    "NEAR(hello world, 2)",
    "hello*",
    "*",
    "^hello",
    "content:hello",
    "terms : hello",
    "session : 1",
    "{terms session}: hello",
    "(hello",
    "hello)",
    "+-hello",
    "hello -world",
    "hello; DROP TABLE messages; --",
    "\\",
    "\x00hello",  # NUL: refused like every text holding it (decision D6)
    "😀 hello",
    "   ",  # only spaces: rejected as empty by require_text, never reaches FTS
    "ÉTÉ été",
    "straße",
    "hello_world",
    "x" * 10_000,
    " ".join(f"w{i}" for i in range(3000)),
]


async def test_hostile_queries_never_break_fts(stores) -> None:
    store = stores()
    memory = validating("history", MemoryHistoryStore())
    contents = [
        "hello world",
        'she said "hello" AND left',
        "NEAR the OR gate, NOT far",
        "Été à Paris, l'été",
        "STRASSE and Straße",
        "hello_world snake_case",
        "😀 emoji hello",
        "content: terms session 1",
    ]
    for target in (store, memory):
        await target.add(session_id="s", messages=[msg(c) for c in contents])
    for query in HOSTILE:
        if not query.strip() or "\x00" in query:
            with pytest.raises(InvalidRequestError):
                await store.search(session_id="s", query=query)
            continue
        got = await store.search(session_id="s", query=query, limit=100)
        want = await memory.search(session_id="s", query=query, limit=100)
        assert {m.content for m in got} == {m.content for m in want}, query
        assert all(m.score is not None and 0.0 < m.score < 1.0 for m in got)


async def test_matching_agrees_with_memory_provider(stores) -> None:
    """On a random corpus, a message matches exactly when it shares a word with the query (the
    memory provider's rule), and scores come back best first."""
    rng = random.Random(7)
    vocab = ["alpha", "Beta", "GAMMA", "delta", "epsilon", "zeta", "eta", "théta", "iota", "kappa"]
    store = stores()
    memory = validating("history", MemoryHistoryStore())
    for session in ("a", "b"):
        messages = [
            {
                "id": f"{session}-{i}",
                **msg(
                    " ".join(rng.choice(vocab) + rng.choice(["", ",", "!", "_x"]) for _ in range(6))
                ),
            }
            for i in range(40)
        ]
        await store.add(session_id=session, messages=messages)
        await memory.add(session_id=session, messages=messages)
    for _ in range(50):
        query = " ".join(rng.sample(vocab, rng.randint(1, 3)))
        for session in ("a", "b"):
            got = await store.search(session_id=session, query=query, limit=1000)
            want = await memory.search(session_id=session, query=query, limit=1000)
            assert sorted(m.id for m in got) == sorted(m.id for m in want), query
            scores = [m.score for m in got]
            assert scores == sorted(scores, reverse=True)


async def test_search_stays_in_session_and_in_sync_after_deletes(stores, tmp_path: Path) -> None:
    store = stores()
    await store.add(session_id="s", messages=[msg("hiking trip"), msg("hiking boots")])
    await store.add(session_id="t", messages=[msg("hiking elsewhere")])
    assert len(await store.search(session_id="s", query="hiking")) == 2
    await store.delete(session_id="s")
    with pytest.raises(NotFoundError):
        await store.search(session_id="s", query="hiking")
    await store.add(session_id="s", messages=[msg("a new hiking plan")])
    assert [m.content for m in await store.search(session_id="s", query="hiking")] == [
        "a new hiking plan"
    ]
    assert await store.delete_all() == 2
    await store.aclose()

    conn = sqlite3.connect(tmp_path / "history.sqlite3")
    conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
    assert conn.execute("SELECT COUNT(*) FROM messages_fts").fetchone() == (0,)
    conn.close()


async def test_rarer_and_repeated_words_rank_higher(stores) -> None:
    store = stores()
    filler = [msg(f"common words only {i}") for i in range(20)]
    await store.add(
        session_id="s",
        messages=[*filler, msg("common volcano"), msg("volcano volcano volcano")],
    )
    results = await store.search(session_id="s", query="volcano common")
    assert [m.content for m in results[:2]] == ["volcano volcano volcano", "common volcano"]


# --- errors and recovery ------------------------------------------------------------------------


async def test_not_a_database_is_provider_error_and_recovers(stores, tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    store = stores()
    with pytest.raises(ProviderError) as exc:
        await store.add(session_id="s", messages=[msg("x")])
    assert exc.value.provider == "sqlite"
    assert isinstance(exc.value.cause, sqlite3.DatabaseError)
    path.unlink()
    await store.add(session_id="s", messages=[msg("x")])  # the failed open is retried
    assert await store.count() == 1


async def test_unusable_directory_is_provider_error(stores, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    store = stores(path=tmp_path / "file" / "history.sqlite3")
    with pytest.raises(ProviderError) as exc:
        await store.ping()
    assert isinstance(exc.value.cause, OSError)


async def test_lock_timeout_is_provider_error_then_recovers(stores, tmp_path: Path) -> None:
    store = stores(busy_timeout=0.1)
    await store.add(session_id="s", messages=[msg("first")])
    blocker = sqlite3.connect(tmp_path / "history.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    try:
        with pytest.raises(ProviderError) as exc:
            await store.add(session_id="s", messages=[msg("blocked")])
        assert exc.value.operation == "add"
        assert isinstance(exc.value.cause, sqlite3.OperationalError)
        # Readers are not blocked by a writer in WAL mode.
        assert [m.content for m in await store.get(session_id="s")] == ["first"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await store.add(session_id="s", messages=[msg("second")])
    assert [m.content for m in await store.get(session_id="s")] == ["first", "second"]


async def test_failed_add_writes_nothing(stores, tmp_path: Path) -> None:
    store = stores()
    await store.add(session_id="s", messages=[msg("ok")])
    conn = sqlite3.connect(tmp_path / "history.sqlite3")
    conn.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON messages WHEN NEW.content = 'boom'"
        " BEGIN SELECT RAISE(ABORT, 'boom'); END"
    )
    conn.commit()
    conn.close()
    with pytest.raises(ProviderError):
        await store.add(session_id="new", messages=[msg("fine"), msg("boom")])
    assert list(await store.get_all()) == ["s"]  # the session row was rolled back too
    assert await store.count() == 1


async def test_closed_store_reopens(stores) -> None:
    store = stores()
    await store.add(session_id="s", messages=[msg("x")])
    await store.aclose()
    await store.aclose()
    assert await store.count() == 1


# --- concurrency --------------------------------------------------------------------------------


async def test_two_store_objects_share_a_file(stores) -> None:
    one, two = stores(), stores()
    await asyncio.gather(
        *(
            (one if i % 2 else two).add(session_id="shared", messages=[msg(f"m{i}")])
            for i in range(60)
        )
    )
    messages = await one.get(session_id="shared", limit=100)
    assert sorted(m.content for m in messages) == sorted(f"m{i}" for i in range(60))
    assert await two.count() == 60


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from memio.providers.sqlite import SQLiteHistoryStore
    from memio.validating import validating

    async def main():
        store = SQLiteHistoryStore(path=sys.argv[1], busy_timeout=30, exclusive=False)
        store = validating("history", store)
        for i in range(int(sys.argv[3])):
            await store.add(session_id="shared", user_id="alice",
                            messages=[{"role": "user", "content": f"{sys.argv[2]}-{i}"}])
        await store.aclose()

    asyncio.run(main())
    """
)


async def test_several_processes_share_one_file(stores, tmp_path: Path) -> None:
    """With `exclusive: false` (SQLite itself is safe across processes)."""
    path = tmp_path / "history.sqlite3"
    store = stores(busy_timeout=30, exclusive=False)
    await store.add(session_id="shared", user_id="alice", messages=[msg("start")])
    n = 60
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", _WRITER, str(path), f"p{k}", str(n), cwd=REPO
        )
        for k in range(2)
    ]
    for i in range(n):
        await store.add(session_id="shared", user_id="alice", messages=[msg(f"me-{i}")])
    for proc in procs:
        assert await asyncio.wait_for(proc.wait(), 120) == 0
    messages = await store.get(session_id="shared", limit=1000)
    contents = [m.content for m in messages]
    assert len(contents) == 1 + 3 * n
    for who in ("p0", "p1", "me"):
        mine = [c for c in contents if c.startswith(f"{who}-")]
        assert mine == [f"{who}-{i}" for i in range(n)]  # each writer's order is kept
    assert await store.count() == 1 + 3 * n


# --- semantic search: embeddings beside the messages ---------------------------------------------


async def test_messages_stored_without_an_embedding_are_embedded_by_the_first_search(
    stores, tmp_path: Path, embedder
) -> None:
    """A file from before the embedding column: its messages are embedded when a semantic search
    first reads them, and kept; without an embedder, semantic search is NotSupportedError."""
    store = stores(embedder=embedder)
    await store.add(session_id="s", messages=[msg("I love hiking in the Alps"), msg("stocks fell")])
    await store.aclose()
    conn = sqlite3.connect(tmp_path / "history.sqlite3")
    conn.execute("UPDATE messages SET embedding = NULL")
    conn.commit()
    again = stores(embedder=embedder)
    found = await again.search(session_id="s", query="mountain walks", search_mode="semantic")
    assert [m.content for m in found] == ["I love hiking in the Alps", "stocks fell"]
    assert conn.execute("SELECT count(*) FROM messages WHERE embedding IS NULL").fetchone() == (0,)
    conn.close()
    assert found == await again.search(
        session_id="s", query="mountain walks", search_mode="semantic"
    )
    with pytest.raises(NotSupportedError):
        await stores().search(session_id="s", query="mountain walks", search_mode="hybrid")
