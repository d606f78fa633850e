"""The OpenAPI document says what memio accepts (src/memio/server/rules.py).

schemathesis found about 50 kinds of schema-valid requests the server refused with 400: empty or
blank text, unknown entity types, empty lists, missing entity ids, page sizes out of range,
fields memio refuses whatever their value. Each case here is a request the server refuses, and the
document must refuse it too; a valid request passes both. The caps come from the constants the
checks use (memio.models, memio.pagination, memio.filters), so the two cannot drift apart.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest

from memio.models import MAX_METADATA_KEYS, MAX_METADATA_STRING_LENGTH
from memio.pagination import MAX_LIMIT
from tests.server.conftest import ADMIN_KEY, AUTH, bearer

BODY_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/facts", {"content": ""}),
    ("POST", "/v1/facts", {"content": " \t\n"}),
    ("POST", "/v1/facts", {"content": "a\x00b"}),
    ("POST", "/v1/facts", {"content": "x", "user_id": ""}),
    (
        "POST",
        "/v1/facts",
        {"content": "x", "metadata": {"k": "v" * (MAX_METADATA_STRING_LENGTH + 1)}},
    ),
    (
        "POST",
        "/v1/facts",
        {"content": "x", "metadata": {f"k{i}": i for i in range(MAX_METADATA_KEYS + 1)}},
    ),
    ("POST", "/v1/facts", {"content": "x", "metadata": {"": 1}}),
    ("POST", "/v1/facts", {"content": "x", "metadata": {"k": {"nested": 1}}}),
    ("POST", "/v1/facts/search", {"query": ""}),
    ("POST", "/v1/facts/search", {"query": "x", "filters": {"$and": "not a list"}}),
    ("POST", "/v1/facts/batch", {"facts": [{"content": ""}]}),
    ("DELETE", "/v1/facts/batch", {"ids": [""]}),
    ("POST", "/v1/documents", {"content": ""}),
    ("POST", "/v1/documents/search", {"query": " "}),
    ("POST", "/v1/history/sessions/s1/messages", {"messages": []}),
    ("POST", "/v1/history/sessions/s1/messages", {"messages": [{"role": "", "content": "x"}]}),
    ("POST", "/v1/history/sessions/s1/search", {"query": ""}),
    ("POST", "/v1/graph/triples", {"triples": []}),
    ("POST", "/v1/graph/triples", {"triples": [{"subject": "", "predicate": "p", "object": "o"}]}),
    ("POST", "/v1/graph/search", {"query": ""}),
    ("POST", "/v1/keys", {"name": "k1", "rate_limit": []}),
    ("POST", "/v1/keys", {"name": "k1", "rate_limit": ["lots"]}),
    # mem0 platform
    ("POST", "/v3/memories/add/", {"messages": "hi"}),  # names no entity
    ("POST", "/v3/memories/add/", {"messages": [], "user_id": "a"}),
    ("POST", "/v3/memories/add/", {"messages": "hi", "user_id": "a", "timestamp": 1}),
    ("POST", "/v3/memories/add/", {"messages": "hi", "filters": {"user_id": "*"}}),
    ("POST", "/v3/memories/add/", {"messages": "hi", "user_id": "a", "filters": {"user_id": "b"}}),
    ("POST", "/v3/memories/", {}),  # names no entity
    ("POST", "/v3/memories/", {"filters": None}),
    ("POST", "/v3/memories/", {"user_id": "a", "page_size": MAX_LIMIT + 1}),
    ("POST", "/v3/memories/search/", {"query": "x"}),
    ("POST", "/v3/memories/search/", {"query": "", "user_id": "a"}),
    ("POST", "/v3/memories/search/", {"query": "x", "user_id": "a", "top_k": 0}),
    ("POST", "/v3/memories/search/", {"query": "x", "filters": {"keywords": "x"}}),
    ("PUT", "/v1/batch/", {"memory_ids": ["m1"]}),
    ("PUT", "/v1/batch/", {"memories": [{"memory_id": "m1"}]}),
    ("DELETE", "/v1/batch/", {"memories": []}),
    ("DELETE", "/v1/batch/", {"memories": None, "memory_ids": None}),
    ("POST", "/v1/feedback/", {"memory_id": ""}),
    # mem0 self-hosted
    ("POST", "/memories", {"messages": [{"role": "user", "content": "hi"}]}),
    ("POST", "/memories", {"messages": [], "user_id": "a"}),
    ("POST", "/memories", {"messages": [{"content": "hi"}], "user_id": "a", "memory_type": "x"}),
    ("POST", "/search", {"query": "x"}),
    ("PUT", "/memories/m1", {}),
]

PARAMETER_CASES: list[tuple[str, str, str, Any]] = [
    ("GET", "/v1/facts", "user_id", ""),
    ("GET", "/v1/facts", "limit", MAX_LIMIT + 1),
    ("GET", "/v1/facts/{fact_id}", "fact_id", " "),
    ("GET", "/v1/entities/{entity_type}/{entity_id}/", "entity_type", "robot"),
    ("DELETE", "/v2/entities/{entity_type}/{entity_id}/", "entity_type", "users"),
    ("DELETE", "/entities/{entity_type}/{entity_id}", "entity_type", "0"),
    ("GET", "/v1/memories/", "page_size", 0),
    ("GET", "/v1/memories/", "entity", {}),  # at least one entity id
    ("GET", "/v1/memories/search", "entity", {}),
    ("GET", "/v1/memories/search", "query", ""),
    ("GET", "/v1/facts", "filters", {"$or": []}),
    ("DELETE", "/v1/memories/", "filters", {"keywords": "x"}),
]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    from memio.server.app import create_app
    from tests.server.conftest import make_config

    return create_app(make_config({"auth": AUTH, "data_dir": "unused"})).openapi()


def _valid(document: dict[str, Any], schema: dict[str, Any], value: Any) -> bool:
    rooted = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    rooted["components"] = document["components"]
    return jsonschema_rs.Draft202012Validator(rooted).is_valid(value)


def _body_schema(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """The request body schema of the documented operation `path` (concrete or a template)."""
    for template, operations in document["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):
            operation = operations[method.lower()]
            return operation["requestBody"]["content"]["application/json"]["schema"]
    raise AssertionError(f"{method} {path} is not documented")


def _parameter(document: dict[str, Any], method: str, path: str, name: str) -> dict[str, Any]:
    operation = document["paths"][path][method.lower()]
    [parameter] = [p for p in operation["parameters"] if p["name"] == name]
    return parameter


def test_routes_refusing_unknown_body_fields_say_so(document) -> None:
    """memio.server.strict refuses unknown top-level fields on memio's own routes and on every
    destructive route: their body schemas must say additionalProperties false, or generated
    requests with extra fields are refused (schemathesis found DELETE /v1/batch/)."""
    from fastapi.routing import APIRoute

    from memio.server.app import create_app
    from memio.server.strict import is_destructive
    from tests.server.conftest import make_config

    app = create_app(make_config({"auth": AUTH, "data_dir": "unused"}))
    finder = app.state.route_finder
    routes = [
        r
        for r in finder.routes({"app": app, "type": "http"})
        if isinstance(r, APIRoute) and r.include_in_schema and r.body_field is not None
    ]
    open_bodies = []
    for route in routes:
        if not (route.refuse_unknown or is_destructive(route)):
            continue
        for method in route.methods:
            schema = _body_schema(document, method, route.path_format)
            name = schema["$ref"].rsplit("/", 1)[-1]
            if document["components"]["schemas"][name].get("additionalProperties") is not False:
                open_bodies.append(f"{method} {route.path_format}")
    assert routes and not open_bodies


@pytest.mark.parametrize(("method", "path", "body"), BODY_CASES)
def test_a_body_the_server_refuses_is_refused_by_the_document(
    serve, document, method, path, body
) -> None:
    client = serve({"auth": AUTH})
    response = client.request(method, path, json=body, headers=bearer(ADMIN_KEY))
    assert response.status_code in (400, 422), response.text
    assert not _valid(document, _body_schema(document, method, path), body)


@pytest.mark.parametrize(("method", "path", "name", "value"), PARAMETER_CASES)
def test_a_parameter_the_server_refuses_is_refused_by_the_document(
    document, method, path, name, value
) -> None:
    parameter = _parameter(document, method, path, name)
    schema = parameter.get("schema") or parameter["content"]["application/json"]["schema"]
    assert not _valid(document, schema, value)


def test_one_of_the_entity_ids_is_required_on_the_wire_as_before(serve, document) -> None:
    """`entity` is an exploded form object: its properties are the query parameters."""
    parameter = _parameter(document, "GET", "/v1/memories/", "entity")
    assert parameter["required"] and parameter["style"] == "form" and parameter["explode"]
    assert set(parameter["schema"]["properties"]) == {"user_id", "agent_id", "app_id", "run_id"}
    client = serve({"auth": AUTH})
    assert client.get("/v1/memories/", headers=bearer(ADMIN_KEY)).status_code == 400
    assert client.get("/v1/memories/?agent_id=a", headers=bearer(ADMIN_KEY)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/facts", {"content": "likes tea", "user_id": "alice", "metadata": {"a": [1]}}),
        ("POST", "/v1/facts/search", {"query": "tea", "filters": {"topic": "x"}}),
        ("POST", "/v3/memories/add/", {"messages": "I like tea", "user_id": "alice"}),
        ("POST", "/v3/memories/add/", {"messages": "I like tea", "filters": {"user_id": "al"}}),
        ("POST", "/v3/memories/search/", {"query": "tea", "filters": {"user_id": "alice"}}),
        ("POST", "/memories", {"messages": [{"role": "user", "content": "hi"}], "run_id": "r"}),
        ("DELETE", "/v1/batch/", {"memory_ids": ["m1"]}),
    ],
)
def test_a_request_the_document_accepts_is_accepted(serve, document, method, path, body) -> None:
    assert _valid(document, _body_schema(document, method, path), body)
    response = serve({"auth": AUTH}).request(method, path, json=body, headers=bearer(ADMIN_KEY))
    assert response.status_code < 300, response.text


def test_query_json_filters_are_declared_as_json(document) -> None:
    parameter = _parameter(document, "GET", "/v1/facts", "filters")
    assert "schema" not in parameter
    assert parameter["content"]["application/json"]["schema"]["type"] == "object"


def test_a_batch_update_item_that_changes_nothing_writes_nothing(serve) -> None:
    """`{"memory_id": ..., "metadata": {}}` recorded an UPDATE per item: 1,000 of them took
    longer than the request timeout on the embedded store (504 under the fuzzer)."""
    client = serve({"auth": AUTH})
    headers = bearer(ADMIN_KEY)
    added = client.post(
        "/v3/memories/add/",
        json={"messages": "likes tea", "user_id": "a", "infer": False},
        headers=headers,
    )
    memory_id = added.json()["results"][0]["id"]
    items = [{"memory_id": memory_id, "metadata": {}}] * 3
    assert client.put("/v1/batch/", json={"memories": items}, headers=headers).status_code == 200
    history = client.get(f"/v1/memories/{memory_id}/history/", headers=headers).json()
    assert [entry["event"] for entry in history] == ["ADD"]
