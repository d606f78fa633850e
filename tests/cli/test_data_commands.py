"""`memio export`, `import`, `migrate` and `stats` as a user runs them: real processes over real
stores (the embedded defaults; PostgreSQL for the migration from the mem0 platform dialect)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from memio.client import Memio
from memio.models import utcnow
from tests.support.commands import BIN, run_command
from tests.support.commands import write_config as config
from tests.support.server_process import server_env

HOUR = timedelta(hours=1)


def memio(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return run_command([str(BIN / "memio")], *args, cwd=cwd, stdin=stdin)


async def _populate(data_dir: Path, embedder: Any) -> None:
    async with Memio.local(data_dir, embedder=embedder) as m:
        tea = await m.facts.add(content="likes tea", user_id="alice", metadata={"k": 1})
        await m.facts.update(fact_id=tea.id, content="likes green tea")
        # expired, not swept yet: still held, so exported, imported and counted apart
        await m.facts.add(content="runs marathons", user_id="bob", expires_at=utcnow() - HOUR)
        await m.history.add(
            session_id="s1",
            user_id="alice",
            messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hey"}],
        )
        await m.documents.add(content="The Rhine flows through Basel.", doc_id="d1")
        await m.graph.add(
            triples=[{"subject": "alice", "predicate": "lives_in", "object": "Basel"}],
            user_id="alice",
        )


@pytest.fixture
def source(tmp_path, embedder) -> Path:
    asyncio.run(_populate(tmp_path / "a-data", embedder))
    return config(tmp_path / "a.yaml", {"data_dir": str(tmp_path / "a-data")})


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_export_import_again_and_stats(tmp_path, source):
    dump = tmp_path / "dump.jsonl"
    exported = memio(
        "export", "--config", str(source), "--with-vectors", "-o", str(dump), cwd=tmp_path
    )
    assert exported.returncode == 0, exported.stderr
    assert f"{dump}: 2 facts, 1 sessions, 2 messages, 1 documents, 1 triples" in exported.stderr
    assert not (tmp_path / "dump.jsonl.partial").exists()
    header, *items = _lines(dump)
    assert header["format"] == "memio-dump" and header["version"] == 1
    assert header["stores"] == {
        "facts": "chroma",
        "history": "sqlite",
        "documents": "chroma",
        "graph": "networkx",
    }
    assert header["vectors"] == {"embedder": "all-MiniLM-L6-v2", "dimensions": 384}
    assert [item["kind"] for item in items] == [
        "fact",
        "fact",
        "session",
        "message",
        "message",
        "document",
        "triple",
    ]
    tea = items[0]
    assert [event["event"] for event in tea["history"]] == ["ADD", "UPDATE"]
    assert len(tea["vector"]) == 384 and "vector" not in items[3]

    target = config(tmp_path / "b.yaml", {"data_dir": str(tmp_path / "b-data")})
    first = memio("import", "--config", str(target), str(dump), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "facts: 2 written, 0 already there",
        "sessions: 1 written, 0 already there",
        "messages: 2 written, 0 already there",
        "documents: 1 written, 0 already there",
        "triples: 1 written, 0 already there",
    ]
    again = memio("import", "--config", str(target), str(dump), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "facts: 0 written, 2 already there" in again.stdout.splitlines()

    # what the target holds now exports to the same items (ids, times and history included)
    copy = tmp_path / "copy.jsonl"
    assert memio("export", "--config", str(target), "-o", str(copy), cwd=tmp_path).returncode == 0
    assert _lines(copy)[1:] == [{k: v for k, v in i.items() if k != "vector"} for i in items]

    stats = memio("stats", "--config", str(target), cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    assert stats.stdout.splitlines() == [
        f"configuration: {target}",
        f"data directory: {tmp_path / 'b-data'}",
        "facts (chroma): 2 facts (1 expired, awaiting the sweep)",
        "history (sqlite): 2 messages",
        "documents (chroma): 1 documents",
        "graph (networkx): 1 triples",
        "per provider: chroma 3, networkx 1, sqlite 2",
        "per user:",
        "  alice: 1 facts, 1 sessions, 2 messages, 1 triples",
        "  bob: 1 facts",
        "  (no user: shared or unscoped): 1 documents",
    ]


def test_export_of_one_user_to_stdout(tmp_path, source):
    result = memio(
        "export",
        "--config",
        str(source),
        "--stores",
        "facts,graph",
        "--user-id",
        "bob",
        "-o",
        "-",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    header, *items = [json.loads(line) for line in result.stdout.splitlines()]
    assert header["user_ids"] == ["bob"] and list(header["stores"]) == ["facts", "graph"]
    assert [(item["kind"], item["content"]) for item in items] == [("fact", "runs marathons")]


def test_conflicts_are_reported_with_their_ids(tmp_path, source, embedder):
    dump = tmp_path / "dump.jsonl"
    assert memio("export", "--config", str(source), "-o", str(dump), cwd=tmp_path).returncode == 0

    async def other_d1() -> None:
        async with Memio.local(tmp_path / "b-data", embedder=embedder) as m:
            await m.documents.add(content="something else", doc_id="d1")

    asyncio.run(other_d1())
    target = config(tmp_path / "b.yaml", {"data_dir": str(tmp_path / "b-data")})
    result = memio("import", "--config", str(target), str(dump), cwd=tmp_path)
    assert result.returncode == 1
    assert "1 conflict:" in result.stdout.splitlines()
    assert "  document d1: the target holds this id with another content" in result.stdout
    assert "facts: 2 written, 0 already there" in result.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "memio-dump", "version": 99}\n', "is memio-dump version 99"),
        ('{"format": "other"}\n', "line 1 is not a memio-dump header"),
        (
            '{"format": "memio-dump", "version": 1}\n{"kind": "fact", "id": "x"}\n',
            "line 2: fact.content: Field required",
        ),
    ],
)
def test_a_dump_memio_cannot_read_is_refused(tmp_path, text, message):
    target = config(tmp_path / "b.yaml", {"stores": {"facts": {"provider": "memory"}}})
    result = memio("import", "--config", str(target), "-", stdin=text, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_stops_cleanly_and_a_second_run_finishes(tmp_path, source):
    dump = tmp_path / "dump.jsonl"
    assert memio("export", "--config", str(source), "-o", str(dump), cwd=tmp_path).returncode == 0
    header, *items = dump.read_text().splitlines(keepends=True)
    target = config(tmp_path / "b.yaml", {"data_dir": str(tmp_path / "b-data")})
    process = subprocess.Popen(
        [str(BIN / "memio"), "import", "--config", str(target), "-"],
        cwd=tmp_path,
        env=server_env({"MEMIO_PROGRESS_SECONDS": "0"}),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stderr is not None
    # the two facts and the session (which ends the facts' batch); the rest never comes
    process.stdin.write(header + items[0] + items[1] + items[2])
    process.stdin.flush()
    while "sessions 1" not in (line := process.stderr.readline()):
        assert line, "memio import ended before importing the facts and the session"
    process.send_signal(signal.SIGINT)
    process.stdin.close()  # a reader blocked on the pipe sees its end
    process.wait(timeout=60)
    stderr = process.stderr.read()
    assert process.returncode == 130, stderr
    assert "memio import: interrupted; done so far:" in stderr
    assert "  facts: 2 written, 0 already there" in stderr
    assert "sessions:" not in stderr  # opened, but none of its messages was written
    assert "Traceback" not in stderr

    rest = memio("import", "--config", str(target), str(dump), cwd=tmp_path)
    assert rest.returncode == 0, rest.stderr
    assert rest.stdout.splitlines()[:3] == [
        "facts: 0 written, 2 already there",
        "sessions: 1 written, 0 already there",  # its messages never came: not written then
        "messages: 2 written, 0 already there",
    ]


@pytest.mark.pgvector
def test_migrate_from_the_mem0_platform_into_postgres(tmp_path, mem0_platform_server, pgvector_dsn):
    from mem0 import MemoryClient

    from tests.support.fixtures_pgvector import pgvector_schema

    mem0_platform_server.fresh(tmp_path)
    client = MemoryClient(api_key=mem0_platform_server.api_key, host=mem0_platform_server.base_url)
    try:
        for text, user in (("likes green tea", "alice"), ("runs marathons", "bob")):
            client.add([{"role": "user", "content": text}], user_id=user, infer=False)
        memories = {m["id"]: m for m in client.get_all(filters={"user_id": "alice"})["results"]}
        memories.update({m["id"]: m for m in client.get_all(filters={"user_id": "bob"})["results"]})
    finally:
        client.client.close()
    platform = config(
        tmp_path / "platform.yaml",
        {
            "stores": {
                "facts": {
                    "provider": "mem0",
                    "config": {
                        "mode": "platform",
                        "api_key": mem0_platform_server.api_key,
                        "host": mem0_platform_server.base_url,
                    },
                }
            }
        },
    )
    postgres = config(
        tmp_path / "postgres.yaml",
        {
            "stores": {
                "facts": {
                    "provider": "postgres",
                    "config": {"dsn": pgvector_dsn, "schema": pgvector_schema(tmp_path)},
                }
            }
        },
    )
    args = ("migrate", "--from", str(platform), "--to", str(postgres), "--stores", "facts")
    for user in ("alice", "bob"):
        args += ("--user-id", user)
    first = memio(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["facts: 2 written, 0 already there"]
    again = memio(*args, cwd=tmp_path)  # restartable: nothing twice
    assert again.stdout.splitlines() == ["facts: 0 written, 2 already there"]

    dump = tmp_path / "pg.jsonl"
    assert memio("export", "--config", str(postgres), "-o", str(dump), cwd=tmp_path).returncode == 0
    facts = {item["id"]: item for item in _lines(dump)[1:]}
    assert set(facts) == set(memories)
    for fact_id, memory in memories.items():
        fact = facts[fact_id]
        assert (fact["content"], fact["user_id"]) == (memory["memory"], memory["user_id"])
        assert fact["created_at"][:19] == memory["created_at"][:19]
        assert [event["event"] for event in fact["history"]] == ["ADD"]


def test_stores_the_target_lacks_are_left_out_and_said_so(tmp_path, source):
    dump = tmp_path / "dump.jsonl"
    assert memio("export", "--config", str(source), "-o", str(dump), cwd=tmp_path).returncode == 0
    target = config(tmp_path / "b.yaml", {"stores": {"facts": {"provider": "memory"}}})
    result = memio("import", "--config", str(target), str(dump), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["facts: 2 written, 0 already there"]
    assert "the dump holds graph but this config has no graph store" in result.stderr


def _unreachable_postgres(path: Path) -> Path:
    facts = {"dsn": "postgresql://127.0.0.1:9/x", "connect_timeout": 2}
    return config(path, {"stores": {"facts": {"provider": "postgres", "config": facts}}})


def test_a_backend_failure_stops_an_import(tmp_path, source):
    dump = tmp_path / "dump.jsonl"
    assert memio("export", "--config", str(source), "-o", str(dump), cwd=tmp_path).returncode == 0
    closed = _unreachable_postgres(tmp_path / "c.yaml")
    result = memio("import", "--config", str(closed), str(dump), cwd=tmp_path)
    assert result.returncode == 1
    assert "memio import: postgres." in result.stderr
    assert "failure" not in result.stdout + result.stderr  # stopped, not counted item by item


def test_an_export_that_cannot_read_leaves_no_file(tmp_path):
    closed = _unreachable_postgres(tmp_path / "c.yaml")
    result = memio("export", "--config", str(closed), "-o", str(tmp_path / "d.jsonl"), cwd=tmp_path)
    assert result.returncode == 1
    [first] = [line for line in result.stderr.splitlines() if line.startswith("memio export: ")]
    assert first.startswith("memio export: postgres.count failed:")
    assert list(tmp_path.glob("d.jsonl*")) == []
