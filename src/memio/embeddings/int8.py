"""The bundled MiniLM computing in int8 (``embedder.compute: int8``), an option, not the default.

The pinned model file stores int8 weights but computes in fp32 (each weight is cast back to float
when the model loads). The same model with its attention MatMuls quantized per output channel
(onnxruntime's dynamic quantization: ``MatMulInteger``, the activations quantized on the fly, which
AVX-512 VNNI, AVX-VNNI and AMX execute natively) keeps recall (LoCoMo, within 0.5 point) but not
the throughput: its activations are quantized per run, so each text runs alone to keep its vector
independent of its batch, and under concurrent load that loses more than int8 gains (64
connections: 170 against 244 searches/s; 1 connection: the same; docs/benchmarks.md, section 10).

That model is derived here from the pinned file, once per machine and onnxruntime version, into
the user's cache directory (``$MEMIO_CACHE_DIR``, else ``$XDG_CACHE_HOME/memio``, else
``~/.cache/memio``), and checked before it is kept: on `CHECK_SENTENCES` its vectors must have
cosine at least `MIN_COSINE` to the fp32 path's, because one store may hold vectors written by
both paths (another machine, another setting). On a CPU without int8 dot-product instructions
(`INT8_CPU_FLAGS`) the weights are quantized to 7 bits instead of 8, a file of its own name, so
its int8 arithmetic cannot saturate. The kept file's sha256 is stored beside it and checked on
every load, like the pinned file's. Nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from memio.embeddings.minilm import file_sha256

__all__ = [
    "CHECK_SENTENCES",
    "INT8_CPU_FLAGS",
    "MIN_COSINE",
    "cache_dir",
    "cpu_has_int8_dot",
    "int8_model",
]

# Instructions that make int8 MatMuls faster than fp32 ones (as /proc/cpuinfo names them).
INT8_CPU_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
MIN_COSINE = 0.99
CHECK_SENTENCES = (
    "hello world",
    "What did Caroline research?",
    "When did Melanie paint a sunrise?",
    "likes green tea",
    "The Rhine flows through Basel.",
    "I went to the support group yesterday and it was so powerful.",
    "my bike has a flat tyre",
    "Prefers dark mode in every editor and terminal.",
    "THE USER IS ALLERGIC TO PEANUTS AND SHELLFISH",
    "Москва — столица России; 東京は日本の首都です。",
    "我喜欢在周末去公园散步。",
    "Meeting moved to 2024-03-15 at 14:30 UTC, room B-204, budget $12,500.00.",
)


def cpu_has_int8_dot(cpuinfo: str | None = None) -> bool:
    """Whether this CPU has one of `INT8_CPU_FLAGS` (`cpuinfo`: /proc/cpuinfo's text, read
    when not given; elsewhere than Linux: False, the fp32 path)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return any(flag in flags for flag in INT8_CPU_FLAGS)
    return False


def cache_dir() -> Path:
    explicit = os.environ.get("MEMIO_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "memio"


def int8_model(source: Path, source_sha256: str, *, agreement: Callable[[Path], float]) -> Path:
    """The int8-compute model of `source` (whose pinned digest is `source_sha256`): from the
    cache when its digest checks out, else built, checked (`agreement(path)`: the lowest cosine
    of its vectors to the fp32 path's on the check sentences) and kept. Raises when it cannot
    be built or does not agree closely enough."""
    import onnxruntime as ort

    folder = cache_dir()
    reduce_range = not cpu_has_int8_dot()
    recipe = "-w7" if reduce_range else ""
    final = folder / f"minilm-int8-{source_sha256[:16]}-ort{ort.__version__}{recipe}.onnx"
    digest_file = final.with_name(final.name + ".sha256")
    kept = final.is_file() and digest_file.is_file()
    if kept and digest_file.read_text(encoding="ascii").strip() == file_sha256(final):
        return final  # else missing, half written or damaged: built again
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".building-") as work:
        built = _quantize(source, Path(work), reduce_range=reduce_range)
        lowest = agreement(built)
        if lowest < MIN_COSINE:
            raise RuntimeError(
                f"the int8 model's vectors have cosine {lowest:.4f} to the fp32 path's "
                f"(at least {MIN_COSINE} needed)"
            )
        digest = file_sha256(built)
        os.replace(built, final)  # atomic: a concurrent builder's file is the same model
        digest_file.write_text(digest + "\n", encoding="ascii")
    return final


def _quantize(source: Path, work: Path, *, reduce_range: bool) -> Path:
    """`reduce_range`: 7-bit weights, for CPUs without VNNI or AMX, whose int8 multiply-add
    (AVX2's u8 x s8 pairs summed into 16 bits) saturates with 8-bit weights: measured there,
    a Cyrillic and Japanese sentence fell to cosine 0.982 to the fp32 path; with 7 bits the
    lowest of the reference sentences is 0.997."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Fold the pinned file's int8->fp32 weight casts into fp32 weights, which the quantizer
    # then quantizes per output channel (per tensor loses too much: cosine 0.956 measured).
    folded = work / "folded.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folded)
    options.log_severity_level = 3
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    built = work / "int8.onnx"
    with _root_logger_quiet():  # the quantizer logs advice about static quantization there
        quantize_dynamic(
            folded,
            built,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=reduce_range,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=_kept_in_fp32(folded),
            extra_options={"MatMulConstBOnly": True},
        )
    return built


def _kept_in_fp32(model_path: Path) -> list[str]:
    """The MatMuls left in fp32: the feed-forward projections (hidden <-> 4 x hidden), whose
    inputs quantize worst; the attention projections compute in int8. All in int8 gave cosine
    0.982 to the fp32 path on short texts and keeping only the up-projections 0.990; this keeps
    every check sentence above 0.996 and recall on LoCoMo within 0.5 point in every search mode
    (docs/benchmarks.md, section 10)."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    return [
        node.name
        for node in graph.node
        if node.op_type == "MatMul"
        and len(shape := shapes.get(node.input[1], ())) == 2
        and 4 in (shape[0] / shape[1], shape[1] / shape[0])
    ]


@contextlib.contextmanager
def _root_logger_quiet() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
