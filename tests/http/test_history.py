"""/v1/history over HTTP: sessions, message order, paging with a returned cursor, ownership."""

from __future__ import annotations

from tests.http.helpers import MESSAGE_FIELDS_031, assert_error, walk, walk_links


def post_messages(api, session_id, messages, user_id=None):
    body = {"messages": messages}
    if user_id is not None:
        body["user_id"] = user_id
    return api.post(f"/v1/history/sessions/{session_id}/messages", json=body)


def say(n, prefix="message"):
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"{prefix} {i}"}
        for i in range(n)
    ]


def test_add_is_204_and_get_returns_a_bare_array_in_order(api, uid):
    response = post_messages(
        api,
        uid,
        [
            {"role": "user", "content": "hello", "metadata": {"lang": "en"}},
            {"role": "assistant", "content": "hi there", "name": "bot"},
        ],
    )
    assert response.status_code == 204 and response.content == b""
    response = api.get(f"/v1/history/sessions/{uid}/messages")
    assert response.status_code == 200, response.text
    messages = response.json()
    assert isinstance(messages, list)
    assert all(set(m) >= MESSAGE_FIELDS_031 for m in messages)
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "hello"),
        ("assistant", "hi there"),
    ]
    assert messages[0]["metadata"] == {"lang": "en"} and messages[1]["name"] == "bot"
    assert all(m["timestamp"] and m["id"] for m in messages)
    assert len({m["id"] for m in messages}) == 2


def test_given_timestamp_and_empty_content_are_kept(api, uid):
    stamp = "2024-05-01T12:00:00Z"
    assert (
        post_messages(api, uid, [{"role": "tool", "content": "", "timestamp": stamp}]).status_code
        == 204
    )
    (message,) = api.get(f"/v1/history/sessions/{uid}/messages").json()
    assert message["content"] == ""
    assert message["timestamp"].replace("+00:00", "Z").startswith("2024-05-01T12:00:00")


def test_timestamps_at_the_edge_of_the_calendar(api, uid):
    """Kept in UTC when UTC can hold them; a 400 naming the field when their offset carries
    them past 9999 or before year 1, and nothing of the batch is stored."""
    for stamp in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"):
        batch = [
            {"role": "user", "content": "fine"},
            {"role": "user", "content": "x", "timestamp": stamp},
        ]
        assert_error(post_messages(api, uid, batch), 400, "messages[1].timestamp", "outside")
    assert_error(api.get(f"/v1/history/sessions/{uid}/messages"), 404)
    edges = {
        "0001-01-01T00:00:00-01:00": "0001-01-01T01:00:00",
        "0001-01-01T00:00:00Z": "0001-01-01T00:00:00",
        "9999-12-31T23:59:59+01:00": "9999-12-31T22:59:59",
        "9999-12-31T23:59:59.999999Z": "9999-12-31T23:59:59.999999",
    }
    batch = [{"role": "user", "content": c, "timestamp": c} for c in edges]
    assert post_messages(api, uid, batch).status_code == 204
    kept = api.get(f"/v1/history/sessions/{uid}/messages").json()
    assert {m["content"]: m["timestamp"].replace("Z", "+00:00") for m in kept} == {
        given: f"{utc}+00:00" for given, utc in edges.items()
    }


def test_a_non_latin1_session_pages_through_its_links(api, uid):
    session = f"{uid}-日本"
    post_messages(api, session, say(3))
    path = f"/v1/history/sessions/{session}/messages"
    assert [m["content"] for m in walk_links(api, path, {"limit": 1})] == [
        f"message {i}" for i in range(3)
    ]


def test_appends_keep_order(api, uid):
    post_messages(api, uid, say(2, "first"))
    post_messages(api, uid, say(2, "second"))
    contents = [m["content"] for m in api.get(f"/v1/history/sessions/{uid}/messages").json()]
    assert contents == ["first 0", "first 1", "second 0", "second 1"]


def test_messages_page_and_return_the_cursor(api, uid):
    post_messages(api, uid, say(5))
    path = f"/v1/history/sessions/{uid}/messages"
    first = api.get(path, params={"limit": 2})
    assert len(first.json()) == 2 and first.headers["x-next-cursor"]
    items, pages = walk(api, path, {"limit": 2})
    assert [m["content"] for m in items] == [f"message {i}" for i in range(5)]
    assert pages == 3
    assert [m["content"] for m in walk_links(api, path, {"limit": 2})] == [
        f"message {i}" for i in range(5)
    ]
    default = api.get(path)
    assert len(default.json()) == 5 and "x-next-cursor" not in default.headers


def test_message_validation(api, uid):
    assert_error(post_messages(api, uid, []), 400, "messages")
    assert_error(post_messages(api, uid, [{"content": "no role"}]), 422, "role")
    assert_error(post_messages(api, uid, [{"role": "", "content": "x"}]), 400, "role")
    nested = post_messages(api, uid, [{"role": "user", "content": "x", "metadata": {"a": {}}}])
    assert_error(nested, 400, "metadata.a")
    assert_error(api.post(f"/v1/history/sessions/{uid}/messages", json={}), 422, "messages")
    assert_error(api.get(f"/v1/history/sessions/{uid}/messages"), 404)


def test_session_list_is_an_object_with_sessions(api, uid):
    user = f"{uid}-user"
    for n in range(3):
        assert post_messages(api, f"{uid}-s{n}", say(1), user_id=user).status_code == 204
    post_messages(api, f"{uid}-other", say(1), user_id=f"{uid}-someone")
    response = api.get("/v1/history/sessions", params={"user_id": user})
    assert response.status_code == 200, response.text
    assert response.json() == {"sessions": [f"{uid}-s0", f"{uid}-s1", f"{uid}-s2"]}
    items, pages = walk(api, "/v1/history/sessions", {"user_id": user, "limit": 2}, key="sessions")
    assert items == [f"{uid}-s0", f"{uid}-s1", f"{uid}-s2"] and pages == 2
    everyone = api.get("/v1/history/sessions", params={"limit": 1000}).json()["sessions"]
    assert {f"{uid}-s0", f"{uid}-other"} <= set(everyone)
    assert_error(api.get("/v1/history/sessions", params={"limit": 1001}), 422, "limit")


def test_search_session(api, uid):
    post_messages(
        api,
        uid,
        [
            {"role": "user", "content": "what is the weather in Paris"},
            {"role": "assistant", "content": "it is sunny in Paris today"},
            {"role": "user", "content": "book a table for two"},
        ],
    )
    response = api.post(f"/v1/history/sessions/{uid}/search", json={"query": "Paris weather"})
    assert response.status_code == 200, response.text
    results = response.json()
    assert isinstance(results, list) and results
    assert results[0]["content"] == "what is the weather in Paris"
    assert all("Paris" in m["content"] for m in results)
    scores = [m["score"] for m in results]
    assert all(0 <= s <= 1 for s in scores) and scores == sorted(scores, reverse=True)
    limited = api.post(
        f"/v1/history/sessions/{uid}/search", json={"query": "Paris", "limit": 1}
    ).json()
    assert len(limited) == 1
    missing = api.post(f"/v1/history/sessions/{uid}-none/search", json={"query": "Paris"})
    assert_error(missing, 404)
    assert_error(api.post(f"/v1/history/sessions/{uid}/search", json={}), 422, "query")


def test_a_session_belongs_to_its_user(api, uid):
    owner, intruder = f"{uid}-owner", f"{uid}-intruder"
    assert post_messages(api, uid, say(1), user_id=owner).status_code == 204
    assert_error(post_messages(api, uid, say(1), user_id=intruder), 409, uid)
    assert post_messages(api, uid, say(1, "anonymous append")).status_code == 204
    path = f"/v1/history/sessions/{uid}/messages"
    assert len(api.get(path, params={"user_id": owner}).json()) == 2
    assert_error(api.get(path, params={"user_id": intruder}), 404)
    search = api.post(
        f"/v1/history/sessions/{uid}/search", json={"query": "message", "user_id": intruder}
    )
    assert_error(search, 404)
    assert_error(api.delete(f"/v1/history/sessions/{uid}", params={"user_id": intruder}), 404)
    assert api.delete(f"/v1/history/sessions/{uid}", params={"user_id": owner}).status_code == 204


def test_delete_session(api, uid):
    post_messages(api, uid, say(2))
    response = api.delete(f"/v1/history/sessions/{uid}")
    assert response.status_code == 204 and response.content == b""
    assert_error(api.get(f"/v1/history/sessions/{uid}/messages"), 404)
    assert_error(api.delete(f"/v1/history/sessions/{uid}"), 404)


def test_delete_all_sessions_of_a_user(api, uid):
    user = f"{uid}-user"
    post_messages(api, f"{uid}-a", say(1), user_id=user)
    post_messages(api, f"{uid}-b", say(1), user_id=user)
    post_messages(api, f"{uid}-keep", say(1), user_id=f"{uid}-other")
    response = api.delete("/v1/history/sessions", params={"user_id": user})
    assert response.status_code == 204
    assert api.get("/v1/history/sessions", params={"user_id": user}).json() == {"sessions": []}
    assert len(api.get(f"/v1/history/sessions/{uid}-keep/messages").json()) == 1


def test_unscoped_delete_all_needs_the_admin_key(api, admin, uid):
    post_messages(api, uid, say(1))
    assert_error(api.delete("/v1/history/sessions"), 403)
    assert len(api.get(f"/v1/history/sessions/{uid}/messages").json()) == 1
    assert admin.delete("/v1/history/sessions").status_code == 204
    assert_error(api.get(f"/v1/history/sessions/{uid}/messages"), 404)


def test_search_modes_and_across_a_users_sessions(api, uid):
    """keyword (the default), semantic and hybrid in one session, and across the sessions of a
    user with POST /v1/history/search (each result names its session)."""
    post_messages(api, f"{uid}-a", [{"role": "user", "content": "I love hiking in the Alps"}], uid)
    post_messages(api, f"{uid}-b", [{"role": "user", "content": "new hiking boots"}], uid)
    post_messages(api, f"{uid}-b", [{"role": "user", "content": "the stock market fell"}], uid)
    post_messages(api, f"{uid}-c", [{"role": "user", "content": "hiking alps"}], f"{uid}-other")

    def search(path, **body):
        response = api.post(path, json={"user_id": uid, **body})
        assert response.status_code == 200, response.text
        return response.json()

    session = f"/v1/history/sessions/{uid}-b/search"
    assert [m["content"] for m in search(session, query="mountain walks")] == []
    semantic = search(session, query="mountain walks", search_mode="semantic")
    assert [m["content"] for m in semantic] == ["new hiking boots", "the stock market fell"]
    assert all("session_id" not in m for m in semantic)  # the 0.3.1 shape on this route
    found = search("/v1/history/search", query="hiking alps", search_mode="hybrid")
    assert [(m["session_id"], m["content"]) for m in found][:2] == [
        (f"{uid}-a", "I love hiking in the Alps"),
        (f"{uid}-b", "new hiking boots"),
    ]
    assert {m["session_id"] for m in found} == {f"{uid}-a", f"{uid}-b"}
    assert all(0 <= m["score"] <= 1 for m in found)
    one = search("/v1/history/search", query="hiking", session_id=f"{uid}-a")
    assert [m["session_id"] for m in one] == [f"{uid}-a"]
    other = api.post(
        "/v1/history/search", json={"query": "hiking", "session_id": f"{uid}-c", "user_id": uid}
    )
    assert_error(other, 404)
    wrong = api.post("/v1/history/search", json={"query": "x", "search_mode": "fuzzy"})
    assert_error(wrong, 422, "search_mode")
