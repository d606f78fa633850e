"""Memory exports of the mem0 platform dialect (``/v1/exports/``) through the real `mem0ai` SDK:
`create_memory_export` then `get_memory_export`, with only `host=` changed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.mem0.conftest import ADMIN_KEY, APP_KEY, BOUND_KEY, BOUND_USER, Mem0Server

SCHEMA = {"title": "Profile", "type": "object", "properties": {"facts": {"type": "array"}}}


def _client(server: Mem0Server, key: str) -> Any:
    from mem0 import MemoryClient

    return MemoryClient(api_key=key, host=server.base_url)


@pytest.fixture
def client(mem0_server: Mem0Server) -> Iterator[Any]:
    memory = _client(mem0_server, APP_KEY)
    yield memory
    memory.client.close()


def test_create_then_get_an_export_of_the_memories_in_scope(client, mem0_server, uid):
    added = client.add(
        [{"role": "user", "content": "I like green tea"}],
        user_id=uid,
        metadata={"source": "chat"},
        infer=False,
    )["results"]
    [memory] = added
    client.update(memory["id"], text="I like jasmine tea")
    client.add([{"role": "user", "content": "someone else"}], user_id=uid + "-other", infer=False)

    created = client.create_memory_export(schema=SCHEMA, user_id=uid)
    assert set(created) == {"message", "id"}
    export = client.get_memory_export(memory_export_id=created["id"])
    assert (export["id"], export["status"], export["filters"]) == (
        created["id"],
        "completed",
        {"user_id": uid},
    )
    assert (export["schema"], export["format"], export["version"]) == (SCHEMA, "memio-dump", 1)
    [line] = export["memories"]
    assert export["count"] == 1
    assert (line["kind"], line["id"], line["content"], line["user_id"]) == (
        "fact",
        memory["id"],
        "I like jasmine tea",
        uid,
    )
    assert line["metadata"] == {"source": "chat"}
    assert [event["event"] for event in line["history"]] == ["ADD", "UPDATE"]
    assert line["created_at"] and line["updated_at"]

    # the latest export of these filters, by the SDK's filters and by GET with a query string
    assert client.get_memory_export(user_id=uid) == export
    answer = httpx.get(
        f"{mem0_server.base_url}/v1/exports/",
        params={"user_id": uid},
        headers={"Authorization": f"Token {APP_KEY}"},
    )
    assert answer.status_code == 200 and answer.json() == export


def test_exports_are_the_callers_own(client, mem0_server, uid):
    client.add([{"role": "user", "content": "private"}], user_id=uid, infer=False)
    created = client.create_memory_export(schema=SCHEMA, user_id=uid)
    other = _client(mem0_server, ADMIN_KEY)
    try:
        with pytest.raises(Exception, match="memory export") as raised:
            other.get_memory_export(memory_export_id=created["id"])
        assert "404" in str(raised.value) or getattr(raised.value, "status_code", 404) == 404
    finally:
        other.client.close()


def test_an_export_must_name_an_entity_unless_the_key_is_bound(client, mem0_server, uid):
    answer = httpx.post(
        f"{mem0_server.base_url}/v1/exports/",
        json={"schema": SCHEMA},
        headers={"Authorization": f"Token {APP_KEY}"},
    )
    assert answer.status_code == 400, answer.text
    assert "user_id" in answer.text
    bound = _client(mem0_server, BOUND_KEY)
    try:
        bound.add([{"role": "user", "content": "bound user's fact"}], infer=False)
        created = bound.create_memory_export(schema=SCHEMA)
        export = bound.get_memory_export(memory_export_id=created["id"])
        assert {line["user_id"] for line in export["memories"]} == {BOUND_USER}
        assert "bound user's fact" in {line["content"] for line in export["memories"]}
    finally:
        bound.client.close()
