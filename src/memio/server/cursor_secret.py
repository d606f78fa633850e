"""The secret that signs paging cursors (`memio.pagination.use_cursor_secret`).

``server.cursor_secret`` when configured; otherwise a random one made on first start and kept
in ``<data_dir>/cursor-secret`` (mode 0600), so a restart, and every replica sharing the data
directory, accepts the cursors issued before. Replicas on separate disks must configure the
same ``server.cursor_secret``, or a client's next page fails on another replica with a 400.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from memio.config import ServerConfig

__all__ = ["SECRET_FILE", "cursor_secret"]

SECRET_FILE = "cursor-secret"


def cursor_secret(config: ServerConfig) -> str:
    """The configured secret, else the data directory's (made once; blocking file I/O)."""
    if config.server.cursor_secret is not None:
        return config.server.cursor_secret.get_secret_value()
    path = Path(config.data_dir) / SECRET_FILE
    try:
        return _kept_secret(path)
    except OSError as exc:
        raise RuntimeError(
            f"cannot keep the cursor secret in {path} ({exc.strerror or exc}): make the data "
            "directory writable or set server.cursor_secret"
        ) from exc


def _kept_secret(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written under a private name, then linked into place: a replica starting at the same
    # moment either wins the link or reads the winner's complete file.
    draft = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    return path.read_text().strip()
