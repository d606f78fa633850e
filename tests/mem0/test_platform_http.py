"""The platform dialect's older paths (mem0ai 1.x clients) and its GET search, with raw HTTP
against a real memio-server (`mem0_server`: chroma and mem0 OSS facts)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.mem0.conftest import ADMIN_KEY, APP_KEY, Mem0Server


@pytest.fixture
def http(mem0_server: Mem0Server) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=mem0_server.base_url,
        headers={"Authorization": f"Token {APP_KEY}"},
        timeout=60,
    ) as client:
        yield client


def _add_v1(http: httpx.Client, uid: str, *texts: str) -> list[str]:
    """mem0ai 1.x's add: POST /v1/memories/ with output_format v1.1 and its org/project ids."""
    response = http.post(
        "/v1/memories/",
        json={
            "messages": [{"role": "user", "content": text} for text in texts],
            "user_id": uid,
            "infer": False,
            "output_format": "v1.1",
            "org_id": "memio",
            "project_id": "memio-app",
        },
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["event"] for r in results] == ["ADD"] * len(texts)
    return [r["id"] for r in results]


def test_v1_add_formats(http: httpx.Client, uid: str) -> None:
    _add_v1(http, uid, "likes tea")
    bare = http.post(
        "/v1/memories/",
        json={"messages": [{"role": "user", "content": "likes cake"}], "user_id": uid,
              "infer": False, "output_format": "v1.0"},
    )  # fmt: skip
    assert isinstance(bare.json(), list) and bare.json()[0]["data"]["memory"] == "likes cake"


def test_v2_get_all_and_search_answer_bare_lists(http: httpx.Client, uid: str) -> None:
    ids = _add_v1(http, uid, "plays the piano", "likes tea", "runs marathons")
    listing = http.post("/v2/memories/", json={"user_id": uid, "org_id": "memio"})
    assert [m["id"] for m in listing.json()] == ids
    paged = http.post(
        "/v2/memories/", params={"page": 2, "page_size": 2}, json={"filters": {"user_id": uid}}
    )
    assert paged.json()["count"] == 3 and [m["id"] for m in paged.json()["results"]] == ids[2:]
    found = http.post("/v2/memories/search/", json={"query": "music", "user_id": uid, "top_k": 1})
    assert [m["id"] for m in found.json()] == [ids[0]]
    found = http.post(
        "/v2/memories/search/", json={"query": "music", "filters": {"AND": [{"user_id": uid}]}}
    )
    assert found.json()[0]["id"] == ids[0] and "score" in found.json()[0]


def test_search_by_meaning_unless_keyword_search_or_rerank(http: httpx.Client, uid: str) -> None:
    """mem0's search ranks by meaning (cosine scores); keyword_search or rerank asks for memio's
    hybrid ranking, whose best result scores 1."""
    ids = _add_v1(http, uid, "brewed green tea at 80 degrees", "the kettle whistles")

    def search(**extra: object) -> list[dict]:
        body = {"query": "brewed green tea", "filters": {"user_id": uid}, **extra}
        response = http.post("/v3/memories/search/", json=body)
        assert response.status_code == 200, response.text
        assert "x-memio-ignored" not in response.headers
        return response.json()["results"]

    semantic = search()
    assert semantic[0]["id"] == ids[0] and semantic[0]["score"] < 1
    assert search(rerank=False, keyword_search=False) == semantic
    for flag in ("rerank", "keyword_search"):
        hybrid = search(**{flag: True})
        assert [m["id"] for m in hybrid] == ids and hybrid[0]["score"] == 1


def test_v1_search_and_get(http: httpx.Client, uid: str) -> None:
    ids = _add_v1(http, uid, "drinks coffee")
    http.put(f"/v1/memories/{ids[0]}/", json={"metadata": {"topic": "food"}})
    bare = http.post("/v1/memories/search/", json={"query": "coffee", "user_id": uid})
    assert [m["id"] for m in bare.json()] == ids
    wrapped = http.post(
        "/v1/memories/search/",
        json={"query": "coffee", "user_id": uid, "metadata": {"topic": "food"},
              "output_format": "v1.1"},
    )  # fmt: skip
    assert [m["id"] for m in wrapped.json()["results"]] == ids
    none = http.post(
        "/v1/memories/search/",
        json={"query": "coffee", "user_id": uid, "metadata": {"topic": "sport"}},
    )
    assert none.json() == []
    listing = http.get("/v1/memories/", params={"user_id": uid})
    assert [m["id"] for m in listing.json()] == ids
    paged = http.get("/v1/memories/", params={"user_id": uid, "page": 1, "page_size": 10})
    assert paged.json()["count"] == 1
    missing = http.get("/v1/memories/")
    assert missing.status_code == 400 and "must name at least one" in missing.json()["detail"]


def test_entity_routes(http: httpx.Client, uid: str) -> None:
    _add_v1(http, uid, "one", "two")
    one = http.get(f"/v1/entities/user/{uid}/")
    assert one.json()["total_memories"] == 2 and one.json()["type"] == "user"
    assert http.get(f"/v1/entities/agent/{uid}/").status_code == 404
    bad = http.get(f"/v1/entities/team/{uid}/")
    assert bad.status_code == 400 and "unknown entity type 'team'" in bad.json()["detail"]
    assert http.delete(f"/v1/entities/user/{uid}/").json()["message"]
    assert http.get("/v1/memories/", params={"user_id": uid}).json() == []


def test_get_search_with_a_trailing_slash(http: httpx.Client, uid: str) -> None:
    """The platform's search with the query in the URL (without the slash it is the local-first
    API's: tests/mem0/test_local_first.py)."""
    ids = _add_v1(http, uid, "loves hiking in the alps", "owns a red bike")
    found = http.get("/v1/memories/search/", params={"query": "mountains", "user_id": uid})
    assert found.status_code == 200
    assert found.json()["results"][0]["id"] == ids[0] and "score" in found.json()["results"][0]
    slash = http.get(
        "/v1/memories/search/", params={"query": "bicycle", "user_id": uid, "limit": 1}
    )
    assert [m["id"] for m in slash.json()["results"]] == [ids[1]]
    assert http.get("/v1/memories/search/", params={"query": "x"}).status_code == 400
    # the memory routes still see ids, not the search
    assert http.get(f"/v1/memories/{ids[0]}/").json()["id"] == ids[0]


def test_bearer_and_x_api_key_work_too(mem0_server: Mem0Server) -> None:
    for headers in ({"Authorization": f"Bearer {APP_KEY}"}, {"X-API-Key": APP_KEY}):
        response = httpx.get(f"{mem0_server.base_url}/v1/ping/", headers=headers)
        assert response.json()["project_id"] == "memio-app"
    admin = httpx.get(f"{mem0_server.base_url}/v1/ping/", headers={"X-API-Key": ADMIN_KEY})
    assert admin.json()["project_id"] == "memio-admin"
    anonymous = httpx.get(f"{mem0_server.base_url}/v1/ping/")
    assert anonymous.status_code == 401 and anonymous.json()["detail"]


def test_openapi_documents_the_dialects(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    for path in ("/v3/memories/add/", "/v1/memories/{memory_id}/", "/memories", "/search"):
        assert path in paths
    assert "/auth/login" not in paths  # answered 501, not advertised
