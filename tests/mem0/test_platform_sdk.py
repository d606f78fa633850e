"""The real `mem0ai` Python SDK (2.2.x) against a real memio-server, with only `host=` changed.

Every MemoryClient / AsyncMemoryClient method a mem0 user calls round-trips through memio's facts
store, for each facts provider (`mem0_server` is parametrized: chroma and mem0 OSS), and error
statuses surface as the SDK's own exception types.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from tests.mem0.conftest import (
    ADMIN_KEY,
    APP_KEY,
    BOUND_KEY,
    BOUND_USER,
    LIMITED_KEY,
    MAX_BODY_BYTES,
    Mem0Server,
)

MEMORY_FIELDS = {
    "id",
    "memory",
    "user_id",
    "agent_id",
    "app_id",
    "run_id",
    "metadata",
    "categories",
    "created_at",
    "updated_at",
}
HISTORY_FIELDS = {
    "id",
    "memory_id",
    "old_memory",
    "new_memory",
    "event",
    "created_at",
    "updated_at",
}


@pytest.fixture
def client(mem0_server: Mem0Server) -> Iterator[Any]:
    from mem0 import MemoryClient

    memory = MemoryClient(api_key=APP_KEY, host=mem0_server.base_url)
    yield memory
    memory.client.close()


@pytest.fixture
async def aclient(mem0_server: Mem0Server) -> AsyncIterator[Any]:
    from mem0 import AsyncMemoryClient

    memory = await asyncio.to_thread(AsyncMemoryClient, api_key=APP_KEY, host=mem0_server.base_url)
    yield memory
    await memory.async_client.aclose()


def _add(client: Any, uid: str, *texts: str, **options: Any) -> list[dict[str, Any]]:
    answer = client.add(
        [{"role": "user", "content": text} for text in texts], user_id=uid, infer=False, **options
    )
    assert [item["event"] for item in answer["results"]] == ["ADD"] * len(texts), answer
    return answer["results"]


# -- construction -----------------------------------------------------------------------------


def test_client_starts_against_memio(client: Any) -> None:
    """The SDK's start-up ping gets an org and a project (it refuses to work without them)."""
    assert client.org_id == "memio"
    assert client.project_id == "memio-app"
    assert client.user_email is None


def test_a_wrong_key_stops_the_client_at_start_up(mem0_server: Mem0Server) -> None:
    from mem0 import MemoryClient

    with pytest.raises(ValueError, match="invalid API key"):
        MemoryClient(api_key="not-a-key", host=mem0_server.base_url)


# -- the sync client, method by method -------------------------------------------------------


def test_every_method_round_trips(client: Any, uid: str) -> None:
    from mem0.exceptions import MemoryNotFoundError

    added = client.add(
        [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "I drink green tea every morning"},
        ],
        user_id=uid,
        metadata={"source": "chat"},
        infer=False,
    )
    assert len(added["results"]) == 1, added  # the system message is not a memory
    item = added["results"][0]
    assert item["event"] == "ADD"
    assert item["memory"] == item["data"]["memory"] == "I drink green tea every morning"
    memory_id = item["id"]

    found = client.search("what does the user drink?", filters={"user_id": uid}, top_k=5)
    assert [hit["id"] for hit in found["results"]] == [memory_id]
    assert 0 < found["results"][0]["score"] <= 1

    memory = client.get(memory_id)
    assert set(memory) >= MEMORY_FIELDS
    assert memory["memory"] == "I drink green tea every morning"
    assert memory["user_id"] == uid
    assert memory["agent_id"] is None
    assert memory["metadata"] == {"source": "chat"}
    assert memory["categories"] == []
    created = datetime.fromisoformat(memory["created_at"])
    assert created.tzinfo is not None and created <= datetime.now(timezone.utc)

    updated = client.update(memory_id, text="I drink black tea", metadata={"mood": "calm"})
    assert updated["id"] == memory_id
    assert updated["memory"] == "I drink black tea"
    assert updated["metadata"] == {"source": "chat", "mood": "calm"}
    assert client.get(memory_id)["memory"] == "I drink black tea"

    history = client.history(memory_id)
    assert [entry["event"] for entry in history] == ["ADD", "UPDATE"]
    assert all(set(entry) >= HISTORY_FIELDS for entry in history)
    assert history[0]["old_memory"] is None
    assert history[0]["new_memory"] == "I drink green tea every morning"
    assert history[1]["old_memory"] == "I drink green tea every morning"
    assert history[1]["new_memory"] == "I drink black tea"
    assert {entry["memory_id"] for entry in history} == {memory_id}

    assert client.delete(memory_id) == {"message": "Memory deleted successfully!"}
    with pytest.raises(MemoryNotFoundError, match=memory_id):
        client.get(memory_id)
    after = client.history(memory_id)
    assert [entry["event"] for entry in after] == ["ADD", "UPDATE", "DELETE"]
    assert after[-1]["old_memory"] == "I drink black tea"
    assert after[-1]["new_memory"] is None


def test_update_of_metadata_only(client: Any, uid: str) -> None:
    (item,) = _add(client, uid, "likes jazz", metadata={"a": 1})
    updated = client.update(item["id"], metadata={"b": True})
    assert updated["memory"] == "likes jazz"
    assert updated["metadata"] == {"a": 1, "b": True}


def test_add_with_infer_and_no_llm_stores_the_messages(client: Any, uid: str) -> None:
    """infer defaults to true; without an extraction LLM the messages are stored as given, and
    the answer says so."""
    answer = client.add("I am allergic to peanuts", user_id=uid)
    assert answer["memio_infer"] == "unavailable"
    assert [item["memory"] for item in answer["results"]] == ["I am allergic to peanuts"]
    assert client.get(answer["results"][0]["id"])["user_id"] == uid


def test_adding_the_same_message_again_reports_the_stored_memory(client: Any, uid: str) -> None:
    (first,) = _add(client, uid, "works at Acme")
    again = client.add("works at Acme", user_id=uid, infer=False)["results"]
    assert [(item["id"], item["event"]) for item in again] == [(first["id"], "NONE")]
    # New metadata is merged into the stored memory, not dropped (decision D3).
    merged = client.add("works at Acme", user_id=uid, infer=False, metadata={"team": "R&D"})
    assert [(item["id"], item["event"]) for item in merged["results"]] == [(first["id"], "UPDATE")]
    assert merged["results"][0]["metadata"] == {"team": "R&D"}
    assert client.get(first["id"])["metadata"] == {"team": "R&D"}
    assert [entry["event"] for entry in client.history(first["id"])] == ["ADD", "UPDATE"]


def test_history_of_a_deleted_memory_still_names_its_owner(client: Any, uid: str) -> None:
    (item,) = _add(client, uid, "owned memory")
    client.delete(item["id"])
    history = client.history(item["id"])
    assert [entry["event"] for entry in history] == ["ADD", "DELETE"]
    assert {entry["user_id"] for entry in history} == {uid}


def test_metadata_past_the_caps_is_refused(client: Any, uid: str) -> None:
    from mem0.exceptions import MemoryError as Mem0Error

    with pytest.raises(Mem0Error) as exc:
        client.add("x", user_id=uid, infer=False, metadata={f"k{i}": i for i in range(300)})
    assert "256" in str(exc.value)
    assert client.get_all(filters={"user_id": uid})["results"] == []


def test_add_scopes_and_async_mode(client: Any, uid: str) -> None:
    answer = client.add(
        "prefers short answers",
        agent_id=f"{uid}-bot",
        run_id=f"{uid}-run",
        app_id=f"{uid}-app",
        infer=False,
        async_mode=True,  # memio answers when the memory is stored
    )
    memory = client.get(answer["results"][0]["id"])
    assert (memory["user_id"], memory["agent_id"], memory["run_id"], memory["app_id"]) == (
        None,
        f"{uid}-bot",
        f"{uid}-run",
        f"{uid}-app",
    )
    found = client.search("answers", filters={"AND": [{"agent_id": f"{uid}-bot"}]})
    assert [hit["id"] for hit in found["results"]] == [memory["id"]]


def test_get_all_pages(client: Any, uid: str) -> None:
    texts = [f"fact number {i}" for i in range(7)]
    ids = [item["id"] for item in _add(client, uid, *texts)]

    first = client.get_all(filters={"user_id": uid}, page=1, page_size=3)
    assert first["count"] == 7
    assert first["previous"] is None and first["next"]
    assert [m["id"] for m in first["results"]] == ids[:3]
    assert all(set(m) >= MEMORY_FIELDS for m in first["results"])

    walked, page = [], 1
    while True:
        answer = client.get_all(filters={"AND": [{"user_id": uid}]}, page=page, page_size=3)
        walked.extend(m["id"] for m in answer["results"])
        if not answer["next"]:
            break
        page += 1
    assert walked == ids
    assert page == 3 and answer["previous"]

    everything = client.get_all(filters={"user_id": uid})
    assert [m["memory"] for m in everything["results"]] == texts
    beyond = client.get_all(filters={"user_id": uid}, page=9, page_size=3)
    assert beyond["count"] == 7 and beyond["results"] == [] and beyond["next"] is None


def test_get_all_and_search_with_v2_filters(client: Any, uid: str) -> None:
    tea = _add(client, uid, "drinks tea", metadata={"topic": "food"})[0]
    chess = _add(client, uid, "plays chess", metadata={"topic": "games"})[0]
    today = datetime.now(timezone.utc).date().isoformat()

    food = client.get_all(filters={"AND": [{"user_id": uid}, {"metadata": {"topic": "food"}}]})
    assert [m["id"] for m in food["results"]] == [tea["id"]]
    recent = client.get_all(
        filters={"AND": [{"user_id": uid}, {"created_at": {"gte": today, "lte": today}}]}
    )
    assert [m["id"] for m in recent["results"]] == [tea["id"], chess["id"]]
    old = client.get_all(filters={"AND": [{"user_id": uid}, {"created_at": {"lt": "2020-01-01"}}]})
    assert old["count"] == 0
    not_food = client.search(
        "hobbies and drinks",
        filters={"AND": [{"user_id": uid}, {"NOT": {"metadata": {"topic": "food"}}}]},
    )
    assert [m["id"] for m in not_food["results"]] == [chess["id"]]
    either = client.search(
        "hobbies and drinks",
        filters={"OR": [{"user_id": uid}, {"user_id": f"{uid}-nobody"}]},
        top_k=1,
    )
    assert len(either["results"]) == 1
    limited = client.search("tea", filters={"user_id": uid}, threshold=0.99)
    assert limited["results"] == []
    picked = client.search("tea", filters={"user_id": uid}, fields=["memory"])
    assert set(picked["results"][0]) == {"id", "memory"}


def test_batch_update_and_batch_delete(client: Any, uid: str) -> None:
    from mem0.exceptions import MemoryNotFoundError

    one, two, three = (item["id"] for item in _add(client, uid, "alpha", "beta", "gamma"))
    answer = client.batch_update(
        [
            {"memory_id": one, "text": "alpha two"},
            {"memory_id": two, "text": "beta two", "metadata": {"v": 2}},
        ]
    )
    assert answer == {"message": "Successfully updated 2 memories"}
    assert client.get(one)["memory"] == "alpha two"
    assert client.get(two)["metadata"] == {"v": 2}
    assert [e["event"] for e in client.history(two)] == ["ADD", "UPDATE"]

    with pytest.raises(MemoryNotFoundError):  # one unknown id: nothing is changed
        client.batch_update([{"memory_id": three, "text": "x"}, {"memory_id": "nope", "text": "y"}])
    assert client.get(three)["memory"] == "gamma"

    answer = client.batch_delete([{"memory_id": one}, {"memory_id": two}])
    assert answer == {"message": "Successfully deleted 2 memories"}
    for gone in (one, two):
        with pytest.raises(MemoryNotFoundError):
            client.get(gone)
    assert [m["id"] for m in client.get_all(filters={"user_id": uid})["results"]] == [three]


def test_users_delete_users_and_delete_all(client: Any, uid: str) -> None:
    _add(client, uid, "first", "second")
    bot = f"{uid}-bot"
    client.add("agent memory", agent_id=bot, infer=False)

    entities = client.users()
    assert set(entities) >= {"count", "next", "previous", "results"}
    mine = {(e["type"], e["name"]): e for e in entities["results"] if e["name"] in (uid, bot)}
    assert set(mine) == {("user", uid), ("agent", bot)}
    assert mine[("user", uid)]["total_memories"] == 2
    assert mine[("agent", bot)]["total_memories"] == 1
    assert mine[("user", uid)]["created_at"]

    assert client.delete_users(user_id=uid) == {"message": "Entity deleted successfully."}
    assert client.get_all(filters={"user_id": uid})["count"] == 0
    names = {(e["type"], e["name"]) for e in client.users()["results"]}
    assert ("user", uid) not in names and ("agent", bot) in names

    assert client.delete_all(agent_id=bot)["message"]
    assert client.get_all(filters={"agent_id": bot})["count"] == 0


def test_feedback_is_acknowledged_not_stored(client: Any, uid: str) -> None:
    (item,) = _add(client, uid, "likes rain")
    answer = client.feedback(item["id"], feedback="POSITIVE", feedback_reason="accurate")
    assert answer["stored"] is False and "does not store" in answer["message"]
    assert client.get(item["id"])["metadata"] == {}


# -- errors as the SDK's exception types -----------------------------------------------------


def test_auth_errors(client: Any, uid: str) -> None:
    from mem0.exceptions import AuthenticationError

    (item,) = _add(client, uid, "secret")
    client.client.headers["Authorization"] = "Token not-a-key"  # a key revoked after start-up
    with pytest.raises(AuthenticationError, match="invalid API key") as wrong:
        client.get(item["id"])
    assert wrong.value.debug_info["status_code"] == 403
    del client.client.headers["Authorization"]  # no key at all
    with pytest.raises(AuthenticationError, match="missing API key") as missing:
        client.get(item["id"])
    assert missing.value.debug_info["status_code"] == 401


def test_a_bound_key_acts_for_its_user_only(client: Any, mem0_server: Mem0Server, uid: str) -> None:
    from mem0 import MemoryClient
    from mem0.exceptions import AuthenticationError, MemoryNotFoundError

    (theirs,) = _add(client, uid, "someone else's secret")
    bound = MemoryClient(api_key=BOUND_KEY, host=mem0_server.base_url)
    try:
        mine = bound.add([{"role": "user", "content": f"{uid} likes rooibos"}], infer=False)
        (added,) = mine["results"]
        assert bound.get(added["id"])["user_id"] == BOUND_USER
        found = bound.search(f"{uid} tea", filters={"user_id": BOUND_USER})
        assert added["id"] in [item["id"] for item in found["results"]]
        listed = bound.get_all(filters={"user_id": BOUND_USER})["results"]
        assert theirs["id"] not in [item["id"] for item in listed]
        with pytest.raises(AuthenticationError, match="acts for user_id") as refused:
            bound.get_all(filters={"user_id": uid})
        assert refused.value.debug_info["status_code"] == 403
        with pytest.raises(MemoryNotFoundError):  # exactly like an id that does not exist
            bound.get(theirs["id"])
        bound.delete_all()  # confined to the bound user: needs no admin key
        assert client.get(theirs["id"])["memory"] == "someone else's secret"
    finally:
        bound.client.close()


def test_unscoped_delete_all_needs_an_admin_key(
    client: Any, mem0_server: Mem0Server, uid: str
) -> None:
    from mem0 import MemoryClient
    from mem0.exceptions import AuthenticationError

    _add(client, uid, "kept")
    with pytest.raises(AuthenticationError, match="admin"):
        client.delete_all()
    assert client.get_all(filters={"user_id": uid})["count"] == 1
    admin = MemoryClient(api_key=ADMIN_KEY, host=mem0_server.base_url)
    try:
        assert admin.project_id == "memio-admin"
        assert admin.delete_all()["message"]
        assert admin.get_all(filters={"user_id": uid})["count"] == 0
    finally:
        admin.client.close()


def test_delete_all_deletes_only_what_it_understood(client: Any, uid: str) -> None:
    """``metadata=`` is a filter; a filter that does not pin one entity is an admin's call; a
    misspelt parameter deletes nothing."""
    from mem0.exceptions import AuthenticationError, ValidationError

    other = f"{uid}-other"
    _add(client, uid, "likes chess", metadata={"topic": "games"})
    _add(client, uid, "likes tea")
    _add(client, other, "likes go", metadata={"topic": "games"})

    assert client.delete_all(user_id=uid, metadata={"topic": "games"})["message"]
    kept = client.get_all(filters={"user_id": uid})["results"]
    assert [memory["memory"] for memory in kept] == ["likes tea"]
    assert client.get_all(filters={"user_id": other})["count"] == 1

    for unpinned in ({"metadata": {"topic": "games"}}, {"filters": {"user_id": "*"}}):
        with pytest.raises(AuthenticationError, match="admin"):
            client.delete_all(**unpinned)
    with pytest.raises(ValidationError, match="userId") as typo:
        client.delete_all(userId=uid)
    assert typo.value.debug_info["status_code"] == 400
    assert client.get_all(filters={"user_id": uid})["count"] == 1
    assert client.get_all(filters={"user_id": other})["count"] == 1


def test_not_found(client: Any) -> None:
    from mem0.exceptions import MemoryNotFoundError

    for call in (
        lambda: client.get("no-such-memory"),
        lambda: client.update("no-such-memory", text="x"),
        lambda: client.delete("no-such-memory"),
        lambda: client.history("no-such-memory"),
    ):
        with pytest.raises(MemoryNotFoundError, match="memory 'no-such-memory' not found"):
            call()


@pytest.mark.parametrize(
    ("call", "mentions"),
    [
        (lambda c, u: c.search("x", filters={"keywords": "tea", "user_id": u}), "'keywords'"),
        (lambda c, u: c.search("x", filters={"user_id": {"gt": u}}), "'gt'"),
        (lambda c, u: c.search("x", filters={"metadata": {"k": "v"}}), "must name at least one"),
        (lambda c, u: c.get_all(filters={"created_at": {"gte": "2024-01-01"}}), "at least one"),
        (lambda c, u: c.get_all(filters={"user_id": u}, page=0), "page"),
        (lambda c, u: c.search("x", filters={"user_id": u}, top_k=5000), "top_k"),
        (lambda c, u: c.search("x", filters={"user_id": u}, threshold=2), "threshold"),
        (lambda c, u: c.add("x", infer=False), "user_id"),
        (lambda c, u: c.add("x", user_id=u, metadata={"nested": {"a": 1}}), "metadata.nested"),
        (lambda c, u: c.add("x", user_id=u, expiration_date="next week"), "expiration_date"),
        (lambda c, u: c.batch_delete([{"memory_id": f"m{i}"} for i in range(1001)]), "1000"),
    ],
)
def test_bad_requests_raise_validation_errors(
    client: Any, uid: str, call: Any, mentions: str
) -> None:
    from mem0.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        call(client, uid)
    assert mentions in str(caught.value)
    assert caught.value.debug_info["status_code"] == 400


def test_oversized_request_raises_quota_error(client: Any, uid: str) -> None:
    from mem0.exceptions import MemoryQuotaExceededError

    with pytest.raises(MemoryQuotaExceededError, match="exceeds the limit") as caught:
        client.add("x" * (MAX_BODY_BYTES + 1), user_id=uid, infer=False)
    assert caught.value.debug_info["status_code"] == 413


def test_rate_limit_raises_rate_limit_error(mem0_server: Mem0Server, uid: str) -> None:
    from mem0 import MemoryClient
    from mem0.exceptions import RateLimitError

    limited = MemoryClient(api_key=LIMITED_KEY, host=mem0_server.base_url)  # one request
    try:
        with pytest.raises(RateLimitError, match="rate limit exceeded") as caught:
            for _ in range(10):
                limited.get_all(filters={"user_id": uid})
        assert caught.value.debug_info["status_code"] == 429
        assert caught.value.debug_info["retry_after"] >= 1
    finally:
        limited.client.close()


# -- the async client ------------------------------------------------------------------------


async def test_async_client_round_trips(aclient: Any, uid: str) -> None:
    from mem0.exceptions import MemoryNotFoundError

    added = await aclient.add(
        [{"role": "user", "content": "my cat is called Miso"}], user_id=uid, infer=False
    )
    memory_id = added["results"][0]["id"]
    found = await aclient.search("pet name", filters={"user_id": uid})
    assert [hit["id"] for hit in found["results"]] == [memory_id]
    assert (await aclient.get(memory_id))["memory"] == "my cat is called Miso"
    updated = await aclient.update(memory_id, text="my cat is called Mochi")
    assert updated["memory"] == "my cat is called Mochi"
    history = await aclient.history(memory_id)
    assert [entry["event"] for entry in history] == ["ADD", "UPDATE"]
    assert (await aclient.delete(memory_id))["message"]
    with pytest.raises(MemoryNotFoundError):
        await aclient.get(memory_id)


async def test_async_client_lists_batches_and_entities(aclient: Any, uid: str) -> None:
    from mem0.exceptions import MemoryNotFoundError, ValidationError

    added = await aclient.add(
        [{"role": "user", "content": f"note {i}"} for i in range(5)], user_id=uid, infer=False
    )
    ids = [item["id"] for item in added["results"]]
    page = await aclient.get_all(filters={"user_id": uid}, page=2, page_size=2)
    assert page["count"] == 5 and [m["id"] for m in page["results"]] == ids[2:4]

    await aclient.batch_update([{"memory_id": ids[0], "text": "note zero"}])
    assert (await aclient.get(ids[0]))["memory"] == "note zero"
    await aclient.batch_delete([{"memory_id": ids[1]}])
    with pytest.raises(MemoryNotFoundError):
        await aclient.get(ids[1])

    users = await aclient.users()
    assert any(e["name"] == uid and e["total_memories"] == 4 for e in users["results"])
    await aclient.delete_users(user_id=uid)
    assert (await aclient.get_all(filters={"user_id": uid}))["count"] == 0

    with pytest.raises(ValidationError, match="unsupported filter field"):
        await aclient.search("x", filters={"user_id": uid, "score": 1})


# -- the exact requests of the SDK's wire capture ---------------------------------------------


def test_the_captured_sdk_requests_are_all_served(mem0_server: Mem0Server, uid: str) -> None:
    """Replays the request shapes of mem0-sdk-2.2.1-wire.jsonl (paths, query strings, bodies)
    with raw httpx: each is served (2xx, or 404 for an id that does not exist)."""
    headers = {"Authorization": f"Token {APP_KEY}", "Mem0-User-ID": "0" * 32}
    with httpx.Client(base_url=mem0_server.base_url, headers=headers, timeout=60) as http:
        assert http.get("/v1/ping/").json()["status"] == "ok"
        add = http.post(
            "/v3/memories/add/",
            json={"messages": [{"role": "user", "content": "I like tea"}], "user_id": uid,
                  "metadata": {"k": "v"}},
        )  # fmt: skip
        assert add.status_code == 200 and add.headers["x-memio-infer"] == "unavailable"
        mid = add.json()["results"][0]["id"]
        add2 = http.post(
            "/v3/memories/add/",
            json={"messages": [{"role": "user", "content": "hi"}], "filters": {"user_id": uid},
                  "infer": False, "async_mode": False},
        )  # fmt: skip
        assert add2.status_code == 200 and add2.headers["x-memio-infer"] == "off"
        assert add2.json()["results"][0]["user_id"] == uid
        assert http.get(f"/v1/memories/{mid}/").status_code == 200
        listing = http.post(
            "/v3/memories/", params={"page": 1, "page_size": 50},
            json={"filters": {"AND": [{"user_id": uid}]}},
        )  # fmt: skip
        assert listing.json()["count"] == 2
        search = http.post(
            "/v3/memories/search/",
            json={"query": "tea?", "filters": {"user_id": uid}, "top_k": 5, "threshold": 0.3,
                  "rerank": True},
        )  # fmt: skip
        assert search.json()["results"][0]["id"] == mid
        put = http.put(
            f"/v1/memories/{mid}/", json={"text": "likes green tea", "metadata": {"a": 1}}
        )
        assert put.json()["memory"] == "likes green tea"
        assert len(http.get(f"/v1/memories/{mid}/history/").json()) == 2
        assert (
            http.post(
                "/v1/feedback/",
                json={"memory_id": mid, "feedback": "POSITIVE", "feedback_reason": "good"},
            ).status_code
            == 200
        )
        assert http.put("/v1/batch/", json={"memories": [{"memory_id": mid, "text": "x"}]}).json()
        assert http.request("DELETE", "/v1/batch/", json={"memories": [{"memory_id": mid}]}).json()
        assert (
            http.delete(f"/v1/memories/{mid}/", params={"delete_linked": "true"}).status_code == 404
        )
        assert http.get("/v1/entities/").status_code == 200
        # delete_all by entity, and the Python-repr `filters` the SDK sends for filters=...
        assert http.delete("/v1/memories/", params={"user_id": uid}).status_code == 200
        http.post("/v3/memories/add/", json={"messages": "again", "user_id": uid, "infer": False})
        assert http.delete("/v1/memories/", params={"filters": f"{{'user_id': '{uid}'}}"}).json()
        count = http.post("/v3/memories/", json={"filters": {"user_id": uid}}).json()["count"]
        assert count == 0
        # an entity whose memories are gone is still there to delete (reset() relies on it)
        assert http.delete(f"/v2/entities/user/{uid}/").status_code == 200
        http.post("/v3/memories/add/", json={"messages": "hi", "agent_id": f"{uid}-bot"})
        assert http.delete(f"/v2/entities/agent/{uid}-bot/").status_code == 200
