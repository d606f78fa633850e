"""Three memio-server replicas over one PostgreSQL with pgvector: all four stores shared.

Every replica is a real process with its own (empty) data dir; facts, documents, history and graph
live in one schema of the pgvector test cluster (tests/support/fixtures_pgvector.py), and the rate
limits in Redis. The provider enforces ids and the "one fact per content per scope" rule with
constraints and writes a fact with its history event in one transaction, so replicas need no
locks of their own; these tests hold it to that:
- a write through one replica is read, listed (a cursor from one replica is followed on another)
  and found by search through the others, for every store;
- the same id created concurrently through two replicas: exactly one succeeds, the other is 409
  (facts with `fact_id`, documents with `doc_id`, a history session claimed by two users); the
  same fact content or the same triple through every replica is stored once;
- concurrent updates of one fact through every replica form one linear history;
- SIGKILL of one replica under load: the others keep answering, no acknowledged write is lost
  (bench/ledger.py's writers and check, as in the crash test), the restarted replica rejoins.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.http import client as keep_alive_client
from bench.ledger import Ledger, Writer, verify
from tests.support.fixtures_pgvector import postgres_stores
from tests.support.server_process import ServerProcess, run_server

pytestmark = [pytest.mark.redis, pytest.mark.pgvector]

REPLICAS = 3
TRIES = 10


class Replicas:
    """The running replicas; `kill(i)` SIGKILLs one, `restart(i)` starts it again on its port."""

    def __init__(self, configs: list[dict[str, Any]], stack: ExitStack) -> None:
        self.configs = configs
        self.stack = stack
        # Started together: each spends seconds importing and loading before /health answers.
        with ThreadPoolExecutor(len(configs)) as pool:
            starting = [pool.submit(stack.enter_context, run_server(c)) for c in configs]
        self.servers: list[ServerProcess] = [future.result() for future in starting]

    @property
    def urls(self) -> list[str]:
        return [server.base_url for server in self.servers]

    def kill(self, i: int) -> None:
        self.servers[i].process.kill()
        self.servers[i].process.wait()

    def restart(self, i: int) -> None:
        port = self.servers[i].port
        self.servers[i] = self.stack.enter_context(run_server(self.configs[i], port=port))


def replica_config(data_dir: Path, stores: dict[str, Any], redis_url: str) -> dict[str, Any]:
    database = stores["facts"]["config"]
    return {
        "data_dir": str(data_dir),
        "server": {
            # what every replica must share (docs/scaling.md): the key that signs cursors and
            # the mem0 dialects' entity record
            "cursor_secret": "replicas-share-this-cursor-secret",
            "entity_store": database["dsn"],
            "entity_store_schema": database["schema"],
            # shared in Redis, high enough never to refuse these tests
            "rate_limit": {
                "enabled": True,
                "limits": ["100000/minute"],
                "storage_uri": f"{redis_url}/0",
            },
        },
        "stores": stores,
    }


@pytest.fixture(scope="module")
def replicas(pgvector_dsn: str, redis_url: str, tmp_path_factory) -> Iterator[Replicas]:
    stores = postgres_stores(pgvector_dsn)  # one schema, dropped when the session ends
    configs = [
        replica_config(tmp_path_factory.mktemp(f"pg-replica-{i}"), stores, redis_url)
        for i in range(REPLICAS)
    ]
    with ExitStack() as stack:
        yield Replicas(configs, stack)


def _user() -> str:
    return f"u-{uuid.uuid4().hex[:8]}"


async def _at_once(calls: list[tuple[str, str, dict | None]]) -> list[httpx.Response]:
    """Send the requests (method, url, json body) together and return the responses."""
    async with httpx.AsyncClient(timeout=60) as http:
        return await asyncio.gather(
            *(http.request(method, url, json=body) for method, url, body in calls)
        )


async def _listed(http: httpx.AsyncClient, urls: list[str], path: str, params: dict) -> list:
    """Every item of a listing, paged 2 at a time, each page through the next replica (the
    cursor one replica issued is followed on another)."""
    items: list = []
    cursor = None
    for url in itertools.cycle(urls):
        response = await http.get(
            f"{url}{path}", params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        items += (
            body["sessions"]
            if isinstance(body, dict) and "sessions" in body
            else (body["triples"] if isinstance(body, dict) else body)
        )
        cursor = response.headers.get("X-Next-Cursor")
        if not cursor:
            return items
    raise AssertionError("unreachable")


# --- a write through one replica is seen through the others -------------------------------------


async def test_facts_written_through_one_replica_are_read_listed_and_found_through_others(
    replicas: Replicas,
):
    first, second, third = replicas.urls
    user = _user()
    contents = [f"enjoys hiking in the {place} mountains" for place in ("alps", "andes", "rockies")]
    async with httpx.AsyncClient(timeout=60) as http:
        created = []
        for content in [*contents, "drinks green tea every morning", "owns a grey cat"]:
            response = await http.post(
                f"{first}/v1/facts", json={"content": content, "user_id": user}
            )
            assert response.status_code == 201, response.text
            created.append(response.json())
        got = await http.get(f"{second}/v1/facts/{created[0]['id']}")
        assert got.status_code == 200
        assert got.json()["content"] == contents[0]
        listed = await _listed(http, [second, third, first], "/v1/facts", {"user_id": user})
        assert sorted(f["id"] for f in listed) == sorted(f["id"] for f in created)
        found = await http.post(
            f"{third}/v1/facts/search", json={"query": "green tea", "user_id": user, "limit": 1}
        )
        assert [f["id"] for f in found.json()] == [created[3]["id"]]
        history = await http.get(f"{third}/v1/facts/{created[0]['id']}/history")
        assert [e["event"] for e in history.json()] == ["ADD"]


async def test_an_entity_given_memories_through_one_replica_is_known_to_the_others(
    replicas: Replicas,
):
    first, second, third = replicas.urls
    user = _user()
    async with httpx.AsyncClient(timeout=60) as http:
        added = await http.post(
            f"{first}/v3/memories/add/", json={"messages": "I row", "user_id": user, "infer": False}
        )
        assert added.status_code == 200, added.text
        emptied = await http.delete(f"{second}/v1/memories/", params={"user_id": user})
        assert emptied.status_code == 200, emptied.text
        assert (await http.delete(f"{third}/v2/entities/user/{user}/")).status_code == 200
        assert (await http.delete(f"{first}/v2/entities/user/{user}/")).status_code == 404


async def test_documents_written_through_one_replica_are_read_listed_and_found_through_others(
    replicas: Replicas,
):
    first, second, third = replicas.urls
    user = _user()
    texts = {
        f"{user}-tea": "Green tea is brewed at 80 degrees for two minutes.",
        f"{user}-bread": "Sourdough bread needs a starter fed the day before.",
        f"{user}-train": "The night train to Vienna leaves at 22:40 from platform 4.",
    }
    async with httpx.AsyncClient(timeout=60) as http:
        for doc_id, content in texts.items():
            response = await http.post(
                f"{second}/v1/documents",
                json={"doc_id": doc_id, "content": content, "user_id": user},
            )
            assert response.status_code == 201, response.text
        got = await http.get(f"{third}/v1/documents/{user}-bread", params={"user_id": user})
        assert got.status_code == 200
        assert got.json()["content"] == texts[f"{user}-bread"]
        listed = await _listed(http, [third, first], "/v1/documents", {"user_id": user})
        assert sorted(d["id"] for d in listed) == sorted(texts)
        found = await http.post(
            f"{first}/v1/documents/search",
            json={"query": "how hot should the water be for tea", "user_id": user, "limit": 1},
        )
        assert [d["id"] for d in found.json()] == [f"{user}-tea"]


async def test_history_written_through_one_replica_is_read_listed_and_found_through_others(
    replicas: Replicas,
):
    first, second, third = replicas.urls
    user = _user()
    sessions = [f"{user}-chat-{i}" for i in range(3)]
    async with httpx.AsyncClient(timeout=60) as http:
        for i, session in enumerate(sessions):
            response = await http.post(
                f"{third}/v1/history/sessions/{session}/messages",
                json={
                    "messages": [
                        {"role": "user", "content": f"question {i} about the invoice"},
                        {"role": "assistant", "content": f"answer {i} about the refund"},
                    ],
                    "user_id": user,
                },
            )
            assert response.status_code == 204, response.text
        messages = await http.get(
            f"{first}/v1/history/sessions/{sessions[1]}/messages", params={"user_id": user}
        )
        assert [m["content"] for m in messages.json()] == [
            "question 1 about the invoice",
            "answer 1 about the refund",
        ]
        listed = await _listed(http, [first, second], "/v1/history/sessions", {"user_id": user})
        assert sorted(listed) == sorted(sessions)
        found = await http.post(
            f"{second}/v1/history/sessions/{sessions[2]}/search",
            json={"query": "refund", "user_id": user, "limit": 1},
        )
        assert [m["content"] for m in found.json()] == ["answer 2 about the refund"]


async def test_graph_written_through_one_replica_is_read_listed_and_found_through_others(
    replicas: Replicas,
):
    first, second, third = replicas.urls
    user = _user()
    triples = [
        {"subject": "alice", "predicate": "works_at", "object": "Acme"},
        {"subject": "Acme", "predicate": "located_in", "object": "Paris"},
        {"subject": "alice", "predicate": "likes", "object": "green tea"},
    ]
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(
            f"{first}/v1/graph/triples", json={"triples": triples, "user_id": user}
        )
        assert response.status_code == 204, response.text
        entity = await http.get(
            f"{second}/v1/graph/entities/Acme", params={"user_id": user, "depth": 1}
        )
        assert entity.status_code == 200
        assert len(entity.json()["triples"]) == 2
        listed = await _listed(http, [third, second], "/v1/graph/triples", {"user_id": user})
        assert sorted((t["subject"], t["predicate"], t["object"]) for t in listed) == sorted(
            (t["subject"], t["predicate"], t["object"]) for t in triples
        )
        found = await http.post(
            f"{third}/v1/graph/search", json={"query": "tea", "user_id": user, "limit": 1}
        )
        assert [t["object"] for t in found.json()["triples"]] == ["green tea"]


# --- the same id through two replicas at once ---------------------------------------------------


async def test_one_fact_id_through_two_replicas_is_created_once(replicas: Replicas):
    first, second, third = replicas.urls
    user = _user()
    for i in range(TRIES):
        fact_id = f"fact-{uuid.uuid4().hex[:8]}-{i}"
        responses = await _at_once(
            [
                (
                    "POST",
                    f"{url}/v1/facts",
                    {"fact_id": fact_id, "content": f"from {url} {i}", "user_id": user},
                )
                for url in (first, second)
            ]
        )
        assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
        winner = next(r for r in responses if r.status_code == 201).json()
        async with httpx.AsyncClient(timeout=60) as http:
            stored = await http.get(f"{third}/v1/facts/{fact_id}")
            history = await http.get(f"{third}/v1/facts/{fact_id}/history")
        assert stored.json()["content"] == winner["content"]
        assert [(e["event"], e["new_content"]) for e in history.json()] == [
            ("ADD", winner["content"])
        ]


async def test_one_doc_id_through_two_replicas_is_created_once(replicas: Replicas):
    first, second, third = replicas.urls
    for i in range(TRIES):
        doc_id = f"doc-{uuid.uuid4().hex[:8]}-{i}"
        responses = await _at_once(
            [
                ("POST", f"{url}/v1/documents", {"doc_id": doc_id, "content": f"from {url}"})
                for url in (first, second)
            ]
        )
        assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
        winner = next(r for r in responses if r.status_code == 201).json()
        async with httpx.AsyncClient(timeout=60) as http:
            stored = await http.get(f"{third}/v1/documents/{doc_id}")
        assert stored.json() == winner


async def test_one_session_claimed_by_two_users_through_two_replicas_has_one_owner(
    replicas: Replicas,
):
    first, second, third = replicas.urls
    for i in range(TRIES):
        session = f"session-{uuid.uuid4().hex[:8]}-{i}"
        users = [_user(), _user()]
        responses = await _at_once(
            [
                (
                    "POST",
                    f"{url}/v1/history/sessions/{session}/messages",
                    {"messages": [{"role": "user", "content": f"hi from {user}"}], "user_id": user},
                )
                for url, user in zip((first, second), users, strict=True)
            ]
        )
        assert sorted(r.status_code for r in responses) == [204, 409], [r.text for r in responses]
        owner = users[[r.status_code for r in responses].index(204)]
        async with httpx.AsyncClient(timeout=60) as http:
            for user in users:
                messages = await http.get(
                    f"{third}/v1/history/sessions/{session}/messages", params={"user_id": user}
                )
                if user == owner:
                    assert [m["content"] for m in messages.json()] == [f"hi from {owner}"]
                else:
                    assert messages.status_code == 404


async def test_one_fact_through_every_replica_is_stored_once(replicas: Replicas):
    urls = replicas.urls
    user = _user()
    for i in range(TRIES):
        body = {"content": f"likes tea number {i}", "user_id": user}
        responses = await _at_once([("POST", f"{url}/v1/facts", body) for url in urls])
        assert sorted(r.status_code for r in responses) == [200] * (REPLICAS - 1) + [201], [
            r.text for r in responses
        ]
        assert len({r.json()["id"] for r in responses}) == 1
    async with httpx.AsyncClient(timeout=60) as http:
        listed = (await http.get(f"{urls[0]}/v1/facts", params={"user_id": user})).json()
        assert len(listed) == TRIES
        for fact in listed:
            history = (await http.get(f"{urls[1]}/v1/facts/{fact['id']}/history")).json()
            assert [e["event"] for e in history] == ["ADD"]


async def test_one_fact_with_other_metadata_through_every_replica_merges_every_key(
    replicas: Replicas,
):
    """The same content with different metadata at once: one fact, every key merged, one ADD
    and an UPDATE per merge in one linear history."""
    urls = replicas.urls
    user = _user()
    for i in range(TRIES):
        responses = await _at_once(
            [
                (
                    "POST",
                    f"{url}/v1/facts",
                    {"content": f"plays chess {i}", "user_id": user, "metadata": {f"via_{n}": n}},
                )
                for n, url in enumerate(urls)
            ]
        )
        assert sorted(r.status_code for r in responses) == [200] * (REPLICAS - 1) + [201], [
            r.text for r in responses
        ]
        (fact_id,) = {r.json()["id"] for r in responses}
        async with httpx.AsyncClient(timeout=60) as http:
            stored = (await http.get(f"{urls[i % REPLICAS]}/v1/facts/{fact_id}")).json()
            history = (await http.get(f"{urls[0]}/v1/facts/{fact_id}/history")).json()
        assert stored["metadata"] == {f"via_{n}": n for n in range(REPLICAS)}
        assert [e["event"] for e in history] == ["ADD"] + ["UPDATE"] * (REPLICAS - 1)
        for before, after in itertools.pairwise(history):
            assert after["old_metadata"] == before["new_metadata"]
        assert history[-1]["new_metadata"] == stored["metadata"]


async def test_overlapping_fact_batches_through_every_replica_store_each_content_once(
    replicas: Replicas,
):
    """The same contents in a different order in each replica's batch: no deadlock, no 5xx,
    each content stored once."""
    urls = replicas.urls
    user = _user()
    contents = [f"visited city number {n}" for n in range(30)]
    orders = [random.Random(n).sample(contents, len(contents)) for n in range(REPLICAS)]
    responses = await _at_once(
        [
            (
                "POST",
                f"{url}/v1/facts/batch",
                {"facts": [{"content": c, "user_id": user} for c in order]},
            )
            for url, order in zip(urls, orders, strict=True)
        ]
    )
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    ids = [{f["content"]: f["id"] for f in r.json()} for r in responses]
    assert ids[0] == ids[1] == ids[2]
    async with httpx.AsyncClient(timeout=60) as http:
        listed = (await http.get(f"{urls[1]}/v1/facts", params={"user_id": user})).json()
    assert sorted(f["content"] for f in listed) == sorted(contents)


async def test_concurrent_document_updates_through_every_replica_merge_every_key(
    replicas: Replicas,
):
    urls = replicas.urls
    doc_id = f"doc-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=60) as http:
        created = await http.post(
            f"{urls[0]}/v1/documents", json={"doc_id": doc_id, "content": "v0"}
        )
        assert created.status_code == 201, created.text
    rounds = 5
    responses = await _at_once(
        [
            ("PUT", f"{url}/v1/documents/{doc_id}", {"metadata": {f"r{n}_{r}": r}})
            for r in range(rounds)
            for n, url in enumerate(urls)
        ]
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    async with httpx.AsyncClient(timeout=60) as http:
        stored = (await http.get(f"{urls[2]}/v1/documents/{doc_id}")).json()
    assert stored["metadata"] == {f"r{n}_{r}": r for r in range(rounds) for n in range(REPLICAS)}


async def test_concurrent_appends_to_one_session_through_every_replica_keep_each_batch_whole(
    replicas: Replicas,
):
    urls = replicas.urls
    user, session = _user(), f"chat-{uuid.uuid4().hex[:8]}"
    rounds = 8
    responses = await _at_once(
        [
            (
                "POST",
                f"{url}/v1/history/sessions/{session}/messages",
                {
                    "messages": [
                        {"role": "user", "content": f"q {n}.{r}"},
                        {"role": "assistant", "content": f"a {n}.{r}"},
                    ],
                    "user_id": user,
                },
            )
            for r in range(rounds)
            for n, url in enumerate(urls)
        ]
    )
    assert all(r.status_code == 204 for r in responses), [r.text for r in responses]
    async with httpx.AsyncClient(timeout=60) as http:
        messages = await http.get(
            f"{urls[1]}/v1/history/sessions/{session}/messages",
            params={"user_id": user, "limit": 1000},
        )
    contents = [m["content"] for m in messages.json()]
    assert len(contents) == 2 * rounds * REPLICAS
    pairs = list(zip(contents[::2], contents[1::2], strict=True))
    assert all(q.replace("q", "a", 1) == a for q, a in pairs), pairs  # each batch adjacent
    assert sorted(q for q, _ in pairs) == sorted(
        f"q {n}.{r}" for r in range(rounds) for n in range(REPLICAS)
    )


async def test_overlapping_id_batches_through_two_replicas_are_all_or_nothing(
    replicas: Replicas,
):
    """Two batches sharing one new id at once: exactly one is written, the other is 409 and
    leaves nothing behind (facts with fact_id, documents with doc_id)."""
    first, second, third = replicas.urls
    user = _user()
    for i in range(TRIES // 2):
        tag = f"{uuid.uuid4().hex[:6]}-{i}"
        a, shared, b = (f"{tag}-a", f"{tag}-shared", f"{tag}-b")
        for path, key, id_key in (
            ("/v1/facts/batch", "facts", "fact_id"),
            ("/v1/documents/batch", "documents", "doc_id"),
        ):
            responses = await _at_once(
                [
                    (
                        "POST",
                        f"{url}{path}",
                        {
                            key: [
                                {id_key: x, "content": f"{key} {x} via {url}", "user_id": user}
                                for x in ids
                            ]
                        },
                    )
                    for url, ids in ((first, (a, shared)), (second, (shared, b)))
                ]
            )
            codes = [r.status_code for r in responses]
            assert sorted(codes) == [201, 409], [r.text for r in responses]
            written, refused = ((a, shared), b) if codes[0] == 201 else ((shared, b), a)
            single = path.removesuffix("/batch")
            owner = {"user_id": user} if key == "documents" else {}  # a fact get takes no scope
            async with httpx.AsyncClient(timeout=60) as http:
                for x in written:
                    got = await http.get(f"{third}{single}/{x}", params=owner)
                    assert got.status_code == 200, (key, x, got.text)
                missing = await http.get(f"{third}{single}/{refused}", params=owner)
                assert missing.status_code == 404, (key, refused, missing.text)


async def test_a_delete_racing_updates_through_other_replicas_ends_the_history(
    replicas: Replicas,
):
    """Updates through two replicas while a third deletes the fact: each update is 200 (and in
    the history before the DELETE) or 404; nothing follows the DELETE; the fact is gone."""
    first, second, third = replicas.urls
    for i in range(TRIES):
        async with httpx.AsyncClient(timeout=60) as http:
            created = await http.post(
                f"{first}/v1/facts", json={"content": f"rides a bike {i}", "user_id": _user()}
            )
        fact_id = created.json()["id"]
        responses = await _at_once(
            [
                ("PUT", f"{first}/v1/facts/{fact_id}", {"content": f"rides a red bike {i}"}),
                ("DELETE", f"{third}/v1/facts/{fact_id}", None),
                ("PUT", f"{second}/v1/facts/{fact_id}", {"metadata": {"color": "blue"}}),
            ]
        )
        codes = [r.status_code for r in responses]
        assert codes[1] == 204 and {codes[0], codes[2]} <= {200, 404}, [r.text for r in responses]
        async with httpx.AsyncClient(timeout=60) as http:
            history = (await http.get(f"{second}/v1/facts/{fact_id}/history")).json()
            gone = await http.get(f"{first}/v1/facts/{fact_id}")
        assert gone.status_code == 404
        events = [e["event"] for e in history]
        assert events == ["ADD"] + ["UPDATE"] * codes.count(200) + ["DELETE"], (codes, events)
        for before, after in itertools.pairwise(history):
            assert after["old_content"] == before["new_content"]
            assert after["old_metadata"] == before["new_metadata"]


async def test_one_triple_through_every_replica_is_stored_once(replicas: Replicas):
    urls = replicas.urls
    user = _user()
    for i in range(TRIES):
        triple = {"subject": f"team-{i}", "predicate": "uses", "object": "PostgreSQL"}
        responses = await _at_once(
            [
                (
                    "POST",
                    f"{url}/v1/graph/triples",
                    {"triples": [{**triple, "metadata": {f"via_{n}": True}}], "user_id": user},
                )
                for n, url in enumerate(urls)
            ]
        )
        assert [r.status_code for r in responses] == [204] * REPLICAS, [r.text for r in responses]
        async with httpx.AsyncClient(timeout=60) as http:
            stored = await http.get(
                f"{urls[i % REPLICAS]}/v1/graph/entities/team-{i}", params={"user_id": user}
            )
        (only,) = stored.json()["triples"]
        assert only["metadata"] == {f"via_{n}": True for n in range(REPLICAS)}


async def test_concurrent_updates_of_one_fact_keep_one_linear_history(replicas: Replicas):
    urls = replicas.urls
    async with httpx.AsyncClient(timeout=60) as http:
        created = await http.post(
            f"{urls[0]}/v1/facts", json={"content": "version 0", "user_id": _user()}
        )
    fact_id = created.json()["id"]
    rounds = 5

    async def updates(n: int, url: str) -> list[int]:
        async with httpx.AsyncClient(timeout=60) as http:
            codes = []
            for r in range(rounds):
                response = await http.put(
                    f"{url}/v1/facts/{fact_id}",
                    json={"content": f"replica {n} update {r}", "metadata": {f"r{n}": r}},
                )
                codes.append(response.status_code)
            return codes

    codes = await asyncio.gather(*(updates(n, url) for n, url in enumerate(urls)))
    assert all(code == 200 for replica in codes for code in replica), codes
    async with httpx.AsyncClient(timeout=60) as http:
        history = (await http.get(f"{urls[1]}/v1/facts/{fact_id}/history")).json()
        final = (await http.get(f"{urls[2]}/v1/facts/{fact_id}")).json()
    assert [e["event"] for e in history] == ["ADD"] + ["UPDATE"] * (REPLICAS * rounds)
    for before, after in itertools.pairwise(history):
        assert after["old_content"] == before["new_content"]  # each update saw the one before
        assert after["old_metadata"] == before["new_metadata"]
    assert final["content"] == history[-1]["new_content"]
    assert final["metadata"] == history[-1]["new_metadata"]
    assert final["metadata"] == {f"r{n}": rounds - 1 for n in range(REPLICAS)}


# --- SIGKILL of one replica under load ----------------------------------------------------------

WRITERS_PER_REPLICA = 4
LOAD_SECONDS = 1.5  # before the kill, and again after it


async def _searches(url: str, stop: asyncio.Event) -> list[int]:
    """Fact and document searches through one replica until `stop`; their status codes."""
    codes = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        while not stop.is_set():
            for path in ("/v1/facts/search", "/v1/documents/search"):
                response = await http.post(path, json={"query": "the weekly report", "limit": 5})
                codes.append(response.status_code)
    return codes


async def _load_and_kill(replicas: Replicas, victim: int, ledgers: list[Ledger]) -> dict:
    """Writers on every replica (each writer one user, one replica) plus searches on the
    survivors; SIGKILL `victim` LOAD_SECONDS in, keep the load on for LOAD_SECONDS more."""
    urls = replicas.urls
    stop = asyncio.Event()
    clients = [keep_alive_client(urls[i % REPLICAS]) for i in range(len(ledgers))]
    rng = random.Random(12)
    writers = [
        Writer(http, ledger, rng=random.Random(rng.random()), trial=1)
        for http, ledger in zip(clients, ledgers, strict=True)
    ]
    tasks = [asyncio.create_task(writer.run(stop)) for writer in writers]
    readers = [
        asyncio.create_task(_searches(url, stop)) for i, url in enumerate(urls) if i != victim
    ]
    try:
        await asyncio.sleep(LOAD_SECONDS)
        before = sum(sum(ledger.acknowledged.values()) for ledger in ledgers)
        replicas.kill(victim)
        await asyncio.sleep(LOAD_SECONDS)
        after = sum(sum(ledger.acknowledged.values()) for ledger in ledgers)
        stop.set()
        await asyncio.gather(*tasks)
        codes = [code for reader in await asyncio.gather(*readers) for code in reader]
    finally:
        stop.set()
        for http in clients:
            await http.aclose()
    return {"before": before, "after": after, "search_codes": codes}


def test_sigkill_of_one_replica_under_load_loses_no_acknowledged_write(replicas: Replicas):
    victim = 1
    run = uuid.uuid4().hex[:6]
    ledgers = [Ledger(f"kill-{run}-w{i}") for i in range(WRITERS_PER_REPLICA * REPLICAS)]
    load = asyncio.run(_load_and_kill(replicas, victim, ledgers))

    assert load["before"] > 0, "no write was acknowledged before the kill"
    through_victim = sum(
        sum(ledger.acknowledged.values())
        for i, ledger in enumerate(ledgers)
        if i % REPLICAS == victim
    )
    assert through_victim > 0, "the killed replica acknowledged nothing: the check would be empty"
    assert load["after"] > load["before"], "the surviving replicas stopped acknowledging writes"
    assert load["search_codes"] and set(load["search_codes"]) == {200}, load["search_codes"]
    for i, ledger in enumerate(ledgers):
        assert ledger.errors == [], (i % REPLICAS, ledger.errors[:3])  # only the victim went away
    survivors = [url for i, url in enumerate(replicas.urls) if i != victim]
    verdict = asyncio.run(verify(survivors[0], ledgers))
    assert verdict.lost == [], verdict.lost[:5]
    assert verdict.phantom == [], verdict.phantom[:5]

    replicas.restart(victim)
    rejoined = replicas.urls[victim]
    verdict = asyncio.run(verify(rejoined, ledgers))  # it reads what the others acknowledged
    assert verdict.lost == [] and verdict.phantom == [], (verdict.lost[:5], verdict.phantom[:5])
    user = _user()
    with httpx.Client(timeout=60) as http:
        written = http.post(f"{rejoined}/v1/facts", json={"content": "back again", "user_id": user})
        assert written.status_code == 201, written.text
        seen = http.get(f"{survivors[1]}/v1/facts/{written.json()['id']}")
        assert seen.status_code == 200
