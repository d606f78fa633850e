"""Run memio's commands as a user does (real processes), for the command-line tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.support.server_process import server_env

__all__ = ["BIN", "run_command", "write_config"]

BIN = Path(sys.executable).parent  # where pip put the console scripts


def run_command(
    command: Sequence[str],
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess:
    """`command` with `args` in `cwd`, without the caller's MEMIO_* settings (plus `env`)."""
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=server_env(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def write_config(path: Path, config: dict[str, Any] | str) -> Path:
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return path
