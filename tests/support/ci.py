"""Under ``CI=true`` a missing service or tool fails the test; locally it skips with the reason.

A skip is invisible in a green CI run, so a test that checks nothing there must say so loudly."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(needs: str, reason: str) -> NoReturn:
    """Skip with `reason` (in a test or at module level), or fail under CI=true."""
    if in_ci():
        pytest.fail(f"CI=true needs {needs}: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)
