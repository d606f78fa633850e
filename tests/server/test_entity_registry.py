"""The mem0 dialects' entity record (memio.server.mem0_api.entities) on each of its backends:
a SQLite file, SQLite in memory and a PostgreSQL schema."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from memio.config import ServerConfig
from memio.errors import ProviderError
from memio.scoping import Scope
from memio.server.mem0_api.entities import EntityRegistry, build_entity_registry

OPERATOR = Scope()


@pytest.fixture(params=["sqlite", "memory", pytest.param("postgres", marks=pytest.mark.postgres)])
async def registry(request, tmp_path: Path) -> AsyncIterator[EntityRegistry]:
    schema = f"memio_entities_{uuid.uuid4().hex[:10]}"
    server = {}
    if request.param == "postgres":
        server = {"entity_store": request.getfixturevalue("postgres_dsn")}
        server["entity_store_schema"] = schema
    config = ServerConfig.model_validate({"data_dir": str(tmp_path), "server": server})
    built = build_entity_registry(config, in_memory=request.param == "memory")
    yield built
    if request.param == "postgres":
        await built.db.one("drop", f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await built.aclose()


async def test_an_entity_never_recorded_is_unknown(registry):
    assert not await registry.forget("user_id", "nobody", within=OPERATOR)
    await registry.record([{"user_id": "ann"}])
    assert not await registry.forget("agent_id", "ann", within=OPERATOR)


async def test_forgetting_an_entity_keeps_the_ids_recorded_beside_it(registry):
    await registry.record([{"user_id": "ann", "agent_id": "bot"}, {"user_id": "ann"}])
    assert await registry.forget("user_id", "ann", within=OPERATOR)
    assert not await registry.forget("user_id", "ann", within=OPERATOR)
    assert await registry.forget("agent_id", "bot", within=OPERATOR)
    assert not await registry.forget("agent_id", "bot", within=OPERATOR)


async def test_recording_twice_is_one_record(registry):
    scope = {"user_id": "ann", "run_id": "r1", "app_id": None}
    await registry.record([scope, scope])
    await registry.record([scope])
    assert await registry.forget("run_id", "r1", within=OPERATOR)
    assert await registry.forget("user_id", "ann", within=OPERATOR)
    assert not await registry.forget("user_id", "ann", within=OPERATOR)


async def test_a_bound_caller_reaches_only_its_own_records(registry):
    await registry.record([{"user_id": "ann", "agent_id": "bot"}])
    bob = Scope(user_id="bob")
    assert not await registry.forget("agent_id", "bot", within=bob)
    assert await registry.forget("agent_id", "bot", within=Scope(user_id="ann"))


async def test_a_field_that_is_not_an_entity_is_refused(registry):
    with pytest.raises(ValueError, match="entity field"):
        await registry.forget("content", "x", within=OPERATOR)


async def test_the_default_file_is_made_on_the_first_record(tmp_path):
    config = ServerConfig.model_validate({"data_dir": str(tmp_path)})
    registry = build_entity_registry(config, in_memory=False)
    assert not await registry.forget("user_id", "ann", within=OPERATOR)
    assert not (tmp_path / "entities.sqlite3").exists()  # a lookup writes nothing
    await registry.record([{"user_id": "ann"}])
    await registry.aclose()
    reopened = build_entity_registry(config, in_memory=False)
    assert await reopened.forget("user_id", "ann", within=OPERATOR)  # kept across restarts
    await reopened.aclose()


async def test_a_database_that_cannot_open_is_a_provider_error_naming_the_store(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    setting = f"sqlite:///{tmp_path / 'file' / 'entities.sqlite3'}"
    registry = build_entity_registry(
        ServerConfig.model_validate({"server": {"entity_store": setting}}), in_memory=False
    )
    with pytest.raises(ProviderError) as caught:
        await registry.record([{"user_id": "ann"}])
    assert (caught.value.provider, caught.value.operation) == ("entity_store.sqlite", "open")


def test_the_setting_must_name_a_database():
    with pytest.raises(ValueError, match="entity_store"):
        ServerConfig.model_validate({"server": {"entity_store": "mysql://x"}})


def test_an_add_whose_entity_cannot_be_recorded_stores_nothing(serve, tmp_path):
    (tmp_path / "file").write_text("not a directory")
    client = serve({"server": {"entity_store": f"sqlite:///{tmp_path / 'file' / 'e.sqlite3'}"}})
    added = client.post(
        "/v3/memories/add/", json={"messages": "I like kites", "user_id": "ann", "infer": False}
    )
    assert added.status_code == 502
    assert "entity_store.sqlite" in added.text
    assert client.get("/v1/facts", params={"user_id": "ann"}).json() == []
