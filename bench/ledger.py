"""Writers that remember exactly what the server acknowledged, and a check that all of it is there.

Used by the crash test (`python -m bench crash`, tests/server/test_crash_recovery.py). Each
`Writer` owns one user's records (user_id `<run>-w<i>`: nobody else writes them) and sends one
request at a time over its own keep-alive connection, mixing every write of the four stores: fact
adds and updates, history appends, document adds and upserts, graph triple adds. Its `Ledger`
records, per record, the state after the last write answered 2xx (acknowledged: it must survive
anything) and the states sent since without a 2xx answer (unsure: the server may have died with
the request half done, so either outcome is accepted).

`verify` reads everything back over HTTP and sorts what is wrong into:
- lost: an acknowledged write that is missing or not as acknowledged (content, metadata, a
  message's order in its session, the fact history's ADD/UPDATE events);
- phantom: a stored record no writer sent;
- torn: an unacknowledged write that half happened: part of one history or graph batch, part of
  a document upsert, a fact stored or changed without its history event. Nothing acknowledged is
  wrong then, but it says what a crash can leave behind.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from bench import corpus

State = tuple[str, dict[str, Any]]  # (content, metadata)
MessageKey = tuple[str, str, str]  # (id, role, content)
TripleKey = tuple[str, str, str]  # (subject, predicate, object)

# Operation -> weight in a writer's random mix.
OPERATIONS = {
    "fact_add": 25,
    "fact_update": 15,
    "history_append": 25,
    "document_add": 10,
    "document_upsert": 10,
    "graph_add": 15,
}
PREDICATES = ("knows", "works_on", "depends_on", "mentions", "prefers")


class ServerGone(Exception):
    """The connection failed: the server is down (or was killed) under this request."""


@dataclass
class Item:
    """One record: its state after the last acknowledged write (None: never acknowledged) and the
    states sent since without a 2xx answer."""

    acked: State | None = None
    unsure: list[State] = field(default_factory=list)
    # facts only: the acknowledged ADD/UPDATE events, oldest first, as (event, state)
    events: list[tuple[str, State]] = field(default_factory=list)

    def accepts(self, state: State) -> bool:
        return state == self.acked or state in self.unsure

    @property
    def settled(self) -> bool:
        return self.acked is not None and not self.unsure


@dataclass
class Batch:
    """Messages or triples sent in one request: acknowledged, or unsure (all or none stored)."""

    keys: list[Any]
    acked: bool = False


@dataclass
class Ledger:
    """What one writer (one user) sent and what the server acknowledged, across trials."""

    user_id: str
    facts: dict[str, Item] = field(default_factory=dict)  # acknowledged adds, by fact id
    unsure_fact_adds: list[State] = field(default_factory=list)  # ids unknown: no answer
    documents: dict[str, Item] = field(default_factory=dict)
    document_batches: list[list[tuple[str, State]]] = field(default_factory=list)  # unsure upserts
    sessions: dict[str, list[Batch]] = field(default_factory=dict)
    triples: list[Batch] = field(default_factory=list)
    triple_metadata: dict[TripleKey, dict[str, Any]] = field(default_factory=dict)
    acknowledged: Counter[str] = field(default_factory=Counter)  # by operation, all trials
    errors: list[str] = field(default_factory=list)  # non-2xx answers (should never happen)
    counter: int = 0

    def next(self) -> int:
        self.counter += 1
        return self.counter


class Writer:
    """One user's writes, one request at a time, until `stop` is set or the server goes away."""

    def __init__(
        self, http: httpx.AsyncClient, ledger: Ledger, *, rng: random.Random, trial: int
    ) -> None:
        self.http = http
        self.ledger = ledger
        self.rng = rng
        self.trial = trial
        self.session = f"{ledger.user_id}-s{trial}"  # one new session per trial
        self.long_session = f"{ledger.user_id}-s"  # and one every trial appends to

    async def run(self, stop: asyncio.Event) -> None:
        names, weights = list(OPERATIONS), list(OPERATIONS.values())
        try:
            while not stop.is_set():
                op = self.rng.choices(names, weights)[0]
                await getattr(self, op)()
        except ServerGone:
            return

    # --- plumbing -------------------------------------------------------------------------------

    def _text(self, kind: str, n: int) -> str:
        sentence = self.rng.choice(_SENTENCES)
        return f"{kind} {self.ledger.user_id}-{n}: {sentence}"

    async def _send(self, method: str, path: str, body: Any) -> httpx.Response | None:
        """The response when 2xx; None (and an error noted) otherwise; ServerGone when the
        connection fails."""
        try:
            response = await self.http.request(
                method,
                path,
                content=orjson.dumps(body),
                headers={"content-type": "application/json"},
            )
        except httpx.TransportError as exc:
            raise ServerGone(str(exc)) from exc
        if response.status_code >= 300:
            self.ledger.errors.append(
                f"{method} {path}: HTTP {response.status_code} {response.text[:200]}"
            )
            return None
        return response

    # --- operations -----------------------------------------------------------------------------

    async def fact_add(self) -> None:
        n = self.ledger.next()
        state = (self._text("fact", n), {"writer": self.ledger.user_id, "n": n})
        self.ledger.unsure_fact_adds.append(state)
        body = {"content": state[0], "user_id": self.ledger.user_id, "metadata": state[1]}
        response = await self._send("POST", "/v1/facts", body)
        if response is None:
            return
        fact = response.json()
        self.ledger.unsure_fact_adds.remove(state)
        self.ledger.facts[fact["id"]] = Item(acked=state, events=[("ADD", state)])
        self.ledger.acknowledged["fact_add"] += 1

    async def fact_update(self) -> None:
        candidates = [fid for fid, item in self.ledger.facts.items() if item.settled]
        if not candidates:
            await self.fact_add()
            return
        fact_id = self.rng.choice(candidates)
        item = self.ledger.facts[fact_id]
        n = self.ledger.next()
        change = {"n": n, "updated_in": self.trial}
        assert item.acked is not None
        state = (self._text("fact update", n), {**item.acked[1], **change})
        item.unsure.append(state)
        response = await self._send(
            "PUT", f"/v1/facts/{fact_id}", {"content": state[0], "metadata": change}
        )
        if response is None:
            return
        item.acked, item.unsure = state, []
        item.events.append(("UPDATE", state))
        self.ledger.acknowledged["fact_update"] += 1

    async def history_append(self) -> None:
        session = self.session if self.rng.random() < 0.5 else self.long_session
        n = self.ledger.next()
        keys = [
            (
                f"{self.ledger.user_id}-m{n}-{k}",
                "user" if k % 2 == 0 else "assistant",
                self._text("message", n),
            )
            for k in range(self.rng.randint(1, 3))
        ]
        batch = Batch(keys)
        self.ledger.sessions.setdefault(session, []).append(batch)
        body = {
            "user_id": self.ledger.user_id,
            "messages": [{"id": i, "role": r, "content": c} for i, r, c in keys],
        }
        response = await self._send("POST", f"/v1/history/sessions/{session}/messages", body)
        if response is None:
            return
        batch.acked = True
        self.ledger.acknowledged["history_append"] += 1

    async def document_add(self) -> None:
        n = self.ledger.next()
        doc_id = f"{self.ledger.user_id}-d{n}"
        state = (self._text("document", n), {"writer": self.ledger.user_id, "n": n})
        item = self.ledger.documents[doc_id] = Item(unsure=[state])
        body = {
            "doc_id": doc_id,
            "content": state[0],
            "metadata": state[1],
            "user_id": self.ledger.user_id,
        }
        if await self._send("POST", "/v1/documents", body) is None:
            return
        item.acked, item.unsure = state, []
        self.ledger.acknowledged["document_add"] += 1

    async def document_upsert(self) -> None:
        settled = [doc_id for doc_id, item in self.ledger.documents.items() if item.settled]
        replaced = self.rng.sample(settled, min(len(settled), self.rng.randint(0, 2)))
        n = self.ledger.next()
        fresh = [f"{self.ledger.user_id}-d{n}-{k}" for k in range(self.rng.randint(1, 2))]
        batch: list[tuple[str, State]] = []
        for k, doc_id in enumerate([*replaced, *fresh]):
            state = (self._text("upserted document", n), {"n": n, "k": k})
            self.ledger.documents.setdefault(doc_id, Item()).unsure.append(state)
            batch.append((doc_id, state))
        self.ledger.document_batches.append(batch)
        body = {
            "documents": [
                {
                    "doc_id": doc_id,
                    "content": s[0],
                    "metadata": s[1],
                    "user_id": self.ledger.user_id,
                }
                for doc_id, s in batch
            ]
        }
        if await self._send("PUT", "/v1/documents/batch", body) is None:
            return
        for doc_id, state in batch:
            item = self.ledger.documents[doc_id]
            item.acked, item.unsure = state, []
        self.ledger.document_batches.remove(batch)
        self.ledger.acknowledged["document_upsert"] += 1

    async def graph_add(self) -> None:
        n = self.ledger.next()
        user = self.ledger.user_id
        triples = []
        for k in range(self.rng.randint(1, 3)):
            key = (
                f"{user}-e{n}-{k}",
                self.rng.choice(PREDICATES),
                f"{user}-e{self.rng.randint(1, n)}",
            )
            self.ledger.triple_metadata[key] = {"n": n, "k": k}
            triples.append(key)
        batch = Batch(triples)
        self.ledger.triples.append(batch)
        body = {
            "user_id": user,
            "triples": [
                {
                    "subject": s,
                    "predicate": p,
                    "object": o,
                    "metadata": self.ledger.triple_metadata[(s, p, o)],
                }
                for s, p, o in triples
            ],
        }
        if await self._send("POST", "/v1/graph/triples", body) is None:
            return
        batch.acked = True
        self.ledger.acknowledged["graph_add"] += 1


_SENTENCES = corpus.facts(500, seed=11)


# --- verification -------------------------------------------------------------------------------


@dataclass
class Verdict:
    """What `verify` found; `acknowledged` counts the acknowledged records it checked (a fact's
    ADD and each UPDATE, a document's last state, a history or graph batch)."""

    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)
    phantom: list[str] = field(default_factory=list)
    torn: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "records_checked": self.acknowledged,
            "lost": len(self.lost),
            "phantom": len(self.phantom),
            "examples": (self.lost + self.phantom)[:10],
            "torn": sorted(self.torn),
        }


async def _read(http: httpx.AsyncClient, path: str, **kwargs: Any) -> httpx.Response:
    """A GET, sent again once if the server closed the keep-alive connection under it (the
    server's idle timeout can fire just as a pooled connection is reused; a read is safe to
    repeat)."""
    try:
        return await http.get(path, **kwargs)
    except (httpx.ReadError, httpx.RemoteProtocolError):
        return await http.get(path, **kwargs)


async def _listing(
    http: httpx.AsyncClient, path: str, params: dict[str, Any], *, missing_ok: bool = False
) -> list[dict]:
    """Every item of a paged listing (pages of 1000, following X-Next-Cursor); with
    `missing_ok`, a 404 is an empty listing."""
    out: list[dict] = []
    cursor = None
    while True:
        page_params = {**params, "limit": 1000, **({"cursor": cursor} if cursor else {})}
        response = await _read(http, path, params=page_params)
        if response.status_code == 404 and missing_ok:
            return out
        if response.status_code != 200:
            raise RuntimeError(
                f"GET {path} {params}: HTTP {response.status_code} {response.text[:300]}"
            )
        body = response.json()
        out.extend(body["triples"] if isinstance(body, dict) else body)
        cursor = response.headers.get("X-Next-Cursor")
        if not cursor:
            return out


async def _facts(http: httpx.AsyncClient, ledger: Ledger, verdict: Verdict) -> None:
    user = ledger.user_id
    stored = {
        fact["id"]: (fact["content"], fact["metadata"])
        for fact in await _listing(http, "/v1/facts", {"user_id": user})
    }
    to_check: dict[str, Item | None] = {}
    for fact_id, item in ledger.facts.items():
        verdict.acknowledged += len(item.events)
        state = stored.get(fact_id)
        if state is None:
            verdict.lost.append(f"facts: {fact_id} ({user}) is missing")
        elif not item.accepts(state):
            verdict.lost.append(f"facts: {fact_id} holds {state!r}, acknowledged {item.acked!r}")
        else:
            to_check[fact_id] = item
    for fact_id, state in stored.items():
        if fact_id not in ledger.facts:
            if state in ledger.unsure_fact_adds:  # an add whose answer never came
                to_check[fact_id] = None
            else:
                verdict.phantom.append(f"facts: {fact_id} ({user}) holds {state!r}")

    async def history(fact_id: str) -> None:
        response = await _read(http, f"/v1/facts/{fact_id}/history")
        if response.status_code not in (200, 404):  # 404: the fact has no event at all
            raise RuntimeError(f"history of {fact_id}: HTTP {response.status_code}")
        events = [
            (e["event"], (e.get("new_content"), e.get("new_metadata")))
            for e in (response.json() if response.status_code == 200 else [])
        ]
        item = to_check[fact_id]
        if item is None:  # stored by an unanswered add: its ADD should be recorded too
            if not events or events[0] != ("ADD", stored[fact_id]):
                verdict.torn.append(f"facts: {fact_id} stored without its ADD event")
            return
        rest = iter(events)
        for expected in item.events:  # in order, other events (unsure ones) may sit between
            if not any(event == expected for event in rest):
                verdict.lost.append(f"facts: {fact_id} history lacks {expected!r}: {events!r}")
                return
        if stored[fact_id] != item.acked and ("UPDATE", stored[fact_id]) not in events:
            verdict.torn.append(f"facts: {fact_id} changed without its UPDATE event")

    await asyncio.gather(*(history(fact_id) for fact_id in to_check))


async def _documents(http: httpx.AsyncClient, ledger: Ledger, verdict: Verdict) -> None:
    user = ledger.user_id
    stored = {
        doc["id"]: (doc["content"], doc["metadata"])
        for doc in await _listing(http, "/v1/documents", {"user_id": user})
    }
    for doc_id, item in ledger.documents.items():
        state = stored.get(doc_id)
        if item.acked is not None:
            verdict.acknowledged += 1
            if state is None:
                verdict.lost.append(f"documents: {doc_id} ({user}) is missing")
                continue
        if state is not None and not item.accepts(state):
            where = "lost" if item.acked is not None else "phantom"
            getattr(verdict, where).append(
                f"documents: {doc_id} holds {state!r}, acknowledged {item.acked!r}"
            )
    for doc_id, state in stored.items():
        if doc_id not in ledger.documents:
            verdict.phantom.append(f"documents: {doc_id} ({user}) holds {state!r}")
    for batch in ledger.document_batches:
        applied = [stored.get(doc_id) == state for doc_id, state in batch]
        if any(applied) and not all(applied):
            verdict.torn.append(f"documents: upsert of {[d for d, _ in batch]} half applied")


async def _sessions(http: httpx.AsyncClient, ledger: Ledger, verdict: Verdict) -> None:
    user = ledger.user_id
    for session, batches in ledger.sessions.items():
        path = f"/v1/history/sessions/{session}/messages"
        stored: list[MessageKey] = [
            (m["id"], m["role"], m["content"])
            for m in await _listing(http, path, {"user_id": user}, missing_ok=True)
        ]
        _check_batches(f"history: session {session}", batches, stored, verdict)


async def _triples(http: httpx.AsyncClient, ledger: Ledger, verdict: Verdict) -> None:
    user = ledger.user_id
    stored = await _listing(http, "/v1/graph/triples", {"user_id": user})
    keys = [(t["subject"], t["predicate"], t["object"]) for t in stored]
    _check_batches(f"graph: user {user}", ledger.triples, keys, verdict)
    for triple, key in zip(stored, keys, strict=True):
        expected = ledger.triple_metadata.get(key)
        if expected is not None and triple["metadata"] != expected:
            verdict.lost.append(
                f"graph: {key} has metadata {triple['metadata']!r}, not {expected!r}"
            )


def _check_batches(where: str, batches: list[Batch], stored: list[Any], verdict: Verdict) -> None:
    """Acknowledged batches present in the order they were acknowledged; unsure batches whole or
    absent; nothing stored that no batch sent."""
    position = {key: i for i, key in enumerate(stored)}
    sent = set()
    last = -1
    for batch in batches:
        sent.update(batch.keys)
        found = [position.get(key) for key in batch.keys]
        if batch.acked:
            verdict.acknowledged += 1
            if None in found:
                verdict.lost.append(f"{where}: acknowledged {batch.keys!r} missing")
                continue
            if min(found) < last or found != sorted(found):  # type: ignore[type-var]
                verdict.lost.append(f"{where}: {batch.keys!r} out of order")
            last = max(found)  # type: ignore[type-var]
        elif any(i is not None for i in found) and None in found:
            verdict.torn.append(f"{where}: unacknowledged {batch.keys!r} half stored")
    for key in stored:
        if key not in sent:
            verdict.phantom.append(f"{where}: {key!r} stored, never sent")


async def verify(base_url: str, ledgers: list[Ledger], *, connections: int = 8) -> Verdict:
    """Read every writer's records back and compare them with its ledger."""
    verdict = Verdict()
    clients = [httpx.AsyncClient(base_url=base_url, timeout=120.0) for _ in range(connections)]
    queue: asyncio.Queue[Ledger] = asyncio.Queue()
    for ledger in ledgers:
        queue.put_nowait(ledger)

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            ledger = queue.get_nowait()
            for check in (_facts, _documents, _sessions, _triples):
                await check(http, ledger, verdict)

    try:
        await asyncio.gather(*(worker(http) for http in clients))
    finally:
        for http in clients:
            await http.aclose()
    return verdict
