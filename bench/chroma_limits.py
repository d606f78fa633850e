"""`python -m bench.chroma_limits`: how much metadata one embedded Chroma record survives.

Run by hand (not part of `python -m bench all`); the figures are in docs/providers/chroma.md
("Metadata limits") and explain memio's metadata caps (`memio.models.MAX_METADATA_*`). Each case
writes records straight to a fresh embedded Chroma collection (no memio in between), then opens
the directory again and reads: a case "breaks" when the write or any later read fails, which is
how a too-large record shows (Chroma's compaction fails and the collection stays unreadable).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

Metadata = dict[str, Any]

CASES: list[tuple[str, Callable[[], list[Metadata]]]] = [
    ("5,460 scalar keys", lambda: [{f"k{i}": i for i in range(5460)}]),
    ("5,470 scalar keys", lambda: [{f"k{i}": i for i in range(5470)}]),
    ("6,500 scalar keys", lambda: [{f"k{i}": i for i in range(6500)}]),
    ("one list of 5,460 ints", lambda: [{"l": list(range(5460))}]),
    ("one list of 5,470 ints", lambda: [{"l": list(range(5470))}]),
    ("one list of 20,000 ints", lambda: [{"l": list(range(20000))}]),
    ("5 lists of 1,000 ints", lambda: [{f"l{j}": list(range(1000)) for j in range(5)}]),
    ("6 lists of 1,000 strings", lambda: [{f"l{j}": ["abcdefgh"] * 1000 for j in range(6)}]),
    ("3,000 keys and a 3,000-item list", lambda: [{**_keys(3000), "l": list(range(3000))}]),
    ("a 10,000,000-character string", lambda: [{"s": "x" * 10_000_000}]),
    ("1,000 records of 256 keys", lambda: [_keys(256) for _ in range(1000)]),
    ("memio's caps: 256 keys, 2,000 list items", lambda: [_at_memio_caps()]),
]


def _keys(n: int) -> Metadata:
    return {f"k{i}": i for i in range(n)}


def _at_memio_caps() -> Metadata:
    metadata: Metadata = {f"k{i}": f"value {i}" for i in range(254)}
    metadata["a"] = list(range(1000))
    metadata["b"] = [f"w{i}" for i in range(1000)]
    return metadata


def survives(records: list[Metadata]) -> tuple[bool, str]:
    import chromadb
    from chromadb.config import Settings

    path = tempfile.mkdtemp(prefix="chroma-limits-")
    settings = Settings(anonymized_telemetry=False)
    client = chromadb.PersistentClient(path=path, settings=settings)
    collection = client.get_or_create_collection("limits", embedding_function=None)
    try:
        collection.add(
            ids=[f"r{i}" for i in range(len(records))],
            embeddings=[[1.0, 0.0]] * len(records),
            documents=["x"] * len(records),
            metadatas=records,
        )
    except Exception as exc:
        return False, f"write: {exc}"[:100]
    reopened = chromadb.PersistentClient(path=path, settings=settings)
    try:
        again = reopened.get_collection("limits", embedding_function=None)
        again.get(limit=1, include=["metadatas"])
        again.count()
    except Exception as exc:
        return False, f"read after reopening: {exc}"[:100]
    return True, ""


def main() -> int:
    import chromadb

    print(f"chromadb {chromadb.__version__}, embedded, one collection per case")
    for name, records in CASES:
        ok, why = survives(records())
        print(f"{'survives' if ok else 'BREAKS  '}  {name}" + (f"  ({why})" if why else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
