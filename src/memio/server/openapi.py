"""The OpenAPI document says what the server really does: its error bodies and its auth.

FastAPI documents only success responses and its own 422 shape. This post-processing adds the
error responses every operation can return, in the shape of the operation's dialect (its route's
`ErrorStyle`: memio's ErrorBody unless the dialect's clients read another), and, when auth is on,
the bearer and X-API-Key security schemes (so Swagger UI offers "Authorize"), with the liveness
routes marked public.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import chain
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from memio.server.asgi import ALWAYS_PUBLIC
from memio.server.errors import ERROR_STATUSES, MEMIO_ERRORS, ErrorStyle

__all__ = ["install_openapi"]

_ALWAYS = (400, 404, 409, 413, 422, 500, 501, 502, 504)
_AUTH = (401, 403)
_RATE_LIMIT = (429,)
_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <key>` (mem0 clients may send `Token <key>`)",
    },
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def install_openapi(
    app: FastAPI, routers: Sequence[APIRouter], *, auth: bool, rate_limited: bool
) -> None:
    """Wrap `app.openapi` so the generated document is completed once, then cached; `routers`
    are the app's routers (their routes say which error style each operation answers in)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            styles = {
                (route.path_format, method.lower()): getattr(route, "error_style", MEMIO_ERRORS)
                for route in chain(app.routes, *(router.routes for router in routers))
                if isinstance(route, APIRoute)
                for method in route.methods
            }
            _complete(generate(), styles, auth=auth, rate_limited=rate_limited)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(
    schema: dict[str, Any],
    styles: dict[tuple[str, str], ErrorStyle],
    *,
    auth: bool,
    rate_limited: bool,
) -> None:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    protected = _ALWAYS + (_AUTH if auth else ()) + (_RATE_LIMIT if rate_limited else ())
    for path, operations in schema.get("paths", {}).items():
        public = path in ALWAYS_PUBLIC
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            style = styles.get((path, method), MEMIO_ERRORS)
            for model in style.models:
                _add_schema(schemas, model)
            _add_errors(operation, _ALWAYS if public else protected, style)
            if auth and public:
                operation["security"] = []
    if auth:
        components["securitySchemes"] = _SCHEMES
        schema["security"] = [{name: []} for name in _SCHEMES]
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, now unused
        if f'"#/components/schemas/{unused}"' not in json.dumps(schema):
            schemas.pop(unused, None)


def _add_schema(schemas: dict[str, Any], model: type[BaseModel]) -> None:
    if model.__name__ in schemas:
        return
    generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(generated.pop("$defs", {}))
    schemas[model.__name__] = generated


def _add_errors(operation: dict[str, Any], statuses: tuple[int, ...], style: ErrorStyle) -> None:
    responses = operation.setdefault("responses", {})
    if style.documented(422)[0] != 422:  # this dialect answers validation errors otherwise
        responses.pop("422", None)
    for status in sorted(statuses):
        shown, model = style.documented(status)
        response = responses.setdefault(str(shown), {"description": ERROR_STATUSES[shown][1]})
        if shown == 422:  # FastAPI's own 422 shape is not what the server sends
            response["description"] = ERROR_STATUSES[422][1]
        response["content"] = {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}
        }
