"""Operations routes: /, /health, /ready, /status and /metrics.

/health is liveness only (no backend call, no auth) so an orchestrator never restarts a healthy
process because a database is slow; /ready is where backends are probed, each with a deadline and
all at once, so one hung store cannot hide the state of the others.
"""

from __future__ import annotations

import asyncio
import logging
import platform
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Literal

import fastapi
import pydantic
from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

import memio
from memio.errors import MemioError, ProviderError
from memio.protocols import Store
from memio.providers import STORE_KINDS
from memio.server.auth import require_admin, require_operator
from memio.server.errors import request_id_of
from memio.server.routing import make_router

__all__ = ["health_report", "router", "status_report"]

logger = logging.getLogger("memio.server")
router = make_router(unknown_input="report", tags=["ops"])


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    stores: dict[str, bool]


class StoreReadiness(BaseModel):
    provider: str
    status: Literal["ok", "error"]
    detail: str | None = None


class ReadyResponse(BaseModel):
    status: Literal["ready", "unavailable"]
    stores: dict[str, StoreReadiness]


class StoreStatus(BaseModel):
    provider: str
    count: int | None = Field(None, description="Items held; for facts, the live ones")
    expired: int | None = Field(
        None, description="Facts only: expired facts the sweep has not deleted yet"
    )
    error: str | None = None


class StatusResponse(BaseModel):
    status: Literal["ok"] = "ok"
    versions: dict[str, str]
    auth: bool
    stores: dict[str, StoreStatus]


@router.get("/", include_in_schema=False)
async def root(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/docs", status_code=307)


@router.get("/health", summary="Liveness: the process answers (no backend call, no auth)")
async def health(request: Request) -> HealthResponse:
    return health_report(request)


def health_report(request: Request) -> HealthResponse:
    """What /health says (also in the local-first API's envelope)."""
    configured = request.app.state.memio.stores
    return HealthResponse(stores={kind: kind in configured for kind in STORE_KINDS})


@router.get(
    "/ready",
    summary="Readiness: every configured store answers its ping in time",
    responses={503: {"model": ReadyResponse, "description": "A store is unreachable"}},
)
async def ready(request: Request, response: Response) -> ReadyResponse:
    stores = request.app.state.memio.stores
    results = await asyncio.gather(
        *(_within_deadline(request, store.ping) for store in stores.values())
    )
    body = ReadyResponse(
        status="ready" if all(error is None for _, error in results) else "unavailable",
        stores={
            kind: StoreReadiness(
                provider=store.provider, status="ok" if error is None else "error", detail=error
            )
            for (kind, store), (_, error) in zip(stores.items(), results, strict=True)
        },
    )
    if body.status != "ready":
        response.status_code = 503
    return body


@router.get(
    "/status",
    summary="Providers, versions and item counts of the configured stores (operator credential)",
    dependencies=[Depends(require_operator)],
)
async def status(request: Request) -> StatusResponse:
    return await status_report(request)


async def status_report(request: Request) -> StatusResponse:
    """What /status says (also in the local-first API's envelope)."""
    stores = request.app.state.memio.stores
    results = await asyncio.gather(
        *(
            _within_deadline(request, partial(_counts, kind, store))
            for kind, store in stores.items()
        )
    )
    return StatusResponse(
        versions={
            "memio": memio.__version__,
            "python": platform.python_version(),
            "fastapi": fastapi.__version__,
            "pydantic": pydantic.VERSION,
        },
        auth=request.app.state.config.auth_enabled,
        stores={
            kind: StoreStatus(provider=store.provider, error=error, **(counts or {}))
            for (kind, store), (counts, error) in zip(stores.items(), results, strict=True)
        },
    )


async def _counts(kind: str, store: Store) -> dict[str, int]:
    """A store's count; a facts store's also says how many expired facts await the sweep."""
    if kind != "facts":
        return {"count": await store.count()}
    live, held = await asyncio.gather(store.count(), store.count(include_expired=True))
    return {"count": live, "expired": max(held - live, 0)}


@router.get(
    "/metrics",
    summary="Prometheus metrics (admin key)",
    dependencies=[Depends(require_admin)],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def _within_deadline(
    request: Request, call: Callable[[], Awaitable[Any]]
) -> tuple[Any, str | None]:
    """(result, None), or (None, why it failed) without raising: one store's failure is data."""
    seconds = request.app.state.config.server.ready_timeout_seconds
    try:
        return await asyncio.wait_for(call(), seconds), None
    except asyncio.TimeoutError:
        return None, f"no answer within {seconds:g} s"
    except ProviderError as exc:
        request.app.state.metrics.provider_error(exc.provider, exc.operation)
        return None, exc.message
    except MemioError as exc:
        return None, exc.message
    except Exception as exc:
        rid = request_id_of(request.scope)
        logger.error("store probe failed (request_id=%s)", rid, exc_info=exc)
        return None, f"{type(exc).__name__} (details in the server log, request id {rid})"
