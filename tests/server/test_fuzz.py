"""Schemathesis against a real memio-server: the OpenAPI document says what memio accepts.

A memio-server process on the embedded defaults (chroma, SQLite, networkx; a temporary data
directory), auth on, every dialect served. Schemathesis reads the live ``/openapi.json`` and sends
a bounded number of generated requests to every operation in it, first with an admin key, then
with a key bound to one user. It must find:

- no server error (5xx);
- every answer conforming to the operation's documented status codes, content types, headers and
  response schema;
- no schema-valid request refused: only 2xx, 404 (an id that does not exist) and 409 (one that
  does) are acceptable, plus 403 for the bound key outside its scope;
- a 405 for an undocumented method, whose ``Allow`` lists every documented method of the path.

Two state-dependent rules are met by tests/server/fuzz_hooks.py (issued cursors, future expiry
times); nothing else is excluded. Re-run by hand (also against any running server) with the
command `fuzz_command` builds, e.g.::

    MEMIO_FUZZ_EXAMPLES=50 .venv/bin/pytest tests/server/test_fuzz.py -s

schemathesis runs in the test's temporary directory (its cache and JUnit report land there,
with its whole output in schemathesis.txt); a failure's output includes a curl line per finding.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server_process import run_server, server_env

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "fuzz-admin-key"
BOUND_KEY = "fuzz-bound-key"
EXAMPLES = int(os.environ.get("MEMIO_FUZZ_EXAMPLES", "12"))
SEED = os.environ.get("MEMIO_FUZZ_SEED", "20261204")
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
    "unsupported_method",
    "allow_header_conformance",
)
CONFIG = """\
[checks.positive_data_acceptance]
expected-statuses = [{statuses}]
"""


def fuzz_command(base_url: str, key: str, report_dir: Path, *, examples: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(report_dir / "schemathesis.toml"),
        "run",
        f"{base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(examples),
        "--seed",
        SEED,
        "--workers",
        "1",  # Python 3.11's ast is not thread-safe (hypothesis describes lambdas with it)
        "--request-timeout",
        "60",
        "--report",
        "junit",
        "--report-dir",
        str(report_dir),
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    config = {
        "data_dir": str(tmp_path_factory.mktemp("fuzz-data")),
        "auth": {
            "api_keys": [
                {"name": "admin", "key": ADMIN_KEY, "admin": True},
                {"name": "alice", "key": BOUND_KEY, "user_id": "alice", "rate_limit": False},
            ],
            "failure_limit": ["100000/minute"],
        },
    }
    env = {"ORT_DISABLE_TELEMETRY": "1", "MEM0_TELEMETRY": "False"}
    with run_server(config, env=env, startup_timeout=120) as process:
        yield process


@pytest.mark.parametrize(
    ("key", "statuses", "examples"),
    [
        pytest.param(ADMIN_KEY, ("2xx", "404", "409"), EXAMPLES, id="admin"),
        pytest.param(BOUND_KEY, ("2xx", "403", "404", "409"), max(1, EXAMPLES // 2), id="bound"),
    ],
)
def test_schemathesis_finds_nothing(server, tmp_path: Path, key, statuses, examples) -> None:
    (tmp_path / "schemathesis.toml").write_text(
        CONFIG.format(statuses=", ".join(f'"{status}"' for status in statuses))
    )
    env = server_env(
        {
            "SCHEMATHESIS_HOOKS": "tests.server.fuzz_hooks",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "NO_COLOR": "1",
            "COLUMNS": "160",
        }
    )
    command = fuzz_command(server.base_url, key, tmp_path, examples=examples)
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    output = done.stdout + done.stderr
    (tmp_path / "schemathesis.txt").write_text(output)
    assert done.returncode == 0, output[-20000:]
    summary = re.search(r"(\d+) generated, (\d+) passed", output)
    assert summary and summary[1] == summary[2] and int(summary[1]) > 0, output[-5000:]
