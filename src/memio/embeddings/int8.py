"""The bundled MiniLM computing in int8 (``embedder.compute: int8``).

The pinned model file stores int8 weights but computes in fp32 (each weight is cast back to float
when the model loads). Here every MatMul of a weight matrix computes in int8 instead: the weights
quantized per output column, and each row of the activations (one token) quantized on the fly by
its own largest value, then multiplied in ``MatMulInteger`` (uint8 x int8), which onnxruntime
runs on AMX or AVX-512 VNNI where the CPU has them. Quantizing each token by itself keeps the
vectors close to the fp32 path's (per whole tensor, the feed-forward layers lost too much) and
makes a text's vector independent of the batch it is embedded in, so concurrent searches still
batch (memio.embeddings.batching). Measured in docs/benchmarks.md, section 10.

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

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
# Names the derivation in the kept file's name, so a file of an earlier recipe is not reused.
_RECIPE = "rows"
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
    recipe = f"{_RECIPE}-w7" if reduce_range else _RECIPE
    final = folder / f"minilm-int8-{source_sha256[:16]}-ort{ort.__version__}-{recipe}.onnx"
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
    (AVX2's u8 x s8 pairs summed into 16 bits) saturates with 8-bit weights."""
    import onnx
    import onnxruntime as ort

    # Fold the pinned file's int8->fp32 weight casts into fp32 weights first.
    folded = work / "folded.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folded)
    options.log_severity_level = 3
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    model = onnx.load(str(folded))
    _int8_matmuls(model.graph, weight_levels=63 if reduce_range else 127)
    built = work / "int8.onnx"
    onnx.save(model, str(built))
    return built


def _int8_matmuls(graph: Any, *, weight_levels: int) -> None:
    """Rewrite `graph` in place: each MatMul of an input by a 2-D weight matrix becomes
    MatMulInteger of the input quantized per row (uint8 around 128, each row scaled by its
    largest magnitude) by the weights quantized per column (int8 within +-`weight_levels`), scaled
    back to float. Inputs shared by several MatMuls (attention's query, key and value) are
    quantized once."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weights = {init.name: init for init in graph.initializer}
    added = [
        numpy_helper.from_array(np.array(value, dtype), name)
        for name, value, dtype in (
            ("int8_levels", 127.0, np.float32),
            ("int8_smallest", 1e-12, np.float32),
            ("int8_offset", 128.0, np.float32),
            ("int8_zero", 128, np.uint8),
        )
    ]
    quantized: dict[str, tuple[str, str]] = {}  # input -> (its uint8 rows, their scales)
    nodes = []
    for node in graph.node:
        weight = weights.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is None or len(weight.dims) != 2:
            nodes.append(node)
            continue
        source = node.input[0]
        if source not in quantized:
            p = f"int8_rows{len(quantized)}_"
            nodes += [
                helper.make_node("Abs", [source], [p + "abs"]),
                helper.make_node("ReduceMax", [p + "abs"], [p + "max"], axes=[-1], keepdims=1),
                helper.make_node("Div", [p + "max", "int8_levels"], [p + "step"]),
                helper.make_node("Max", [p + "step", "int8_smallest"], [p + "scale"]),
                helper.make_node("Div", [source, p + "scale"], [p + "scaled"]),
                helper.make_node("Round", [p + "scaled"], [p + "rounded"]),
                helper.make_node("Add", [p + "rounded", "int8_offset"], [p + "shifted"]),
                helper.make_node("Cast", [p + "shifted"], [p + "q"], to=TensorProto.UINT8),
            ]
            quantized[source] = (p + "q", p + "scale")
        rows, row_scale = quantized[source]
        matrix = numpy_helper.to_array(weight).astype(np.float32)
        column_scale = np.maximum(np.abs(matrix).max(axis=0), 1e-12) / weight_levels
        name = f"int8_{weight.name}"
        added += [
            numpy_helper.from_array(np.round(matrix / column_scale).astype(np.int8), name),
            numpy_helper.from_array(column_scale.astype(np.float32), name + "_scale"),
        ]
        out = node.output[0]
        nodes += [
            helper.make_node("MatMulInteger", [rows, name, "int8_zero"], [out + "_int32"]),
            helper.make_node("Cast", [out + "_int32"], [out + "_float"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [out + "_float", name + "_scale"], [out + "_columns"]),
            helper.make_node("Mul", [out + "_columns", row_scale], [out]),
        ]
    used = {name for node in nodes for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend([*kept, *added])
