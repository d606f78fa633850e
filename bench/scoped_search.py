"""`python -m bench.scoped_search`: what a search costs within one user against the whole store.

    python -m bench.scoped_search [--docs 10000] [--users 100] [--src DIR] [--label NAME]

Run by hand (the figures are in docs/benchmarks.md, section 10's notes). An embedded chroma
documents store and facts store in process (no HTTP) each get `--docs` corpus texts spread over
`--users` users; then 200 searches per search mode, unscoped and each within one user at random,
with the query vectors computed beforehand so the timings are the store's alone (the model costs
the same either way), and 100 more with the model, for scale. `--src` runs another memio source tree
(a worktree of an older commit) on the same corpus, for a before/after on one machine; each
tree keeps its own store under bench/results/work/scoped-<label>. Results go to
bench/results/scoped-<label>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

MODES = ("semantic", "hybrid", "keyword")


def _p50(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


async def _measure(kind: str, docs: int, users: int, work: Path) -> dict[str, Any]:
    import numpy as np

    from bench import corpus
    from memio.embeddings import MiniLMEmbedder
    from memio.providers import build_store
    from memio.providers.shared import ProviderContext

    embedder = MiniLMEmbedder()
    context = ProviderContext(data_dir=work, embedder=embedder)
    store = build_store(kind, "chroma", {"path": str(work / "chroma")}, context)
    if await store.count() == 0:
        if kind == "documents":
            payloads = corpus.document_payloads(corpus.documents(docs), users=users)
        else:
            payloads = corpus.fact_payloads(corpus.facts(docs), users=users)
        for start in range(0, docs, 1000):
            await store.add_many(**{kind: payloads[start : start + 1000]})
    queries = corpus.queries(300, seed=5)
    vectors = dict(zip(queries, await embedder.embed(queries), strict=True))
    backend = store.adapter._backend
    model = backend.embed

    async def precomputed(texts: list[str]) -> Any:
        if all(text in vectors for text in texts):
            return np.stack([vectors[text] for text in texts])
        return await model(texts)

    await store.search(query="warm up", user_id=corpus.user(0, users), limit=10)
    index = store.adapter._index
    for _ in range(6000):  # the word index loads into memory in a thread of its own
        if getattr(index, "_loaded", None) is None:
            break
        await asyncio.sleep(0.1)
    rng = random.Random(1)
    results: dict[str, Any] = {}
    for with_model in (False, True):
        backend.embed = model if with_model else precomputed
        sample = queries[200:] if with_model else queries[:200]
        for mode in MODES:
            for scoped in (False, True):
                timings = []
                for query in sample:
                    scope = {"user_id": corpus.user(rng.randrange(users), users)} if scoped else {}
                    start = time.perf_counter()
                    await store.search(query=query, limit=10, search_mode=mode, **scope)
                    timings.append(time.perf_counter() - start)
                within = "one user" if scoped else "all"
                key = f"{kind}/{mode}/{within}/{'model' if with_model else 'store'}"
                results[key] = _p50(timings)
                print(f"[scoped] {key}: p50 {results[key]} ms", flush=True)
    await store.aclose()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scoped_search")
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--src", type=Path, help="a memio source tree to measure instead")
    parser.add_argument("--label", default="current", help="names the store and the result")
    args = parser.parse_args(argv)
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    if args.src is not None:
        sys.path.insert(0, str(args.src.resolve()))
    from bench.common import RESULTS, save_to

    work = RESULTS / "work" / f"scoped-{args.label}"
    work.mkdir(parents=True, exist_ok=True)
    record = {
        "docs": args.docs,
        "users": args.users,
        "label": args.label,
        "src": str(args.src) if args.src else None,
        "p50_ms": {
            key: p50
            for kind in ("documents", "facts")
            for key, p50 in asyncio.run(_measure(kind, args.docs, args.users, work / kind)).items()
        },
    }
    print(f"[scoped] saved {save_to(RESULTS / f'scoped-{args.label}.json', record)}")


if __name__ == "__main__":
    main()
