"""The README's Python snippet works offline, and a second run finds the first run's data."""

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no python block"
    return blocks[0]


def _run(script: Path, cwd: Path, *args: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_readme_snippet_persists_across_runs(tmp_path):
    script = tmp_path / "snippet.py"
    script.write_text(_snippet())
    first = _run(script, tmp_path)
    second = _run(script, tmp_path)

    fact_id = re.search(r"fact (\S+): prefers dark mode", first)
    assert fact_id, first
    assert f"fact {fact_id.group(1)}: prefers dark mode" in second  # same fact, recognised
    assert "1 message(s) in chat-1 so far" in first
    assert "2 message(s) in chat-1 so far" in second
    assert "best document: tea" in first
    assert "'alice'" in first and "'Acme'" in first
    assert (tmp_path / "memio-data").is_dir()


def test_readme_snippet_talks_to_the_readme_server(tmp_path):
    """The same snippet, given the URL of a running server with the README's defaults, makes its
    calls over HTTP (memio.connect) and gets the same answers; nothing is written locally."""
    from tests.support.server_process import run_server

    script = tmp_path / "snippet.py"
    script.write_text(_snippet())
    with run_server({"data_dir": str(tmp_path / "server-data")}) as server:
        first = _run(script, tmp_path, server.base_url)
        second = _run(script, tmp_path, server.base_url)
    fact_id = re.search(r"fact (\S+): prefers dark mode", first)
    assert fact_id, first
    assert f"fact {fact_id.group(1)}: prefers dark mode" in second
    assert "1 message(s) in chat-1 so far" in first
    assert "2 message(s) in chat-1 so far" in second
    assert "best document: tea" in first
    assert not (tmp_path / "memio-data").exists()
