"""The expiry sweep of a real server process: expired facts are deleted after the grace period,
with a DELETE in their history that says why."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import httpx

from tests.support.server_process import run_server


def _config(tmp_path, **expiry) -> dict:
    return {
        "data_dir": str(tmp_path / "data"),
        "stores": {"facts": {"provider": "memory"}},
        "server": {"expiry": {"sweep_interval_seconds": 0.2, **expiry}},
    }


def _history(client: httpx.Client, fact_id: str, *, until: float) -> list[dict]:
    while True:
        events = client.get(f"/v1/facts/{fact_id}/history").json()
        if events[-1]["event"] == "DELETE" or time.monotonic() > until:
            return events
        time.sleep(0.1)


def test_the_sweep_deletes_expired_facts_and_says_why(tmp_path):
    past = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()
    with run_server(_config(tmp_path)) as server, httpx.Client(base_url=server.base_url) as api:
        gone = api.post("/v1/facts", json={"content": "at a gig", "expires_at": past}).json()
        kept = api.post("/v1/facts", json={"content": "likes folk", "ttl_seconds": 3600}).json()
        events = _history(api, gone["id"], until=time.monotonic() + 20)
        assert [e["event"] for e in events] == ["ADD", "DELETE"]
        assert events[-1]["reason"] == "expired"
        assert (
            api.get(f"/v1/facts/{gone['id']}", params={"include_expired": True}).status_code == 404
        )
        assert api.get(f"/v1/facts/{kept['id']}").status_code == 200
        assert "expiry sweep deleted 1 expired fact" in server.stderr()


def test_the_grace_period_keeps_recently_expired_facts_readable(tmp_path):
    now = datetime.now(timezone.utc)
    long_ago = (now - timedelta(seconds=600)).isoformat()
    just_now = (now - timedelta(seconds=1)).isoformat()
    config = _config(tmp_path, grace_seconds=300)
    with run_server(config) as server, httpx.Client(base_url=server.base_url) as api:
        recent = api.post("/v1/facts", json={"content": "was tired", "expires_at": just_now}).json()
        old = api.post("/v1/facts", json={"content": "was at a gig", "expires_at": long_ago}).json()
        swept = _history(api, old["id"], until=time.monotonic() + 20)
        assert [e["event"] for e in swept] == ["ADD", "DELETE"]  # past the grace period: swept
        assert api.get(f"/v1/facts/{recent['id']}").status_code == 404  # expired: hidden
        kept = api.get(f"/v1/facts/{recent['id']}", params={"include_expired": True})
        assert kept.status_code == 200  # within the grace period: kept, sweeps ran meanwhile
        assert [e["event"] for e in api.get(f"/v1/facts/{recent['id']}/history").json()] == ["ADD"]
