"""/v1/documents over HTTP: 0.3.1 routes with the defects fixed, user scoping, batch routes."""

from __future__ import annotations

import json
from datetime import datetime

from tests.http.helpers import DOCUMENT_FIELDS_031, assert_error, walk, walk_links


def add(api, **body):
    response = api.post("/v1/documents", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def ids(documents):
    return [d["id"] for d in documents]


def test_add_returns_201_and_the_stored_document(api, uid):
    response = api.post(
        "/v1/documents",
        json={"content": "Green tea is brewed at 80 degrees.", "doc_id": uid, "metadata": {}},
    )
    assert response.status_code == 201, response.text
    doc = response.json()
    assert set(doc) >= DOCUMENT_FIELDS_031 | {"user_id"}
    assert doc["id"] == uid and doc["metadata"] == {} and doc["user_id"] is None
    assert doc["created_at"] and doc["created_at"] == doc["updated_at"]
    assert api.get(f"/v1/documents/{uid}").json() == doc


def test_generated_id(api, uid):
    doc = add(api, content="no id given", user_id=uid)
    assert doc["id"]
    assert api.get(f"/v1/documents/{doc['id']}").json()["content"] == "no id given"


def test_add_with_an_existing_id_is_409_and_keeps_the_original(api, uid):
    add(api, content="original", doc_id=uid)
    assert_error(api.post("/v1/documents", json={"content": "new", "doc_id": uid}), 409, uid)
    assert api.get(f"/v1/documents/{uid}").json()["content"] == "original"


def test_add_validation(api, uid):
    assert_error(api.post("/v1/documents", json={"doc_id": uid}), 422, "content")
    assert_error(api.post("/v1/documents", json={"content": ""}), 400, "content")
    nested = api.post(
        "/v1/documents", json={"content": "x", "doc_id": uid, "metadata": {"deep": {"a": 1}}}
    )
    assert_error(nested, 400, "metadata.deep")
    assert_error(api.get(f"/v1/documents/{uid}"), 404)


def test_list_is_a_bare_array_with_json_filters(api, uid):
    a = add(api, content="alpha", doc_id=f"{uid}-a", metadata={"topic": "tea", "n": 1})
    b = add(api, content="beta", doc_id=f"{uid}-b", metadata={"topic": "tea", "n": 2})
    add(api, content="gamma", doc_id=f"{uid}-c", metadata={"topic": "coffee", "n": 3})
    response = api.get("/v1/documents", params={"filters": json.dumps({"run": uid})})
    assert response.status_code == 200 and response.json() == []
    both = {"$and": [{"topic": "tea"}, {"id": {"in": [f"{uid}-a", f"{uid}-b", f"{uid}-c"]}}]}
    listed = api.get("/v1/documents", params={"filters": json.dumps(both)}).json()
    assert isinstance(listed, list)
    assert all(set(d) >= DOCUMENT_FIELDS_031 for d in listed)
    assert ids(listed) == [a["id"], b["id"]]
    two_keys = {"topic": "tea", "n": {"gte": 2}, "id": {"in": [f"{uid}-a", f"{uid}-b"]}}
    assert ids(api.get("/v1/documents", params={"filters": json.dumps(two_keys)}).json()) == [
        b["id"]
    ]


def test_invalid_filters_are_400_naming_filters(api):
    assert_error(api.get("/v1/documents", params={"filters": "{not json"}), 400, "filters")
    assert_error(api.get("/v1/documents", params={"filters": '"text"'}), 400, "filters")
    bad = json.dumps({"n": {"$near": 3}})
    assert_error(api.get("/v1/documents", params={"filters": bad}), 400, "filters")
    search = api.post("/v1/documents/search", json={"query": "x", "filters": {"$and": {}}})
    assert_error(search, 400, "filters")


def test_list_pages_with_cursor_and_link(api, uid):
    made = [add(api, content=f"doc {i}", user_id=uid)["id"] for i in range(5)]
    items, pages = walk(api, "/v1/documents", {"user_id": uid, "limit": 2})
    assert ids(items) == made and pages == 3
    assert ids(walk_links(api, "/v1/documents", {"user_id": uid, "limit": 2})) == made
    filters = json.dumps({"id": {"in": made[1:]}})
    items, _ = walk(api, "/v1/documents", {"filters": filters, "limit": 3})
    assert ids(items) == made[1:]


def test_search_best_first(api, uid):
    add(api, content="Green tea is brewed at 80 degrees.", doc_id=f"{uid}-tea", user_id=uid)
    add(api, content="The stock market closed higher.", doc_id=f"{uid}-stocks", user_id=uid)
    response = api.post(
        "/v1/documents/search",
        json={"query": "how hot should the water be for tea", "user_id": uid, "limit": 2},
    )
    assert response.status_code == 200, response.text
    results = response.json()
    assert ids(results) == [f"{uid}-tea", f"{uid}-stocks"]
    scores = [d["score"] for d in results]
    assert all(0 <= s <= 1 for s in scores) and scores[0] >= scores[1]
    filtered = api.post(
        "/v1/documents/search",
        json={"query": "tea", "user_id": uid, "filters": {"id": f"{uid}-stocks"}},
    ).json()
    assert ids(filtered) == [f"{uid}-stocks"]
    assert_error(api.post("/v1/documents/search", json={"query": "x", "limit": 0}), 422)


def test_search_modes(api, uid):
    """hybrid (the default), keyword and semantic on the same documents; another mode is 422."""
    add(api, content="Green tea is brewed at 80 degrees.", doc_id=f"{uid}-tea", user_id=uid)
    add(api, content="The kettle whistles when water boils.", doc_id=f"{uid}-kettle", user_id=uid)
    add(api, content="The stock market closed higher.", doc_id=f"{uid}-stocks", user_id=uid)

    def search(**extra):
        body = {"query": "brewed green tea", "user_id": uid, **extra}
        response = api.post("/v1/documents/search", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    assert ids(search(search_mode="keyword")) == [f"{uid}-tea"]
    assert len(search(search_mode="semantic")) == 3
    hybrid = search()
    assert ids(hybrid)[0] == f"{uid}-tea" and search(search_mode="hybrid") == hybrid
    assert all(0 <= d["score"] <= 1 for d in hybrid)
    wrong = api.post("/v1/documents/search", json={"query": "x", "search_mode": "fuzzy"})
    assert_error(wrong, 422, "search_mode")


def test_update_returns_the_stored_state(api, uid):
    doc = add(api, content="v1", doc_id=uid, metadata={"a": 1})
    response = api.put(f"/v1/documents/{uid}", json={"content": "v2", "metadata": {"b": 2}})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["content"] == "v2" and updated["metadata"] == {"a": 1, "b": 2}
    assert updated["created_at"] == doc["created_at"]
    parse = datetime.fromisoformat
    assert parse(updated["updated_at"].replace("Z", "+00:00")) > parse(
        doc["updated_at"].replace("Z", "+00:00")
    )
    assert api.get(f"/v1/documents/{uid}").json() == updated
    meta_only = api.put(f"/v1/documents/{uid}", json={"metadata": {"a": 3}}).json()
    assert meta_only["content"] == "v2" and meta_only["metadata"] == {"a": 3, "b": 2}


def test_update_of_a_missing_id_is_404_and_invents_nothing(api, uid):
    assert_error(api.put(f"/v1/documents/{uid}", json={"content": "x"}), 404, uid)
    assert_error(api.get(f"/v1/documents/{uid}"), 404)
    add(api, content="exists", doc_id=uid)
    assert_error(api.put(f"/v1/documents/{uid}", json={}), 400)
    assert_error(api.put(f"/v1/documents/{uid}", json={"metadata": {"x": None}}), 400, "metadata.x")


def test_delete(api, uid):
    add(api, content="bye", doc_id=uid)
    response = api.delete(f"/v1/documents/{uid}")
    assert response.status_code == 204 and response.content == b""
    assert_error(api.get(f"/v1/documents/{uid}"), 404)
    assert_error(api.delete(f"/v1/documents/{uid}"), 404)


def test_user_scoping(api, uid):
    alice, bob = f"{uid}-alice", f"{uid}-bob"
    doc = add(api, content="alice's notes on tea", doc_id=uid, user_id=alice)
    assert doc["user_id"] == alice
    assert api.get(f"/v1/documents/{uid}", params={"user_id": alice}).json() == doc
    assert api.get(f"/v1/documents/{uid}").json() == doc  # unscoped access still sees it
    assert_error(api.get(f"/v1/documents/{uid}", params={"user_id": bob}), 404)
    assert_error(
        api.put(f"/v1/documents/{uid}", params={"user_id": bob}, json={"content": "x"}), 404
    )
    assert_error(api.delete(f"/v1/documents/{uid}", params={"user_id": bob}), 404)
    add(api, content="bob's notes on tea", doc_id=f"{uid}-b", user_id=bob)
    assert ids(api.get("/v1/documents", params={"user_id": alice}).json()) == [uid]
    found = api.post("/v1/documents/search", json={"query": "notes on tea", "user_id": bob})
    assert ids(found.json()) == [f"{uid}-b"]
    moved = api.put(f"/v1/documents/{uid}", params={"user_id": alice}, json={"content": "v2"})
    assert moved.status_code == 200 and moved.json()["user_id"] == alice
    assert api.delete(f"/v1/documents/{uid}", params={"user_id": alice}).status_code == 204


def test_delete_all_of_a_user(api, uid):
    user = f"{uid}-user"
    add(api, content="one", user_id=user)
    add(api, content="two", user_id=user)
    keep = add(api, content="other", user_id=f"{uid}-other")
    assert api.delete("/v1/documents", params={"user_id": user}).status_code == 204
    assert api.get("/v1/documents", params={"user_id": user}).json() == []
    assert api.get(f"/v1/documents/{keep['id']}").status_code == 200


def test_unscoped_delete_all_needs_the_admin_key(api, admin, uid):
    add(api, content="precious", doc_id=uid)
    assert_error(api.delete("/v1/documents"), 403)
    assert api.get(f"/v1/documents/{uid}").status_code == 200
    assert admin.delete("/v1/documents").status_code == 204
    assert_error(api.get(f"/v1/documents/{uid}"), 404)


def test_batch_add_is_all_or_nothing(api, uid):
    docs = [{"content": f"batch doc {i}", "doc_id": f"{uid}-{i}", "user_id": uid} for i in range(3)]
    response = api.post("/v1/documents/batch", json={"documents": docs})
    assert response.status_code == 201, response.text
    stored = response.json()
    assert ids(stored) == [f"{uid}-{i}" for i in range(3)]
    assert all(d["created_at"] and d["user_id"] == uid for d in stored)
    clash = [
        {"content": "new", "doc_id": f"{uid}-new", "user_id": uid},
        {"content": "again", "doc_id": f"{uid}-1", "user_id": uid},
    ]
    assert_error(api.post("/v1/documents/batch", json={"documents": clash}), 409, f"{uid}-1")
    assert_error(api.get(f"/v1/documents/{uid}-new"), 404)
    assert api.get(f"/v1/documents/{uid}-1").json()["content"] == "batch doc 1"
    bad = [{"content": "fine", "user_id": uid}, {"content": "x", "metadata": {"m": {"n": 1}}}]
    assert_error(
        api.post("/v1/documents/batch", json={"documents": bad}), 400, "documents[1].metadata.m"
    )
    assert len(api.get("/v1/documents", params={"user_id": uid}).json()) == 3


def test_batch_upsert_replaces_and_keeps_created_at(api, uid):
    original = add(api, content="old", doc_id=f"{uid}-0", metadata={"v": 1}, user_id=uid)
    docs = [
        {"content": "new", "doc_id": f"{uid}-0", "metadata": {"v": 2}, "user_id": uid},
        {"content": "fresh", "doc_id": f"{uid}-1", "user_id": uid},
    ]
    response = api.put("/v1/documents/batch", json={"documents": docs})
    assert response.status_code == 200, response.text
    stored = response.json()
    assert [(d["id"], d["content"]) for d in stored] == [(f"{uid}-0", "new"), (f"{uid}-1", "fresh")]
    assert stored[0]["created_at"] == original["created_at"]
    assert api.get(f"/v1/documents/{uid}-0").json()["metadata"] == {"v": 2}


def test_batch_delete(api, uid):
    for i in range(3):
        add(api, content=f"d{i}", doc_id=f"{uid}-{i}", user_id=uid)
    body = {"ids": [f"{uid}-0", f"{uid}-1", f"{uid}-missing"]}
    other_user = api.request(
        "DELETE", "/v1/documents/batch", params={"user_id": f"{uid}-x"}, json=body
    )
    assert other_user.status_code == 200 and other_user.json() == {"deleted": 0}
    response = api.request("DELETE", "/v1/documents/batch", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"deleted": 2}
    assert ids(api.get("/v1/documents", params={"user_id": uid}).json()) == [f"{uid}-2"]


def test_batch_size_limits(api, uid):
    many = [{"content": f"d{i}", "user_id": uid} for i in range(1001)]
    assert_error(api.post("/v1/documents/batch", json={"documents": many}), 422, "documents")
    assert_error(api.put("/v1/documents/batch", json={"documents": many}), 422, "documents")
    assert_error(api.post("/v1/documents/batch", json={"documents": []}), 422, "documents")
    ids_body = {"ids": [str(i) for i in range(1001)]}
    assert_error(api.request("DELETE", "/v1/documents/batch", json=ids_body), 422, "ids")
    assert api.get("/v1/documents", params={"user_id": uid}).json() == []


def test_a_full_batch_of_1000_is_accepted(api, uid):
    docs = [{"content": f"bulk document number {i}", "user_id": uid} for i in range(1000)]
    response = api.post("/v1/documents/batch", json={"documents": docs})
    assert response.status_code == 201, response.text
    assert len(response.json()) == 1000
    items, pages = walk(api, "/v1/documents", {"user_id": uid, "limit": 400})
    assert len(items) == 1000 and pages == 3
    deleted = api.request("DELETE", "/v1/documents/batch", json={"ids": ids(items)})
    assert deleted.json() == {"deleted": 1000}


def test_upsert_never_changes_an_owner(api, uid):
    """An upsert without user_id used to un-scope another user's document (decision D4)."""
    mine = add(api, content="private", doc_id=f"{uid}-p", user_id=uid)
    for owner in (None, f"{uid}-other"):
        item = {"content": "taken over", "doc_id": f"{uid}-p"}
        if owner is not None:
            item["user_id"] = owner
        body = {"documents": [{"content": "new", "doc_id": f"{uid}-n"}, item]}
        assert_error(api.put("/v1/documents/batch", json=body), 409, "documents[1].user_id")
    assert api.get(f"/v1/documents/{uid}-p", params={"user_id": uid}).json() == mine
    assert_error(api.get(f"/v1/documents/{uid}-n"), 404)


def test_include_shared(api, uid):
    run = json.dumps({"run": uid})
    mine = add(api, content="my notes on tea", user_id=uid, metadata={"run": uid})
    shared = add(api, content="a shared guide to tea", metadata={"run": uid})
    add(api, content="someone else's tea", user_id=f"{uid}-x", metadata={"run": uid})
    listed = api.get(
        "/v1/documents", params={"user_id": uid, "include_shared": "true", "filters": run}
    )
    assert ids(listed.json()) == [mine["id"], shared["id"]]
    assert ids(api.get("/v1/documents", params={"user_id": uid, "filters": run}).json()) == [
        mine["id"]
    ]
    body = {"query": "tea", "user_id": uid, "include_shared": True, "filters": {"run": uid}}
    found = api.post("/v1/documents/search", json=body).json()
    assert sorted(ids(found)) == sorted([mine["id"], shared["id"]])
    one = api.get(f"/v1/documents/{shared['id']}", params={"user_id": uid, "include_shared": 1})
    assert one.json() == shared
    assert_error(api.get(f"/v1/documents/{shared['id']}", params={"user_id": uid}), 404)


def test_metadata_past_the_caps_is_400(api, uid):
    many_keys = {f"key_{i}": i for i in range(6500)}
    response = api.post(
        "/v1/documents", json={"content": "x", "user_id": uid, "metadata": many_keys}
    )
    assert_error(response, 400, "metadata", "256 are allowed")
    long_text = {"text": "x" * 9000}
    body = {
        "documents": [{"content": "ok", "user_id": uid}, {"content": "x", "metadata": long_text}]
    }
    assert_error(api.put("/v1/documents/batch", json=body), 400, "documents[1].metadata.text")
    doc = add(api, content="small", user_id=uid, metadata={"k": 1})
    merge = api.put(f"/v1/documents/{doc['id']}", json={"metadata": many_keys})
    assert_error(merge, 400, "metadata")
    assert api.get("/v1/documents", params={"user_id": uid}).json() == [doc]
