"""One error body for every failure the server reports.

Clients (memio's, mem0's SDKs, plain fetch) branch on the status and read `detail`; operators grep
`request_id` in the logs. Whatever failed (validation, auth, routing, limits, a provider, a bug),
the JSON is ``{"error", "detail", "provider", "operation", "request_id"}`` (422 adds `errors`).
Unexpected exceptions are logged with the request id and answered with a generic 500: no
traceback and no exception text reaches the client.
"""

from __future__ import annotations

import http
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memio.errors import (
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    MemioError,
    NotFoundError,
    NotSupportedError,
    ProviderError,
)
from memio.server.routing import allowed_methods

__all__ = [
    "ERROR_STATUSES",
    "ErrorBody",
    "UnhandledErrorMiddleware",
    "ValidationIssue",
    "error_response",
    "install_error_handlers",
    "request_id_of",
]

logger = logging.getLogger("memio.server")

# status -> (error code, what it means: used for the OpenAPI document too)
ERROR_STATUSES: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "Invalid request: `detail` names the offending field"),
    401: ("unauthorized", "No credential was sent, or the token was refused (`detail` says why)"),
    403: (
        "forbidden",
        "The API key is wrong, the route needs an admin or operator key, or the request names "
        "a scope the credential does not act for (`detail` names the field)",
    ),
    404: ("not_found", "No such item or route"),
    405: ("method_not_allowed", "The route does not accept this method"),
    409: ("conflict", "The write conflicts with what is stored (e.g. the id exists)"),
    413: ("payload_too_large", "The request body exceeds the configured limit"),
    422: ("validation_error", "The request body or parameters do not match the schema"),
    429: ("rate_limited", "Too many requests for this key; retry after `Retry-After` seconds"),
    500: ("internal_error", "Unexpected server error (logged with the request id)"),
    501: ("not_supported", "The store is not configured, or its provider cannot do this"),
    502: ("provider_error", "The backend failed: `provider` and `operation` say where"),
    503: ("unavailable", "A dependency of the server is unavailable"),
    504: ("timeout", "The request took longer than the configured timeout"),
}

_MEMIO_STATUS: tuple[tuple[type[MemioError], int], ...] = (
    (InvalidRequestError, 400),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (NotSupportedError, 501),
    (ProviderError, 502),
)


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str
    detail: str
    provider: str | None = None
    operation: str | None = None
    request_id: str | None = None
    errors: list[ValidationIssue] | None = None


def request_id_of(scope: Scope) -> str | None:
    return scope.get("state", {}).get("request_id")


def error_response(
    scope: Scope,
    status: int,
    detail: str,
    *,
    provider: str | None = None,
    operation: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    code = ERROR_STATUSES.get(status, ("http_error", ""))[0]
    body: dict[str, Any] = {
        "error": code,
        "detail": detail,
        "provider": provider,
        "operation": operation,
        "request_id": request_id_of(scope),
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers)


async def _memio_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MemioError)
    status = next((code for cls, code in _MEMIO_STATUS if isinstance(exc, cls)), 500)
    if isinstance(exc, ProviderError):
        logger.warning(
            "provider error (request_id=%s): %s", request_id_of(request.scope), exc.message
        )
        request.app.state.metrics.provider_error(exc.provider, exc.operation)
        return error_response(
            request.scope, 502, exc.message, provider=exc.provider, operation=exc.operation
        )
    if status == 500:  # a MemioError subclass with no status of its own: a bug
        return _internal_error(request.scope, exc)
    return error_response(request.scope, status, exc.message)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    issues = [
        {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]} for err in exc.errors()
    ]
    first = issues[0] if issues else {"loc": [], "msg": "invalid request"}
    detail = ".".join(map(str, first["loc"])) + f": {first['msg']}"
    if len(issues) > 1:
        detail += f" (and {len(issues) - 1} more)"
    return error_response(request.scope, 422, detail, errors=issues)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    headers = exc.headers
    if detail == http.HTTPStatus(status).phrase:  # Starlette's default: say what was asked
        target = f"{request.method} {request.url.path}"
        if status == 404:
            detail = f"no route matches {target}"
        elif status == 405:  # the router's: its Allow names one route's methods, not the path's
            routes = getattr(request.app.state, "served_routes", request.app.router.routes)
            allowed = ", ".join(allowed_methods(routes, request.scope))
            headers = {**(headers or {}), "Allow": allowed}
            detail = f"{target} is not allowed (allowed: {allowed})"
    return error_response(request.scope, status, detail, headers=headers)


def _internal_error(scope: Scope, exc: BaseException) -> JSONResponse:
    rid = request_id_of(scope)
    logger.error("unhandled %s (request_id=%s)", type(exc).__name__, rid, exc_info=exc)
    return error_response(scope, 500, f"internal server error (request id {rid})")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MemioError, _memio_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)


class UnhandledErrorMiddleware:
    """Turns an exception nothing else handled into the generic 500 error body.

    Sits inside the request-id, metrics and CORS middleware, so even a bug's 500 carries the
    request id, is counted, and is readable by a browser client.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            if started:  # too late for an error body; the server closes the connection
                raise
            await _internal_error(scope, exc)(scope, receive, send)
