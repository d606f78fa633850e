"""Retrieval quality on LoCoMo-format conversations, through a real server's public HTTP API.

Every turn of a conversation is stored as a /v1 document owned by that conversation
(`user_id` = the conversation's id, batch route); every question of categories 1-4 is searched
within its conversation, once per `search_mode` the server accepts. recall@k is the share of a
question's evidence turns found in the top k, averaged over questions (questions without evidence
are left out); the time per query is the HTTP round trip seen by the client.

`python -m bench quality [--data DIR]`; DIR defaults to ../shared/data/locomo-dev beside the
repository, or beside the nearest parent folder that has it (a worktree's); research data is read
in place, never copied into the repository.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import common, report, servers
from bench.http import client, send, summarize

_DATA = Path("shared", "data", "locomo-dev")
# ../shared/data/locomo-dev beside the repository (or beside a folder of worktrees holding it)
DEFAULT_DATA = next(
    (up / _DATA for up in common.ROOT.parents if (up / _DATA).is_dir()), common.ROOT.parent / _DATA
)
KS = (1, 5, 10, 20)
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
BATCH = 500  # turns per POST /v1/documents/batch (the route takes up to 1000)
RESULT = common.RESULTS / "quality.json"


@dataclass(frozen=True)
class Question:
    conversation: str
    category: int
    text: str
    evidence: frozenset[str]  # dia_ids of the turns that hold the answer


@dataclass(frozen=True)
class Conversation:
    id: str
    turns: list[dict[str, Any]]  # DocumentCreate bodies
    questions: list[Question]


def _turn_text(turn: dict[str, Any]) -> str:
    """What a chat memory stores for a turn: who said it and what. Questions name the speaker
    (semantic recall@10 halves without it); appending the caption of a shared photo cost a point
    of semantic recall@10 on the dev conversations, so it is left out."""
    return f"{turn['speaker']}: {turn['text']}"


def _sessions(raw: dict[str, Any]) -> Iterator[tuple[int, str, list[dict[str, Any]]]]:
    numbers = sorted(
        int(key.rsplit("_", 1)[1])
        for key, value in raw.items()
        if key.startswith("session_") and isinstance(value, list)
    )
    for n in numbers:
        yield n, str(raw.get(f"session_{n}_date_time", "")), raw[f"session_{n}"]


def load_conversation(path: Path) -> Conversation:
    raw = json.loads(path.read_text())
    cid = str(raw.get("sample_id") or path.stem)
    turns = [
        {
            "doc_id": f"locomo-{cid}-{turn['dia_id']}",
            "content": _turn_text(turn),
            "metadata": {"dia_id": turn["dia_id"], "session": n, "date": date},
            "user_id": cid,
        }
        for n, date, session in _sessions(raw)
        for turn in session
    ]
    questions = []
    for qa in raw["qa"]:
        # One evidence entry of the released data joins two ids with "; ".
        evidence = frozenset(
            part.strip() for item in qa.get("evidence", []) for part in str(item).split(";")
        ) - {""}
        if qa.get("category") in CATEGORIES and evidence:
            questions.append(Question(cid, qa["category"], str(qa["question"]), evidence))
    return Conversation(cid, turns, questions)


def search_modes(base_url: str) -> list[str] | None:
    """The `search_mode`s /v1/documents/search accepts, read from the server's OpenAPI schema;
    None when it has no such field (it then searches by meaning only)."""
    schema = httpx.get(base_url + "/openapi.json", timeout=30).json()
    body = schema["components"]["schemas"]["DocumentSearch"]["properties"]
    field = body.get("search_mode")
    if field is None:
        return None
    options = field.get("enum") or [
        value for choice in field.get("anyOf", []) for value in choice.get("enum", [])
    ]
    return sorted(options, key=("semantic", "keyword", "hybrid").index)


def _recall(found: list[str], evidence: frozenset[str], k: int) -> float:
    return len(evidence & set(found[:k])) / len(evidence)


def _scores(per_question: list[tuple[Question, list[str]]]) -> dict[str, Any]:
    groups: dict[str, list[tuple[Question, list[str]]]] = {"overall": per_question}
    for category, name in CATEGORIES.items():
        groups[name] = [(q, found) for q, found in per_question if q.category == category]
    return {
        name: {
            "questions": len(rows),
            **{
                f"r@{k}": sum(_recall(found, q.evidence, k) for q, found in rows) / len(rows)
                for k in KS
            },
        }
        for name, rows in groups.items()
        if rows
    }


async def _load(http: httpx.AsyncClient, conversations: list[Conversation]) -> float:
    start = time.perf_counter()
    for conversation in conversations:
        for i in range(0, len(conversation.turns), BATCH):
            batch = conversation.turns[i : i + BATCH]
            await send(http, ("POST", "/v1/documents/batch", {"documents": batch}))
    return time.perf_counter() - start


async def _measure(
    http: httpx.AsyncClient, questions: list[Question], mode: str, explicit: bool
) -> dict[str, Any]:
    latencies, per_question = [], []
    for q in questions:
        body: dict[str, Any] = {"query": q.text, "user_id": q.conversation, "limit": max(KS)}
        if explicit:
            body["search_mode"] = mode
        start = time.perf_counter()
        response = await send(http, ("POST", "/v1/documents/search", body))
        latencies.append((time.perf_counter() - start) * 1000)
        found = [doc["metadata"]["dia_id"] for doc in response.json()]
        per_question.append((q, found))
    return {"recall": _scores(per_question), "latency": summarize(latencies)}


async def _bench(base_url: str, conversations: list[Conversation]) -> dict[str, Any]:
    accepted = search_modes(base_url)
    modes = accepted or ["semantic"]
    questions = [q for c in conversations for q in c.questions]
    http = client(base_url)
    try:
        load_seconds = await _load(http, conversations)
        warm = questions[: min(20, len(questions))]
        for q in warm:  # first searches pay for lazy loading, not for ranking
            await send(http, ("POST", "/v1/documents/search", {"query": q.text, "limit": 1}))
        explicit = accepted is not None
        results = {mode: await _measure(http, questions, mode, explicit) for mode in modes}
    finally:
        await http.aclose()
    return {"modes": modes, "load_seconds": load_seconds, "results": results}


def run(data: Path, compute: str = "float") -> dict[str, Any]:
    files = sorted(data.glob("*.json"), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise SystemExit(f"no LoCoMo conversations (*.json) in {data}")
    conversations = [load_conversation(path) for path in files]
    work = common.fresh_dir(common.RESULTS / "work" / "quality")
    settings = {**servers.memio_config(work / "data"), "embedder": {"compute": compute}}
    config = servers.write_config(work / "memio.yaml", settings)
    port = servers.free_port()
    record: dict[str, Any] = {
        "data": str(data),
        "compute": compute,
        "conversations": [
            {"id": c.id, "turns": len(c.turns), "questions": len(c.questions)}
            for c in conversations
        ],
    }
    argv = servers.memio_command(config, port)
    with common.load_sampler(record), servers.run("memio", argv, port, work) as server:
        record.update(asyncio.run(_bench(server.base_url, conversations)))
    return record


def main(data: Path, compute: str = "float") -> None:
    record = run(data, compute)
    common.save_to(RESULT if compute == "float" else RESULT.with_stem(f"quality-{compute}"), record)
    for mode in record["modes"]:
        result = record["results"][mode]
        overall, latency = result["recall"]["overall"], result["latency"]
        print(
            f"[quality] {mode}: "
            + ", ".join(f"r@{k} {overall[f'r@{k}'] * 100:.1f}%" for k in KS)
            + f"; p50 {latency['p50']:.1f} ms, p95 {latency['p95']:.1f} ms",
            flush=True,
        )
    if compute == "float":
        path = report.splice(common.ROOT / "docs" / "benchmarks.md", report.section_quality(record))
        print(f"[quality] section spliced into {path}")
