"""What the mem0ai SDK reads back from update and delete_users, as the platform answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.mem0.conftest import APP_KEY, Mem0Server


@pytest.fixture
def client(mem0_server: Mem0Server) -> Iterator[Any]:
    from mem0 import MemoryClient

    memory = MemoryClient(api_key=APP_KEY, host=mem0_server.base_url)
    yield memory
    memory.client.close()


def test_update_answers_the_event_and_the_previous_memory(client, uid):
    [added] = client.add("I live in Rome", user_id=uid, infer=False)["results"]
    answer = client.update(added["id"], text="I live in Milan")
    assert (answer["event"], answer["previous_memory"]) == ("UPDATE", "I live in Rome")
    assert answer["memory"] == answer["text"] == "I live in Milan"


def test_reset_removes_every_entity_past_the_first_hundred(client, mem0_server, uid):
    import httpx

    facts = [
        {"content": f"likes number {i}", "user_id": f"{uid}-{i}", "agent_id": f"{uid}-bot"}
        for i in range(120)
    ]
    with httpx.Client(
        base_url=mem0_server.base_url, headers={"Authorization": f"Token {APP_KEY}"}
    ) as api:
        assert api.post("/v1/facts/batch", json={"facts": facts}).status_code == 201
        assert len(client.users()["results"]) >= 121
        assert "deleted" in client.reset()["message"]
        assert client.users()["results"] == []
        assert api.get("/v1/facts", params={"agent_id": f"{uid}-bot"}).json() == []


def test_get_all_honours_start_date_and_end_date(client, uid):
    from datetime import datetime, timedelta, timezone

    [added] = client.add("I like rowing", user_id=uid, infer=False)["results"]
    today = datetime.now(timezone.utc).date()
    yesterday, tomorrow = (
        (today - timedelta(days=1)).isoformat(),
        (today + timedelta(1)).isoformat(),
    )

    def ids(**dates: str) -> list[str]:
        found = client.get_all(filters={"user_id": uid}, **dates)["results"]
        return [memory["id"] for memory in found]

    assert ids(start_date=yesterday, end_date=today.isoformat()) == [added["id"]]  # days inclusive
    assert ids(start_date=tomorrow) == []
    assert ids(end_date=yesterday) == []
    assert ids(start_date=added["created_at"], end_date=added["created_at"]) == [added["id"]]


def test_history_keeps_the_user_after_a_delete(client, uid):
    [added] = client.add("I play the cello", user_id=uid, infer=False)["results"]
    client.delete(added["id"])
    entries = client.history(added["id"])
    assert [entry["event"] for entry in entries] == ["ADD", "DELETE"]
    assert {entry["user_id"] for entry in entries} == {uid}


def test_infer_without_an_llm_keeps_what_the_user_said(client, uid):
    chat = [
        {"role": "user", "content": "I just moved to Berlin"},
        {"role": "assistant", "content": "Welcome to Berlin! Winters there can be harsh."},
    ]
    kept = client.add(chat, user_id=uid)["results"]
    assert [memory["memory"] for memory in kept] == ["I just moved to Berlin"]
    both = client.add(chat, user_id=f"{uid}-raw", infer=False)["results"]
    assert len(both) == 2


def test_entity_ids_with_a_slash_reach_the_entity_routes(client, uid):
    odd = f"{uid}/team/a"
    client.add("I like maps", user_id=odd, infer=False)
    assert "deleted" in client.delete_users(user_id=odd)["message"]
    assert client.get_all(filters={"user_id": odd})["results"] == []


def test_unhonoured_platform_options_are_named(mem0_server, uid):
    import httpx

    headers = {"Authorization": f"Token {APP_KEY}"}
    with httpx.Client(base_url=mem0_server.base_url, headers=headers) as api:
        added = api.post(
            "/v3/memories/add/",
            json={"messages": "hi there", "user_id": uid, "infer": False,
                  "custom_instructions": "facts only", "reference_date": "2024-01-01",
                  "structured_data_schema": {}, "memory_type": "procedural"},
        )  # fmt: skip
        assert added.status_code == 200, added.text
        named = added.headers["x-memio-ignored"]
        assert named == "reference_date, structured_data_schema, memory_type"
        listed = api.post("/v3/memories/", json={"filters": {"user_id": uid}, "latest_only": True})
        assert listed.headers["x-memio-ignored"] == "latest_only"


def test_deleting_an_entity_never_given_memories_is_not_found(client, uid):
    from mem0.exceptions import MemoryNotFoundError

    with pytest.raises(MemoryNotFoundError):
        client.delete_users(user_id=f"{uid}-never")
    client.add("I like kites", user_id=uid, infer=False)
    client.delete_all(user_id=uid)  # its memories go; the user stays, as on the platform
    assert "deleted" in client.delete_users(user_id=uid)["message"]
    with pytest.raises(MemoryNotFoundError):
        client.delete_users(user_id=uid)


def test_an_agent_whose_memories_went_with_its_user_can_still_be_deleted(client, mem0_server, uid):
    import httpx
    from mem0.exceptions import MemoryNotFoundError

    shared = {"user_id": uid, "agent_id": f"{uid}-bot"}
    with httpx.Client(
        base_url=mem0_server.base_url, headers={"Authorization": f"Token {APP_KEY}"}
    ) as api:  # written through /v1: not recorded when added
        added = api.post("/v1/facts", json={"content": "likes tea", **shared})
        assert added.status_code == 201, added.text
    assert "deleted" in client.delete_users(user_id=uid)["message"]
    assert "deleted" in client.delete_users(agent_id=f"{uid}-bot")["message"]
    with pytest.raises(MemoryNotFoundError):
        client.delete_users(agent_id=f"{uid}-bot")


def test_a_bound_key_learns_nothing_of_entities_outside_its_user(client, mem0_server, uid):
    from mem0 import MemoryClient
    from mem0.exceptions import MemoryNotFoundError

    from tests.mem0.conftest import BOUND_KEY

    client.add("I like chess", user_id=uid, agent_id=f"{uid}-coach", infer=False)
    bound = MemoryClient(api_key=BOUND_KEY, host=mem0_server.base_url)
    try:
        with pytest.raises(MemoryNotFoundError):
            bound.delete_users(agent_id=f"{uid}-coach")
    finally:
        bound.client.close()
    assert client.get_all(filters={"user_id": uid})["count"] == 1
    assert "deleted" in client.delete_users(agent_id=f"{uid}-coach")["message"]
