"""/v1/graph over HTTP: GraphResult bodies, stable triple ids, scoping, traversal, paging."""

from __future__ import annotations

from tests.http.helpers import (
    GRAPH_RESULT_FIELDS_031,
    TRIPLE_FIELDS_031,
    assert_error,
    next_link,
)


def add(api, triples, user_id=None):
    body = {
        "triples": [dict(zip(("subject", "predicate", "object"), t, strict=True)) for t in triples]
    }
    if user_id is not None:
        body["user_id"] = user_id
    response = api.post("/v1/graph/triples", json=body)
    assert response.status_code == 204, response.text
    assert response.content == b""


def spo(result):
    return [(t["subject"], t["predicate"], t["object"]) for t in result["triples"]]


def listing(api, user_id, **params):
    response = api.get("/v1/graph/triples", params={"user_id": user_id, **params})
    assert response.status_code == 200, response.text
    return response


def test_add_then_list_a_graph_result(api, uid):
    add(
        api,
        [(f"{uid}-alice", "works_at", f"{uid}-acme"), (f"{uid}-alice", "knows", f"{uid}-bob")],
        user_id=uid,
    )
    result = listing(api, uid).json()
    assert set(result) >= GRAPH_RESULT_FIELDS_031 | {"next_cursor"}
    assert result["next_cursor"] is None
    assert spo(result) == [
        (f"{uid}-alice", "works_at", f"{uid}-acme"),
        (f"{uid}-alice", "knows", f"{uid}-bob"),
    ]
    for triple in result["triples"]:
        assert set(triple) >= TRIPLE_FIELDS_031 | {"id", "user_id", "created_at"}
        assert triple["id"] and triple["user_id"] == uid and triple["created_at"]
    assert set(result["nodes"]) == {f"{uid}-alice", f"{uid}-acme", f"{uid}-bob"}


def test_metadata_and_re_adding_keeps_the_id(api, uid):
    body = {
        "triples": [{"subject": uid, "predicate": "likes", "object": "tea", "metadata": {"w": 1}}],
        "user_id": uid,
    }
    assert api.post("/v1/graph/triples", json=body).status_code == 204
    (first,) = listing(api, uid).json()["triples"]
    body["triples"][0]["metadata"] = {"src": "chat"}
    assert api.post("/v1/graph/triples", json=body).status_code == 204
    (again,) = listing(api, uid).json()["triples"]
    assert again["id"] == first["id"] and again["created_at"] == first["created_at"]
    assert again["metadata"] == {"w": 1, "src": "chat"}


def test_add_validation(api, uid):
    missing = api.post("/v1/graph/triples", json={"triples": [{"subject": "a", "object": "b"}]})
    assert_error(missing, 422, "predicate")
    empty = api.post(
        "/v1/graph/triples",
        json={"triples": [{"subject": "", "predicate": "p", "object": "o"}], "user_id": uid},
    )
    assert_error(empty, 400, "subject")
    nested = {
        "triples": [{"subject": "a", "predicate": "p", "object": "o", "metadata": {"x": {}}}],
        "user_id": uid,
    }
    assert_error(api.post("/v1/graph/triples", json=nested), 400, "metadata.x")
    assert listing(api, uid).json()["triples"] == []


def test_listing_pages_with_next_cursor_and_headers(api, uid):
    triples = [(f"{uid}-s{i}", "rel", f"{uid}-o{i}") for i in range(5)]
    add(api, triples, user_id=uid)
    seen, pages, cursor = [], 0, None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = listing(api, uid, **params)
        body = response.json()
        seen.extend(spo(body))
        pages += 1
        cursor = body["next_cursor"]
        assert response.headers.get("x-next-cursor") == cursor
        link = next_link(response)
        if cursor is None:
            assert link is None
            break
        assert link and f"cursor={cursor}" in link
        assert api.get(link).json() == listing(api, uid, limit=2, cursor=cursor).json()
    assert seen == triples and pages == 3
    assert_error(api.get("/v1/graph/triples", params={"limit": 1001}), 422, "limit")


def test_get_entity_and_depth(api, uid):
    a, b, c, d = (f"{uid}-{n}" for n in "abcd")
    add(api, [(a, "knows", b), (b, "knows", c), (c, "knows", d)], user_id=uid)
    response = api.get(f"/v1/graph/entities/{a}", params={"user_id": uid})
    assert response.status_code == 200, response.text
    one = response.json()
    assert spo(one) == [(a, "knows", b)] and set(one["nodes"]) == {a, b}
    two = api.get(f"/v1/graph/entities/{a}", params={"user_id": uid, "depth": 2}).json()
    assert set(spo(two)) == {(a, "knows", b), (b, "knows", c)}
    assert set(two["nodes"]) == {a, b, c}
    three = api.get(f"/v1/graph/entities/{a}", params={"user_id": uid, "depth": 3}).json()
    assert set(three["nodes"]) == {a, b, c, d}
    middle = api.get(f"/v1/graph/entities/{b}", params={"user_id": uid}).json()
    assert set(spo(middle)) == {(a, "knows", b), (b, "knows", c)}
    for depth in (0, 11):  # 1..10, as every provider
        assert_error(api.get(f"/v1/graph/entities/{a}", params={"depth": depth}), 422, "depth")
    # No triples in scope: 200 with empty triples and nodes, as memio 0.3.1 answered.
    for path, user in ((f"{uid}-nobody", uid), (a, f"{uid}-x")):
        empty = api.get(f"/v1/graph/entities/{path}", params={"user_id": user})
        assert empty.status_code == 200, empty.text
        assert empty.json()["triples"] == [] and empty.json()["nodes"] == []


def test_search_scores_align_with_triples(api, uid):
    add(
        api,
        [(f"{uid}-alice", "works_at", "Acme Corporation"), (f"{uid}-alice", "likes", "green tea")],
        user_id=uid,
    )
    response = api.post("/v1/graph/search", json={"query": "employer company", "user_id": uid})
    assert response.status_code == 200, response.text
    result = response.json()
    assert set(result) >= GRAPH_RESULT_FIELDS_031
    assert result["triples"] and len(result["scores"]) == len(result["triples"])
    assert result["triples"][0]["object"] == "Acme Corporation"
    assert all(0 <= s <= 1 for s in result["scores"])
    assert result["scores"] == sorted(result["scores"], reverse=True)
    one = api.post("/v1/graph/search", json={"query": "tea", "user_id": uid, "limit": 1}).json()
    assert len(one["triples"]) == 1 and len(one["scores"]) == 1
    other = api.post("/v1/graph/search", json={"query": "tea", "user_id": f"{uid}-x"}).json()
    assert other["triples"] == []
    assert_error(api.post("/v1/graph/search", json={"user_id": uid}), 422, "query")


def test_delete_a_triple_by_the_listed_id(api, uid):
    add(api, [(uid, "p1", "o1"), (uid, "p2", "o2")], user_id=uid)
    first, second = listing(api, uid).json()["triples"]
    response = api.delete(f"/v1/graph/triples/{first['id']}")
    assert response.status_code == 204 and response.content == b""
    assert [t["id"] for t in listing(api, uid).json()["triples"]] == [second["id"]]
    assert_error(api.delete(f"/v1/graph/triples/{first['id']}"), 404)


def test_delete_entity_respects_user_scope(api, uid):
    mine, theirs = f"{uid}-me", f"{uid}-them"
    add(api, [("Acme", "employs", f"{uid}-x")], user_id=mine)
    add(api, [("Acme", "employs", f"{uid}-y")], user_id=theirs)
    response = api.delete("/v1/graph/entities/Acme", params={"user_id": mine})
    assert response.status_code == 204
    assert listing(api, mine).json()["triples"] == []
    assert spo(listing(api, theirs).json()) == [("Acme", "employs", f"{uid}-y")]
    assert_error(api.delete("/v1/graph/entities/Acme", params={"user_id": mine}), 404)


def test_delete_all_of_a_user(api, uid):
    mine, theirs = f"{uid}-me", f"{uid}-them"
    add(api, [(mine, "p", "o"), (mine, "q", "o")], user_id=mine)
    add(api, [(theirs, "p", "o")], user_id=theirs)
    assert api.delete("/v1/graph", params={"user_id": mine}).status_code == 204
    assert listing(api, mine).json()["triples"] == []
    assert len(listing(api, theirs).json()["triples"]) == 1


def test_unscoped_delete_all_needs_the_admin_key(api, admin, uid):
    add(api, [(uid, "p", "o")], user_id=uid)
    assert_error(api.delete("/v1/graph"), 403)
    assert len(listing(api, uid).json()["triples"]) == 1
    assert admin.delete("/v1/graph").status_code == 204
    assert listing(api, uid).json()["triples"] == []


def test_include_shared_walks_the_user_and_the_shared_triples(api, uid):
    user_triple = {"subject": f"{uid}-alice", "predicate": "works_at", "object": f"{uid}-acme"}
    shared_triple = {"subject": f"{uid}-acme", "predicate": "located_in", "object": f"{uid}-paris"}
    assert (
        api.post("/v1/graph/triples", json={"triples": [user_triple], "user_id": uid}).status_code
        == 204
    )
    assert api.post("/v1/graph/triples", json={"triples": [shared_triple]}).status_code == 204
    path = f"/v1/graph/entities/{uid}-alice"
    alone = api.get(path, params={"user_id": uid, "depth": 2}).json()
    assert [t["object"] for t in alone["triples"]] == [f"{uid}-acme"]
    both = api.get(path, params={"user_id": uid, "depth": 2, "include_shared": "true"}).json()
    assert [t["object"] for t in both["triples"]] == [f"{uid}-acme", f"{uid}-paris"]
    body = {"query": f"{uid}-acme", "user_id": uid, "include_shared": True, "limit": 50}
    found = api.post("/v1/graph/search", json=body).json()
    assert {t["predicate"] for t in found["triples"]} >= {"works_at", "located_in"}
