"""/v1/facts over HTTP: the memio 0.3.1 contract, its fixed defects, and the additions."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.http.helpers import (
    FACT_FIELDS_031,
    assert_error,
    refused_as_declared,
    walk,
    walk_links,
)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def add(api, **body):
    response = api.post("/v1/facts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_add_returns_201_and_the_stored_fact(api, uid):
    response = api.post(
        "/v1/facts",
        json={"content": "prefers dark mode", "user_id": uid, "metadata": {"topic": "ui"}},
    )
    assert response.status_code == 201, response.text
    fact = response.json()
    assert set(fact) >= FACT_FIELDS_031 | {"app_id", "run_id"}
    assert fact["content"] == "prefers dark mode"
    assert fact["user_id"] == uid and fact["agent_id"] is None
    assert fact["metadata"] == {"topic": "ui"}
    assert fact["created_at"] and fact["created_at"] == fact["updated_at"]
    assert api.get(f"/v1/facts/{fact['id']}").json() == fact


def test_empty_metadata_is_accepted(api, uid):
    fact = add(api, content="likes tea", user_id=uid, metadata={})
    assert fact["metadata"] == {}


def test_same_content_in_same_scope_returns_the_existing_fact(api, uid):
    first = add(api, content="lives in Paris", user_id=uid)
    response = api.post("/v1/facts", json={"content": "  lives in   Paris ", "user_id": uid})
    assert response.status_code == 200, response.text  # found, not created
    assert response.json() == first
    other_scope = add(api, content="lives in Paris", user_id=uid, agent_id="a1")
    assert other_scope["id"] != first["id"]


def test_resending_a_fact_with_new_metadata_keeps_the_metadata(api, uid):
    """It used to answer 201 with the old fact and drop the new metadata (decision D3)."""
    first = add(api, content="lives in Paris", user_id=uid, metadata={"source": "chat"})
    response = api.post(
        "/v1/facts",
        json={"content": "lives in Paris", "user_id": uid, "metadata": {"confidence": 0.9}},
    )
    assert response.status_code == 200, response.text
    merged = response.json()
    assert merged["id"] == first["id"]
    assert merged["metadata"] == {"source": "chat", "confidence": 0.9}
    assert merged["created_at"] == first["created_at"]
    assert parse_time(merged["updated_at"]) > parse_time(first["updated_at"])
    assert "event" not in merged
    assert api.get(f"/v1/facts/{first['id']}").json() == merged
    history = api.get(f"/v1/facts/{first['id']}/history").json()
    assert [e["event"] for e in history] == ["ADD", "UPDATE"]
    assert history[1]["new_metadata"] == merged["metadata"]
    assert history[1]["user_id"] in (uid, None)  # None: a provider that cannot know (mem0 platform)


def test_batch_answers_201_only_when_it_created_a_fact(api, uid):
    body = {"facts": [{"content": "batch status", "user_id": uid}]}
    assert api.post("/v1/facts/batch", json=body).status_code == 201
    again = api.post("/v1/facts/batch", json=body)
    assert again.status_code == 200, again.text
    merged = {"facts": [{"content": "batch status", "user_id": uid, "metadata": {"k": 1}}]}
    response = api.post("/v1/facts/batch", json=merged)
    assert response.status_code == 200, response.text
    assert response.json()[0]["metadata"] == {"k": 1}
    mixed = {"facts": [*merged["facts"], {"content": "a new one", "user_id": uid}]}
    assert api.post("/v1/facts/batch", json=mixed).status_code == 201
    assert len(api.get("/v1/facts", params={"user_id": uid}).json()) == 2


def test_metadata_past_the_caps_is_400_and_the_store_stays_healthy(api, uid):
    """6,500 keys (about 95 KB) broke the embedded chroma store for good (502 on every read,
    also after a restart); every cap answers 400 naming the field and the limit."""
    keep = add(api, content="written before", user_id=uid)
    many_keys = {f"key_{i}": i for i in range(6500)}
    response = api.post("/v1/facts", json={"content": "x", "user_id": uid, "metadata": many_keys})
    assert_error(response, 400, "metadata", "256 are allowed")
    ints = {"numbers": list(range(20000))}
    response = api.post("/v1/facts", json={"content": "x", "user_id": uid, "metadata": ints})
    assert_error(response, 400, "metadata.numbers", "1000 items")
    batch = {"facts": [{"content": "ok", "user_id": uid}, {"content": "x", "metadata": many_keys}]}
    assert_error(api.post("/v1/facts/batch", json=batch), 400, "facts[1].metadata")
    assert [f["id"] for f in api.get("/v1/facts", params={"user_id": uid}).json()] == [keep["id"]]
    found = api.post("/v1/facts/search", json={"query": "written", "user_id": uid})
    assert found.status_code == 200, found.text
    assert api.get("/ready").json()["status"] == "ready"


def test_nul_is_400_naming_the_field(api, uid):
    assert_error(
        api.post("/v1/facts", json={"content": "a\u0000b", "user_id": uid}), 400, "content"
    )
    bad_key = api.post(
        "/v1/facts", json={"content": "x", "user_id": uid, "metadata": {"k": "\u0000"}}
    )
    assert_error(bad_key, 400, "metadata.k")
    assert api.get("/v1/facts", params={"user_id": uid}).json() == []


def test_add_with_an_existing_fact_id_is_409(api, server, uid):
    first = {"content": "first", "user_id": uid, "fact_id": f"{uid}-f"}
    response = api.post("/v1/facts", json=first)
    if refused_as_declared(server, "facts", "fact_ids", response):
        assert api.get("/v1/facts", params={"user_id": uid}).json() == []
        return
    assert response.status_code == 201, response.text
    response = api.post(
        "/v1/facts", json={"content": "second", "user_id": uid, "fact_id": f"{uid}-f"}
    )
    assert_error(response, 409, f"{uid}-f")
    assert api.get(f"/v1/facts/{uid}-f").json()["content"] == "first"


def test_add_validation(api, uid):
    assert_error(api.post("/v1/facts", json={"user_id": uid}), 422, "content")
    assert_error(api.post("/v1/facts", json={"content": "  ", "user_id": uid}), 400, "content")
    nested = api.post(
        "/v1/facts", json={"content": "x", "user_id": uid, "metadata": {"a": {"b": 1}}}
    )
    assert_error(nested, 400, "metadata.a")
    null_value = api.post("/v1/facts", json={"content": "x", "metadata": {"n": None}})
    assert_error(null_value, 400, "metadata.n")


def test_scope_fields_round_trip(api, uid):
    fact = add(api, content="uses vim", user_id=uid, agent_id="ag", app_id="app", run_id="r1")
    assert (fact["agent_id"], fact["app_id"], fact["run_id"]) == ("ag", "app", "r1")
    listed = api.get("/v1/facts", params={"user_id": uid, "app_id": "app", "run_id": "r1"})
    assert [f["id"] for f in listed.json()] == [fact["id"]]
    assert api.get("/v1/facts", params={"user_id": uid, "run_id": "r2"}).json() == []


def test_get_missing_is_404(api, uid):
    assert_error(api.get(f"/v1/facts/{uid}-missing"), 404, f"{uid}-missing")


def test_list_is_a_bare_array_in_creation_order_scoped_by_user(api, uid):
    ids = [add(api, content=f"fact number {i}", user_id=uid)["id"] for i in range(3)]
    add(api, content="someone else's", user_id=f"{uid}-other")
    response = api.get("/v1/facts", params={"user_id": uid})
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list)
    assert [f["id"] for f in body] == ids
    assert all(set(f) >= FACT_FIELDS_031 for f in body)
    assert "x-next-cursor" not in response.headers and "link" not in response.headers


def test_list_pages_with_cursor_and_link(api, uid):
    ids = [add(api, content=f"paged fact {i}", user_id=uid)["id"] for i in range(5)]
    items, pages = walk(api, "/v1/facts", {"user_id": uid, "limit": 2})
    assert [f["id"] for f in items] == ids
    assert pages == 3
    assert [f["id"] for f in walk_links(api, "/v1/facts", {"user_id": uid, "limit": 2})] == ids


def test_cursor_from_another_listing_is_400(api, uid):
    for i in range(3):
        add(api, content=f"cursor fact {i}", user_id=uid)
    cursor = api.get("/v1/facts", params={"user_id": uid, "limit": 1}).headers["x-next-cursor"]
    response = api.get("/v1/facts", params={"user_id": f"{uid}-other", "cursor": cursor})
    assert_error(response, 400, "cursor")
    assert_error(api.get("/v1/facts", params={"cursor": "not-a-cursor!"}), 400, "cursor")


@pytest.mark.parametrize("limit", [0, 1001, "many"])
def test_limit_bounds_are_422(api, limit):
    assert_error(api.get("/v1/facts", params={"limit": limit}), 422, "limit")


def test_list_filters_as_json_text(api, uid):
    ui = add(api, content="dark theme", user_id=uid, metadata={"topic": "ui", "rank": 3})
    add(api, content="green tea", user_id=uid, metadata={"topic": "food", "rank": 1})
    filters = json.dumps({"topic": "ui"})
    listed = api.get("/v1/facts", params={"user_id": uid, "filters": filters}).json()
    assert [f["id"] for f in listed] == [ui["id"]]
    filters = json.dumps({"rank": {"gte": 2}})
    listed = api.get("/v1/facts", params={"user_id": uid, "filters": filters}).json()
    assert [f["id"] for f in listed] == [ui["id"]]
    assert_error(api.get("/v1/facts", params={"filters": "{topic"}), 400, "filters")
    assert_error(api.get("/v1/facts", params={"filters": "[1]"}), 400, "filters")
    bad_op = json.dumps({"rank": {"between": [1, 2]}})
    assert_error(api.get("/v1/facts", params={"filters": bad_op}), 400, "filters")


def test_search_is_a_bare_array_best_first(api, uid):
    dark = add(api, content="prefers dark mode in every editor", user_id=uid)
    add(api, content="is allergic to peanuts", user_id=uid)
    add(api, content="unrelated person likes dark mode", user_id=f"{uid}-other")
    response = api.post(
        "/v1/facts/search", json={"query": "UI theme preferences", "user_id": uid, "limit": 5}
    )
    assert response.status_code == 200, response.text
    results = response.json()
    assert isinstance(results, list) and len(results) == 2
    assert results[0]["id"] == dark["id"]
    scores = [r["score"] for r in results]
    assert all(0 <= s <= 1 for s in scores) and scores == sorted(scores, reverse=True)
    assert all(r["user_id"] == uid for r in results)


def test_search_threshold_and_filters(api, uid):
    add(api, content="prefers dark mode", user_id=uid, metadata={"topic": "ui"})
    add(api, content="drinks green tea", user_id=uid, metadata={"topic": "food"})
    everything = api.post("/v1/facts/search", json={"query": "dark mode", "user_id": uid}).json()
    top = everything[0]["score"]
    above = api.post(
        "/v1/facts/search", json={"query": "dark mode", "user_id": uid, "threshold": top}
    ).json()
    assert [r["id"] for r in above] == [everything[0]["id"]]
    food = api.post(
        "/v1/facts/search",
        json={"query": "dark mode", "user_id": uid, "filters": {"topic": "food"}},
    ).json()
    assert [r["content"] for r in food] == ["drinks green tea"]
    bad = api.post("/v1/facts/search", json={"query": "x", "filters": {"$or": "not a list"}})
    assert_error(bad, 400, "filters")
    assert_error(api.post("/v1/facts/search", json={"query": "x", "limit": 1001}), 422, "limit")
    assert_error(api.post("/v1/facts/search", json={"query": "x", "threshold": 2}), 422)


def test_search_modes(api, uid):
    """hybrid (the default), keyword and semantic on the same facts; another mode is 422."""
    tea = add(api, content="Green tea is brewed at 80 degrees.", user_id=uid)
    add(api, content="The kettle whistles when water boils.", user_id=uid)
    add(api, content="The stock market closed higher.", user_id=uid)

    def search(**extra):
        body = {"query": "brewed green tea", "user_id": uid, **extra}
        response = api.post("/v1/facts/search", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    assert [f["id"] for f in search(search_mode="keyword")] == [tea["id"]]
    assert len(search(search_mode="semantic")) == 3
    hybrid = search()
    assert hybrid[0]["id"] == tea["id"] and search(search_mode="hybrid") == hybrid
    assert hybrid[0]["score"] == 1 and all(0 <= f["score"] <= 1 for f in hybrid)
    wrong = api.post("/v1/facts/search", json={"query": "x", "search_mode": "fuzzy"})
    assert_error(wrong, 422, "search_mode")


def test_update_returns_the_stored_state(api, uid):
    fact = add(api, content="likes cats", user_id=uid, metadata={"a": 1})
    response = api.put(
        f"/v1/facts/{fact['id']}", json={"content": "likes dogs", "metadata": {"b": 2}}
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["content"] == "likes dogs"
    assert updated["metadata"] == {"a": 1, "b": 2}
    assert updated["created_at"] == fact["created_at"]
    assert parse_time(updated["updated_at"]) > parse_time(fact["updated_at"])
    assert api.get(f"/v1/facts/{fact['id']}").json() == updated
    meta_only = api.put(f"/v1/facts/{fact['id']}", json={"metadata": {"a": 5}}).json()
    assert meta_only["content"] == "likes dogs" and meta_only["metadata"] == {"a": 5, "b": 2}


def test_update_errors(api, uid):
    assert_error(api.put(f"/v1/facts/{uid}-missing", json={"content": "x"}), 404)
    assert_error(api.get(f"/v1/facts/{uid}-missing"), 404)
    fact = add(api, content="something", user_id=uid)
    assert_error(api.put(f"/v1/facts/{fact['id']}", json={}), 400)
    nested = api.put(f"/v1/facts/{fact['id']}", json={"metadata": {"k": [{"x": 1}]}})
    assert_error(nested, 400, "metadata.k")


def test_delete_then_404(api, uid):
    fact = add(api, content="to be deleted", user_id=uid)
    response = api.delete(f"/v1/facts/{fact['id']}")
    assert response.status_code == 204 and response.content == b""
    assert_error(api.get(f"/v1/facts/{fact['id']}"), 404)
    assert_error(api.delete(f"/v1/facts/{fact['id']}"), 404)


def test_history_of_a_fact(api, uid):
    fact = add(api, content="v1", user_id=uid)
    api.put(f"/v1/facts/{fact['id']}", json={"content": "v2"})
    api.delete(f"/v1/facts/{fact['id']}")
    response = api.get(f"/v1/facts/{fact['id']}/history")
    assert response.status_code == 200, response.text
    events = response.json()
    assert [e["event"] for e in events] == ["ADD", "UPDATE", "DELETE"]
    assert all(e["fact_id"] == fact["id"] for e in events)
    assert events[1]["old_content"] == "v1" and events[1]["new_content"] == "v2"
    assert_error(api.get(f"/v1/facts/{uid}-never/history"), 404)


def test_delete_all_in_a_scope(api, uid):
    add(api, content="mine 1", user_id=uid)
    add(api, content="mine 2", user_id=uid)
    other = add(api, content="theirs", user_id=f"{uid}-other")
    response = api.delete("/v1/facts", params={"user_id": uid})
    assert response.status_code == 204 and response.content == b""
    assert api.get("/v1/facts", params={"user_id": uid}).json() == []
    assert api.get(f"/v1/facts/{other['id']}").status_code == 200


def test_unscoped_delete_all_needs_the_admin_key(api, admin, uid):
    fact = add(api, content="survives a refused wipe", user_id=uid)
    assert_error(api.delete("/v1/facts"), 403)
    assert api.get(f"/v1/facts/{fact['id']}").status_code == 200
    assert admin.delete("/v1/facts").status_code == 204
    assert_error(api.get(f"/v1/facts/{fact['id']}"), 404)


def test_batch_add_and_delete(api, uid):
    body = {
        "facts": [
            {"content": "batch one", "user_id": uid, "metadata": {"n": 1}},
            {"content": "batch two", "user_id": uid, "agent_id": "ag"},
        ]
    }
    response = api.post("/v1/facts/batch", json=body)
    assert response.status_code == 201, response.text
    stored = response.json()
    assert [f["content"] for f in stored] == ["batch one", "batch two"]
    assert stored[0]["metadata"] == {"n": 1} and stored[1]["agent_id"] == "ag"
    assert all(f["id"] and f["created_at"] and f["user_id"] == uid for f in stored)
    listed = api.get("/v1/facts", params={"user_id": uid}).json()
    assert [f["id"] for f in listed] == [f["id"] for f in stored]

    response = api.request(
        "DELETE", "/v1/facts/batch", json={"ids": [stored[0]["id"], f"{uid}-nope"]}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"deleted": 1}
    listed = api.get("/v1/facts", params={"user_id": uid}).json()
    assert [f["id"] for f in listed] == [stored[1]["id"]]


def test_batch_with_an_invalid_item_writes_nothing(api, uid):
    bad = {"facts": [{"content": "ok", "user_id": uid}, {"content": "x", "metadata": {"m": {}}}]}
    assert_error(api.post("/v1/facts/batch", json=bad), 400, "facts[1].metadata.m")
    empty = {"facts": [{"content": "ok", "user_id": uid}, {"content": " ", "user_id": uid}]}
    assert_error(api.post("/v1/facts/batch", json=empty), 400, "facts[1].content")
    assert api.get("/v1/facts", params={"user_id": uid}).json() == []


def test_batch_with_an_existing_fact_id_writes_nothing(api, server, uid):
    first = {"content": "exists", "user_id": uid, "fact_id": f"{uid}-x"}
    response = api.post("/v1/facts", json=first)
    if refused_as_declared(server, "facts", "fact_ids", response):
        assert api.get("/v1/facts", params={"user_id": uid}).json() == []
        return
    assert response.status_code == 201, response.text
    body = {
        "facts": [
            {"content": "new one", "user_id": uid},
            {"content": "clash", "user_id": uid, "fact_id": f"{uid}-x"},
        ]
    }
    assert_error(api.post("/v1/facts/batch", json=body), 409, f"{uid}-x")
    repeated = {
        "facts": [
            {"content": "a", "user_id": uid, "fact_id": f"{uid}-r"},
            {"content": "b", "user_id": uid, "fact_id": f"{uid}-r"},
        ]
    }
    assert_error(api.post("/v1/facts/batch", json=repeated), 409, f"{uid}-r")
    listed = api.get("/v1/facts", params={"user_id": uid}).json()
    assert [f["content"] for f in listed] == ["exists"]


def test_batch_size_limits(api, uid):
    too_many = {"facts": [{"content": f"f{i}", "user_id": uid} for i in range(1001)]}
    assert_error(api.post("/v1/facts/batch", json=too_many), 422, "facts")
    assert_error(api.post("/v1/facts/batch", json={"facts": []}), 422, "facts")
    ids = {"ids": [f"{uid}-{i}" for i in range(1001)]}
    assert_error(api.request("DELETE", "/v1/facts/batch", json=ids), 422, "ids")
    assert api.get("/v1/facts", params={"user_id": uid}).json() == []
