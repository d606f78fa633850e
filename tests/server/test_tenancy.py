"""Bound credentials: signed tokens, keys created at run time, admin-only routes, the failure
throttle and the audit log (in process; tests/server/test_tenancy_walk.py walks every route of a
real server)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from memio.config import ConfigError
from tests.server.conftest import ADMIN_KEY, AUTH, BOUND_KEY, USER_KEY, bearer, make_config
from tests.support.server_process import run_server

SECRET = "tenancy-tests-hmac-secret-" + "0123456789abcdef" * 3  # 74 bytes: fine for HS512 too
JWT_AUTH = {**AUTH, "jwt": {"secret": SECRET, "audience": "memio", "issuer": "https://app"}}


def token(claims: dict[str, Any] | None = None, *, key: Any = SECRET, **header: Any) -> str:
    now = int(time.time())
    body = {"sub": "carol", "aud": "memio", "iss": "https://app", "iat": now, "exp": now + 300}
    body.update(claims or {})
    body = {name: value for name, value in body.items() if value is not None}
    algorithm = header.pop("algorithm", "HS256")
    return jwt.encode(body, key, algorithm=algorithm, headers=header or None)


def detail(response: httpx.Response) -> str:
    return response.json()["detail"]


# --- signed tokens ---------------------------------------------------------------------------


def test_a_token_acts_for_its_subject(serve):
    client = serve({"auth": JWT_AUTH})
    headers = bearer(token())
    fact = client.post("/v1/facts", json={"content": "likes tea"}, headers=headers).json()
    assert fact["user_id"] == "carol"
    client.post(
        "/v1/facts", json={"content": "dave's", "user_id": "dave"}, headers=bearer(ADMIN_KEY)
    )
    listed = client.get("/v1/facts", headers=headers).json()
    assert [f["content"] for f in listed] == ["likes tea"]
    refused = client.post("/v1/facts", json={"content": "x", "user_id": "dave"}, headers=headers)
    assert refused.status_code == 403
    assert detail(refused).startswith("user_id:")


def _refused(client, credential: str) -> str:
    response = client.get("/v1/facts", headers=bearer(credential))
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert credential not in response.text
    return detail(response)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: token({"exp": int(time.time()) - 120}), "token expired"),
        (lambda: token()[:-4] + "AAAA", "token signature is invalid"),
        (lambda: token(key="another-secret-of-at-least-32-characters"), "signature is invalid"),
        (lambda: jwt.encode({"sub": "carol", "exp": 2**31}, None, algorithm="none"), "'none'"),
        (lambda: token(algorithm="HS512"), "'HS512' is not accepted"),
        (lambda: token({"aud": "someone-else"}), "audience is not accepted"),
        (lambda: token({"iss": "https://evil"}), "issuer is not accepted"),
        (lambda: token({"sub": None}), "lacks the claim 'sub'"),
        (lambda: token({"exp": None}), "lacks the required claim 'exp'"),
        (lambda: "eyJhbGciOiJIUzI1NiJ9.not-json.x", "token is malformed"),
    ],
    ids=[
        "expired",
        "tampered",
        "other-secret",
        "alg-none",
        "unconfigured-alg",
        "audience",
        "issuer",
        "missing-claim",
        "missing-exp",
        "malformed",
    ],
)
def test_refused_tokens_say_why(serve, make, reason):
    client = serve({"auth": JWT_AUTH})
    assert reason in _refused(client, make())


def test_token_lifetime_is_capped(serve):
    config = {**JWT_AUTH, "jwt": {**JWT_AUTH["jwt"], "max_lifetime_seconds": 600}}
    client = serve({"auth": config})
    assert "max_lifetime_seconds" in _refused(client, token({"exp": int(time.time()) + 3600}))
    assert "'iat'" in _refused(client, token({"iat": None}))
    assert client.get("/v1/facts", headers=bearer(token())).status_code == 200


def test_claims_map_to_every_scope_field(serve):
    config = {**JWT_AUTH, "jwt": {**JWT_AUTH["jwt"], "claims": {"user_id": "uid", "app_id": "app"}}}
    client = serve({"auth": config})
    headers = bearer(token({"uid": "erin", "app": "support"}))
    fact = client.post("/v1/facts", json={"content": "asked for a refund"}, headers=headers).json()
    assert (fact["user_id"], fact["app_id"]) == ("erin", "support")
    assert "lacks the claim 'app'" in _refused(client, token({"uid": "erin"}))


def _pem_files(tmp_path: Path) -> tuple[Any, Path]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = tmp_path / "public.pem"
    public.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def test_rs256_with_a_public_key_file(serve, tmp_path):
    private, public = _pem_files(tmp_path)
    client = serve({"auth": {**AUTH, "jwt": {"public_key_file": str(public)}}})
    good = token({"aud": None, "iss": None}, key=private, algorithm="RS256")
    assert client.get("/v1/facts", headers=bearer(good)).status_code == 200
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = token({"aud": None, "iss": None}, key=other, algorithm="RS256")
    assert "signature is invalid" in _refused(client, forged)
    # An HMAC token "signed" with the public key: the classic algorithm confusion.
    confused = token({"aud": None, "iss": None}, key="x" * 40, algorithm="HS256")
    assert "'HS256' is not accepted" in _refused(client, confused)


def test_es256_with_a_jwks_file(serve, tmp_path):
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    (tmp_path / "jwks.json").write_text(
        json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "ES256"}]})
    )
    client = serve({"auth": {**AUTH, "jwt": {"jwks_file": str(tmp_path / "jwks.json")}}})
    good = token({"aud": None, "iss": None}, key=private, algorithm="ES256", kid="k1")
    assert client.get("/v1/facts", headers=bearer(good)).status_code == 200
    unknown = token({"aud": None, "iss": None}, key=private, algorithm="ES256", kid="k2")
    assert "kid" in _refused(client, unknown)


@pytest.mark.parametrize(
    ("jwt_config", "problem"),
    [
        ({}, "give exactly one of secret"),
        ({"secret": "short"}, "at least 32 characters"),
        ({"secret": SECRET, "algorithms": ["none"]}, "'none' cannot be used"),
        ({"secret": SECRET, "algorithms": ["RS256"]}, "'RS256' cannot be used with secret"),
        ({"public_key_file": "/nonexistent.pem"}, "not found"),
        ({"jwks_url": "http://idp.example/jwks"}, "https://"),
    ],
)
def test_jwt_config_errors(jwt_config, problem):
    with pytest.raises(ConfigError) as exc:
        make_config({"auth": {**AUTH, "jwt": jwt_config}})
    assert any(problem in line for line in exc.value.problems), exc.value.problems


def test_a_bound_key_cannot_be_admin():
    keys = [{"name": "mallory", "key": "k", "admin": True, "user_id": "mallory"}]
    with pytest.raises(ConfigError) as exc:
        make_config({"auth": {"api_keys": keys}})
    assert "key 'mallory' is bound to user_id='mallory' and cannot be admin" in str(exc.value)


# --- operator-only routes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/status"), ("GET", "/metrics"), ("GET", "/v1/keys"), ("POST", "/reset")],
)
def test_admin_and_operator_routes_refuse_bound_credentials(serve, method, path):
    client = serve({"auth": AUTH})
    response = client.request(method, path, headers=bearer(BOUND_KEY))
    assert response.status_code == 403, response.text


# --- keys created at run time --------------------------------------------------------------


def test_key_lifecycle(serve):
    client = serve({"auth": AUTH})
    admin = bearer(ADMIN_KEY)
    created = client.post("/v1/keys", json={"name": "web-frank", "user_id": "frank"}, headers=admin)
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert key.startswith("mk_") and created.json()["user_id"] == "frank"
    fact = client.post("/v1/facts", json={"content": "likes jazz"}, headers=bearer(key)).json()
    assert fact["user_id"] == "frank"
    listed = {item["name"]: item for item in client.get("/v1/keys", headers=admin).json()}
    assert listed["web-frank"]["source"] == "api" and listed["admin"]["source"] == "config"
    assert key not in json.dumps(listed)
    assert listed["web-frank"]["key_prefix"] == key[:10]
    again = client.post("/v1/keys", json={"name": "web-frank"}, headers=admin)
    assert again.status_code == 409
    assert client.delete("/v1/keys/web-frank", headers=admin).status_code == 204
    assert client.get("/v1/facts", headers=bearer(key)).status_code == 403
    assert client.delete("/v1/keys/web-frank", headers=admin).status_code == 404
    assert client.delete("/v1/keys/admin", headers=admin).status_code == 409
    assert client.post("/v1/keys", json={"name": "x"}, headers=bearer(USER_KEY)).status_code == 403


def test_created_keys_expire_and_validate(serve):
    client = serve({"auth": AUTH})
    admin = bearer(ADMIN_KEY)
    past = client.post(
        "/v1/keys", json={"name": "old", "expires_at": "2020-01-01T00:00:00Z"}, headers=admin
    )
    assert past.status_code == 400 and detail(past).startswith("expires_at")
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))
    key = client.post("/v1/keys", json={"name": "brief", "expires_at": soon}, headers=admin).json()[
        "key"
    ]
    assert client.get("/v1/facts", headers=bearer(key)).status_code == 200
    time.sleep(2.5)
    expired = client.get("/v1/facts", headers=bearer(key))
    assert expired.status_code == 403 and "expired" in detail(expired)
    bad = client.post("/v1/keys", json={"name": "has space"}, headers=admin)
    assert bad.status_code == 422
    limited = client.post(
        "/v1/keys",
        json={"name": "slow", "user_id": "gina", "rate_limit": ["1/minute"]},
        headers=admin,
    ).json()["key"]
    assert client.get("/v1/facts", headers=bearer(limited)).status_code == 200
    assert client.get("/v1/facts", headers=bearer(limited)).status_code == 429


def test_mem0_selfhosted_api_keys(serve):
    client = serve({"auth": AUTH})
    admin = bearer(ADMIN_KEY)
    created = client.post("/api-keys", json={"label": "backend"}, headers=admin)
    assert created.status_code == 201, created.text
    assert set(created.json()) == {"id", "key", "label", "key_prefix", "created_at", "last_used_at"}
    key = created.json()["key"]
    assert client.get("/memories?user_id=ivy", headers={"X-API-Key": key}).status_code == 200
    listed = client.get("/api-keys", headers=admin).json()
    assert [item["label"] for item in listed] == ["backend"]
    assert listed[0]["last_used_at"] is not None
    assert client.delete("/api-keys/backend", headers=admin).json()["message"]
    assert client.get("/memories?user_id=ivy", headers={"X-API-Key": key}).status_code == 403


@pytest.mark.postgres
def test_revocation_reaches_another_replica(postgres_dsn, tmp_path):
    schema = f"memio_keys_{uuid.uuid4().hex[:10]}"
    config = {
        "auth": {**AUTH, "key_store": postgres_dsn, "key_store_schema": schema},
        "stores": {"facts": {"provider": "memory"}},
    }
    admin = bearer(ADMIN_KEY)
    with run_server(config) as first, run_server(config) as second:
        created = httpx.post(
            f"{first.base_url}/v1/keys", json={"name": "shared", "user_id": "hank"}, headers=admin
        )
        assert created.status_code == 201, created.text
        key = bearer(created.json()["key"])
        assert httpx.get(f"{second.base_url}/v1/facts", headers=key).status_code == 200
        assert httpx.delete(f"{first.base_url}/v1/keys/shared", headers=admin).status_code == 204
        assert httpx.get(f"{second.base_url}/v1/facts", headers=key).status_code == 403
    _drop_schema(postgres_dsn, schema)


def _drop_schema(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# --- failed authentications ---------------------------------------------------------------


def test_guessing_keys_is_throttled(serve):
    client = serve({"auth": {**AUTH, "failure_limit": ["5/minute"]}})
    for n in range(5):
        assert client.get("/v1/facts", headers=bearer(f"guess-{n}")).status_code == 403
    refused = client.get("/v1/facts", headers=bearer("guess-6"))
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # The address is refused before any credential is checked, a right one included.
    assert client.get("/v1/facts", headers=bearer(BOUND_KEY)).status_code == 429


# --- the audit log -------------------------------------------------------------------------


def test_every_write_is_audited_without_content(serve, caplog):
    client = serve({"auth": AUTH})
    caplog.set_level(logging.INFO, logger="memio.audit")
    fact = client.post(
        "/v1/facts", json={"content": "secret diary entry"}, headers=bearer(BOUND_KEY)
    ).json()
    client.delete(f"/v1/facts/{fact['id']}", headers=bearer(BOUND_KEY))
    client.delete("/v1/facts/not-there", headers=bearer(BOUND_KEY))
    client.post("/v1/facts", json={"content": "x", "user_id": "bob"}, headers=bearer(BOUND_KEY))
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "memio.audit"]
    assert [(e["operation"], e["ids"], e["outcome"]) for e in lines] == [
        ("add", [fact["id"]], "ok"),
        ("delete", [fact["id"]], "ok"),
        ("delete", ["not-there"], "not_found"),
        ("add", [], "forbidden"),  # refused writes are in the log too
    ]
    first = lines[0]
    assert first["credential"] == "alice" and first["scope"] == {"user_id": "alice"}
    assert first["route"] == "POST /v1/facts" and first["store"] == "facts"
    assert first["request_id"] and first["time"]
    assert "secret diary" not in caplog.text and BOUND_KEY not in caplog.text
