"""The audit log: one JSON line per write or delete, on the dedicated `memio.audit` logger.

Each line says when, which request, which credential (key name or ``token:<sub>``) acting for
which scope, on which route and store, which ids, and the outcome. It never holds content,
metadata or a secret, so it can be kept longer and read more widely than the data itself.
Operators route or silence it with ordinary logging configuration.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import Request

from memio.models import utcnow
from memio.scoping import WriteObserver, WriteRecord
from memio.server.auth import principal_of
from memio.server.errors import request_id_of

__all__ = ["AUDIT_LOGGER", "audit_event", "audit_observer"]

AUDIT_LOGGER = "memio.audit"
_logger = logging.getLogger(AUDIT_LOGGER)


def audit_observer(request: Request) -> WriteObserver:
    """The observer that logs the writes of the stores serving `request`."""

    def observe(record: WriteRecord) -> None:
        audit_event(
            request,
            store=record.store,
            operation=record.operation,
            ids=record.ids,
            outcome=record.outcome,
            count=record.count,
        )

    return observe


def audit_event(
    request: Request,
    *,
    store: str,
    operation: str,
    ids: Sequence[str],
    outcome: str,
    count: int | None = None,
) -> None:
    if not _logger.isEnabledFor(logging.INFO):
        return
    principal = principal_of(request)
    route = request.scope.get("route")
    entry: dict[str, Any] = {
        "time": utcnow().isoformat(timespec="milliseconds"),
        "request_id": request_id_of(request.scope),
        "credential": principal.name,
        "scope": principal.scope.fields(),
        "route": f"{request.method} {getattr(route, 'path', request.url.path)}",
        "store": store,
        "operation": operation,
        "ids": list(ids),
        "outcome": outcome,
    }
    if count is not None:
        entry["count"] = count
    _logger.info(json.dumps(entry, ensure_ascii=False))
