"""Shared settings: sizes per mode, result files, load-average sampling, machine description."""

from __future__ import annotations

import json
import os
import platform
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Mode:
    """How big each benchmark is; `quick` is a smoke run of the same code paths."""

    name: str
    docs: int  # the "10k documents" of overhead, comparison and ingest
    scale_sizes: tuple[int, ...]
    embedded: int  # scale: records up to this count are embedded for real by the server
    queries: int  # measured searches per point at 1 connection
    burst: int  # searches per 64-connection measurement
    adds: int  # single adds per server
    rounds: int  # A/B rounds
    startup_repeats: int
    budget: float  # seconds, cap of any one request loop

    @property
    def results(self) -> Path:
        return RESULTS if self.name == "full" else RESULTS / self.name

    @property
    def work(self) -> Path:
        return self.results / "work"


FULL = Mode("full", 10_000, (1_000, 10_000, 100_000), 10_000, 300, 1_000, 200, 2, 3, 120.0)
QUICK = Mode("quick", 1_000, (500, 1_000, 2_000), 1_000, 60, 200, 30, 1, 1, 30.0)


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _public(value: Any) -> Any:
    """`value` without keys starting with "_" (raw samples stay out of the JSON)."""
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def save(mode: Mode, name: str, data: dict[str, Any]) -> Path:
    return save_to(mode.results / f"{name}.json", data)


def save_to(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_public(data), indent=2, sort_keys=True))
    return path


def load(mode: Mode, name: str) -> dict[str, Any] | None:
    path = mode.results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _process_cpu() -> dict[int, tuple[int, float, str]]:
    """pid -> (parent pid, CPU seconds so far, command line) of every process we can read."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        out[int(entry.name)] = (int(fields[1]), cpu, cmdline.strip() or stat.split()[1])
    return out


class OtherActivity:
    """CPU seconds used by processes outside this one's tree (other people's tests on a shared
    machine), accumulated between samples."""

    def __init__(self) -> None:
        self.seen = _process_cpu()
        self.used: dict[str, float] = {}

    def sample(self) -> None:
        now = _process_cpu()
        ours = {os.getpid()}
        for _ in range(8):  # descendants, a few levels deep
            ours |= {pid for pid, (parent, _, _) in now.items() if parent in ours}
        for pid, (_, cpu, command) in now.items():
            if pid in ours:
                continue
            before = self.seen.get(pid)
            delta = cpu - before[1] if before and before[2] == command else 0.0
            if delta > 0:
                key = command[:100]
                self.used[key] = self.used.get(key, 0.0) + delta
        self.seen = now

    def top(self, n: int = 6) -> list[dict[str, Any]]:
        ranked = sorted(self.used.items(), key=lambda item: -item[1])[:n]
        return [{"command": command, "cpu_s": round(cpu, 1)} for command, cpu in ranked]


@contextmanager
def load_sampler(record: dict[str, Any], every: float = 5.0):
    """Sample the 1-minute load average while the block runs; store min/mean/max in `record`,
    and under "others" the processes outside this benchmark that used the most CPU meanwhile."""
    samples = [os.getloadavg()[0]]
    others = OtherActivity()
    done = threading.Event()

    def loop() -> None:
        while not done.wait(every):
            samples.append(os.getloadavg()[0])
            others.sample()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    start = time.time()
    try:
        yield
    finally:
        done.set()
        thread.join()
        samples.append(os.getloadavg()[0])
        others.sample()
        record["load"] = {
            "min": min(samples),
            "mean": sum(samples) / len(samples),
            "max": max(samples),
            "samples": len(samples),
        }
        record["others"] = others.top()
        record["started_at"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(start))
        record["seconds"] = time.time() - start


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, OS and the versions that matter."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    import chromadb
    import onnxruntime
    import uvicorn

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "chromadb": chromadb.__version__,
        "onnxruntime": onnxruntime.__version__,
        "uvicorn": uvicorn.__version__,
    }
