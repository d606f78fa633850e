"""The `memio-server` command, run as a real process: --check, startup errors, serving."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import MEMORY_STORES
from tests.support.commands import run_command
from tests.support.commands import write_config as write
from tests.support.server_process import run_server

REPO_CONFIG = Path(__file__).parents[2] / "memio-server.yaml"


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run_command([sys.executable, "-m", "memio.server"], *args, cwd=cwd, env=env)


def assert_refused(result: subprocess.CompletedProcess, *lines: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for line in lines:
        assert f"\n  {line}\n" in result.stderr, result.stderr


# --- --check -----------------------------------------------------------------------------------


def test_check_prints_the_provider_of_each_store(tmp_path):
    result = cli("--check", "--config", str(REPO_CONFIG), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"configuration OK ({REPO_CONFIG})"
    assert lines[1:5] == [
        "  facts: chroma",
        "  history: sqlite",
        "  documents: chroma",
        "  graph: networkx",
    ]
    assert "  listen: http://127.0.0.1:8080" in lines
    no_llm = "  extraction LLM: none (mem0 adds with infer store the user's messages as they are)"
    assert no_llm in lines
    assert not (tmp_path / "memio-data").exists()  # checking opens nothing


def test_check_reads_memio_config_and_env_overrides(tmp_path):
    config = write(tmp_path / "custom.yaml", {"stores": {"facts": {"provider": "memory"}}})
    result = cli(
        "--check",
        cwd=tmp_path,
        env={"MEMIO_CONFIG": str(config), "MEMIO_PORT": "9123", "MEMIO_API_KEY": "k"},
    )
    assert result.returncode == 0, result.stderr
    assert "  facts: memory" in result.stdout
    assert "  listen: http://127.0.0.1:9123" in result.stdout
    assert "  auth: on" in result.stdout
    assert "  rate limit: on" in result.stdout


def test_check_without_any_file_uses_the_built_in_defaults(tmp_path):
    result = cli("--check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("configuration OK (built-in defaults)\n  facts: chroma\n")


def test_check_finds_memio_server_yaml_in_the_working_directory(tmp_path):
    write(tmp_path / "memio-server.yaml", {"stores": {"graph": {"provider": "memory"}}})
    result = cli("--check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        "configuration OK (memio-server.yaml)",
        "  graph: memory",
    ]


def test_unknown_provider_exits_2(tmp_path):
    config = write(
        tmp_path / "c.yaml", {"stores": {**MEMORY_STORES, "documents": {"provider": "chromaa"}}}
    )
    result = cli("--check", "--config", str(config), cwd=tmp_path)
    assert_refused(
        result,
        "stores.documents.provider: unknown provider 'chromaa' "
        "(known: chroma, memory, postgres, remote)",
    )
    assert result.stderr.startswith(f"memio-server: invalid configuration ({config}):\n")


def test_missing_variable_exits_2(tmp_path):
    config = write(
        tmp_path / "c.yaml",
        {"stores": {"facts": {"provider": "chroma", "config": {"url": "${CHROMA_URL}"}}}},
    )
    result = cli("--config", str(config), cwd=tmp_path)
    assert_refused(
        result,
        "stores.facts.config.url: environment variable CHROMA_URL is not set "
        "(write ${CHROMA_URL:-default} to give a default)",
    )


def test_invalid_yaml_exits_2(tmp_path):
    config = write(tmp_path / "c.yaml", "stores:\n  facts: {provider: memory\n")
    result = cli("--check", "--config", str(config), cwd=tmp_path)
    assert_refused(result)
    assert "invalid YAML at line 3, column 1" in result.stderr


@pytest.mark.parametrize("how", ["flag", "env"])
def test_named_config_that_does_not_exist_exits_2(tmp_path, how):
    missing = tmp_path / "absent.yaml"
    args, env = (
        (["--config", str(missing)], {}) if how == "flag" else ([], {"MEMIO_CONFIG": str(missing)})
    )
    result = cli("--check", *args, cwd=tmp_path, env=env)
    assert_refused(result, f"config file {str(missing)!r} not found")


@pytest.mark.parametrize("how", ["flag", "env"])
def test_refuses_a_public_address_without_auth(tmp_path, how):
    config = write(tmp_path / "c.yaml", {"stores": MEMORY_STORES})
    args = ["--config", str(config)]
    env = {}
    if how == "flag":
        args += ["--host", "0.0.0.0"]
    else:
        env["MEMIO_HOST"] = "0.0.0.0"
    result = cli(*args, cwd=tmp_path, env=env)  # not --check: this is a real start
    assert_refused(
        result,
        "server.host: refusing to listen on 0.0.0.0 without authentication: anyone who can "
        "reach it could read and delete every store. Set MEMIO_API_KEY or auth.api_keys, or set "
        "auth: {disabled: true} if something else guards access",
    )


def test_bad_port_flag_is_a_usage_error(tmp_path):
    result = cli("--port", "eighty", cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid int value" in result.stderr


# --- a real server -----------------------------------------------------------------------------


def test_serves_health_and_stops_cleanly_on_sigterm():
    with run_server({"stores": MEMORY_STORES}) as server:
        response = httpx.get(f"{server.base_url}/health")
        assert response.json() == {
            "status": "ok",
            "stores": {"facts": True, "history": True, "documents": True, "graph": True},
        }
        assert response.headers["x-request-id"]
        assert "server" not in response.headers  # no uvicorn banner
        fact = httpx.post(f"{server.base_url}/v1/facts", json={"content": "likes tea"})
        assert fact.status_code == 201, fact.text
        server.process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
        log = server.stderr()
    assert "stores: facts=memory, history=memory, documents=memory, graph=memory" in log
    assert "Application shutdown complete" in log
    assert "Traceback" not in log


def test_console_script_serves(tmp_path):
    script = Path(sys.executable).with_name("memio-server")
    assert script.exists(), "pip install -e . should have installed the memio-server script"
    with run_server({"stores": MEMORY_STORES}, command=[str(script)]) as server:
        assert httpx.get(f"{server.base_url}/health").status_code == 200


def test_auth_from_the_environment():
    with run_server({"stores": MEMORY_STORES}, env={"MEMIO_API_KEY": "env-key"}) as server:
        url = server.base_url
        assert httpx.get(f"{url}/health").status_code == 200
        assert httpx.get(f"{url}/status").status_code == 401
        assert httpx.get(f"{url}/status", headers={"X-API-Key": "wrong"}).status_code == 403
        answered = httpx.get(f"{url}/status", headers={"Authorization": "bearer env-key"})
        assert answered.status_code == 200
        assert "x-ratelimit-limit" not in answered.headers  # an operator key: not limited


def test_public_address_with_auth_starts(tmp_path):
    config = {"server": {"host": "0.0.0.0"}, "stores": MEMORY_STORES}
    with run_server(config, env={"MEMIO_API_KEY": "k"}) as server:
        assert httpx.get(f"{server.base_url}/status").status_code == 401
    config["auth"] = {"disabled": True}
    with run_server(config) as server:
        assert httpx.get(f"{server.base_url}/status").status_code == 200


def test_repo_config_serves_everything_offline(tmp_path):
    with run_server(REPO_CONFIG, env={"MEMIO_DATA_DIR": str(tmp_path / "data")}) as server:
        assert httpx.get(f"{server.base_url}/health").json()["stores"] == {
            "facts": True,
            "history": True,
            "documents": True,
            "graph": True,
        }
        ready = httpx.get(f"{server.base_url}/ready", timeout=120)
        assert ready.status_code == 200, ready.text
    assert (tmp_path / "data").is_dir()
