"""One process per embedded data directory, for every embedded provider, with real processes.

Two processes writing one embedded store corrupt it (Chroma's segments: fact search then fails
with 502 "Error finding id") or silently diverge (networkx keeps its graph in memory). Every
embedded backend of the conformance suites that declares `exclusive` is opened by a holder
process; a store in this process must then fail at once, naming the holder's pid and what to do,
and open once the holder is gone.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from memio.providers import build_store
from memio.providers.shared import DataLockedError, ProviderContext
from tests.conformance.backends import BackendEnv, all_backends

REPO = Path(__file__).resolve().parents[2]
EXCLUSIVE = [backend for backend in all_backends() if backend.exclusive]

_HOLDER = """
import asyncio, json, sys
from memio.providers import build_store
from memio.providers.shared import ProviderContext


class Embedder:  # opening needs the model's name and size, never an embedding
    def __init__(self, model, dimensions):
        self.model, self.dimensions = model, dimensions

    async def embed(self, texts):
        raise RuntimeError("opening a store embeds nothing")

    async def aclose(self):
        pass


async def main():
    spec = json.loads(sys.argv[1])
    context = ProviderContext(
        data_dir=spec["data_dir"], embedder=Embedder(spec["model"], spec["dimensions"])
    )
    store = build_store(spec["kind"], spec["provider"], spec["config"], context)
    await store.ping()
    print("ready", flush=True)
    await asyncio.sleep(600)


asyncio.run(main())
"""


@pytest.mark.parametrize("backend", EXCLUSIVE, ids=lambda b: f"{b.id}-{b.kind}")
async def test_a_second_process_is_refused_naming_the_holder(backend, tmp_path, embedder):
    env = BackendEnv(data_dir=tmp_path / "data")
    cfg = backend.config(env)
    spec = {
        "kind": backend.kind,
        "provider": cfg["provider"],
        "config": cfg["config"],
        "data_dir": str(env.data_dir),
        "model": embedder.model,
        "dimensions": embedder.dimensions,
    }
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _HOLDER,
        json.dumps(spec),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    context = ProviderContext(data_dir=env.data_dir, embedder=embedder)
    store = build_store(backend.kind, cfg["provider"], cfg["config"], context)
    try:
        line = await asyncio.wait_for(holder.stdout.readline(), 120)
        if line.strip() != b"ready":
            raise AssertionError((await holder.stderr.read()).decode(errors="replace"))
        with pytest.raises(DataLockedError) as exc:
            await store.count()
        message = str(exc.value)
        assert exc.value.pid == holder.pid
        assert f"pid {holder.pid}" in message
        assert "stop that process" in message and "data_dir" in message
        assert exc.value.provider == cfg["provider"]
        assert exc.value.operation == "open"
    finally:
        holder.kill()
        await holder.wait()
    try:
        assert await store.count() == 0  # the holder died with its lock: this store opens
    finally:
        await store.aclose()
