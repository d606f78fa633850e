"""Embedders: the offline MiniLM default against fp32 references, the query cache, the
OpenAI-compatible remote embedder and the fake OpenAI server it is tested against."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from memio.embeddings import (
    CachedEmbedder,
    MiniLMEmbedder,
    ModelIntegrityError,
    OpenAIEmbedder,
    default_embedder,
    int8,
    minilm,
)
from memio.embeddings.int8 import cpu_has_int8_dot
from memio.errors import ProviderError
from memio.protocols import Embedder
from tests.support.openai_fake import FakeOpenAI

REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "minilm_reference.json").read_text(encoding="utf-8")
)
ITEMS = REFERENCE["items"]
LONG_TEXT = max((item["text"] for item in ITEMS), key=len)

# The int8 weights cannot reach 0.999 on these inputs (the tokenization and pooling are exact:
# test_tokenization_matches_reference, and the same pipeline on the fp32 weights gives 1.0000).
# Measured: "" and "   " ([CLS][SEP] only) 0.99634, "hello world" 0.99896.
INT8_FLOOR = {"": 0.996, "   ": 0.996, "hello world": 0.9985}
MIN_COSINE = 0.999


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


# -- MiniLM ----------------------------------------------------------------------------------


FLOAT = MiniLMEmbedder(compute="float")
INT8 = MiniLMEmbedder(compute="int8")
# Texts memio embeds: it refuses empty and blank content (`require_text`).
TEXTS = [item["text"] for item in ITEMS if item["text"].strip()]


@pytest.mark.parametrize("item", ITEMS, ids=lambda item: repr(item["text"][:24]))
async def test_float_compute_matches_fp32_reference(item: dict) -> None:
    vector = (await FLOAT.embed([item["text"]]))[0]
    cosine = float(vector @ unit(np.asarray(item["embedding"], dtype=np.float32)))
    assert cosine >= INT8_FLOOR.get(item["text"], MIN_COSINE)
    assert FLOAT.computing == "float"


def test_int8_compute_stays_comparable_with_float_compute() -> None:
    """A store may hold vectors of both paths (another machine, another setting): on the
    reference sentences they must agree to cosine 0.99, and the int8 ones stay that close to
    sentence-transformers' fp32 reference too. int8 quantizes each token by itself, so a batch
    gives every text the vector it gets alone."""
    exact = FLOAT.embed_sync(TEXTS)
    alone = np.vstack([INT8.embed_sync([text]) for text in TEXTS])
    batched = INT8.embed_sync(TEXTS)
    assert INT8.computing == "int8"
    np.testing.assert_allclose(batched, alone, atol=1e-6)
    reference = unit(np.asarray([i["embedding"] for i in ITEMS if i["text"].strip()], np.float32))
    for vectors in (alone, batched):
        assert float((vectors * exact).sum(axis=1).min()) >= 0.99
        assert float((vectors * reference).sum(axis=1).min()) >= 0.99
    assert float((alone * exact).sum(axis=1).mean()) < 0.9999  # really another computation


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("fpu sse avx2 avx512f avx512_vnni", True),
        ("fpu sse avx2 avx_vnni", True),
        ("fpu sse avx512f amx_bf16 amx_int8 amx_tile", True),
        ("fpu sse avx2 avx512f avx512bw", False),
        ("", False),
    ],
)
def test_int8_is_chosen_by_the_cpu_flags(flags: str, expected: bool) -> None:
    cpuinfo = f"processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: {flags}\n"
    assert cpu_has_int8_dot(cpuinfo) is expected


@pytest.mark.parametrize("has_instructions", [True, False])
def test_auto_is_the_default_and_computes_in_int8_where_the_cpu_can(
    monkeypatch, has_instructions: bool
) -> None:
    monkeypatch.setattr(int8, "cpu_has_int8_dot", lambda: has_instructions)
    embedder = MiniLMEmbedder()
    assert embedder.compute == "auto"
    path = "int8" if has_instructions else "float"
    assert embedder.load() == f"all-MiniLM-L6-v2, {path} compute"
    assert embedder.computing == path


def test_auto_computes_in_float_when_no_int8_model_can_be_made(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("MEMIO_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(int8, "cpu_has_int8_dot", lambda: True)
    monkeypatch.setattr(MiniLMEmbedder, "_agreement", lambda self, *files: 0.95)
    with caplog.at_level("WARNING", logger="memio.embeddings"):
        assert MiniLMEmbedder().load().endswith("float compute")
    assert "computes in float" in caplog.text and "cosine 0.9500" in caplog.text


def test_int8_warns_without_the_instructions(monkeypatch, caplog) -> None:
    monkeypatch.setattr(int8, "cpu_has_int8_dot", lambda: False)
    with caplog.at_level("WARNING", logger="memio.embeddings"):
        assert MiniLMEmbedder(compute="int8").load().endswith("int8 compute")
    assert "without int8 dot-product instructions" in caplog.text


def test_a_damaged_int8_model_is_built_again(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEMIO_CACHE_DIR", str(tmp_path))
    first = MiniLMEmbedder(compute="int8")
    first.load()
    [built] = tmp_path.glob("minilm-int8-*.onnx")
    built.write_bytes(built.read_bytes()[:1000])  # truncated: its digest no longer matches
    again = MiniLMEmbedder(compute="int8")
    again.load()  # finds the kept file damaged and builds it again
    assert built.stat().st_size > 1000 and again.computing == "int8"
    assert float(again.embed_sync(["likes tea"])[0] @ FLOAT.embed_sync(["likes tea"])[0]) > 0.99


def test_an_int8_model_that_disagrees_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEMIO_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(MiniLMEmbedder, "_agreement", lambda self, *files: 0.95)
    with pytest.raises(RuntimeError, match=r"cosine 0\.9500"):
        MiniLMEmbedder(compute="int8").load()
    assert not list(tmp_path.glob("minilm-int8-*"))  # nothing kept


def test_the_batches_of_one_call_run_at_once(monkeypatch) -> None:
    """One call's batches are spread over the cores, each run on one (onnxruntime's own
    operator threads cost more CPU than they saved)."""
    runs: list[tuple[str, int]] = []
    run = MiniLMEmbedder._run

    def recorded(runtime: Any, ids: list[list[int]]) -> np.ndarray:
        runs.append((threading.current_thread().name, len(ids)))
        return run(runtime, ids)

    monkeypatch.setattr(MiniLMEmbedder, "_run", staticmethod(recorded))
    vectors = MiniLMEmbedder(compute="float", batch_size=4).embed_sync(TEXTS[:8])
    assert sorted(size for _, size in runs) == [4, 4]
    assert all(name.startswith("memio-minilm") for name, _ in runs)
    runs.clear()
    MiniLMEmbedder(compute="float", batch_size=4).embed_sync(TEXTS[:3])
    assert runs == [(threading.current_thread().name, 3)]  # one batch: run where it was called
    monkeypatch.undo()
    alone = np.vstack([FLOAT.embed_sync([text]) for text in TEXTS[:8]])
    np.testing.assert_allclose(vectors, alone, atol=1e-5)


def test_tokenization_matches_reference(embedder: MiniLMEmbedder) -> None:
    embedder.load()
    tokenizer = embedder._runtime().tokenizer
    for item in ITEMS:
        assert tokenizer.encode(item["text"]).ids == item["token_ids"], item["text"][:40]


async def test_shape_dtype_and_unit_rows(embedder: MiniLMEmbedder) -> None:
    vectors = await embedder.embed(["one", "two words", "a somewhat longer third sentence"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    empty = await embedder.embed([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32


def test_interface(embedder: MiniLMEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    assert embedder is default_embedder()
    assert (embedder.model, embedder.dimensions) == ("all-MiniLM-L6-v2", 384)
    with pytest.raises(TypeError):
        embedder.embed_sync("not a list")


def test_batches_padding_and_order(embedder: MiniLMEmbedder) -> None:
    """Length sorting and per-batch padding change neither the vectors nor their order."""
    texts = [item["text"] for item in ITEMS] + ["short", "x " * 40, "a medium length sentence."]
    one_by_one = np.stack([embedder.embed_sync([text])[0] for text in texts])
    small_batches = MiniLMEmbedder(batch_size=3)  # shares the loaded session
    np.testing.assert_allclose(small_batches.embed_sync(texts), one_by_one, atol=1e-5)
    np.testing.assert_allclose(embedder.embed_sync(texts[::-1]), one_by_one[::-1], atol=1e-5)


def test_truncates_at_256_tokens(embedder: MiniLMEmbedder) -> None:
    embedder.load()
    assert len(embedder._runtime().tokenizer.encode(LONG_TEXT).ids) == 256
    longer = LONG_TEXT + " And then something entirely different about cats and the sea."
    np.testing.assert_allclose(
        embedder.embed_sync([longer]), embedder.embed_sync([LONG_TEXT]), atol=1e-6
    )


async def test_embed_does_not_block_the_event_loop(embedder: MiniLMEmbedder) -> None:
    embedder.load()
    texts = [f"{LONG_TEXT[: 300 + i]} {i}" for i in range(96)]
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    start = time.perf_counter()
    await embedder.embed(texts)
    elapsed = time.perf_counter() - start
    ticker.cancel()
    assert elapsed > 0.3, "batch too small to show anything"
    assert len(gaps) > 10 and max(gaps) < elapsed / 2


def test_sha256_mismatch_raises(tmp_path: Path) -> None:
    fake_model = tmp_path / "model.onnx"
    fake_model.write_bytes(b"not the model")
    with pytest.raises(ModelIntegrityError, match="sha256"):
        MiniLMEmbedder(model_path=fake_model).load()


def test_tokenizer_sha256_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "model.onnx"  # a new path, so nothing is cached for it
    shutil.copyfile(minilm._package_file(minilm.ONNX_PACKAGE, "model.onnx"), copy)
    monkeypatch.setattr(minilm, "TOKENIZER_SHA256", "0" * 64)
    with pytest.raises(ModelIntegrityError, match=r"tokenizer\.json"):
        MiniLMEmbedder(model_path=copy, compute="float").load()


def test_one_session_per_process_under_concurrent_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(minilm, "_runtimes", {})  # so this session is dropped after the test
    copy = tmp_path / "model.onnx"
    shutil.copyfile(minilm._package_file(minilm.ONNX_PACKAGE, "model.onnx"), copy)
    embedders = [MiniLMEmbedder(model_path=copy) for _ in range(4)]
    runtimes: list[object] = []
    threads = [
        threading.Thread(target=lambda e=e: runtimes.append(e._runtime())) for e in embedders
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(runtimes) == 4 and all(r is runtimes[0] for r in runtimes)
    assert len(minilm._runtimes) == 1


# -- CachedEmbedder --------------------------------------------------------------------------


class CountingEmbedder:
    """Deterministic stand-in that records what it was asked to embed."""

    model = "counting"
    dimensions = 4

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.closed = False

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rows = [[len(t) + 1.0, float(sum(map(ord, t)) % 7), 1.0, 0.0] for t in texts]
        return unit(np.asarray(rows, dtype=np.float32).reshape(len(texts), 4))

    async def aclose(self) -> None:
        self.closed = True


async def test_cache_serves_repeated_queries() -> None:
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner, maxsize=2)
    assert isinstance(cached, Embedder)
    assert (cached.model, cached.dimensions) == ("counting", 4)
    first = await cached.embed(["q1"])
    first[0, 0] = 99.0  # mutating a result must not reach the cache
    again = await cached.embed(["q1"])
    assert inner.calls == [["q1"]] and (cached.hits, cached.misses) == (1, 1)
    np.testing.assert_allclose(again, await inner.embed(["q1"]))


async def test_cache_evicts_least_recently_used_and_batches_populate() -> None:
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner, maxsize=2)
    await cached.embed(["a", "b"])  # batch: passes through, fills the cache
    await cached.embed(["a"])  # hit; "b" is now least recently used
    await cached.embed(["c"])  # miss; evicts "b"
    await cached.embed(["a"])
    await cached.embed(["b"])
    assert inner.calls == [["a", "b"], ["c"], ["b"]]
    assert (await cached.embed([])).shape == (0, 4)
    await cached.aclose()
    assert inner.closed


# -- OpenAIEmbedder against the fake server ---------------------------------------------------


@pytest.fixture
def fake_openai():
    with FakeOpenAI(dimensions=16) as server:
        yield server


def remote(server: FakeOpenAI, **kwargs) -> OpenAIEmbedder:
    options = {"dimensions": 16, "retry_backoff": 0.0, **kwargs}
    return OpenAIEmbedder(server.base_url, "text-embedding-test", **options)


async def test_openai_embedder_batches_in_order(fake_openai: FakeOpenAI) -> None:
    texts = [f"text number {i} about topic {i % 7}" for i in range(600)]
    embedder = remote(fake_openai, api_key="sk-test", batch_size=256)
    vectors = await embedder.embed(texts)
    await embedder.aclose()
    expected = np.asarray([FakeOpenAI.vector(t, 16) for t in texts], dtype=np.float32)
    assert vectors.shape == (600, 16) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    assert [len(r.json["input"]) for r in fake_openai.requests] == [256, 256, 88]
    first = fake_openai.requests[0]
    assert first.path == "/v1/embeddings" and first.json["model"] == "text-embedding-test"
    assert first.headers["authorization"] == "Bearer sk-test"
    assert (await embedder.embed([])).shape == (0, 16) and fake_openai.count() == 3


async def test_openai_embedder_normalises() -> None:
    with FakeOpenAI(dimensions=16) as server:
        embedder = remote(server)
        vectors = await embedder.embed(["hello hello hello world"])
        await embedder.aclose()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


async def test_openai_embedder_dimension_mismatch(fake_openai: FakeOpenAI) -> None:
    embedder = remote(fake_openai, dimensions=384)
    with pytest.raises(ProviderError) as caught:
        await embedder.embed(["x"])
    await embedder.aclose()
    assert (caught.value.provider, caught.value.operation) == ("openai-embedder", "embed")
    assert "384" in str(caught.value)


async def test_openai_embedder_retries_transient_errors(fake_openai: FakeOpenAI) -> None:
    embedder = remote(fake_openai, max_retries=2)
    fake_openai.fail(503, times=2)
    assert (await embedder.embed(["ok"])).shape == (1, 16)
    assert fake_openai.count() == 3
    fake_openai.reset()
    fake_openai.fail(500, times=None)
    with pytest.raises(ProviderError, match="HTTP 500"):
        await embedder.embed(["still failing"])
    assert fake_openai.count() == 3
    await embedder.aclose()


async def test_openai_embedder_waits_as_retry_after_says(fake_openai: FakeOpenAI) -> None:
    embedder = remote(fake_openai, max_retries=1)  # no backoff of its own: only Retry-After
    fake_openai.fail(429, retry_after="0.3")
    assert (await embedder.embed(["ok"])).shape == (1, 16)
    first, retried = fake_openai.requests
    assert retried.received_at - first.received_at >= 0.3
    assert first.peer == retried.peer  # one client, its connection reused
    fake_openai.reset()
    fake_openai.fail(503, times=None, retry_after="0")
    with pytest.raises(ProviderError, match="HTTP 503"):
        await embedder.embed(["still failing"])
    assert fake_openai.count() == 2
    await embedder.aclose()


def test_retry_after_and_jittered_waits() -> None:
    from tenacity import RetryCallState

    from memio.http_retry import RetryWait, retry_after

    def answer(status: int = 503, **headers: str) -> httpx.Response:
        return httpx.Response(status, headers=headers)

    assert retry_after(answer(**{"Retry-After": "2"})) == 2.0
    assert retry_after(answer(**{"Retry-After": "-5"})) == 0.0
    assert retry_after(answer(**{"retry-after-ms": "250", "Retry-After": "9"})) == 0.25
    assert retry_after(answer(**{"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"})) == 0.0
    assert retry_after(answer(**{"Retry-After": "soon"})) is None
    assert retry_after(answer()) is None

    wait = RetryWait(backoff=0.5, max_wait=30.0)

    def state(response: httpx.Response, attempt: int) -> RetryCallState:
        call = RetryCallState(None, None, (), {})
        call.attempt_number = attempt
        call.set_result(response)
        return call

    assert wait(state(answer(**{"Retry-After": "7"}), 1)) == 7.0
    assert wait(state(answer(**{"Retry-After": "600"}), 1)) == 30.0  # capped
    waits = [wait(state(answer(), 3)) for _ in range(50)]
    assert all(0.0 <= w <= 0.5 * 2**2 for w in waits)
    assert len(set(waits)) > 40  # jittered, not one fixed delay


async def test_openai_embedder_client_error_is_not_retried(fake_openai: FakeOpenAI) -> None:
    embedder = remote(fake_openai)
    fake_openai.fail(401, message="bad key")
    with pytest.raises(ProviderError, match="bad key"):
        await embedder.embed(["x"])
    assert fake_openai.count() == 1
    await embedder.aclose()


async def test_openai_embedder_connection_error() -> None:
    server = FakeOpenAI()
    base_url = server.base_url
    server.stop()  # the port is free again: nothing listens there
    embedder = OpenAIEmbedder(base_url, "m", dimensions=16, max_retries=0, timeout=2.0)
    with pytest.raises(ProviderError) as caught:
        await embedder.embed(["x"])
    await embedder.aclose()
    assert isinstance(caught.value.cause, httpx.HTTPError)


# -- the fake server itself --------------------------------------------------------------------


def test_fake_chat_completions_shape_and_handler() -> None:
    seen: list[dict] = []

    def handler(request: dict) -> str:
        seen.append(request)
        return '{"facts": ["likes tea"]}'

    with FakeOpenAI(chat_handler=handler) as server, httpx.Client() as client:
        body = {"model": "gpt-test", "messages": [{"role": "user", "content": "I like tea"}]}
        response = client.post(f"{server.base_url}/chat/completions", json=body).json()
        assert seen == [body]
        assert response["object"] == "chat.completion" and response["model"] == "gpt-test"
        choice = response["choices"][0]
        assert choice["message"] == {"role": "assistant", "content": '{"facts": ["likes tea"]}'}
        assert choice["finish_reason"] == "stop" and choice["index"] == 0
        assert response["usage"]["total_tokens"] > 0 and response["id"].startswith("chatcmpl-")
        streamed = client.post(f"{server.base_url}/chat/completions", json={**body, "stream": 1})
        assert streamed.status_code == 400
        assert client.get(f"{server.base_url}/models").status_code == 404
        assert server.count("/v1/chat/completions") == 2 and server.count() == 3


def test_fake_failures_until_recovered_and_dimensions_override() -> None:
    with FakeOpenAI() as server, httpx.Client(base_url=server.base_url + "/") as client:
        server.fail(429, times=None)
        for _ in range(3):
            response = client.post("embeddings", json={"model": "m", "input": "a"})
            assert response.status_code == 429 and "error" in response.json()
        server.recover()
        body = client.post("embeddings", json={"model": "m", "input": "a", "dimensions": 8}).json()
        assert body["object"] == "list" and len(body["data"][0]["embedding"]) == 8
        default = client.post("embeddings", json={"model": "m", "input": ["a", ""]}).json()
        assert [len(d["embedding"]) for d in default["data"]] == [384, 384]


def test_fake_works_with_the_openai_sdk() -> None:
    openai = pytest.importorskip("openai")
    with FakeOpenAI(chat_handler=lambda _request: "hi") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        chat = client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hello"}]
        )
        assert chat.choices[0].message.content == "hi"
        embedding = client.embeddings.create(model="e", input=["hello"], dimensions=32)
        assert len(embedding.data[0].embedding) == 32
        client.close()
