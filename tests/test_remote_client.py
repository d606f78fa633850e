"""`memio.connect` / `connect_sync` / `Memio.from_config` against real memio-server processes.

The conformance suites (backend "remote") check every store call; these check what is the
client's own: one pooled connection, errors mapped back to `memio.errors`, cursors followed,
the blocking wrapper, a server in front of another server, and building from a config file.
"""

from __future__ import annotations

import httpx
import pytest
import yaml

import memio
from memio import (
    ConflictError,
    InvalidRequestError,
    Memio,
    NotFoundError,
    NotSupportedError,
    ProviderError,
)
from memio.errors import ForbiddenError
from tests.support.server_process import free_port, run_server

KEY = "client-test-admin-key"
USER_KEY = "client-test-alice-key"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    config = {
        "data_dir": str(tmp_path_factory.mktemp("client-server")),
        "auth": {
            "api_keys": [
                {"name": "admin", "key": KEY, "admin": True},
                {"name": "alice", "key": USER_KEY, "user_id": "alice"},
            ]
        },
        "server": {"rate_limit": {"enabled": False}},
        # no history store: its calls answer 501
        "stores": {kind: {"provider": "memory"} for kind in ("facts", "documents", "graph")},
    }
    with run_server(config) as process:
        yield process


async def test_the_stores_share_one_pooled_client_closed_with_memio(server):
    client = memio.connect(server.base_url, api_key=KEY)
    connections = {id(store._http) for store in client.stores.values()}
    assert len(connections) == 1
    http = client.facts._http._client
    async with client:
        fact = await client.facts.add(content="prefers dark mode", user_id="bob")
        assert fact.event == "ADD"
        assert (await client.facts.get(fact_id=fact.id)).content == "prefers dark mode"
    assert http.is_closed


async def test_errors_come_back_as_memio_errors(server):
    async with memio.connect(server.base_url, api_key=KEY) as client:
        with pytest.raises(NotFoundError) as missing:
            await client.documents.get(doc_id="no-such-doc")
        assert (missing.value.kind, missing.value.item_id) == ("document", "no-such-doc")
        await client.documents.add(content="tea", doc_id="tea")
        with pytest.raises(ConflictError):
            await client.documents.add(content="tea again", doc_id="tea")
        with pytest.raises(InvalidRequestError) as limit:
            await client.documents.get_all(limit=0)
        assert limit.value.field == "limit"
        with pytest.raises(InvalidRequestError) as filters:
            await client.facts.get_all(filters={"$and": {"kind": "note"}})
        assert filters.value.field == "filters.$and"
        with pytest.raises(NotSupportedError):
            await client.history.add(session_id="s", messages=[{"role": "user", "content": "hi"}])
    async with memio.connect(server.base_url, api_key="wrong-key") as client:
        with pytest.raises(ForbiddenError):
            await client.facts.get_all(user_id="bob")


async def test_a_bound_key_acts_for_its_user_only(server):
    async with memio.connect(server.base_url, api_key=USER_KEY) as alice:
        fact = await alice.facts.add(content="likes green tea")
        assert fact.user_id == "alice"
        with pytest.raises(ForbiddenError) as other:
            await alice.facts.get_all(user_id="mallory")
        assert other.value.field == "user_id"


async def test_restore_routes_are_for_operators_only(server):
    """A restore writes an item with whatever scope it names: a key bound to one user is refused
    before anything is written (these routes are not in /openapi.json, so the tenancy walk
    cannot reach them)."""
    async with memio.connect(server.base_url, api_key=KEY) as admin:
        fact = await admin.facts.add(content="exported fact", user_id="bob")
        events = await admin.facts.history(fact_id=fact.id)
        document = await admin.documents.add(content="exported doc", user_id="bob")
        [triple] = await admin.graph.add(
            triples=[{"subject": "bob", "predicate": "likes", "object": "tea"}], user_id="bob"
        )
        for store in (admin.facts, admin.documents, admin.graph):
            await store.delete_all(user_id="bob")
        async with memio.connect(server.base_url, api_key=USER_KEY) as alice:
            with pytest.raises(ForbiddenError):
                await alice.facts.restore(facts=[fact], histories={fact.id: events})
            with pytest.raises(ForbiddenError):
                await alice.documents.restore(documents=[document])
            with pytest.raises(ForbiddenError):
                await alice.graph.restore(triples=[triple])
        with pytest.raises(NotFoundError):
            await admin.facts.get(fact_id=fact.id)
        assert await admin.facts.restore(facts=[fact], histories={fact.id: events}) == [True]
        assert await admin.documents.restore(documents=[document]) == [True]
        assert await admin.graph.restore(triples=[triple]) == [True]
        assert await admin.graph.restore(triples=[triple]) == [False]


async def test_an_unreachable_server_is_a_provider_error_naming_remote():
    async with memio.connect(f"http://127.0.0.1:{free_port()}", timeout=5) as client:
        with pytest.raises(ProviderError) as failed:
            await client.facts.add(content="x", user_id="u")
    assert (failed.value.provider, failed.value.operation) == ("remote", "add")


async def test_cursors_walk_every_item_once(server):
    async with memio.connect(server.base_url, api_key=KEY) as client:
        added = await client.facts.add_many(
            facts=[{"content": f"fact number {i}", "user_id": "pager"} for i in range(7)]
        )
        seen, cursor = [], None
        while True:
            page = await client.facts.get_all(user_id="pager", limit=3, cursor=cursor)
            seen += [fact.id for fact in page]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [fact.id for fact in added]


def test_connect_sync_blocks_and_closes(server):
    with memio.connect_sync(server.base_url, api_key=KEY) as client:
        fact = client.facts.add(content="sync code works too", user_id="carol")
        assert [f.id for f in client.facts.search(query="sync code", user_id="carol")] == [fact.id]
        with pytest.raises(NotFoundError):
            client.facts.get(fact_id="missing")
    with pytest.raises(RuntimeError):
        client.facts.get(fact_id=fact.id)  # the loop is gone


def test_a_server_in_front_of_another_server(server, tmp_path):
    """memio-server.yaml with provider "remote": the front server's facts are the back one's."""
    config = {
        "data_dir": str(tmp_path / "front"),
        "stores": {
            "facts": {"provider": "remote", "config": {"url": server.base_url, "api_key": KEY}},
        },
    }
    with run_server(config) as front:
        added = httpx.post(
            f"{front.base_url}/v1/facts", json={"content": "via the front", "user_id": "dave"}
        )
        assert added.status_code == 201, added.text
    with memio.connect_sync(server.base_url, api_key=KEY) as back:
        assert [f.content for f in back.facts.get_all(user_id="dave")] == ["via the front"]


async def test_from_config_builds_the_stores_the_server_would(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIENT_TEST_DIR", str(tmp_path / "data"))
    path = tmp_path / "memio-server.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data_dir": "${CLIENT_TEST_DIR}",
                "stores": {"facts": {"provider": "memory"}, "history": {"provider": "sqlite"}},
            }
        )
    )
    async with Memio.from_config(path) as local:
        assert {kind: store.provider for kind, store in local.stores.items()} == {
            "facts": "memory",
            "history": "sqlite",
        }
        await local.history.add(session_id="s", messages=[{"role": "user", "content": "hi"}])
    assert (tmp_path / "data").is_dir()
