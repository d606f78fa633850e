"""One error body for every failure the server reports, in the shape its dialect's clients read.

Clients (memio's, mem0's SDKs, plain fetch) branch on the status and read `detail`; operators grep
`request_id` in the logs. Whatever failed (validation, auth, routing, limits, a provider, a bug),
the JSON is ``{"error", "detail", "provider", "operation", "request_id"}`` (422 adds `errors`).
Unexpected exceptions are logged with the request id and answered with a generic 500: no
traceback and no exception text reaches the client.

A dialect whose clients read another error shape gives its routes an `ErrorStyle` (see
`memio.server.routing.make_router`); every error of a request that matches one of those routes,
even one refused before routing (401, 413, 429), is rendered by that style from the same
`ErrorInfo`.
"""

from __future__ import annotations

import http
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

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
from memio.server.asgi import allowed_methods

__all__ = [
    "ERROR_STATUSES",
    "MEMIO_ERRORS",
    "ErrorBody",
    "ErrorInfo",
    "ErrorStyle",
    "UnhandledErrorMiddleware",
    "ValidationErrorBody",
    "ValidationIssue",
    "error_response",
    "error_style_of",
    "install_error_handlers",
    "request_id_of",
    "status_of",
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


class ValidationErrorBody(ErrorBody):
    """A 422 whose `detail` is the list of issues, as FastAPI servers (mem0's own) answer it."""

    detail: list[ValidationIssue]  # type: ignore[assignment]


def request_id_of(scope: Scope) -> str | None:
    return scope.get("state", {}).get("request_id")


@dataclass(frozen=True)
class ErrorInfo:
    """One failure, before a dialect shapes it: the status, what went wrong (`detail`, the field
    it names when known), and where (provider and operation of a backend failure)."""

    status: int
    detail: str
    provider: str | None = None
    operation: str | None = None
    errors: list[dict[str, Any]] | None = None  # validation issues: {loc, msg, type}
    field: str | None = None
    request_id: str | None = None
    # a 403 for the credential itself (unknown or expired key), not for what it asked
    bad_credential: bool = False

    @property
    def code(self) -> str:
        return ERROR_STATUSES.get(self.status, ("http_error", ""))[0]


class ErrorStyle:
    """How the errors of a dialect's routes look. This base is memio's own `ErrorBody`; a dialect
    whose clients read another shape overrides `render` and says what it documents."""

    # OpenAPI: the models of the style's bodies (component schemas named after them)
    models: ClassVar[tuple[type[BaseModel], ...]] = (ErrorBody,)

    def render(self, error: ErrorInfo) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) of the answer."""
        body: dict[str, Any] = {
            "error": error.code,
            "detail": error.detail,
            "provider": error.provider,
            "operation": error.operation,
            "request_id": error.request_id,
        }
        if error.errors is not None:
            body["errors"] = error.errors
        return error.status, body

    def documented(self, status: int) -> tuple[int, str]:
        """OpenAPI: the status an error of `status` is answered with, and its schema's name."""
        return status, "ErrorBody"


MEMIO_ERRORS = ErrorStyle()


def error_style_of(scope: Scope) -> ErrorStyle:
    """The style of the route the request is for (the app's `route_finder`, a
    `memio.server.asgi.RouteFinder`: also before routing), else memio's own."""
    route = scope.get("route")
    finder = getattr(getattr(scope.get("app"), "state", None), "route_finder", None)
    if route is None and finder is not None:
        route = finder(scope)
    style = getattr(route, "error_style", None)
    return style if isinstance(style, ErrorStyle) else MEMIO_ERRORS


def error_response(
    scope: Scope,
    status: int,
    detail: str,
    *,
    provider: str | None = None,
    operation: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    field: str | None = None,
    bad_credential: bool = False,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    error = ErrorInfo(
        status=status,
        detail=detail,
        provider=provider,
        operation=operation,
        errors=errors,
        field=field,
        request_id=request_id_of(scope),
        bad_credential=bad_credential,
    )
    answered, body = error_style_of(scope).render(error)
    return JSONResponse(body, status_code=answered, headers=headers)


def status_of(exc: MemioError) -> int:
    """The HTTP status of a memio error (500: a subclass with no status of its own, a bug)."""
    return next((code for cls, code in _MEMIO_STATUS if isinstance(exc, cls)), 500)


async def _memio_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MemioError)
    status = status_of(exc)
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
    return error_response(request.scope, status, exc.message, field=getattr(exc, "field", None))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    issues = [
        {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]} for err in exc.errors()
    ]
    first = issues[0] if issues else {"loc": [], "msg": "invalid request"}
    where = ".".join(map(str, first["loc"]))
    detail = f"{where}: {first['msg']}"
    if len(issues) > 1:
        detail += f" (and {len(issues) - 1} more)"
    return error_response(request.scope, 422, detail, errors=issues, field=where or None)


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
            finder = getattr(request.app.state, "route_finder", None)
            routes = finder.routes(request.scope) if finder else request.app.router.routes
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
