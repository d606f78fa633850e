"""The `memio` command as a user runs it (a real process): --version, serve, check [--connect],
and the configuration errors every command shares with memio-server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from memio import __version__
from tests.server.conftest import MEMORY_STORES
from tests.support.commands import BIN, run_command
from tests.support.commands import write_config as write
from tests.support.server_process import free_port, run_server


def memio(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run_command([str(BIN / "memio")], *args, cwd=cwd, env=env)


def test_version_of_both_commands(tmp_path):
    assert memio("--version", cwd=tmp_path).stdout == f"memio {__version__}\n"
    server = subprocess.run(
        [str(BIN / "memio-server"), "--version"], capture_output=True, text=True, check=True
    )
    assert server.stdout == f"memio {__version__}\n"


def test_check_without_a_config_names_the_defaults_and_the_data_directory(tmp_path):
    result = memio("check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("configuration OK (built-in defaults)\n")
    assert f"  data_dir: {tmp_path.resolve() / 'memio-data'}\n" in result.stdout
    assert not (tmp_path / "memio-data").exists()


def test_check_connect_reports_each_backend(tmp_path):
    closed = free_port()  # nothing listens there
    config = write(
        tmp_path / "c.yaml",
        {
            "stores": {
                **MEMORY_STORES,
                "history": {
                    "provider": "postgres",
                    "config": {"dsn": f"postgresql://127.0.0.1:{closed}/x", "connect_timeout": 2},
                },
            }
        },
    )
    result = memio("check", "--config", str(config), "--connect", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "  facts (memory): OK" in lines
    assert "  embedder (all-MiniLM-L6-v2): OK" in lines
    [failed] = [line for line in lines if line.startswith("  history (postgres): failed: ")]
    assert str(closed) in failed or "connect" in failed.lower(), failed


def test_every_problem_of_a_file_in_one_run(tmp_path):
    config = write(
        tmp_path / "c.yaml",
        {
            "server": {"host": "${CLI_TEST_UNSET_HOST}", "prot": 1},
            "stores": {
                "facts": {
                    "provider": "postgres",
                    "config": {"dsn": "${CLI_TEST_DSN}", "shema": "x"},
                }
            },
        },
    )
    result = memio("check", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    problems = result.stderr.splitlines()[1:]
    assert [line.split(":")[0] for line in problems] == [
        "  server.host",
        "  stores.facts.config.dsn",
        "  server.prot",
    ]
    assert problems[2].startswith("  server.prot: unknown key (expected one of: host, port,")
    # the provider's own check needs a valid top level: fix it and the next run shows the rest
    config = write(
        tmp_path / "c.yaml",
        {
            "stores": {
                "facts": {
                    "provider": "postgres",
                    "config": {"dsn": "${CLI_TEST_DSN}", "shema": "x"},
                }
            }
        },
    )
    problems = memio("check", "--config", str(config), cwd=tmp_path).stderr.splitlines()[1:]
    assert problems[0].startswith("  stores.facts.config.dsn: environment variable CLI_TEST_DSN")
    assert problems[1].startswith(
        "  stores.facts.config.shema: unknown key (expected one of: dsn, schema, pool_min_size,"
    )


def test_serve_is_memio_server_and_logs_where_its_data_and_docs_are(tmp_path):
    with run_server({"stores": MEMORY_STORES}, command=[str(BIN / "memio"), "serve"]) as server:
        assert httpx.get(f"{server.base_url}/health").status_code == 200
        log = server.stderr()
    assert f"data directory {server.workdir / 'memio-data'}" in log
    assert f"API reference at http://127.0.0.1:{server.port}/docs" in log
