"""The local-first "Mem0 Memory System" REST API against a real memio-server (`mem0_server`: chroma
and mem0 OSS facts): the document's own curl lines, run verbatim by bash, then every route, error
code and header with httpx, and the mem0ai SDK on the same ``/v1/memories`` prefix.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.mem0.conftest import (
    ADMIN_KEY,
    APP_KEY,
    BOUND_KEY,
    BOUND_USER,
    DOC_ADMIN_KEY,
    DOC_DEV_KEY,
    LOCAL_LIMITED_KEY,
    MAX_BODY_BYTES,
    Mem0Server,
)

# The document's commands, character for character ("Example Request" and "Quick Testing" 1-4).
# Only the host is filled in when they run.
EXAMPLE_REQUEST = """curl -H "Authorization: Bearer mem0_dev_key_123456789" \\
-H "Content-Type: application/json" \\
http://YOUR_SERVER_IP:8080/v1/memories/search?query=test&user_id=demo"""
HEALTH_CHECK = """curl http://YOUR_SERVER_IP:8080/health"""
SYSTEM_STATUS = """curl -H "Authorization: Bearer mem0_dev_key_123456789" \\
http://YOUR_SERVER_IP:8080/status"""
ADD_A_MEMORY = """curl -X POST "http://YOUR_SERVER_IP:8080/v1/memories" \\
-H "Authorization: Bearer mem0_dev_key_123456789" \\
-H "Content-Type: application/json" \\
-d '{
"messages": [{"role": "user", "content": "I love building AI applications with FastAPI"}],
"user_id": "test_user_123",
"metadata": {"source": "external_test"}
}'"""
SEARCH_MEMORIES = """curl "http://YOUR_SERVER_IP:8080/v1/memories/search?query=FastAPI&user_id=test_user_123&limit=5" \\
-H "Authorization: Bearer mem0_dev_key_123456789\""""  # noqa: E501
DOC_USER = "test_user_123"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def run_curl(server: Mem0Server, command: str) -> Any:
    """Run a document's curl command in bash against `server`; its output, parsed as JSON."""
    filled = command.replace("http://YOUR_SERVER_IP:8080", server.base_url)
    done = subprocess.run(
        ["bash", "-c", filled], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout, f"curl printed nothing (an empty redirect?); stderr: {done.stderr}"
    return json.loads(done.stdout)


def _client(server: Mem0Server, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=60)


@pytest.fixture
def api(mem0_server: Mem0Server) -> Iterator[httpx.Client]:
    with _client(mem0_server, APP_KEY) as client:
        yield client


def assert_envelope(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"success", "data", "message", "timestamp"}, body
    assert body["success"] is True and body["message"]
    assert TIMESTAMP.match(body["timestamp"]), body["timestamp"]
    return body["data"]


def assert_error(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"success", "error", "timestamp"}, body
    assert body["success"] is False and TIMESTAMP.match(body["timestamp"])
    error = body["error"]
    assert set(error) == {"code", "message", "details"} and error["code"] == code, error
    assert error["message"] and error["details"]["request_id"]
    return error


def _add(api: httpx.Client, uid: str, *texts: str, **body: Any) -> list[dict[str, Any]]:
    messages = [{"role": "user", "content": text} for text in texts]
    answer = api.post("/v1/memories", json={"messages": messages, "user_id": uid, **body})
    return assert_envelope(answer)["memories"]


# -- the document's curl lines ------------------------------------------------------------------


def test_the_documents_curl_lines(mem0_server: Mem0Server) -> None:
    with _client(mem0_server, ADMIN_KEY) as admin:
        admin.delete("/v1/memories/", params={"user_id": DOC_USER})  # a clean start
    assert run_curl(mem0_server, HEALTH_CHECK)["status"] == "ok"
    assert run_curl(mem0_server, SYSTEM_STATUS)["stores"]["facts"]["provider"]

    added = run_curl(mem0_server, ADD_A_MEMORY)  # was a 307 with an empty body
    assert added["success"] is True and TIMESTAMP.match(added["timestamp"])
    [memory] = added["data"]["memories"]
    assert memory["content"] == "I love building AI applications with FastAPI"
    assert memory["user_id"] == DOC_USER and memory["metadata"] == {"source": "external_test"}
    assert memory["event"] == "ADD"

    found = run_curl(mem0_server, SEARCH_MEMORIES)
    assert found["success"] is True
    assert [m["id"] for m in found["data"]["memories"]] == [memory["id"]]
    assert 0 <= found["data"]["memories"][0]["score"] <= 1

    # Unquoted, the example's `&` ends the command in bash: curl asks without `user_id`, and the
    # answer says what is missing instead of searching everyone's memories.
    refused = run_curl(mem0_server, EXAMPLE_REQUEST)
    assert refused["success"] is False
    assert refused["error"]["code"] == "INVALID_REQUEST"
    assert "user_id" in refused["error"]["message"]

    with _client(mem0_server, DOC_DEV_KEY) as dev:
        stored = assert_envelope(dev.get(f"/v1/memories/user/{DOC_USER}"))
    assert stored["total"] == 1 and stored["memories"][0]["id"] == memory["id"]


# -- routes -------------------------------------------------------------------------------------


def test_no_slash_paths_are_served_not_redirected(api: httpx.Client, uid: str) -> None:
    messages = [{"role": "user", "content": "likes tea"}]
    added = api.post("/v1/memories", json={"messages": messages, "user_id": uid, "infer": False})
    assert added.status_code == 200 and not added.is_redirect
    memory_id = assert_envelope(added)["memories"][0]["id"]
    for path in (f"/v1/memories/{memory_id}", f"/v1/memories/user/{uid}"):
        assert api.get(path).status_code == 200, path
    # the same prefix with a trailing slash is the mem0 platform's
    platform = api.get(f"/v1/memories/{memory_id}/").json()
    assert platform["memory"] == "likes tea" and "success" not in platform
    found = api.get("/v1/memories/search/", params={"query": "tea", "user_id": uid})
    assert [m["id"] for m in found.json()["results"]] == [memory_id]
    # a method the local-first path does not serve is a 405 in its envelope, never a redirect
    listing = api.get("/v1/memories", params={"user_id": uid})
    assert_error(listing, 405, "METHOD_NOT_ALLOWED")


def test_memory_crud(api: httpx.Client, uid: str) -> None:
    [memory] = _add(api, uid, "I love hiking", metadata={"source": "chat"}, infer=False)
    assert set(memory) >= {"id", "content", "user_id", "metadata", "created_at", "updated_at"}
    memory_id = memory["id"]
    got = assert_envelope(api.get(f"/v1/memories/{memory_id}"))
    assert got["content"] == "I love hiking" and got["metadata"] == {"source": "chat"}

    updated = assert_envelope(
        api.put(f"/v1/memories/{memory_id}", json={"content": "I love climbing"})
    )
    assert updated["content"] == "I love climbing" and updated["metadata"] == {"source": "chat"}
    tagged = assert_envelope(
        api.put(
            f"/v1/memories/{memory_id}", json={"text": "I love bouldering", "metadata": {"k": 1}}
        )
    )
    assert tagged["content"] == "I love bouldering"
    assert tagged["metadata"] == {"source": "chat", "k": 1}
    empty = assert_error(api.put(f"/v1/memories/{memory_id}", json={}), 400, "INVALID_REQUEST")
    assert empty["details"]["field"] == "content"

    deleted = assert_envelope(api.delete(f"/v1/memories/{memory_id}"))
    assert deleted == {"id": memory_id, "deleted": True}
    for answer in (api.get(f"/v1/memories/{memory_id}"), api.delete(f"/v1/memories/{memory_id}")):
        assert_error(answer, 404, "MEMORY_NOT_FOUND")


def test_search_and_user_memories(api: httpx.Client, uid: str) -> None:
    ids = [m["id"] for m in _add(api, uid, "owns a red bike", "loves the alps", infer=False)]
    found = assert_envelope(
        api.get("/v1/memories/search", params={"query": "mountains", "user_id": uid})
    )
    assert found["query"] == "mountains" and found["memories"][0]["id"] == ids[1]
    assert found["count"] == len(found["memories"])
    one = assert_envelope(
        api.get("/v1/memories/search", params={"query": "bicycle", "user_id": uid, "limit": 1})
    )
    assert [m["id"] for m in one["memories"]] == [ids[0]]
    mine = assert_envelope(api.get(f"/v1/memories/user/{uid}"))
    assert mine["total"] == 2 and [m["id"] for m in mine["memories"]] == ids
    page = assert_envelope(api.get(f"/v1/memories/user/{uid}", params={"page": 2, "page_size": 1}))
    assert [m["id"] for m in page["memories"]] == [ids[1]] and page["total"] == 2


def test_add_stores_what_the_user_said_without_an_llm(api: httpx.Client, uid: str) -> None:
    messages = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "I am vegan"},
    ]
    answer = api.post("/v1/memories", json={"messages": messages, "user_id": uid})
    data = assert_envelope(answer)
    assert answer.headers["x-memio-infer"] == data["memio_infer"] == "unavailable"
    assert [m["content"] for m in data["memories"]] == ["I am vegan"]


# -- errors and headers -------------------------------------------------------------------------


def test_errors_use_the_documents_envelope_and_codes(mem0_server: Mem0Server, uid: str) -> None:
    with _client(mem0_server, None) as anonymous:
        assert_error(
            anonymous.get("/v1/memories/search", params={"query": "x"}), 401, "UNAUTHORIZED"
        )
    with _client(mem0_server, "not-a-key") as wrong:
        assert_error(wrong.get("/v1/memories/x"), 401, "UNAUTHORIZED")
    with _client(mem0_server, APP_KEY) as api:
        missing = assert_error(
            api.post("/v1/memories", json={"user_id": uid}), 400, "INVALID_REQUEST"
        )
        assert missing["details"]["errors"][0]["loc"] == ["body", "messages"]
        nobody = assert_error(
            api.post("/v1/memories", json={"messages": "hi"}), 400, "INVALID_REQUEST"
        )
        assert nobody["details"]["field"] == "user_id"
        limit = api.get("/v1/memories/search", params={"query": "x", "user_id": uid, "limit": 0})
        assert_error(limit, 400, "INVALID_REQUEST")
        assert_error(api.get("/v1/metrics"), 403, "FORBIDDEN")  # an admin key's route
        typo = api.delete("/v1/memories/x", params={"userId": uid})  # deletes refuse unknowns
        assert "userId" in assert_error(typo, 400, "INVALID_REQUEST")["message"]
        huge = {"messages": "x" * MAX_BODY_BYTES, "user_id": uid}  # refused before routing
        assert_error(api.post("/v1/memories", json=huge), 413, "PAYLOAD_TOO_LARGE")
    with _client(mem0_server, LOCAL_LIMITED_KEY) as limited:
        answers = [limited.get(f"/v1/memories/user/{uid}") for _ in range(5)]
    assert [a.status_code for a in answers[:4]] == [200] * 4
    refused = answers[4]
    assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
    assert refused.headers["x-ratelimit-remaining"] == "0" and refused.headers["retry-after"]


def test_rate_limit_headers(mem0_server: Mem0Server, uid: str) -> None:
    with _client(mem0_server, DOC_DEV_KEY) as dev:
        first = dev.get(f"/v1/memories/user/{uid}")
        second = dev.get(f"/v1/memories/user/{uid}")
    assert first.headers["x-ratelimit-limit"] == "100"
    assert int(second.headers["x-ratelimit-remaining"]) < int(
        first.headers["x-ratelimit-remaining"]
    )
    assert int(first.headers["x-ratelimit-reset"]) > 1_700_000_000  # epoch seconds


def test_health_status_metrics(mem0_server: Mem0Server) -> None:
    with _client(mem0_server, None) as anonymous:
        health = assert_envelope(anonymous.get("/v1/health"))
    assert health["status"] == "ok" and health["stores"]["facts"] is True
    with _client(mem0_server, DOC_DEV_KEY) as dev:
        status = assert_envelope(dev.get("/v1/status"))
        assert status["stores"]["facts"]["provider"] == mem0_server.provider
        assert status["versions"]["memio"]
        assert_error(dev.get("/v1/metrics"), 403, "FORBIDDEN")
    with _client(mem0_server, DOC_ADMIN_KEY) as admin:
        metrics = assert_envelope(admin.get("/v1/metrics"))
    assert {"requests", "latency", "provider_errors"} <= set(metrics)
    routes = {(r["method"], r["route"]) for r in metrics["requests"]}
    assert ("GET", "/v1/status") in routes
    with _client(mem0_server, BOUND_KEY) as bound:
        assert_error(bound.get("/v1/status"), 403, "FORBIDDEN")  # it sees every user's stores


def test_a_bound_key_stays_in_its_scope(mem0_server: Mem0Server, uid: str) -> None:
    with _client(mem0_server, APP_KEY) as api:
        [other] = _add(api, uid, "someone else's secret", infer=False)
    with _client(mem0_server, BOUND_KEY) as bound:
        [mine] = assert_envelope(
            bound.post("/v1/memories", json={"messages": "likes jazz", "infer": False})
        )["memories"]
        assert mine["user_id"] == BOUND_USER
        naming = bound.post("/v1/memories", json={"messages": "x", "user_id": uid})
        assert_error(naming, 403, "FORBIDDEN")
        assert_error(bound.get("/v1/memories/search", params={"query": "x", "user_id": uid}),
                     403, "FORBIDDEN")  # fmt: skip
        assert_error(bound.get(f"/v1/memories/user/{uid}"), 403, "FORBIDDEN")
        for answer in (
            bound.get(f"/v1/memories/{other['id']}"),
            bound.put(f"/v1/memories/{other['id']}", json={"content": "overwritten"}),
            bound.delete(f"/v1/memories/{other['id']}"),
        ):
            assert_error(answer, 404, "MEMORY_NOT_FOUND")
        found = assert_envelope(bound.get("/v1/memories/search", params={"query": "secret"}))
        assert other["id"] not in {m["id"] for m in found["memories"]}
    with _client(mem0_server, APP_KEY) as api:
        kept = assert_envelope(api.get(f"/v1/memories/{other['id']}"))
    assert kept["content"] == "someone else's secret"


# -- the mem0ai SDK on the same prefix ----------------------------------------------------------


def test_the_mem0_sdk_and_the_local_first_api_share_the_prefix(
    mem0_server: Mem0Server, api: httpx.Client, uid: str
) -> None:
    from mem0 import MemoryClient

    sdk = MemoryClient(api_key=APP_KEY, host=mem0_server.base_url)
    try:
        [via_sdk] = sdk.add("likes green tea", user_id=uid, infer=False)["results"]
        [via_local] = _add(api, uid, "likes black coffee", infer=False)
        seen = assert_envelope(api.get(f"/v1/memories/{via_sdk['id']}"))
        assert seen["content"] == "likes green tea"
        assert sdk.get(via_local["id"])["memory"] == "likes black coffee"
        sdk.update(via_local["id"], text="likes espresso")
        assert assert_envelope(api.get(f"/v1/memories/{via_local['id']}"))["content"] == (
            "likes espresso"
        )
        assert_envelope(api.delete(f"/v1/memories/{via_sdk['id']}"))
        remaining = sdk.get_all(filters={"user_id": uid})["results"]
        assert [m["id"] for m in remaining] == [via_local["id"]]
    finally:
        sdk.client.close()
