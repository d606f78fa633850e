"""The /v1 contract as a whole: the OpenAPI document keeps every memio 0.3.1 operation (so
generated clients keep working), unconfigured stores answer 501, and every route needs a key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.http.helpers import API_KEY, assert_error, auth_config

# memio 0.3.1's /v1 operations, from the OpenAPI document of a running 0.3.1 server:
# (method, path, operationId, success status, summary, tag, {query param: (min, max, default)},
#  (body properties, required body properties) or None, (response shape, 0.3.1 fields) or None)
FACT = ("agent_id", "content", "created_at", "id", "metadata", "score", "updated_at", "user_id")
DOC = ("content", "created_at", "id", "metadata", "score", "updated_at")
MESSAGE = ("content", "metadata", "name", "role", "timestamp")
GRAPH = ("nodes", "scores", "triples")
NONE3 = (None, None, None)
OPERATIONS_031: list[tuple[Any, ...]] = [
    ("POST", "/v1/facts", "add_fact_v1_facts_post", 201, "Add Fact", "facts", {},
     (("agent_id", "content", "metadata", "user_id"), ("content",)), ("object", FACT)),
    ("GET", "/v1/facts", "get_all_facts_v1_facts_get", 200, "Get All Facts", "facts",
     {"user_id": NONE3, "agent_id": NONE3, "limit": (1, 1000, 100)}, None, ("array", FACT)),
    ("DELETE", "/v1/facts", "delete_all_facts_v1_facts_delete", 204, "Delete All Facts", "facts",
     {"user_id": NONE3, "agent_id": NONE3}, None, None),
    ("GET", "/v1/facts/{fact_id}", "get_fact_v1_facts__fact_id__get", 200, "Get Fact", "facts",
     {}, None, ("object", FACT)),
    ("PUT", "/v1/facts/{fact_id}", "update_fact_v1_facts__fact_id__put", 200, "Update Fact",
     "facts", {}, (("content", "metadata"), ("content",)), ("object", FACT)),
    ("DELETE", "/v1/facts/{fact_id}", "delete_fact_v1_facts__fact_id__delete", 204,
     "Delete Fact", "facts", {}, None, None),
    ("POST", "/v1/facts/search", "search_facts_v1_facts_search_post", 200, "Search Facts",
     "facts", {}, (("agent_id", "filters", "limit", "query", "user_id"), ("query",)),
     ("array", FACT)),
    ("POST", "/v1/history/sessions/{session_id}/messages",
     "add_messages_v1_history_sessions__session_id__messages_post", 204, "Add Messages",
     "history", {}, (("messages", "user_id"), ("messages",)), None),
    ("GET", "/v1/history/sessions/{session_id}/messages",
     "get_messages_v1_history_sessions__session_id__messages_get", 200, "Get Messages",
     "history", {"limit": (1, 1000, 50), "cursor": NONE3}, None, ("array", MESSAGE)),
    ("GET", "/v1/history/sessions", "get_all_sessions_v1_history_sessions_get", 200,
     "Get All Sessions", "history", {"user_id": NONE3, "limit": (1, 1000, 100)}, None,
     ("object", ("sessions",))),
    ("DELETE", "/v1/history/sessions", "delete_all_sessions_v1_history_sessions_delete", 204,
     "Delete All Sessions", "history", {"user_id": NONE3}, None, None),
    ("POST", "/v1/history/sessions/{session_id}/search",
     "search_session_v1_history_sessions__session_id__search_post", 200, "Search Session",
     "history", {}, (("limit", "query"), ("query",)), ("array", MESSAGE)),
    ("DELETE", "/v1/history/sessions/{session_id}",
     "delete_session_v1_history_sessions__session_id__delete", 204, "Delete Session", "history",
     {}, None, None),
    ("POST", "/v1/documents", "add_document_v1_documents_post", 201, "Add Document",
     "documents", {}, (("content", "doc_id", "metadata"), ("content",)), ("object", DOC)),
    ("GET", "/v1/documents", "get_all_documents_v1_documents_get", 200, "Get All Documents",
     "documents", {"limit": (1, 1000, 100), "filters": NONE3}, None, ("array", DOC)),
    ("DELETE", "/v1/documents", "delete_all_documents_v1_documents_delete", 204,
     "Delete All Documents", "documents", {}, None, None),
    ("GET", "/v1/documents/{doc_id}", "get_document_v1_documents__doc_id__get", 200,
     "Get Document", "documents", {}, None, ("object", DOC)),
    ("PUT", "/v1/documents/{doc_id}", "update_document_v1_documents__doc_id__put", 200,
     "Update Document", "documents", {}, (("content", "metadata"), ("content",)),
     ("object", DOC)),
    ("DELETE", "/v1/documents/{doc_id}", "delete_document_v1_documents__doc_id__delete", 204,
     "Delete Document", "documents", {}, None, None),
    ("POST", "/v1/documents/search", "search_documents_v1_documents_search_post", 200,
     "Search Documents", "documents", {}, (("filters", "limit", "query"), ("query",)),
     ("array", DOC)),
    ("POST", "/v1/graph/triples", "add_triples_v1_graph_triples_post", 204, "Add Triples",
     "graph", {}, (("triples", "user_id"), ("triples",)), None),
    ("GET", "/v1/graph/triples", "get_all_triples_v1_graph_triples_get", 200, "Get All Triples",
     "graph", {"user_id": NONE3, "limit": (1, 1000, 100)}, None, ("object", GRAPH)),
    ("GET", "/v1/graph/entities/{entity}", "get_entity_v1_graph_entities__entity__get", 200,
     "Get Entity", "graph", {"user_id": NONE3}, None, ("object", GRAPH)),
    ("DELETE", "/v1/graph/entities/{entity}", "delete_entity_v1_graph_entities__entity__delete",
     204, "Delete Entity", "graph", {}, None, None),
    ("POST", "/v1/graph/search", "search_graph_v1_graph_search_post", 200, "Search Graph",
     "graph", {}, (("limit", "query", "user_id"), ("query",)), ("object", GRAPH)),
    ("DELETE", "/v1/graph/triples/{triple_id}",
     "delete_triple_v1_graph_triples__triple_id__delete", 204, "Delete Triple", "graph", {},
     None, None),
    ("DELETE", "/v1/graph", "delete_all_graph_v1_graph_delete", 204, "Delete All Graph", "graph",
     {"user_id": NONE3}, None, None),
]  # fmt: skip

# Success answers memio adds to a 0.3.1 operation: adding a fact that is already stored is 200.
EXTRA_SUCCESS = {("POST", "/v1/facts"): {"200"}}

# What memio adds under /v1: (method, path, success status)
ADDITIONS = [
    ("POST", "/v1/facts/batch", 201),
    ("DELETE", "/v1/facts/batch", 200),
    ("GET", "/v1/facts/{fact_id}/history", 200),
    ("POST", "/v1/documents/batch", 201),
    ("PUT", "/v1/documents/batch", 200),
    ("DELETE", "/v1/documents/batch", 200),
    # for the Python client (memio.connect): the session owner (its restore routes, for
    # `memio import` through a server, are not in the OpenAPI document)
    ("GET", "/v1/history/sessions/{session_id}", 200),
    ("POST", "/v1/history/search", 200),  # search across sessions (branch search)
    ("POST", "/v1/facts/purge", 200),  # the expiry sweep on demand (admin key)
    ("POST", "/v1/facts/count", 200),  # what a listing holds over all its pages
    ("POST", "/v1/facts/entities", 200),  # the scope ids facts carry, counted (mem0 users)
]

# The four store routers (other dialects, e.g. mem0's /v1/memories, live beside them).
STORE_PREFIXES = ("/v1/facts", "/v1/history/", "/v1/documents", "/v1/graph")

LISTINGS = [
    "/v1/facts",
    "/v1/history/sessions/{session_id}/messages",
    "/v1/history/sessions",
    "/v1/documents",
    "/v1/graph/triples",
]


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    from memio import Memio
    from memio.config import config_from_dict
    from memio.server.app import create_app

    config = config_from_dict({"auth": auth_config()}, env={})
    return create_app(config, memio=Memio.in_memory()).openapi()


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_the_v1_operations_are_exactly_0_3_1_plus_the_additions(openapi):
    ours = {
        (method.upper(), path)
        for path, operations in openapi["paths"].items()
        if path.startswith(STORE_PREFIXES)
        for method in operations
    }
    expected = {(op[0], op[1]) for op in OPERATIONS_031} | {(m, p) for m, p, _ in ADDITIONS}
    assert ours == expected


@pytest.mark.parametrize("op", OPERATIONS_031, ids=lambda op: f"{op[0]} {op[1]}")
def test_each_0_3_1_operation_is_unchanged_for_its_clients(openapi, op):
    method, path, operation_id, status, summary, tag, query, body, response = op
    operation = openapi["paths"][path][method.lower()]
    assert operation["operationId"] == operation_id
    assert operation["summary"] == summary and operation["tags"] == [tag]
    success = [code for code in operation["responses"] if code.startswith("2")]
    assert success[0] == str(status)
    assert set(success[1:]) == EXTRA_SUCCESS.get((method, path), set())

    params = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
    for name, (minimum, maximum, default) in query.items():
        assert name in params, f"query parameter {name} is missing"
        assert not params[name].get("required", False)
        # JSON text (filters) is declared as content: application/json, same on the wire
        schema = params[name].get("schema") or params[name]["content"]["application/json"]["schema"]
        assert (schema.get("minimum"), schema.get("maximum"), schema.get("default")) == (
            minimum,
            maximum,
            default,
        )
    assert not [p for p in params.values() if p.get("required")], "new required query parameter"

    if body is None:
        assert "requestBody" not in operation
    else:
        fields, required = body
        schema = resolve(openapi, operation["requestBody"]["content"]["application/json"]["schema"])
        assert set(fields) <= set(schema["properties"])
        assert set(schema.get("required", [])) <= set(required)

    content = operation["responses"][str(status)].get("content", {})
    if response is None:
        assert status == 204 and not content
        return
    shape, fields = response
    schema = content["application/json"]["schema"]
    if shape == "array":
        assert schema["type"] == "array"
        schema = schema["items"]
    schema = resolve(openapi, schema)
    assert schema.get("type") == "object" and set(fields) <= set(schema["properties"])


@pytest.mark.parametrize(("method", "path", "status"), ADDITIONS)
def test_additions_are_documented(openapi, method, path, status):
    operation = openapi["paths"][path][method.lower()]
    assert operation["summary"] and operation["tags"]
    assert str(status) in operation["responses"]
    if path.endswith("/batch"):
        schema = resolve(openapi, operation["requestBody"]["content"]["application/json"]["schema"])
        (items,) = schema["required"]
        assert schema["properties"][items]["maxItems"] == 1000


@pytest.mark.parametrize("path", LISTINGS)
def test_listings_document_cursor_and_paging_headers(openapi, path):
    operation = openapi["paths"][path]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert "cursor" in names
    assert {"Link", "X-Next-Cursor"} <= set(operation["responses"]["200"]["headers"])


# -- against real servers ---------------------------------------------------------------------

ONE_PER_STORE = [
    ("POST", "/v1/facts", {"content": "x"}),
    ("GET", "/v1/history/sessions", None),
    ("POST", "/v1/documents/search", {"query": "x"}),
    ("GET", "/v1/graph/triples", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ONE_PER_STORE)
def test_routes_need_an_api_key(server, method, path, body):
    response = httpx.request(method, server.base_url + path, json=body)
    assert_error(response, 401)
    wrong = httpx.request(
        method, server.base_url + path, json=body, headers={"Authorization": "Bearer wrong"}
    )
    assert_error(wrong, 403)


@pytest.fixture(scope="module")
def facts_only(tmp_path_factory) -> Iterator[httpx.Client]:
    """A server with only a facts store configured."""
    from tests.support.server_process import run_server

    config = {
        "auth": auth_config(),
        "data_dir": str(tmp_path_factory.mktemp("http-facts-only")),
        "stores": {"facts": {"provider": "memory"}},
        "server": {"rate_limit": {"enabled": False}},
    }
    with (
        run_server(config) as proc,
        httpx.Client(
            base_url=proc.base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
        ) as client,
    ):
        yield client


UNCONFIGURED = [
    ("POST", "/v1/history/sessions/s/messages", {"messages": [{"role": "user", "content": "x"}]}),
    ("GET", "/v1/history/sessions/s/messages", None),
    ("GET", "/v1/history/sessions", None),
    ("POST", "/v1/history/sessions/s/search", {"query": "x"}),
    ("DELETE", "/v1/history/sessions/s", None),
    ("DELETE", "/v1/history/sessions?user_id=u", None),
    ("POST", "/v1/documents", {"content": "x"}),
    ("GET", "/v1/documents", None),
    ("GET", "/v1/documents/d", None),
    ("POST", "/v1/documents/search", {"query": "x"}),
    ("PUT", "/v1/documents/d", {"content": "x"}),
    ("DELETE", "/v1/documents/d", None),
    ("DELETE", "/v1/documents?user_id=u", None),
    ("POST", "/v1/documents/batch", {"documents": [{"content": "x"}]}),
    ("PUT", "/v1/documents/batch", {"documents": [{"content": "x"}]}),
    ("DELETE", "/v1/documents/batch", {"ids": ["d"]}),
    ("POST", "/v1/graph/triples", {"triples": [{"subject": "a", "predicate": "p", "object": "b"}]}),
    ("GET", "/v1/graph/triples", None),
    ("GET", "/v1/graph/entities/a", None),
    ("POST", "/v1/graph/search", {"query": "x"}),
    ("DELETE", "/v1/graph/entities/a", None),
    ("DELETE", "/v1/graph/triples/t", None),
    ("DELETE", "/v1/graph?user_id=u", None),
]


@pytest.mark.parametrize(("method", "path", "body"), UNCONFIGURED, ids=lambda v: str(v)[:40])
def test_an_unconfigured_store_answers_501(facts_only, method, path, body):
    response = facts_only.request(method, path, json=body)
    kind = path.split("/")[2].split("?")[0]
    body = assert_error(response, 501, f"{kind} store")
    assert body["error"] == "not_supported"


def test_the_configured_store_still_works(facts_only):
    response = facts_only.post("/v1/facts", json={"content": "only facts here", "user_id": "u"})
    assert response.status_code == 201, response.text
    assert (
        facts_only.get("/v1/facts", params={"user_id": "u"}).json()[0]["id"]
        == (response.json()["id"])
    )
