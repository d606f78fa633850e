"""Schemathesis hooks of the fuzz run (tests/server/test_fuzz.py), loaded via SCHEMATHESIS_HOOKS.

Only two rules no OpenAPI schema can state are met here, both about state rather than shape:

- ``cursor``: a page cursor is valid only when this server issued it (like an id that must
  exist), so generated cursors are dropped; paging is covered by tests/http.
- ``expires_at`` of a new key must lie in the future, which depends on the clock: a generated
  time in the past is moved a year past now.

Everything else the server refuses must be said by the OpenAPI document itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import schemathesis


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    """Runs for every generated case, in every phase, just before it is sent."""
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("expires_at"), str):
        try:
            when = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
        except ValueError:
            return
        now = datetime.now(timezone.utc)
        if when.tzinfo is not None and when <= now:
            body["expires_at"] = (now + timedelta(days=365)).isoformat()
