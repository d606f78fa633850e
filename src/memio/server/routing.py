"""`make_router()`: every memio router is built here, so every JSON body is checked for valid text.

JSON may spell a lone UTF-16 surrogate (``"\\ud800"``), which Python decodes into a str that no
store, tokenizer or JSON encoder accepts. The stores refuse such text in what they validate
(`models.check_unicode`); this check covers every field of every dialect's body, including those
only the server reads, and answers 422 with the field's path like any other validation error.
Escaped surrogate *pairs* (``"\\ud83d\\ude00"``) decode into one valid character and pass.
The body is only walked when its bytes contain a surrogate escape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from memio.models import escaped, has_lone_surrogate

__all__ = ["allowed_methods", "make_router"]

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def lone_surrogate_path(
    value: Any, path: tuple[str | int, ...] = ()
) -> tuple[str | int, ...] | None:
    """The path of the first str (key or value) in `value` holding a lone surrogate, or None.
    A bad key appears in the path backslash-escaped, so the error message itself is valid text."""
    if isinstance(value, str):
        return path if has_lone_surrogate(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if has_lone_surrogate(key):  # the key itself: named escaped
                return (*path, escaped(key))
            found = lone_surrogate_path(item, (*path, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = lone_surrogate_path(item, (*path, i))
            if found is not None:
                return found
    return None


def check_text(body: bytes) -> None:
    """Raise RequestValidationError (422) naming the first field of a JSON `body` that holds a
    lone surrogate; anything else, including malformed JSON, is left to FastAPI's parsing."""
    if not _SURROGATE_ESCAPE.search(body):
        return
    try:
        where = lone_surrogate_path(json.loads(body))
    except (ValueError, RecursionError):  # FastAPI's own parsing then answers 400
        return
    if where is not None:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", *where),
                    "msg": "text must be valid Unicode: it holds a lone surrogate "
                    "(\\ud800 to \\udfff without its pair)",
                    "type": "string_unicode",
                }
            ]
        )


class _TextCheckedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            # Checked here, not inside request.json(): FastAPI turns any error raised there into
            # a bare 400 that names no field. The body stays cached for the handler.
            check_text(await request.body())
            return await handler(request)

        return checked


def make_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes reject JSON bodies holding lone surrogates (422)."""
    return APIRouter(route_class=_TextCheckedRoute, **kwargs)


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """The methods of the path a request names, for a 405's ``Allow`` header.

    Starlette answers 405 from the first route whose path matches, so its ``Allow`` names that
    route's methods only, and FastAPI makes one route per method: a path served by GET and POST
    advertised one of them. Here: every method of the routes sharing the path template the router
    dispatches to first (``/v1/facts/search``, not also ``/v1/facts/{fact_id}``), documented
    routes first (a hidden alias or refusal, such as ``POST /configure``, is not advertised)."""
    matching = [
        route
        for route in routes
        if isinstance(route, Route) and route.methods and route.matches(scope)[0] is not Match.NONE
    ]
    documented = [route for route in matching if getattr(route, "include_in_schema", True)]
    candidates = documented or matching
    if not candidates:
        return []
    template = candidates[0].path_format
    return sorted(
        {m for route in candidates if route.path_format == template for m in route.methods}
    )
