"""mem0's self-hosted server dialect, with httpx against a real memio-server, following the
paths, methods, request bodies and answers of mem0's server OpenAPI document."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from memio.config import config_from_dict
from memio.server.mem0_api.selfhosted import redacted_config
from tests.mem0.conftest import ADMIN_KEY, APP_KEY, LIMITED_KEY, Mem0Server

# Every operation of mem0's server OpenAPI document (its `paths`), and what memio does with it.
SERVED = "served"
ADMIN_ONLY = "403 without an admin key"
NOT_SUPPORTED = "501"
OPERATIONS: list[tuple[str, str, str]] = [
    ("POST", "/memories", SERVED),
    ("GET", "/memories", SERVED),
    ("DELETE", "/memories", SERVED),
    ("GET", "/memories/{memory_id}", SERVED),
    ("PUT", "/memories/{memory_id}", SERVED),
    ("DELETE", "/memories/{memory_id}", SERVED),
    ("GET", "/memories/{memory_id}/history", SERVED),
    ("POST", "/search", SERVED),
    ("POST", "/reset", SERVED),
    ("GET", "/configure", ADMIN_ONLY),
    ("GET", "/entities", SERVED),
    ("DELETE", "/entities/{entity_type}/{entity_id}", SERVED),
    ("GET", "/auth/setup-status", NOT_SUPPORTED),
    ("POST", "/auth/register", NOT_SUPPORTED),
    ("POST", "/auth/login", NOT_SUPPORTED),
    ("POST", "/auth/refresh", NOT_SUPPORTED),
    ("GET", "/auth/me", NOT_SUPPORTED),
    ("PATCH", "/auth/me", NOT_SUPPORTED),
    ("POST", "/auth/change-password", NOT_SUPPORTED),
    ("POST", "/auth/onboarding-complete", NOT_SUPPORTED),
    ("GET", "/api-keys", ADMIN_ONLY),
    ("POST", "/api-keys", ADMIN_ONLY),
    ("DELETE", "/api-keys/{key_id}", ADMIN_ONLY),
    ("GET", "/requests", NOT_SUPPORTED),
    ("GET", "/configure/providers", NOT_SUPPORTED),
    ("POST", "/generate-instructions", NOT_SUPPORTED),
]
ITEM_FIELDS = {"id", "memory", "hash", "metadata", "created_at", "updated_at"}
HISTORY_FIELDS = {
    "id", "memory_id", "old_memory", "new_memory", "event", "created_at", "updated_at",
    "is_deleted", "actor_id", "role",
}  # fmt: skip


def _client(server: Mem0Server, headers: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=60)


@pytest.fixture
def api(mem0_server: Mem0Server) -> Iterator[httpx.Client]:
    """mem0's server clients send the key as X-API-Key."""
    with _client(mem0_server, {"X-API-Key": APP_KEY}) as client:
        yield client


@pytest.fixture
def admin(mem0_server: Mem0Server) -> Iterator[httpx.Client]:
    with _client(mem0_server, {"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        yield client


def _create(api: httpx.Client, uid: str, *texts: str, **body: Any) -> list[dict[str, Any]]:
    response = api.post(
        "/memories",
        json={"messages": [{"role": "user", "content": t} for t in texts], "user_id": uid,
              "infer": False, **body},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == len(texts)
    return results


def test_every_operation_of_the_document_is_served(api: httpx.Client, uid: str) -> None:
    (item,) = _create(api, uid, "placeholder")
    values = {
        "memory_id": item["id"], "entity_type": "user", "entity_id": f"{uid}-other",
        "key_id": "k1",
    }  # fmt: skip
    for method, template, expected in OPERATIONS:
        if template == "/reset":
            continue  # wipes the store: see test_reset_needs_an_admin_key
        path = template.format(**values)
        kwargs: dict[str, Any] = {}
        if method in ("POST", "PUT", "PATCH"):
            kwargs["json"] = {
                "/memories": {"messages": [{"role": "user", "content": "x"}], "user_id": uid},
                "/search": {"query": "x", "user_id": uid},
                "/memories/{memory_id}": {"text": "placeholder two"},
            }.get(template, {})
        scoped = template == "/memories" and method in ("GET", "DELETE")
        params = {"user_id": f"{uid}-other"} if scoped else {}
        response = api.request(method, path, params=params, **kwargs)
        if expected == SERVED:
            assert response.status_code == 200, (method, path, response.text)
        elif expected == ADMIN_ONLY:
            assert response.status_code == 403, (method, path, response.text)
        else:
            assert response.status_code == 501, (method, path, response.text)
            assert (
                "not supported" in response.json()["detail"] or "YAML" in response.json()["detail"]
            )


def test_create_get_update_history_delete(api: httpx.Client, uid: str) -> None:
    results = _create(api, uid, "likes oolong tea", metadata={"source": "chat"})
    item = results[0]
    assert set(item) >= {"id", "memory", "event", "actor_id", "role"}
    assert (item["memory"], item["event"], item["role"]) == ("likes oolong tea", "ADD", "user")

    memory = api.get(f"/memories/{item['id']}").json()
    assert set(memory) >= ITEM_FIELDS | {"user_id"}
    assert memory["user_id"] == uid and "agent_id" not in memory  # unset ids are left out
    assert memory["metadata"] == {"source": "chat"}
    assert memory["hash"] == hashlib.md5(b"likes oolong tea").hexdigest()

    put = api.put(f"/memories/{item['id']}", json={"text": "likes sencha"})
    assert put.json() == {"message": "Memory updated successfully!"}
    assert api.get(f"/memories/{item['id']}").json()["memory"] == "likes sencha"

    history = api.get(f"/memories/{item['id']}/history").json()
    assert [h["event"] for h in history] == ["ADD", "UPDATE"]
    assert all(set(h) >= HISTORY_FIELDS for h in history)
    assert (history[1]["old_memory"], history[1]["new_memory"]) == (
        "likes oolong tea",
        "likes sencha",
    )

    assert api.delete(f"/memories/{item['id']}").json() == {
        "message": "Memory deleted successfully"
    }
    missing = api.get(f"/memories/{item['id']}")
    assert missing.status_code == 404 and item["id"] in missing.json()["detail"]
    history = api.get(f"/memories/{item['id']}/history").json()
    assert [h["event"] for h in history] == ["ADD", "UPDATE", "DELETE"]
    assert history[-1]["is_deleted"] is True


def test_repeats_report_update_or_none_and_history_keeps_the_owner(
    api: httpx.Client, uid: str
) -> None:
    (item,) = _create(api, uid, "likes rooibos", metadata={"a": 1})
    (same,) = _create(api, uid, "likes rooibos", metadata={"a": 1})
    (merged,) = _create(api, uid, "likes rooibos", metadata={"b": 2})
    assert [(r["id"], r["event"]) for r in (item, same, merged)] == [
        (item["id"], "ADD"),
        (item["id"], "NONE"),
        (item["id"], "UPDATE"),
    ]
    assert api.get(f"/memories/{item['id']}").json()["metadata"] == {"a": 1, "b": 2}
    api.delete(f"/memories/{item['id']}")
    history = api.get(f"/memories/{item['id']}/history").json()
    assert [h["event"] for h in history] == ["ADD", "UPDATE", "DELETE"]
    assert {h["user_id"] for h in history} == {uid}
    too_many = api.post(
        "/memories",
        json={"messages": [{"role": "user", "content": "x"}], "user_id": uid,
              "metadata": {"k": "v" * 9000}},
    )  # fmt: skip
    assert too_many.status_code == 400 and "metadata.k" in too_many.text


def test_create_needs_an_identifier_and_text_messages(api: httpx.Client) -> None:
    response = api.post("/memories", json={"messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 400
    assert "at least one identifier" in response.json()["detail"]
    response = api.post("/memories", json={"messages": [], "user_id": "u"})
    assert response.status_code == 400 and "messages" in response.json()["detail"]
    response = api.post("/memories", json={"user_id": "u"})
    assert response.status_code == 422  # the body does not match the schema (no messages)


def test_a_422_detail_is_the_list_mem0s_server_answers(api: httpx.Client) -> None:
    """mem0's server (FastAPI) answers 422 with ``detail: [{loc, msg, type}]``; memio's fields
    stay beside it."""
    missing = {"loc": ["body", "messages"], "msg": "Field required", "type": "missing"}
    response = api.post("/memories", json={"user_id": "u"})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == [missing]
    assert body["error"] == "validation_error" and body["request_id"]
    assert body["errors"] == [missing]
    typed = api.post("/search", json={"query": "x", "user_id": "u", "top_k": "many"}).json()
    assert [issue["loc"] for issue in typed["detail"]] == [["body", "top_k"]]
    # the other dialects keep memio's string detail
    assert isinstance(api.post("/v3/memories/add/", json={}).json()["detail"], str)


def test_infer_default_without_llm(api: httpx.Client, uid: str) -> None:
    response = api.post(
        "/memories",
        json={"messages": [{"role": "user", "content": "I am vegan"}], "agent_id": uid},
    )
    assert response.headers["x-memio-infer"] == "unavailable"
    assert [r["memory"] for r in response.json()["results"]] == ["I am vegan"]


def test_list_memories(api: httpx.Client, admin: httpx.Client, uid: str) -> None:
    ids = [r["id"] for r in _create(api, uid, "one", "two", "three")]
    listing = api.get("/memories", params={"user_id": uid}).json()
    assert [m["id"] for m in listing["results"]] == ids
    assert all(set(m) >= ITEM_FIELDS for m in listing["results"])
    assert len(api.get("/memories", params={"user_id": uid, "top_k": 2}).json()["results"]) == 2
    assert api.get("/memories", params={"user_id": uid, "top_k": 0}).json() == {"results": []}
    assert api.get("/memories", params={"run_id": uid}).json() == {"results": []}
    unscoped = api.get("/memories")
    assert unscoped.status_code == 403 and "admin" in unscoped.json()["detail"]
    everything = admin.get("/memories", params={"top_k": 1000}).json()["results"]
    assert set(ids) <= {m["id"] for m in everything}


def test_search(api: httpx.Client, uid: str) -> None:
    ids = [r["id"] for r in _create(api, uid, "allergic to peanuts", "enjoys opera")]
    found = api.post("/search", json={"query": "food allergy", "user_id": uid}).json()
    assert found["results"][0]["id"] == ids[0]
    assert all(0 <= m["score"] <= 1 for m in found["results"])
    assert all(set(m) >= ITEM_FIELDS | {"score"} for m in found["results"])
    top = api.post("/search", json={"query": "music", "filters": {"user_id": uid}, "top_k": 1})
    assert [m["id"] for m in top.json()["results"]] == [ids[1]]
    strict = api.post("/search", json={"query": "music", "user_id": uid, "threshold": 0.99})
    assert strict.json() == {"results": []}
    nobody = api.post("/search", json={"query": "music"})
    assert nobody.status_code == 400 and "at least one of" in nobody.json()["detail"]
    bad = api.post("/search", json={"query": "x", "user_id": uid, "filters": {"foo": {"re": 1}}})
    assert bad.status_code == 400 and "filters.foo.re" in bad.json()["detail"]


def test_search_with_flat_filters_matches_metadata(api: httpx.Client, uid: str) -> None:
    """mem0's server reference shows ``"filters": {"key": "value"}``: metadata equality."""
    food = _create(api, uid, "likes ramen", metadata={"topic": "food"})[0]["id"]
    _create(api, uid, "plays chess", metadata={"topic": "games"})
    flat = api.post(
        "/search", json={"query": "hobby", "user_id": uid, "filters": {"topic": "food"}}
    )
    assert flat.status_code == 200, flat.text
    assert [m["id"] for m in flat.json()["results"]] == [food]
    both = {"filters": {"user_id": uid, "topic": {"in": ["food", "games"]}}}
    assert len(api.post("/search", json={"query": "x", **both}).json()["results"]) == 2
    none = api.post("/search", json={"query": "x", "user_id": uid, "filters": {"topic": "art"}})
    assert none.json() == {"results": []}


def test_delete_memories_of_an_entity(api: httpx.Client, uid: str) -> None:
    _create(api, uid, "a", "b")
    keep = _create(api, f"{uid}-keep", "c")
    answer = api.delete("/memories", params={"user_id": uid})
    assert answer.json() == {"message": "All relevant memories deleted"}
    assert api.get("/memories", params={"user_id": uid}).json() == {"results": []}
    assert [
        m["id"] for m in api.get("/memories", params={"user_id": f"{uid}-keep"}).json()["results"]
    ] == [keep[0]["id"]]
    unscoped = api.delete("/memories")
    assert unscoped.status_code == 403


def test_entities(api: httpx.Client, uid: str) -> None:
    _create(api, uid, "x", "y")
    api.post(
        "/memories",
        json={
            "messages": [{"role": "user", "content": "z"}],
            "run_id": f"{uid}-run",
            "infer": False,
        },
    )
    entities = {(e["type"], e["id"]): e for e in api.get("/entities").json()}
    assert entities[("user", uid)]["total_memories"] == 2
    assert entities[("run", f"{uid}-run")]["total_memories"] == 1
    assert set(entities[("user", uid)]) >= {
        "id",
        "type",
        "total_memories",
        "created_at",
        "updated_at",
    }
    gone = api.delete(f"/entities/user/{uid}")
    assert gone.status_code == 200 and gone.json()["message"]
    assert ("user", uid) not in {(e["type"], e["id"]) for e in api.get("/entities").json()}
    bad = api.delete(f"/entities/planet/{uid}")
    assert bad.status_code == 400 and "planet" in bad.json()["detail"]


def test_reset_needs_an_admin_key(api: httpx.Client, admin: httpx.Client, uid: str) -> None:
    _create(api, uid, "soon gone")
    refused = api.post("/reset")
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    assert admin.post("/reset").json() == {"message": "All memories reset"}
    assert admin.get("/memories").json() == {"results": []}


def test_configure(api: httpx.Client, admin: httpx.Client, mem0_server: Mem0Server) -> None:
    assert api.get("/configure").status_code == 403  # key names and scopes are the admin's
    shown = admin.get("/configure")
    assert shown.status_code == 200
    body = shown.json()
    assert body["stores"]["facts"]["provider"] == mem0_server.provider
    assert {k["name"] for k in body["auth"]["api_keys"]} == {
        "app", "admin", "limited", "bound", "doc-dev", "doc-admin", "local-limited"
    }  # fmt: skip
    text = shown.text
    for key in (APP_KEY, ADMIN_KEY, LIMITED_KEY):
        assert key not in text and hashlib.sha256(key.encode()).hexdigest() not in text
    refused = api.post("/configure", json={"llm": {"provider": "openai"}})
    assert refused.status_code == 405 and "YAML" in refused.json()["detail"]
    assert refused.headers["Allow"] == "GET"


def test_redacted_config_hides_every_secret() -> None:
    config = config_from_dict(
        {
            "auth": {"api_keys": [{"name": "app", "key": "k-123"}]},
            "embedder": {"provider": "openai", "base_url": "http://emb/v1", "model": "m",
                         "dimensions": 8, "api_key": "sk-embed"},
            "extraction": {"llm": {"base_url": "http://llm/v1", "model": "m", "api_key": "sk-llm"}},
            "server": {"rate_limit": {"storage_uri": "redis://:redispass@127.0.0.1:6379/0"}},
            "stores": {
                "facts": {"provider": "mem0", "config": {"mode": "platform", "api_key": "m0-key",
                                                         "host": "https://user:pw@mem0.example"}},
                "history": {"provider": "postgres",
                            "config": {"dsn": "postgresql://memio:pgpass@db:5432/memio"}},
                "graph": {"provider": "postgres",
                          "config": {"dsn": "host=db user=memio password=pgpass2 dbname=x"}},
            },
        },
        env={},
    )  # fmt: skip
    shown = redacted_config(config)
    text = repr(shown)
    for secret in ("k-123", "sk-embed", "sk-llm", "redispass", "m0-key", ":pw@", "pgpass"):
        assert secret not in text, secret
    assert shown["stores"]["history"]["config"]["dsn"] == "postgresql://memio:***@db:5432/memio"
    assert shown["stores"]["facts"]["config"]["host"] == "https://user:***@mem0.example"
    assert shown["extraction"]["llm"]["base_url"] == "http://llm/v1"
    assert shown["auth"]["api_keys"] == [{"name": "app", "admin": False, "rate_limit": None}]
