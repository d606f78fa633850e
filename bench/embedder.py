"""Benchmark of the default MiniLM embedder: cold load, query latency, batch throughput.

Run by hand (not part of the test suite), from the repository root:

    PYTHONPATH=src python -m bench.embedder [--texts 2000] [--queries 200] [--compute auto]

Cold load is measured in a fresh process, because the ONNX session is process-wide and would
otherwise already be loaded. The corpus is generated from a fixed seed, so runs are comparable.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time

from memio.embeddings.minilm import MiniLMEmbedder

_SUBJECTS = ["The user", "Alice", "Our team", "The agent", "My manager", "Bob", "The customer"]
_VERBS = ["prefers", "asked about", "scheduled", "rejected", "mentioned", "is working on", "likes"]
_OBJECTS = [
    "dark mode in every editor",
    "a quarterly review of the database migration plan",
    "vegetarian restaurants near the office in Berlin",
    "the pull request that refactors the payment service",
    "flights to Lisbon in the second week of June",
    "writing unit tests before fixing a reported bug",
    "a standing desk and a quieter meeting room",
    "the onboarding document for new support engineers",
]
_TAILS = [
    "",
    " because the previous attempt failed twice.",
    " and wants a reminder on Friday morning.",
    " according to the notes from yesterday's call, which also covered budget and hiring.",
    " — see ticket #4821 for the full discussion, attachments and the final decision.",
]


def corpus(n: int, seed: int = 1234) -> list[str]:
    """n sentences of 8 to 60 words, like stored facts and short document chunks."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [
            f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
            f"{rng.choice(_TAILS)}"
            for _ in range(rng.choice([1, 1, 1, 2, 2, 3]))
        ]
        out.append(" ".join(parts))
    return out


def cold_load_seconds(compute: str) -> float:
    """Session creation (sha256 checks included) in a fresh interpreter."""
    code = (
        "import time; from memio.embeddings.minilm import MiniLMEmbedder as E; "
        f"e = E(compute={compute!r}); t = time.perf_counter(); e.load(); "
        "print(time.perf_counter() - t)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    return float(result.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--compute", default="auto", choices=["auto", "float", "int8"])
    args = parser.parse_args()

    print(f"cold load: {cold_load_seconds(args.compute) * 1000:.0f} ms")

    embedder = MiniLMEmbedder(compute=args.compute)
    embedder.load()
    queries = corpus(args.queries, seed=99)
    for text in queries[:10]:
        embedder.embed_sync([text])
    latencies = []
    for text in queries:
        start = time.perf_counter()
        embedder.embed_sync([text])
        latencies.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(latencies, n=100)
    print(f"single query ({len(queries)} warm calls): p50 {cuts[49]:.2f} ms, p95 {cuts[94]:.2f} ms")

    texts = corpus(args.texts)
    words = statistics.mean(len(t.split()) for t in texts)
    print(f"batch corpus: {len(texts)} texts, {words:.1f} words on average")
    for batch_size in (32, 64, 128):
        embedder.batch_size = batch_size
        start = time.perf_counter()
        embedder.embed_sync(texts)
        elapsed = time.perf_counter() - start
        print(f"  batch_size {batch_size:>3}: {len(texts) / elapsed:7.1f} texts/s")


if __name__ == "__main__":
    main()
