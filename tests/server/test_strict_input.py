"""Input memio did not fully understand deletes and writes nothing (memio.server.strict).

The walk takes every operation from the app's own OpenAPI document and routers, so a route added
later is checked without anyone listing it: memio's own routes and every destructive route of
every dialect refuse an unknown query parameter or body field, naming it, and change nothing; the
other mem0 routes accept it and name it in ``X-Memio-Ignored``. Then the defects one by one: a
camelCase typo in a delete-all, mem0's ``metadata`` filter on delete-all, wildcard deletes by a
non-admin key, typos in /v1 bodies, duplicated JSON keys.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from memio.server.routers import all_routers, ops
from memio.server.routing import CheckedRoute
from memio.server.strict import IGNORED_HEADER
from tests.http.test_contract import OPERATIONS_031
from tests.server.conftest import ADMIN_KEY, AUTH, BOUND_KEY, USER_KEY, bearer

ADMIN, OPERATOR, ALICE = bearer(ADMIN_KEY), bearer(USER_KEY), bearer(BOUND_KEY)
TYPO = "memio_typo"
# memio's own routes: they refuse every unknown input (mem0's routes do so when destructive)
OWN_PREFIXES = ("/v1/facts", "/v1/history", "/v1/documents", "/v1/graph", "/v1/keys")
DESTRUCTIVE_POSTS = {("POST", "/reset")}


@pytest.fixture
def client(serve: Any) -> TestClient:
    return serve({"auth": AUTH})


def seed(client: TestClient) -> None:
    """Items of alice and bob in every store, and mem0 memories with and without a topic."""
    for user in ("alice", "bob"):
        for content, metadata in (("likes chess", {"topic": "games"}), ("likes tea", {})):
            answer = client.post(
                "/v1/facts",
                json={"content": f"{user} {content}", "user_id": user, "metadata": metadata},
                headers=ADMIN,
            )
            assert answer.status_code == 201, answer.text
        for path, body in (
            (f"/v1/history/sessions/s-{user}/messages",
             {"messages": [{"role": "user", "content": "hi"}], "user_id": user}),
            ("/v1/documents", {"content": f"{user} doc", "user_id": user}),
            ("/v1/graph/triples",
             {"triples": [{"subject": user, "predicate": "knows", "object": "x"}],
              "user_id": user}),
        ):  # fmt: skip
            assert client.post(path, json=body, headers=ADMIN).status_code in (201, 204)


def snapshot(client: TestClient) -> dict[str, Any]:
    """Everything stored, as the admin sees it."""
    return {
        "facts": sorted(
            (f["content"], json.dumps(f["metadata"], sort_keys=True))
            for f in client.get("/v1/facts", headers=ADMIN).json()
        ),
        "sessions": client.get("/v1/history/sessions", headers=ADMIN).json(),
        "documents": sorted(
            d["content"] for d in client.get("/v1/documents", headers=ADMIN).json()
        ),
        "triples": len(client.get("/v1/graph/triples", headers=ADMIN).json()["triples"]),
    }


def contents(client: TestClient) -> list[str]:
    return sorted(f["content"] for f in client.get("/v1/facts", headers=ADMIN).json())


def operations(client: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) the app serves: its OpenAPI document plus the hidden routes."""
    found = {
        (method.upper(), path)
        for path, item in client.app.openapi()["paths"].items()
        for method in item
    }
    for router in [*all_routers(), ops.router]:
        for route in router.routes:
            if isinstance(route, APIRoute):
                found.update((method, route.path) for method in route.methods)
    return sorted(found)


def detail_of(answer: Any) -> str:
    """What an error says first: memio's `detail` (in mem0's self-hosted 422s a list of issues:
    the first, as memio words it), or the message of the local-first API's error envelope."""
    body = answer.json()
    if "detail" not in body:
        return body["error"]["message"]
    detail = body["detail"]
    if isinstance(detail, str):
        return detail
    return ".".join(map(str, detail[0]["loc"])) + f": {detail[0]['msg']}"


def refuses_unknown(method: str, path: str) -> bool:
    return (
        method == "DELETE" or (method, path) in DESTRUCTIVE_POSTS or path.startswith(OWN_PREFIXES)
    )


def fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "walk-id", path)


def test_every_router_route_checks_its_input() -> None:
    """Structural: a route built outside `make_router` would skip the checks."""
    plain = [
        f"{sorted(route.methods)} {route.path}"
        for router in [*all_routers(), ops.router]
        for route in router.routes
        if isinstance(route, APIRoute) and not isinstance(route, CheckedRoute)
    ]
    assert plain == []


def test_walk_unknown_input_is_refused_or_reported(client: TestClient) -> None:
    seed(client)
    before = snapshot(client)
    walked = refusing = 0
    for method, path in operations(client):
        if method in ("HEAD", "OPTIONS"):
            continue
        walked += 1
        url = fill(path)
        by_query = client.request(
            method, url, params={TYPO: "1"}, headers=ADMIN, follow_redirects=False
        )
        by_body = client.request(method, url, json={TYPO: 1}, headers=ADMIN, follow_redirects=False)
        where = f"{method} {path}"
        if refuses_unknown(method, path):
            refusing += 1
            assert by_query.status_code == 400, (where, by_query.text)
            assert detail_of(by_query).startswith(f"{TYPO}:"), (where, by_query.text)
            assert by_body.status_code in (400, 422), (where, by_body.text)
            assert TYPO in by_body.text, (where, by_body.text)
        else:
            for answer in (by_query, by_body):
                assert answer.status_code < 500 or answer.status_code == 501, (where, answer.text)
                if answer.status_code < 300:
                    assert TYPO in answer.headers.get(IGNORED_HEADER, ""), where
                elif answer.status_code >= 400:
                    assert TYPO not in detail_of(answer), (where, answer.text)
        assert snapshot(client) == before, where
    assert walked > 60 and refusing > 30  # the walk found the app's routes


# -- item 2: a typo in a delete deletes nothing ----------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/memories/", {"userId": "alice"}),  # mem0 platform delete_all
        ("/v1/memories/", {"user_id": "alice", "userId": "alice"}),
        ("/v1/memories/", {"metadata_filter": '{"topic": "games"}'}),
        ("/memories", {"userid": "alice"}),  # mem0 self-hosted
        ("/v1/facts", {"userId": "alice"}),
        ("/v1/history/sessions", {"userId": "alice"}),
        ("/v1/documents", {"user": "alice"}),
        ("/v1/graph", {"userId": "alice"}),
    ],
)
def test_typo_in_a_delete_all_is_400_and_deletes_nothing(
    client: TestClient, path: str, params: dict[str, str]
) -> None:
    seed(client)
    before = snapshot(client)
    answer = client.delete(path, params=params, headers=ADMIN)
    assert answer.status_code == 400, answer.text
    typo = next(name for name in params if name != "user_id")
    assert answer.json()["detail"].startswith(f"{typo}: unknown query parameter")
    assert "user_id" in answer.json()["detail"]  # and says what the route takes
    assert snapshot(client) == before


def test_a_repeated_parameter_in_a_delete_is_400(client: TestClient) -> None:
    seed(client)
    before = snapshot(client)
    answer = client.delete("/v1/facts?user_id=alice&user_id=bob", headers=ADMIN)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("user_id: sent more than once")
    assert snapshot(client) == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/reset", {"user_id": "alice"}),
        ("DELETE", "/v1/facts", {"user_id": "alice"}),
        ("DELETE", "/memories", {"user_id": "alice"}),
        ("DELETE", "/v1/memories/", {"filters": {"user_id": "alice"}}),
        ("DELETE", "/v1/batch/", {"memory_ids": ["x"], "user_id": "alice"}),
    ],
)
def test_a_body_a_delete_does_not_take_is_400(
    client: TestClient, method: str, path: str, body: dict[str, Any]
) -> None:
    seed(client)
    before = snapshot(client)
    answer = client.request(method, path, json=body, headers=ADMIN)
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"].startswith("body.")
    assert snapshot(client) == before


def test_mem0_delete_all_honours_metadata(client: TestClient) -> None:
    seed(client)
    games = json.dumps({"topic": "games"})
    answer = client.delete("/v1/memories/", params={"user_id": "alice", "metadata": games},
                           headers=OPERATOR)  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert contents(client) == ["alice likes tea", "bob likes chess", "bob likes tea"]
    # the Python SDK sends the dict's repr; across users it is the admin's call
    answer = client.delete("/v1/memories/?metadata={'topic': 'games'}", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    assert contents(client) == ["alice likes tea", "bob likes tea"]


def test_ignored_platform_parameters_are_named(client: TestClient) -> None:
    seed(client)
    answer = client.delete(
        "/v1/memories/", params={"user_id": "bob", "org_id": "o", "project_id": "p"},
        headers=ADMIN,
    )  # fmt: skip
    assert answer.status_code == 200
    assert answer.headers[IGNORED_HEADER] == "org_id, project_id"
    assert contents(client) == ["alice likes chess", "alice likes tea"]


# -- item 3: a filter that does not pin one entity is an admin's delete ----------------------


@pytest.mark.parametrize(
    "filters",
    [
        {"user_id": "*"},
        {"OR": [{"user_id": "*"}, {"agent_id": "*"}, {"run_id": "*"}]},
        {"user_id": {"in": ["alice", "bob"]}},
        {"OR": [{"user_id": "alice"}, {"user_id": "bob"}]},
        {"metadata": {"topic": "games"}},
    ],
)
def test_unpinned_delete_filters_need_an_admin_key(
    client: TestClient, filters: dict[str, Any]
) -> None:
    seed(client)
    before = snapshot(client)
    params = {"filters": json.dumps(filters)}
    answer = client.delete("/v1/memories/", params=params, headers=OPERATOR)
    assert answer.status_code == 403, answer.text
    assert snapshot(client) == before
    assert client.delete("/v1/memories/", params=params, headers=ADMIN).status_code == 200
    assert snapshot(client) != before


def test_a_bound_key_wildcard_delete_stays_in_its_scope(client: TestClient) -> None:
    seed(client)
    filters = json.dumps({"OR": [{"user_id": "*"}, {"agent_id": "*"}]})
    answer = client.delete("/v1/memories/", params={"filters": filters}, headers=ALICE)
    assert answer.status_code == 200, answer.text
    assert contents(client) == ["bob likes chess", "bob likes tea"]


def test_a_pinned_filter_is_an_operators_delete(client: TestClient) -> None:
    seed(client)
    filters = json.dumps({"user_id": "alice", "metadata": {"topic": "games"}})
    answer = client.delete("/v1/memories/", params={"filters": filters}, headers=OPERATOR)
    assert answer.status_code == 200, answer.text
    assert contents(client) == ["alice likes tea", "bob likes chess", "bob likes tea"]


# -- item 4: bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/facts", {"content": "likes tea", "userid": "carol"}, "body.userid"),
        ("/v1/facts/batch", {"facts": [{"content": "x", "user": "carol"}]}, "body.facts.0.user"),
        ("/v1/documents", {"content": "doc", "userId": "carol"}, "body.userId"),
        ("/v1/history/sessions/s/messages",
         {"messages": [{"role": "user", "content": "hi", "userid": "carol"}]},
         "body.messages.0.userid"),
        ("/v1/graph/triples",
         {"triples": [{"subject": "a", "predicate": "b", "object": "c"}], "userid": "carol"},
         "body.userid"),
        ("/v1/facts/search", {"query": "tea", "userid": "carol"}, "body.userid"),
    ],
)  # fmt: skip
def test_v1_bodies_refuse_unknown_fields(
    client: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    before = snapshot(client)
    answer = client.post(path, json=body, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["detail"], answer.text
    assert snapshot(client) == before


def _value(name: str) -> Any:
    return {
        "messages": [{"role": "user", "content": "hi", "metadata": {"k": "v"},
                      "timestamp": "2024-01-01T00:00:00Z", "name": "carol"}],
        "triples": [{"subject": "a", "predicate": "b", "object": "c", "metadata": {"k": "v"}}],
        "metadata": {"k": "v"},
        "filters": {"k": "v"},
        "limit": 5,
    }.get(name, f"v-{name}")  # fmt: skip


@pytest.mark.parametrize(
    "op", [op for op in OPERATIONS_031 if op[7] is not None], ids=lambda op: f"{op[0]} {op[1]}"
)
def test_every_0_3_1_body_field_is_still_accepted(client: TestClient, op: tuple[Any, ...]) -> None:
    method, path, status = op[0], op[1], op[3]
    if "{" in path:  # update a stored item, or add to a session
        kind = path.split("/")[2]
        stored = {"facts": ("/v1/facts", {"content": "x"}, "id"),
                  "documents": ("/v1/documents", {"content": "x"}, "id")}.get(kind)  # fmt: skip
        item = "s1"
        session = {"messages": _value("messages"), "user_id": _value("user_id")}
        client.post("/v1/history/sessions/s1/messages", json=session, headers=ADMIN)
        if stored is not None:
            item = client.post(stored[0], json=stored[1], headers=ADMIN).json()[stored[2]]
        path = re.sub(r"\{[^}]+\}", item, path)
    body = {name: _value(name) for name in op[7][0]}
    answer = client.request(method, path, json=body, headers=ADMIN)
    assert answer.status_code == status, answer.text


@pytest.mark.parametrize(
    ("path", "raw", "key"),
    [
        ("/v1/facts", '{"content": "likes tea", "user_id": "alice", "user_id": "mallory"}',
         "user_id"),
        ("/v1/facts", '{"content": "x", "user_id": "a", "metadata": {"k": 1, "k": 2}}', "k"),
        ("/v3/memories/add/",
         '{"messages": "x", "user_id": "alice", "user_id": "mallory", "infer": false}',
         "user_id"),
        ("/memories", '{"messages": [{"role": "user", "content": "x"}], "user_id": "alice", '
         '"user_id": "mallory"}', "user_id"),
        ("/v1/memories/search?query=x", '{"a": 1, "a": 2}', "a"),  # even on a GET
    ],
)  # fmt: skip
def test_duplicated_json_keys_are_400_in_every_dialect(
    client: TestClient, path: str, raw: str, key: str
) -> None:
    before = snapshot(client)
    method = "GET" if "search?" in path else "POST"
    answer = client.request(
        method, path, content=raw, headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert detail_of(answer).startswith(f"body.{key}: this key appears more than once")
    assert snapshot(client) == before


def test_mem0_writes_name_the_ignored_fields(client: TestClient) -> None:
    body = {"messages": "likes tea", "user_id": "carol", "infer": False,
            "async_mode": True, "keyword_search": True, "ünïcode": 1}  # fmt: skip
    answer = client.post("/v3/memories/add/", json=body, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    assert answer.headers[IGNORED_HEADER] == "async_mode, keyword_search, %C3%BCn%C3%AFcode"
    assert contents(client) == ["likes tea"]
    listed = client.get("/memories", params={"user_id": "carol", "show_expired": "true",
                                             "userid": "x"}, headers=ADMIN)  # fmt: skip
    assert listed.headers[IGNORED_HEADER] == "userid"  # show_expired is honoured
    exact = client.post("/v3/memories/", params={"page": 1, "page_size": 5},
                        json={"filters": {"user_id": "carol"}}, headers=ADMIN)  # fmt: skip
    assert exact.status_code == 200 and IGNORED_HEADER not in exact.headers


def test_v1_answers_carry_no_ignored_header(client: TestClient) -> None:
    answer = client.post("/v1/facts", json={"content": "x", "user_id": "a"}, headers=ADMIN)
    assert answer.status_code == 201 and IGNORED_HEADER not in answer.headers


def test_the_ignored_header_is_readable_by_browsers(serve: Any) -> None:
    client = serve({"server": {"cors": {"allow_origins": ["https://app.example"]}}})
    answer = client.get("/health", headers={"Origin": "https://app.example"})
    exposed = answer.headers["Access-Control-Expose-Headers"]
    assert IGNORED_HEADER.lower() in exposed.lower()


def test_malformed_json_is_still_reported_by_fastapi(client: TestClient) -> None:
    answer = client.post(
        "/v1/facts", content=b'{"content": ', headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["type"] == "json_invalid"
