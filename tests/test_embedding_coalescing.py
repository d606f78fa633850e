"""CoalescingEmbedder: concurrent small calls share model runs and get exactly their own rows."""

import asyncio

import numpy as np
import pytest

from memio.embeddings import CoalescingEmbedder


class CountingEmbedder:
    """Deterministic vectors from the text, recording each batch it was asked for."""

    model = "counting"
    dimensions = 4

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    async def embed(self, texts):
        self.calls.append(list(texts))
        await asyncio.sleep(0.01)  # a model run in progress, so other calls queue behind it
        if self.fail:
            raise RuntimeError("model failed")
        return np.array(
            [[len(t), ord(t[0]), sum(map(ord, t)) % 97, 1.0] for t in texts], dtype=np.float32
        )

    async def aclose(self):
        pass


async def test_concurrent_queries_share_runs_and_get_their_own_rows():
    inner = CountingEmbedder()
    embedder = CoalescingEmbedder(inner, max_batch=64)
    texts = [f"query number {i}" for i in range(40)]
    results = await asyncio.gather(*(embedder.embed([t]) for t in texts))
    alone = CountingEmbedder()
    for text, got in zip(texts, results, strict=True):
        expected = await alone.embed([text])
        np.testing.assert_array_equal(got, expected)
    assert len(inner.calls) < len(texts)  # merged into fewer model runs
    assert sorted(t for call in inner.calls for t in call) == sorted(texts)
    assert max(len(call) for call in inner.calls) <= 64


async def test_large_calls_pass_straight_through():
    inner = CountingEmbedder()
    embedder = CoalescingEmbedder(inner, max_batch=64, max_call=8)
    batch = [f"document {i}" for i in range(20)]
    vectors = await embedder.embed(batch)
    assert vectors.shape == (20, 4)
    assert inner.calls == [batch]
    assert embedder.runs == 0


async def test_a_failed_run_fails_every_waiter_and_the_next_call_runs_again():
    inner = CountingEmbedder(fail=True)
    embedder = CoalescingEmbedder(inner)
    results = await asyncio.gather(
        *(embedder.embed([f"q{i}"]) for i in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    inner.fail = False
    assert (await embedder.embed(["again"])).shape == (1, 4)


async def test_single_text_str_is_refused():
    with pytest.raises(TypeError):
        await CoalescingEmbedder(CountingEmbedder()).embed("not a list")


def test_load_reaches_a_lazily_loading_model():
    from memio.embeddings import MiniLMEmbedder

    inner = MiniLMEmbedder()
    CoalescingEmbedder(inner).load()
    assert inner._loaded is not None  # the model and tokenizer were loaded (and verified)
    CoalescingEmbedder(CountingEmbedder()).load()  # nothing to load: no error, no call
