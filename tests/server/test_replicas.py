"""Three memio-server replicas over one Chroma server, sharing write locks in Redis.

Chroma has no transactions, so without shared locks replicas race: the same doc_id POSTed
through two replicas got two 201s (50 of 50 tries), the same fact through two replicas was stored
twice, and two concurrent updates of one fact both answered 200 and forked its history. With
`config.lock_url` the chroma provider locks the ids and dedup keys a write decides on (see
memio/providers/chroma/_locks.py); these tests hold it to that with real processes.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.support.fixtures_chroma import ChromaServer
from tests.support.server_process import run_server

pytestmark = pytest.mark.redis

REPLICAS = 3
TRIES = 20


@pytest.fixture(scope="module")
def replicas(chroma_server: ChromaServer, redis_url: str, tmp_path_factory) -> Iterator[list[str]]:
    run = uuid.uuid4().hex[:10]
    stores = {
        kind: {
            "provider": "chroma",
            "config": {
                "url": chroma_server.url,
                "collection": f"memio_replicas_{run}_{kind}",
                "lock_url": f"{redis_url}/0",
            },
        }
        for kind in ("facts", "documents")
    }
    with ExitStack() as stack:
        urls = []
        for i in range(REPLICAS):
            config = {
                "data_dir": str(tmp_path_factory.mktemp(f"replica-{i}")),
                "server": {"rate_limit": {"enabled": False}},
                "stores": stores,
            }
            urls.append(stack.enter_context(run_server(config)).base_url)
        yield urls


async def _at_once(calls: list[tuple[str, str, dict]]) -> list[httpx.Response]:
    """Send the requests (method, url, json body) together and return the responses."""
    async with httpx.AsyncClient(timeout=60) as client:
        return await asyncio.gather(
            *(client.request(method, url, json=body) for method, url, body in calls)
        )


async def test_one_doc_id_through_two_replicas_is_created_once(replicas):
    first, second = replicas[0], replicas[1]
    for i in range(TRIES):
        doc_id = f"doc-{uuid.uuid4().hex[:8]}-{i}"
        responses = await _at_once(
            [
                ("POST", f"{url}/v1/documents", {"doc_id": doc_id, "content": f"from {url}"})
                for url in (first, second)
            ]
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 409], [r.text for r in responses]
        winner = next(r for r in responses if r.status_code == 201).json()
        async with httpx.AsyncClient(timeout=60) as client:
            stored = await client.get(f"{replicas[2]}/v1/documents/{doc_id}")
        assert stored.json() == winner


async def test_one_fact_through_every_replica_is_stored_once(replicas):
    user = f"u-{uuid.uuid4().hex[:8]}"
    for i in range(TRIES):
        body = {"content": f"likes tea number {i}", "user_id": user}
        responses = await _at_once([("POST", f"{url}/v1/facts", body) for url in replicas])
        assert sorted(r.status_code for r in responses) == [200] * (REPLICAS - 1) + [201]
        assert len({r.json()["id"] for r in responses}) == 1
    async with httpx.AsyncClient(timeout=60) as client:
        listed = await client.get(
            f"{replicas[0]}/v1/facts", params={"user_id": user, "limit": 1000}
        )
    assert len(listed.json()) == TRIES


async def test_concurrent_updates_of_one_fact_keep_one_linear_history(replicas):
    async with httpx.AsyncClient(timeout=60) as client:
        created = await client.post(
            f"{replicas[0]}/v1/facts",
            json={"content": "version 0", "user_id": f"u-{uuid.uuid4().hex[:8]}"},
        )
    fact_id = created.json()["id"]
    rounds = 5

    async def updates(url: str) -> list[int]:
        async with httpx.AsyncClient(timeout=60) as client:
            codes = []
            for n in range(rounds):
                response = await client.put(
                    f"{url}/v1/facts/{fact_id}",
                    json={"content": f"{url} update {n}", "metadata": {url[-5:]: n}},
                )
                codes.append(response.status_code)
            return codes

    codes = await asyncio.gather(*(updates(url) for url in replicas))
    assert all(code == 200 for replica in codes for code in replica)
    async with httpx.AsyncClient(timeout=60) as client:
        history = (await client.get(f"{replicas[1]}/v1/facts/{fact_id}/history")).json()
        final = (await client.get(f"{replicas[2]}/v1/facts/{fact_id}")).json()
    assert [e["event"] for e in history] == ["ADD"] + ["UPDATE"] * (REPLICAS * rounds)
    for before, after in itertools.pairwise(history):
        assert after["old_content"] == before["new_content"]  # each update saw the one before
        assert after["old_metadata"] == before["new_metadata"]
    assert final["content"] == history[-1]["new_content"]
    assert final["metadata"] == history[-1]["new_metadata"]
