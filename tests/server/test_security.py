"""Auth, docs protection, CORS, body limits and rate limits, in process."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from fastapi import APIRouter, Request
from pydantic import BaseModel

from memio.server.app import create_app
from memio.server.auth import Principal
from memio.server.body_limit import BodyLimitMiddleware
from tests.server.conftest import ADMIN_KEY, AUTH, BOUND_KEY, USER_KEY, bearer, make_config

ERROR_KEYS = {"error", "detail", "provider", "operation", "request_id"}


class Echo(BaseModel):
    text: str


def whoami_router() -> APIRouter:
    router = APIRouter()

    @router.get("/test/whoami")
    async def whoami(request: Request) -> dict:
        info = request.scope.get("state", {}).get("principal")
        assert info is None or isinstance(info, Principal)
        return {"name": info.name, "admin": info.admin} if info else {}

    @router.post("/test/echo")
    async def echo(body: Echo) -> dict:
        return {"length": len(body.text)}

    @router.post("/test/echo/batch")
    async def echo_batch(body: Echo) -> dict:
        return {"length": len(body.text)}

    return router


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS, body
    assert body["error"] == code
    assert body["request_id"] == response.headers["x-request-id"]
    return body


# --- authentication ----------------------------------------------------------------------------


def test_missing_key_is_401_with_challenge(serve):
    client = serve({"auth": AUTH})
    response = client.get("/status")
    body = assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in body["detail"]


def test_wrong_key_is_403(serve):
    client = serve({"auth": AUTH})
    assert_error(client.get("/status", headers=bearer("not-a-key")), 403, "forbidden")
    assert_error(client.get("/status", headers={"X-API-Key": "nope"}), 403, "forbidden")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {USER_KEY}"},
        {"Authorization": f"bearer {USER_KEY}"},
        {"Authorization": f"BEARER {USER_KEY}"},
        {"Authorization": f"Token {USER_KEY}"},
        {"Authorization": f"token {USER_KEY}"},
        {"X-API-Key": USER_KEY},
    ],
    ids=["Bearer", "bearer", "BEARER", "Token", "token", "X-API-Key"],
)
def test_every_supported_way_to_send_the_key(serve, headers):
    client = serve({"auth": AUTH}, router=whoami_router())
    response = client.get("/test/whoami", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"name": "user", "admin": False}


def test_unsupported_scheme_counts_as_missing(serve):
    client = serve({"auth": AUTH})
    response = client.get("/status", headers={"Authorization": f"Basic {USER_KEY}"})
    assert_error(response, 401, "unauthorized")


def test_env_key_is_an_admin_key(serve):
    client = serve({}, env={"MEMIO_API_KEY": "env-admin"}, router=whoami_router())
    assert client.get("/test/whoami", headers=bearer("env-admin")).json() == {
        "name": "api_key",
        "admin": True,
    }
    assert client.get("/metrics", headers=bearer("env-admin")).status_code == 200


def test_health_stays_open(serve):
    client = serve({"auth": AUTH})
    assert client.get("/health").status_code == 200


def test_admin_routes_need_an_admin_key(serve):
    client = serve({"auth": AUTH})
    assert_error(client.get("/metrics", headers=bearer(USER_KEY)), 403, "forbidden")
    assert client.get("/metrics", headers=bearer(ADMIN_KEY)).status_code == 200


def test_without_auth_everyone_is_admin(serve):
    client = serve({})
    assert client.get("/metrics").status_code == 200
    assert client.get("/status").status_code == 200


DOCS = ["/docs", "/redoc", "/openapi.json", "/static-offline-docs/swagger-ui.css", "/"]


@pytest.mark.parametrize("path", DOCS)
def test_docs_are_protected_when_auth_is_on(serve, path):
    client = serve({"auth": AUTH})
    assert_error(client.get(path, follow_redirects=False), 401, "unauthorized")
    assert client.get(path, headers=bearer(USER_KEY), follow_redirects=False).status_code in (
        200,
        307,
    )


@pytest.mark.parametrize("path", DOCS)
def test_public_docs_opens_only_the_docs(serve, path):
    client = serve({"auth": {**AUTH, "public_docs": True}})
    assert client.get(path, follow_redirects=False).status_code in (200, 307)
    assert_error(client.get("/status"), 401, "unauthorized")


def test_openapi_declares_the_security_schemes(serve):
    document = serve({"auth": AUTH}).get("/openapi.json", headers=bearer(USER_KEY)).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearerAuth"]["description"],
    }
    assert schemes["apiKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert document["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}]
    assert document["paths"]["/health"]["get"]["security"] == []


def test_openapi_has_no_security_without_auth(serve):
    document = serve({}).get("/openapi.json").json()
    assert "security" not in document
    assert "securitySchemes" not in document["components"]


# --- CORS --------------------------------------------------------------------------------------


def test_preflight_is_answered_without_a_key(serve):
    client = serve({"auth": AUTH, "server": {"cors": {"allow_origins": ["https://app.test"]}}})
    response = client.options(
        "/v1/facts",
        headers={
            "Origin": "https://app.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.test"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in response.headers


def test_cors_headers_on_answers_and_refusals(serve):
    client = serve({"auth": AUTH, "server": {"cors": {"allow_origins": ["https://app.test"]}}})
    refused = client.get("/status", headers={"Origin": "https://app.test"})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == "https://app.test"
    answered = client.get("/status", headers={"Origin": "https://app.test", **bearer(USER_KEY)})
    assert answered.headers["access-control-allow-origin"] == "https://app.test"
    exposed = answered.headers["access-control-expose-headers"]
    assert (
        "X-Request-ID" in exposed
        and "Retry-After" in exposed
        and "X-RateLimit-Remaining" in exposed
    )


def test_other_origins_get_no_cors_headers(serve):
    client = serve({"server": {"cors": {"allow_origins": ["https://app.test"]}}})
    response = client.get("/health", headers={"Origin": "https://evil.test"})
    assert "access-control-allow-origin" not in response.headers


def test_no_cors_by_default(serve):
    response = serve({}).get("/health", headers={"Origin": "https://app.test"})
    assert "access-control-allow-origin" not in response.headers


# --- body size ---------------------------------------------------------------------------------

LIMITS = {"server": {"limits": {"max_body_bytes": 100, "max_batch_body_bytes": 1000}}}


JSON = {"Content-Type": "application/json"}


def post_text(client, path: str, size: int) -> httpx.Response:
    """POST a JSON body of exactly `size` bytes."""
    return client.post(path, content=b'{"text": "' + b"x" * (size - 12) + b'"}', headers=JSON)


def test_declared_oversized_body_is_413(serve):
    client = serve(LIMITS, router=whoami_router())
    assert post_text(client, "/test/echo", 100).status_code == 200
    response = post_text(client, "/test/echo", 101)
    body = assert_error(response, 413, "payload_too_large")
    assert body["detail"] == "request body exceeds the limit of 100 bytes"


def test_batch_paths_have_their_own_limit(serve):
    client = serve(LIMITS, router=whoami_router())
    assert post_text(client, "/test/echo/batch", 1000).status_code == 200
    assert post_text(client, "/test/echo/batch/", 1000).status_code != 413
    assert_error(post_text(client, "/test/echo/batch", 1001), 413, "payload_too_large")


async def test_chunked_body_is_refused_while_streaming():
    """No Content-Length: the body is counted as it arrives and the rest is never read."""
    app = create_app(make_config(LIMITS))
    app.include_router(whoami_router())
    sent = []

    async def chunks():
        for _ in range(50):
            sent.append(40)
            yield b" " * 40

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/test/echo", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large")
    assert len(sent) < 50  # stopped reading shortly after the limit


async def test_declared_oversized_body_is_never_read():
    received = []

    async def app(scope, receive, send):  # pragma: no cover - must not be reached
        raise AssertionError("the app was called")

    async def receive():
        received.append(1)
        return {"type": "http.request", "body": b"x" * 10, "more_body": True}

    messages = []

    async def send(message):
        messages.append(message)

    middleware = BodyLimitMiddleware(app, max_body_bytes=100, max_batch_body_bytes=1000)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/facts",
        "headers": [(b"content-length", b"5000000")],
    }
    await middleware(scope, receive, send)
    assert messages[0]["status"] == 413
    assert received == []


# --- rate limits -------------------------------------------------------------------------------


LIMITED_ROUTE = "/v1/facts"  # a route every credential may call


def limited(limits, **server) -> dict:
    return {"auth": AUTH, "server": {"rate_limit": {"limits": limits, **server}}}


def test_default_limits_with_auth(serve):
    client = serve({"auth": AUTH})
    response = client.get(LIMITED_ROUTE, headers=bearer(BOUND_KEY))
    assert response.headers["x-ratelimit-limit"] == "20"  # the burst window is the tightest
    assert response.headers["x-ratelimit-remaining"] == "19"


def test_operator_keys_are_not_limited_by_default(serve):
    client = serve({"auth": AUTH})
    for key in (USER_KEY, ADMIN_KEY):
        for _ in range(25):  # past the bound credentials' burst of 20
            response = client.get(LIMITED_ROUTE, headers=bearer(key))
            assert response.status_code == 200, response.text
            assert "x-ratelimit-limit" not in response.headers


def test_operator_limits_apply_to_operator_keys(serve):
    client = serve({"auth": AUTH, "server": {"rate_limit": {"operator_limits": ["2/minute"]}}})
    for _ in range(2):
        assert client.get(LIMITED_ROUTE, headers=bearer(USER_KEY)).status_code == 200
    assert_error(client.get(LIMITED_ROUTE, headers=bearer(USER_KEY)), 429, "rate_limited")
    assert client.get(LIMITED_ROUTE, headers=bearer(ADMIN_KEY)).status_code == 200


def test_limit_headers_then_429(serve):
    client = serve(limited(["3/minute"]))
    remaining = []
    for _ in range(3):
        response = client.get(LIMITED_ROUTE, headers=bearer(BOUND_KEY))
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit"] == "3"
        assert int(response.headers["x-ratelimit-reset"]) >= int(time.time())
        remaining.append(response.headers["x-ratelimit-remaining"])
    assert remaining == ["2", "1", "0"]
    refused = client.get(LIMITED_ROUTE, headers=bearer(BOUND_KEY))
    body = assert_error(refused, 429, "rate_limited")
    assert body["detail"] == "rate limit exceeded for this credential: 3 per minute"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_burst_window_refuses_first(serve):
    client = serve(limited(["100/minute", "2/10 seconds"]))
    for _ in range(2):
        assert client.get(LIMITED_ROUTE, headers=bearer(BOUND_KEY)).status_code == 200
    refused = client.get(LIMITED_ROUTE, headers=bearer(BOUND_KEY))
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-limit"] == "2"
    assert int(refused.headers["retry-after"]) <= 10


def test_each_key_has_its_own_budget(serve):
    second = {"name": "bob", "key": "bob-key", "user_id": "bob"}
    client = serve(
        {
            "auth": {"api_keys": [*AUTH["api_keys"], second]},
            "server": {"rate_limit": {"limits": ["1/minute"]}},
        }
    )
    assert client.get(LIMITED_ROUTE, headers=bearer(BOUND_KEY)).status_code == 200
    assert client.get(LIMITED_ROUTE, headers=bearer(BOUND_KEY)).status_code == 429
    assert client.get(LIMITED_ROUTE, headers=bearer("bob-key")).status_code == 200


def test_per_key_limits_and_exemption(serve):
    keys = [
        {"name": "tight", "key": "tight-key", "rate_limit": "1/minute"},
        {"name": "free", "key": "free-key", "rate_limit": False},
    ]
    client = serve({"auth": {"api_keys": keys}})
    assert client.get("/status", headers=bearer("tight-key")).status_code == 200
    assert client.get("/status", headers=bearer("tight-key")).status_code == 429
    for _ in range(30):
        response = client.get("/status", headers=bearer("free-key"))
        assert response.status_code == 200
        assert "x-ratelimit-limit" not in response.headers


def test_health_is_not_limited(serve):
    client = serve(limited(["1/minute"]))
    for _ in range(5):
        response = client.get("/health")
        assert response.status_code == 200
        assert "x-ratelimit-limit" not in response.headers


def test_rate_limit_can_be_switched_off(serve):
    client = serve({"auth": AUTH, "server": {"rate_limit": {"enabled": False}}})
    response = client.get("/status", headers=bearer(USER_KEY))
    assert "x-ratelimit-limit" not in response.headers


def test_no_limits_without_auth_by_default(serve):
    assert "x-ratelimit-limit" not in serve({}).get("/status").headers


def test_without_auth_limits_apply_per_client_address(serve):
    client = serve({"server": {"rate_limit": {"enabled": True, "limits": ["2/minute"]}}})
    assert client.get("/status").status_code == 200
    assert client.get("/status").status_code == 200
    body = assert_error(client.get("/status"), 429, "rate_limited")
    assert "client address" in body["detail"]


@pytest.mark.redis
def test_redis_storage_is_shared_between_replicas(serve, redis_url):
    name = f"replica-test-{uuid.uuid4().hex}"
    config = {
        "auth": {"api_keys": [{"name": name, "key": name, "user_id": "alice"}]},
        "server": {"rate_limit": {"limits": ["3/minute"], "storage_uri": redis_url}},
    }
    first, second = serve(config), serve(config)
    assert first.get(LIMITED_ROUTE, headers=bearer(name)).status_code == 200
    assert second.get(LIMITED_ROUTE, headers=bearer(name)).status_code == 200
    response = first.get(LIMITED_ROUTE, headers=bearer(name))
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert_error(second.get(LIMITED_ROUTE, headers=bearer(name)), 429, "rate_limited")


def test_unreachable_rate_limit_storage_is_503(serve):
    client = serve(limited(["3/minute"], storage_uri="redis://127.0.0.1:1"))
    body = assert_error(client.get(LIMITED_ROUTE, headers=bearer(BOUND_KEY)), 503, "unavailable")
    assert body["detail"] == "rate limit storage is unavailable"
    assert client.get("/health").status_code == 200
