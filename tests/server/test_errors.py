"""One error body for every failure, request ids, timeouts, and the documented error responses."""

from __future__ import annotations

import asyncio
import logging

import pytest
from fastapi import APIRouter
from pydantic import BaseModel

from memio.client import Memio
from memio.errors import (
    ConflictError,
    InvalidRequestError,
    MemioError,
    NotFoundError,
    NotSupportedError,
    ProviderError,
)
from tests.server.conftest import ADMIN_KEY, AUTH, bearer

ERROR_KEYS = {"error", "detail", "provider", "operation", "request_id"}


class Item(BaseModel):
    name: str
    size: int


def failing_router(router: APIRouter | None = None) -> APIRouter:
    router = router or APIRouter()
    errors = {
        "invalid": InvalidRequestError("must be a JSON object", field="filters.$and[1]"),
        "missing": NotFoundError("fact", "f-1"),
        "conflict": ConflictError("fact 'f-1' exists", field="fact_id"),
        "unsupported": NotSupportedError("no graph store", hint="configure stores.graph"),
        "provider": ProviderError("connection refused", provider="chroma", operation="search"),
        "memio-base": MemioError("a memio error without a status of its own"),
        "bug": RuntimeError("secret-token-123 leaked in a bug"),
    }

    @router.get("/test/raise/{kind}")
    async def raise_(kind: str) -> None:
        raise errors[kind]

    @router.post("/test/items")
    async def create(item: Item) -> Item:
        return item

    @router.get("/test/slow")
    async def slow() -> None:
        await asyncio.sleep(30)

    return router


def error_body(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) - {"errors"} == ERROR_KEYS, body
    assert body["error"] == code
    assert body["request_id"] == response.headers["x-request-id"]
    return body


@pytest.mark.parametrize(
    ("kind", "status", "code", "detail"),
    [
        ("invalid", 400, "invalid_request", "filters.$and[1]: must be a JSON object"),
        ("missing", 404, "not_found", "fact 'f-1' not found"),
        ("conflict", 409, "conflict", "fact_id: fact 'f-1' exists"),
        ("unsupported", 501, "not_supported", "no graph store (configure stores.graph)"),
    ],
)
def test_memio_errors_map_to_statuses(serve, kind, status, code, detail):
    client = serve({}, router=failing_router())
    body = error_body(client.get(f"/test/raise/{kind}"), status, code)
    assert body["detail"] == detail
    assert body["provider"] is None and body["operation"] is None


def test_provider_error_is_502_naming_provider_and_operation(serve):
    client = serve({}, router=failing_router())
    body = error_body(client.get("/test/raise/provider"), 502, "provider_error")
    assert body["provider"] == "chroma"
    assert body["operation"] == "search"
    assert body["detail"] == "chroma.search failed: connection refused"
    metrics = client.get("/metrics").text
    assert 'memio_provider_errors_total{operation="search",provider="chroma"} 1.0' in metrics


@pytest.mark.parametrize("kind", ["bug", "memio-base"])
def test_unexpected_errors_are_a_generic_500(serve, caplog, kind):
    client = serve({}, router=failing_router())
    with caplog.at_level(logging.ERROR, logger="memio.server"):
        response = client.get(f"/test/raise/{kind}", headers={"X-Request-ID": "req-500-test"})
    body = error_body(response, 500, "internal_error")
    assert body["request_id"] == "req-500-test"
    assert body["detail"] == "internal server error (request id req-500-test)"
    assert "secret-token" not in response.text and "Traceback" not in response.text
    [record] = [r for r in caplog.records if "req-500-test" in r.getMessage()]
    assert record.exc_info is not None  # the traceback goes to the log, not the client


@pytest.mark.parametrize(
    ("kind", "status", "code", "details"),
    [
        ("invalid", 400, "INVALID_REQUEST", {"field": "filters.$and[1]"}),
        ("missing", 404, "MEMORY_NOT_FOUND", {}),
        ("provider", 502, "PROVIDER_ERROR", {"provider": "chroma", "operation": "search"}),
        ("bug", 500, "INTERNAL_ERROR", {}),
    ],
)
def test_a_local_first_route_answers_errors_in_its_envelope(serve, kind, status, code, details):
    """Routes of the local-first dialect: the document's error envelope and codes, whatever failed
    (its curl and HTTP tests are in tests/mem0/test_local_first.py)."""
    from memio.server.mem0_api.local import LocalFirstErrors
    from memio.server.routing import make_router

    router = failing_router(make_router(error_style=LocalFirstErrors()))
    response = serve({}, router=router).get(f"/test/raise/{kind}", headers={"X-Request-ID": "r-1"})
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["timestamp"].endswith("Z")
    assert body["error"]["code"] == code
    assert body["error"]["details"] == {"request_id": "r-1", **details}
    assert "secret-token" not in response.text


def test_unknown_route_is_404(serve):
    body = error_body(serve({}).get("/v1/nothing-here"), 404, "not_found")
    assert body["detail"] == "no route matches GET /v1/nothing-here"


def test_wrong_method_is_405_with_allow(serve):
    response = serve({}).delete("/health")
    body = error_body(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"
    assert body["detail"] == "DELETE /health is not allowed (allowed: GET)"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/v1/facts", "DELETE, GET, POST"),
        ("PATCH", "/v1/facts/f1", "DELETE, GET, PUT"),
        ("PUT", "/v1/memories/", "DELETE, GET, POST"),
        ("OPTIONS", "/v1/history/sessions", "DELETE, GET"),
        ("PATCH", "/v1/graph/entities/alice", "DELETE, GET"),
        ("DELETE", "/v1/keys", "GET, POST"),
        ("PUT", "/api-keys", "GET, POST"),
        ("PATCH", "/v1/memories/search/", "GET, POST"),
        # the path the router dispatches to, not also a template it matches ({fact_id})
        ("OPTIONS", "/v1/facts/search", "POST"),
        ("OPTIONS", "/v1/documents/batch", "DELETE, POST, PUT"),
        # documented routes only: POST /configure exists only to refuse, with its own 405
        ("OPTIONS", "/configure", "GET"),
    ],
)
def test_405_allow_lists_every_method_of_the_path(serve, method, path, allowed):
    """Starlette answered from the first route of the path: `Allow: POST` for /v1/memories/."""
    response = serve({}).request(method, path)
    body = error_body(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allowed
    assert body["detail"] == f"{method} {path} is not allowed (allowed: {allowed})"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/v1/memories/m1", "DELETE, GET, PUT"),
        ("GET", "/v1/memories", "POST"),
        ("PATCH", "/v1/memories/search", "GET"),
    ],
)
def test_local_first_405_allow_lists_every_method_in_its_envelope(serve, method, path, allowed):
    response = serve({}).request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allowed
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_post_configure_is_405_saying_why(serve):
    """It answered 501 (a server error to any client); the configuration is only read here."""
    response = serve({"auth": AUTH}).post("/configure", json={}, headers=bearer(ADMIN_KEY))
    body = error_body(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"
    assert "YAML" in body["detail"]


def _nested(key: str, depth: int) -> dict:
    value: dict = {"topic": "x"}
    for _ in range(depth):
        value = {key: [value]}
    return value


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("GET", "/v1/facts", {"params": {"filters": "[" * 1500 + "]" * 1500}}, "filters"),
        ("GET", "/v1/documents", {"params": {"filters": "[" * 1500 + "]" * 1500}}, "filters"),
        ("DELETE", "/v1/memories/", {"params": {"filters": "[" * 1500 + "]" * 1500}}, "filters"),
        ("DELETE", "/v1/memories/", {"params": {"filters": "-" * 3000 + "1"}}, "filters"),
        (
            "GET",
            "/v1/memories/search/",
            {"params": {"query": "x", "user_id": "a", "filters": "[" * 1500 + "]" * 1500}},
            "filters",
        ),
        (
            "POST",
            "/v1/facts/search",
            {"json": {"query": "x", "filters": _nested("$and", 300)}},
            "filters",
        ),
        (
            "POST",
            "/v1/documents/search",
            {"json": {"query": "x", "filters": _nested("or", 300)}},
            "filters",
        ),
        (
            "POST",
            "/v3/memories/search/",
            {"json": {"query": "x", "filters": {"AND": [{"user_id": "a"}, _nested("OR", 300)]}}},
            "filters",
        ),
    ],
)
def test_deeply_nested_filters_are_a_400(serve, method, path, kwargs, field):
    """Python's JSON decoder, its parser (mem0's Python-repr filters) and the filter parsers
    recurse per level: a few hundred levels exhausted the stack and answered 500."""
    response = serve({"auth": AUTH}).request(method, path, headers=bearer(ADMIN_KEY), **kwargs)
    body = error_body(response, 400, "invalid_request")
    assert body["detail"].startswith(field)
    assert "deep" in body["detail"]


def test_too_deeply_nested_body_with_a_lone_surrogate_is_a_400(serve):
    """The lone-surrogate check decodes the body itself: Python's decoder gave up with a
    RecursionError, answered 500; now FastAPI's parsing answers 400 as for any body."""
    body = '{"metadata": ' + "[" * 5000 + "]" * 5000 + ', "content": "\\ud800"}'
    response = serve({}).post(
        "/v1/facts", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("path", ["/v1/facts", "/v3/memories/add/", "/v1/memories"])
def test_too_deeply_nested_body_is_a_400(serve, path):
    """The duplicate-key check decodes every JSON body itself: a few thousand levels exhausted
    Python's decoder (RecursionError) and answered 500."""
    body = '{"metadata": ' + "[" * 5000 + "]" * 5000 + ', "content": "x"}'
    response = serve({}).post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert "nested too deeply" in response.text


def test_validation_error_keeps_the_field_list(serve):
    client = serve({}, router=failing_router())
    response = client.post("/test/items", json={"size": "big"})
    body = error_body(response, 422, "validation_error")
    assert body["errors"] == [
        {"loc": ["body", "name"], "msg": "Field required", "type": "missing"},
        {
            "loc": ["body", "size"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
        },
    ]
    assert body["detail"] == "body.name: Field required (and 1 more)"


def test_malformed_json_is_422(serve):
    client = serve({}, router=failing_router())
    response = client.post(
        "/test/items", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert error_body(response, 422, "validation_error")["errors"][0]["type"] == "json_invalid"


def test_unconfigured_store_is_501(serve):
    client = serve({}, memio=Memio())
    body = error_body(client.get("/v1/facts"), 501, "not_supported")
    assert "facts" in body["detail"]


def test_slow_request_is_504(serve):
    client = serve(
        {"server": {"limits": {"request_timeout_seconds": 0.2}}}, router=failing_router()
    )
    body = error_body(client.get("/test/slow"), 504, "timeout")
    assert body["detail"] == "request took longer than 0.2 s"
    assert client.get("/health").status_code == 200


# --- request ids -------------------------------------------------------------------------------


def test_every_response_has_a_request_id(serve):
    client = serve({"auth": AUTH})
    ids = {client.get(path).headers["x-request-id"] for path in ("/health", "/status", "/nope")}
    assert len(ids) == 3 and all(len(rid) == 32 for rid in ids)


def test_a_sane_incoming_request_id_is_kept(serve):
    response = serve({}).get("/health", headers={"X-Request-ID": "gw-2024:abc.DEF_1-2"})
    assert response.headers["x-request-id"] == "gw-2024:abc.DEF_1-2"


@pytest.mark.parametrize("incoming", ["a" * 129, "has space", "semi;colon", "<script>", ""])
def test_an_odd_incoming_request_id_is_replaced(serve, incoming):
    response = serve({}).get("/health", headers={"X-Request-ID": incoming})
    assert response.headers["x-request-id"] != incoming
    assert len(response.headers["x-request-id"]) == 32


# --- OpenAPI -----------------------------------------------------------------------------------


def _dialect_paths(router) -> set[tuple[str, str]]:
    return {
        (route.path_format, method.lower()) for route in router.routes for method in route.methods
    }


def test_every_operation_documents_the_error_body(serve):
    """memio's ErrorBody everywhere, except where a dialect's clients read another shape: mem0's
    self-hosted server answers 422 with a list `detail`; the local-first API has its own error
    envelope and answers a schema mismatch 400, never 422."""
    from memio.server.mem0_api import local, selfhosted

    document = serve({"auth": AUTH}).get("/openapi.json", headers=bearer(ADMIN_KEY)).json()
    schemas = document["components"]["schemas"]
    assert set(schemas["ErrorBody"]["properties"]) == ERROR_KEYS | {"errors"}
    assert schemas["ValidationErrorBody"]["properties"]["detail"]["type"] == "array"
    assert set(schemas["LocalFirstError"]["properties"]) == {"success", "error", "timestamp"}
    assert "HTTPValidationError" not in schemas
    self_hosted, local_first = _dialect_paths(selfhosted.router), _dialect_paths(local.router)
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) > 20  # the /v1 routes are there too
    assert {(p, m) for p, m, _ in operations} >= local_first  # every local-first route is there
    for path, method, operation in operations:
        expected = {"400", "404", "409", "413", "422", "500", "501", "502", "504"}
        if path not in ("/health", "/v1/health"):
            expected |= {"401", "403", "429"}
        shapes = dict.fromkeys(expected, "ErrorBody")
        if (path, method) in self_hosted:
            shapes["422"] = "ValidationErrorBody"
        if (path, method) in local_first:
            del shapes["422"]
            shapes = dict.fromkeys(shapes, "LocalFirstError")
            assert "422" not in operation["responses"], (path, method)
        responses = operation["responses"]
        assert set(shapes) <= set(responses), (path, method)
        for status, name in shapes.items():
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{name}"}, (path, method, status)


# JSON can spell a lone UTF-16 surrogate; Python decodes it into text no store can keep.
LONE = '"\\ud800"'  # written where a body below has "@"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v1/facts", '{"content": @, "user_id": "u"}', "body.content"),
        ("POST", "/v1/facts", '{"content": "c", "user_id": @}', "body.user_id"),
        ("POST", "/v1/facts", '{"content": "c", "metadata": {"k": [1, @]}}', "body.metadata.k.1"),
        ("POST", "/v1/facts", '{"content": "c", "metadata": {@: 1}}', "body.metadata.\\ud800"),
        ("POST", "/v1/facts/search", '{"query": @}', "body.query"),
        ("POST", "/v1/documents/batch", '{"documents": [{"content": "a"}, {"content": @}]}',
         "body.documents.1.content"),
        ("POST", "/v1/history/sessions/s1/messages",
         '{"messages": [{"role": "user", "content": @}]}', "body.messages.0.content"),
        ("POST", "/v1/graph/triples",
         '{"triples": [{"subject": @, "predicate": "p", "object": "o"}]}',
         "body.triples.0.subject"),
        ("POST", "/v1/memories/",
         '{"messages": [{"role": "user", "content": @}], "user_id": "u", "infer": false}',
         "body.messages.0.content"),
        ("POST", "/memories",
         '{"messages": [{"role": "user", "content": @}], "user_id": "u", "infer": false}',
         "body.messages.0.content"),
    ],
)  # fmt: skip
def test_lone_surrogate_is_422_naming_the_field(serve, method, path, body, field):
    client = serve({})
    response = client.request(
        method, path, content=body.replace("@", LONE), headers={"content-type": "application/json"}
    )
    body = error_body(response, 422, "validation_error")
    [issue] = body["errors"]
    assert ".".join(map(str, issue["loc"])) == field
    assert issue["msg"].startswith("text must be valid Unicode")
    if path == "/memories":  # mem0's self-hosted server: `detail` is the list of issues
        assert body["detail"] == body["errors"]
    else:
        assert body["detail"].startswith(f"{field}: text must be valid Unicode")


def test_lone_surrogate_in_the_local_first_dialect_is_its_invalid_request(serve):
    response = serve({}).post(
        "/v1/memories",
        content='{"messages": [{"role": "user", "content": @}], "user_id": "u"}'.replace("@", LONE),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert error["details"]["field"] == "body.messages.0.content"


def test_surrogate_pairs_and_escaped_backslashes_are_ordinary_text(serve, tmp_path):
    client = serve({"data_dir": str(tmp_path), "stores": {"facts": {"provider": "chroma"}}})
    for raw, text in (('"smile \\ud83d\\ude00"', "smile \U0001f600"), ('"\\\\ud800"', "\\ud800")):
        response = client.post(
            "/v1/facts",
            content='{"content": @, "user_id": "u"}'.replace("@", raw),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 201, response.text
        fact = client.get(f"/v1/facts/{response.json()['id']}").json()
        assert fact["content"] == text


def test_lone_surrogate_never_reaches_the_embedded_stores(serve, tmp_path):
    client = serve({"data_dir": str(tmp_path), "stores": {"documents": {"provider": "chroma"}}})
    body = '{"documents": [{"content": @}]}'.replace("@", LONE)
    response = client.post(
        "/v1/documents/batch", content=body, headers={"content-type": "application/json"}
    )
    error_body(response, 422, "validation_error")
    assert client.get("/v1/documents").json() == []
