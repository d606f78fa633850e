"""`make_router()`: every memio router is built here, so every request's input is checked the same
way: its query parameters and body fields against what the route declares (`memio.server.strict`:
unknown input refused on memio's own and on destructive routes, reported in ``X-Memio-Ignored``
elsewhere; duplicated JSON keys refused everywhere), and every JSON body for valid text.

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
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, Literal

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from memio.models import escaped, has_lone_surrogate
from memio.server.errors import MEMIO_ERRORS, ErrorStyle
from memio.server.strict import IGNORED_HEADER, InputRules, ignored_header, is_destructive

__all__ = ["CheckedRoute", "make_router"]

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


class CheckedRoute(APIRoute):
    """The route class of every memio router: input checked before the route runs, errors in
    the shape of the route's dialect (`memio.server.errors.error_style_of`)."""

    refuse_unknown: ClassVar[bool] = True
    error_style: ClassVar[ErrorStyle] = MEMIO_ERRORS

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        rules = InputRules.of(self, refuse=self.refuse_unknown or is_destructive(self))

        async def checked(request: Request) -> Response:
            # Checked here, not inside request.json(): FastAPI turns any error raised there into
            # a bare 400 that names no field. The body stays cached for the handler.
            body = await request.body()
            check_text(body)
            ignored = rules.check(request, body)
            response = await handler(request)
            if ignored:
                response.headers[IGNORED_HEADER] = ignored_header(ignored)
            return response

        return checked


class _ReportingRoute(CheckedRoute):
    refuse_unknown = False


def make_router(
    *,
    unknown_input: Literal["refuse", "report"] = "refuse",
    error_style: ErrorStyle = MEMIO_ERRORS,
    **kwargs: Any,
) -> APIRouter:
    """An APIRouter whose routes check their input (`memio.server.strict`) and reject JSON bodies
    holding lone surrogates (422). `unknown_input="report"` (the mem0 dialects): unknown query
    parameters and body fields are accepted and named in ``X-Memio-Ignored``, except on
    destructive routes, which always refuse them. `error_style`: how the routes' errors look
    (memio's `ErrorBody` unless the dialect's clients read another shape)."""
    route_class = CheckedRoute if unknown_input == "refuse" else _ReportingRoute
    if error_style is not MEMIO_ERRORS:
        name = f"{route_class.__name__}{type(error_style).__name__}"
        route_class = type(name, (route_class,), {"error_style": error_style})
    return APIRouter(route_class=route_class, **kwargs)
