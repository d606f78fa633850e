"""Expiring facts over /v1/facts: expires_at / ttl_seconds, include_expired, the sweep."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.http.helpers import assert_error


def _iso(delta: timedelta) -> str:
    return (datetime.now(timezone.utc) + delta).isoformat()


def test_an_expired_fact_is_hidden_until_asked_for(api, uid):
    gone = api.post(
        "/v1/facts",
        json={"content": "on a train", "user_id": uid, "expires_at": _iso(-timedelta(hours=1))},
    ).json()
    kept = api.post(
        "/v1/facts", json={"content": "likes jazz", "user_id": uid, "ttl_seconds": 3600}
    ).json()
    assert gone["expires_at"] and kept["expires_at"]
    assert api.get(f"/v1/facts/{gone['id']}").status_code == 404
    assert api.get(f"/v1/facts/{gone['id']}", params={"include_expired": True}).json() == gone
    listed = api.get("/v1/facts", params={"user_id": uid}).json()
    assert [f["id"] for f in listed] == [kept["id"]]
    listed = api.get("/v1/facts", params={"user_id": uid, "include_expired": "true"}).json()
    assert [f["id"] for f in listed] == [gone["id"], kept["id"]]
    found = api.post("/v1/facts/search", json={"query": "train", "user_id": uid}).json()
    assert gone["id"] not in [f["id"] for f in found]
    found = api.post(
        "/v1/facts/search", json={"query": "train", "user_id": uid, "include_expired": True}
    ).json()
    assert gone["id"] in [f["id"] for f in found]


def test_update_sets_and_clears_the_expiry(api, uid):
    fact = api.post("/v1/facts", json={"content": "in Lisbon", "user_id": uid}).json()
    assert fact["expires_at"] is None
    set_ = api.put(f"/v1/facts/{fact['id']}", json={"ttl_seconds": 60})
    assert set_.status_code == 200, set_.text
    assert set_.json()["expires_at"] is not None
    kept = api.put(f"/v1/facts/{fact['id']}", json={"metadata": {"k": 1}}).json()
    assert kept["expires_at"] == set_.json()["expires_at"]
    cleared = api.put(f"/v1/facts/{fact['id']}", json={"expires_at": None}).json()
    assert cleared["expires_at"] is None


def test_expiry_mistakes_are_400s_naming_the_field(api, uid):
    both = api.post(
        "/v1/facts",
        json={"content": "x", "user_id": uid, "ttl_seconds": 5, "expires_at": _iso(timedelta(1))},
    )
    assert_error(both, 400, "ttl_seconds")
    negative = api.post("/v1/facts", json={"content": "x", "user_id": uid, "ttl_seconds": -1})
    assert negative.status_code in (400, 422) and "ttl_seconds" in negative.text
    batch = api.post(
        "/v1/facts/batch",
        json={
            "facts": [
                {"content": "y", "user_id": uid, "ttl_seconds": 9, "expires_at": _iso(timedelta(1))}
            ]
        },
    )
    assert_error(batch, 400, "facts[0].ttl_seconds")
    assert api.get("/v1/facts", params={"user_id": uid}).json() == []


def test_status_counts_live_facts_and_says_how_many_await_the_sweep(api, uid):
    def facts() -> dict:
        return api.get("/status").json()["stores"]["facts"]

    before = facts()
    api.post(
        "/v1/facts",
        json={"content": "at lunch", "user_id": uid, "expires_at": _iso(-timedelta(hours=1))},
    )
    api.post("/v1/facts", json={"content": "likes rain", "user_id": uid, "ttl_seconds": 3600})
    after = facts()
    assert (after["count"], after["expired"]) == (before["count"] + 1, before["expired"] + 1)
