"""Expiring memories through the real mem0ai SDK (platform dialect) and mem0's self-hosted API:
``expiration_date`` on add and update, ``show_expired`` on reads, ``update(expiration_date=None)``
clearing it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.mem0.conftest import APP_KEY, Mem0Server

YESTERDAY = (date.today() - timedelta(days=2)).isoformat()
NEXT_YEAR = (date.today() + timedelta(days=365)).isoformat()


@pytest.fixture
def client(mem0_server: Mem0Server) -> Iterator[Any]:
    from mem0 import MemoryClient

    memory = MemoryClient(api_key=APP_KEY, host=mem0_server.base_url)
    yield memory
    memory.client.close()


def _ids(answer: Any) -> list[str]:
    items = answer["results"] if isinstance(answer, dict) else answer
    return [item["id"] for item in items]


def test_sdk_expiration_date_hides_and_show_expired_finds(client, uid):
    old = client.add(
        "I am in Madrid this week", user_id=uid, infer=False, expiration_date=YESTERDAY
    )
    [gone] = _ids(old)
    kept = client.add("I like paella", user_id=uid, infer=False, expiration_date=NEXT_YEAR)
    [alive] = _ids(kept)
    assert client.get(gone)["expiration_date"] == YESTERDAY  # get finds it, as mem0's does
    listed = client.get_all(filters={"user_id": uid})
    assert _ids(listed) == [alive]
    assert listed["results"][0]["expiration_date"] == NEXT_YEAR
    everything = client.get_all(filters={"user_id": uid}, show_expired=True)
    assert set(_ids(everything)) == {gone, alive}
    found = client.search("Madrid", filters={"user_id": uid})
    assert gone not in _ids(found)
    found = client.search("Madrid", filters={"user_id": uid}, show_expired=True)
    assert gone in _ids(found)


def test_sdk_update_sets_and_clears_the_expiry(client, uid):
    [memory_id] = _ids(client.add("I work at a bakery", user_id=uid, infer=False))
    assert client.get(memory_id)["expiration_date"] is None
    client.update(memory_id, expiration_date=YESTERDAY)
    assert _ids(client.get_all(filters={"user_id": uid})) == []
    client.update(memory_id, expiration_date=None)  # sent as an explicit null: clears it
    assert client.get(memory_id)["expiration_date"] is None
    assert _ids(client.get_all(filters={"user_id": uid})) == [memory_id]


def test_a_bad_expiration_date_is_a_400_naming_it(mem0_server, uid):
    with httpx.Client(
        base_url=mem0_server.base_url, headers={"Authorization": f"Token {APP_KEY}"}
    ) as api:
        answer = api.post(
            "/v1/memories/",
            json={"messages": "hi", "user_id": uid, "infer": False, "expiration_date": "soon"},
        )
        assert answer.status_code == 400, answer.text
        assert "expiration_date" in answer.text
        assert api.post("/v3/memories/", json={"filters": {"user_id": uid}}).json()["results"] == []


def test_selfhosted_expiration_date_and_show_expired(mem0_server, uid):
    with httpx.Client(
        base_url=mem0_server.base_url, headers={"Authorization": f"Token {APP_KEY}"}
    ) as api:
        added = api.post(
            "/memories",
            json={
                "messages": [{"role": "user", "content": "I am at a conference"}],
                "user_id": uid,
                "infer": False,
                "expiration_date": YESTERDAY,
            },
        )
        assert added.status_code == 200, added.text
        [memory_id] = [item["id"] for item in added.json()["results"]]
        assert api.get("/memories", params={"user_id": uid}).json()["results"] == []
        shown = api.get("/memories", params={"user_id": uid, "show_expired": True}).json()
        assert [m["id"] for m in shown["results"]] == [memory_id]
        assert shown["results"][0]["expiration_date"] == YESTERDAY
        found = api.post(
            "/search", json={"query": "conference", "user_id": uid, "show_expired": True}
        ).json()
        assert memory_id in [m["id"] for m in found["results"]]
        cleared = api.put(f"/memories/{memory_id}", json={"expiration_date": None})
        assert cleared.status_code == 200, cleared.text
        assert [
            m["id"] for m in api.get("/memories", params={"user_id": uid}).json()["results"]
        ] == [memory_id]
