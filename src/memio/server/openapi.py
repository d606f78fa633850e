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
from memio.server.rules import JSON_QUERY, ONE_OF_QUERY

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
            for parameter in operation.get("parameters", []):
                _json_parameter(parameter)
            _group_parameters(operation)
            if auth and public:
                operation["security"] = []
    if auth:
        components["securitySchemes"] = _SCHEMES
        schema["security"] = [{name: []} for name in _SCHEMES]
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, now unused
        if f'"#/components/schemas/{unused}"' not in json.dumps(schema):
            schemas.pop(unused, None)


def _json_parameter(parameter: dict[str, Any]) -> None:
    """A parameter marked `rules.JSON_QUERY` carries JSON text: declare it as
    ``content: application/json`` with the schema of that JSON (OpenAPI 3's way to say so)."""
    schema = parameter.get("schema", {})
    for branch in (schema, *schema.get("anyOf", ())):
        if JSON_QUERY in branch:
            del parameter["schema"]
            parameter["content"] = {"application/json": {"schema": branch[JSON_QUERY]}}
            return


def _group_parameters(operation: dict[str, Any]) -> None:
    """Query parameters marked `rules.ONE_OF_QUERY` (at least one of them is required) become one
    ``style: form, explode: true`` object parameter: the same query string on the wire, and a
    schema that can say ``minProperties: 1``."""
    group = operation.pop(ONE_OF_QUERY, None)
    if group is None:
        return
    names = set(group["parameters"])
    grouped = [p for p in operation["parameters"] if p["in"] == "query" and p["name"] in names]
    properties = {}
    for parameter in grouped:
        schema = parameter["schema"]
        branches = [b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]
        properties[parameter["name"]] = branches[0] if len(branches) == 1 else {"anyOf": branches}
    operation["parameters"] = [
        {
            "name": group["name"],
            "in": "query",
            "required": True,
            "style": "form",
            "explode": True,
            "description": f"At least one of {', '.join(sorted(names))}, each its own query "
            "parameter.",
            "schema": {
                "type": "object",
                "properties": properties,
                "minProperties": 1,
                "additionalProperties": False,
            },
        },
        *(p for p in operation["parameters"] if p not in grouped),
    ]


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
