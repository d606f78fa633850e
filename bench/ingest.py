"""Batch ingest against the raw embedder, measured back to back: raw, server, raw.

The server ingests mode.docs documents through POST /v1/documents/batch (1000 per call, empty
store, model already loaded); the raw embedder (`MiniLMEmbedder.embed_sync`, in this process,
while no server runs) embeds the same texts just before and just after, and the ratio uses the
mean of the two, so a change of machine load during the run shows up in both sides.
"""

from __future__ import annotations

import time
from typing import Any

from bench import corpus, ours
from bench.common import Mode, fresh_dir, load_sampler, save


def _raw(texts: list[str]) -> float:
    from memio.embeddings import default_embedder

    embedder = default_embedder()
    embedder.load()
    embedder.embed_sync(texts[:64])  # warm
    start = time.perf_counter()
    embedder.embed_sync(texts)
    return len(texts) / (time.perf_counter() - start)


def main(mode: Mode) -> dict[str, Any]:
    texts = corpus.documents(mode.docs)
    record: dict[str, Any] = {"docs": mode.docs}
    with load_sampler(record):
        before = _raw(texts)
        workdir = fresh_dir(mode.work / "ingest")
        with ours.server(workdir) as proc:
            ours.warm_up(proc.base_url)  # model loaded, like the raw embedder
            served = ours.ingest_documents(proc.base_url, texts)["items_per_s"]
        after = _raw(texts)
        raw = (before + after) / 2
        record.update(
            raw_runs=[before, after], raw_per_s=raw, server_per_s=served, ratio=served / raw
        )
    save(mode, "ingest", record)
    return record
