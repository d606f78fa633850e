"""What long-conversation memory might need beyond fusion, measured on LoCoMo conversations with
section 9's method (bench/quality.py): variants a client or a later memio could adopt, none of
them memio's behaviour today.

- `dated`: each turn stored with its session's date in front of its text (`[date] Speaker: text`).
- `stripped`: the question's leading question words taken off before it is searched ("When did
  Caroline go ..." -> "Caroline go ...").
- `neighbours b`: the server's best 50 re-ranked, each turn's score raised by b times the best
  score of the turns just before and after it in its session (answers sit beside the turns
  that ask).
- `next turn`: the server's best results, each followed by the turn after it.

`python -m bench quality-explore [--data DIR]`: one fresh server per storage form, every
question searched once per mode and query form; results to bench/results/quality-explore.json.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import common, quality, servers
from bench.http import client, send

RESULT = common.RESULTS / "quality-explore.json"
DEPTH = 50  # results fetched per question, for the re-rankings
_ASKING = re.compile(
    r"^(when|what|where|who|how|why|which|did|does|do|is|was|were|has|have)\b\s*", re.I
)
_TURN = re.compile(r"D(\d+):(\d+)")

Ranked = list[tuple[str, float]]  # dia_id and score, best first


def stripped(question: str) -> str:
    text = question.rstrip("?")
    while (shorter := _ASKING.sub("", text, count=1)) != text:
        text = shorter
    return text


def _beside(dia_id: str) -> tuple[str, str]:
    match = _TURN.fullmatch(dia_id)
    if match is None:
        return "", ""
    session, turn = int(match[1]), int(match[2])
    return f"D{session}:{turn - 1}", f"D{session}:{turn + 1}"


def with_neighbours(found: Ranked, weight: float) -> list[str]:
    scores = dict(found)
    raised = {
        dia_id: score + weight * max(scores.get(other, 0.0) for other in _beside(dia_id))
        for dia_id, score in found
    }
    return sorted(raised, key=lambda dia_id: -raised[dia_id])


def with_next_turn(found: Ranked) -> list[str]:
    out: list[str] = []
    for dia_id, _ in found:
        for turn in (dia_id, _beside(dia_id)[1]):
            if turn not in out:
                out.append(turn)
    return out


RERANKINGS: dict[str, Callable[[Ranked], list[str]]] = {
    "as served": lambda found: [dia_id for dia_id, _ in found],
    "neighbours 0.2": lambda found: with_neighbours(found, 0.2),
    "neighbours 0.4": lambda found: with_neighbours(found, 0.4),
    "next turn": with_next_turn,
}


async def _variants(base_url: str, conversations: list[quality.Conversation]) -> dict[str, Any]:
    http = client(base_url)
    out: dict[str, Any] = {}
    try:
        await quality._load(http, conversations)
        questions = [q for c in conversations for q in c.questions]
        for mode in ("semantic", "hybrid"):
            for form, asked in (("as asked", str), ("stripped", stripped)):
                rows: dict[str, list[tuple[quality.Question, list[str]]]] = {}
                for q in questions:
                    body = {"query": asked(q.text), "user_id": q.conversation, "limit": DEPTH}
                    response = await send(
                        http, ("POST", "/v1/documents/search", {**body, "search_mode": mode})
                    )
                    found = [(doc["metadata"]["dia_id"], doc["score"]) for doc in response.json()]
                    for name, rerank in RERANKINGS.items():
                        rows.setdefault(name, []).append((q, rerank(found)))
                for name, per_question in rows.items():
                    out[f"{mode} / {form} / {name}"] = quality._scores(per_question)
    finally:
        await http.aclose()
    return out


def _dated(conversation: quality.Conversation) -> quality.Conversation:
    turns = [
        {**turn, "content": f"[{turn['metadata']['date']}] {turn['content']}"}
        for turn in conversation.turns
    ]
    return quality.Conversation(conversation.id, turns, conversation.questions)


def run(data: Path) -> dict[str, Any]:
    files = sorted(data.glob("*.json"), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise SystemExit(f"no LoCoMo conversations (*.json) in {data}")
    conversations = [quality.load_conversation(path) for path in files]
    record: dict[str, Any] = {"data": str(data), "depth": DEPTH, "storage": {}}
    with common.load_sampler(record):
        dated = [_dated(c) for c in conversations]
        for storage, stored in (("as text", conversations), ("dated", dated)):
            work = common.fresh_dir(common.RESULTS / "work" / "quality-explore")
            config = servers.write_config(work / "memio.yaml", servers.memio_config(work / "data"))
            port = servers.free_port()
            argv = servers.memio_command(config, port)
            with servers.run("memio", argv, port, work) as server:
                record["storage"][storage] = asyncio.run(_variants(server.base_url, stored))
    return record


def main(data: Path) -> None:
    record = run(data)
    common.save_to(RESULT, record)
    print("| storage | mode / query / ranking | r@5 | r@10 | r@20 | temporal r@10 |")
    print("|---|---|---|---|---|---|")
    for storage, variants in record["storage"].items():
        for name, scores in variants.items():
            overall, temporal = scores["overall"], scores["temporal"]
            print(
                f"| {storage} | {name} | {overall['r@5']:.1%} | {overall['r@10']:.1%} | "
                f"{overall['r@20']:.1%} | {temporal['r@10']:.1%} |"
            )
