"""Request input memio does not know: refused where it could change what a request deletes or
writes, named where it is ignored.

A typo must never widen a delete (``DELETE /v1/memories/?userId=alice`` deleting every user's
memories) or un-scope a write. `make_router` gives every route an `InputRules`, computed once from
what the route declares (its query parameters and its body model):

- **refuse** (memio's own routes, and every destructive route of every dialect: each DELETE, and
  routes marked `destructive`): a query parameter the route does not declare, or a JSON body on a
  route that takes none, answers 400 naming it before the route runs. Unknown body fields are
  refused by the body model where it forbids them (memio's /v1 models: 422 naming the field), and
  here (400) where it allows them (mem0's models).
- **report** (the mem0 dialects' other routes, the ops routes): unknown query parameters and body
  fields are accepted, as mem0's SDKs and servers expect, and named in the ``X-Memio-Ignored``
  response header together with the declared ones memio accepts but ignores (marked `IGNORED`).

A JSON body holding an object with a duplicated key (``{"user_id": "a", "user_id": "b"}``) is a
400 naming the key on every route: which of the two values counts is not something to guess. The
body is parsed once, with the duplicate check, and handed to FastAPI (``request._json``), so the
check costs only the parser hook.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.requests import Request

from memio.errors import InvalidRequestError

__all__ = [
    "IGNORED",
    "IGNORED_HEADER",
    "InputRules",
    "destructive",
    "is_destructive",
    "parse_json_body",
]

IGNORED_HEADER = "X-Memio-Ignored"
# json_schema_extra of a declared query parameter or body field memio accepts and ignores: it
# is named in X-Memio-Ignored when sent, and the OpenAPI document shows the mark.
IGNORED: dict[str, Any] = {"x-memio-ignored": True}
_MAX_NAMED = 50  # names in one X-Memio-Ignored header; the rest is counted
_DESTRUCTIVE = "__memio_destructive__"
_EMPTY_BODIES = (b"", b"{}", b"null")

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def destructive(endpoint: Endpoint) -> Endpoint:
    """Mark a non-DELETE route that deletes (``POST /reset``): it refuses unknown input."""
    setattr(endpoint, _DESTRUCTIVE, True)
    return endpoint


def is_destructive(route: APIRoute) -> bool:
    return "DELETE" in route.methods or getattr(route.endpoint, _DESTRUCTIVE, False)


class _DuplicateKey(Exception):  # not a ValueError: json.loads must not swallow it
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type")
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("application/") and (media.endswith("/json") or media.endswith("+json"))


def parse_json_body(request: Request, body: bytes) -> Any:
    """The request's JSON body (None when empty or not JSON), refusing duplicated keys (400).
    Cached on the request, so FastAPI's own `request.json()` does not parse it again; malformed
    JSON is left to FastAPI, which reports where."""
    if not body or not _is_json(request):
        return None
    try:
        value = json.loads(body, object_pairs_hook=_unique_keys)
    except _DuplicateKey as dup:
        raise InvalidRequestError(
            "this key appears more than once in the same JSON object; send it once",
            field=f"body.{dup.key}",
        ) from None
    except ValueError:
        return None
    except RecursionError:  # Python's decoder recurses per level: thousands exhaust the stack
        raise InvalidRequestError("is nested too deeply to be parsed", field="body") from None
    request._json = value  # what Request.json() returns from now on
    return value


def _params(dependant: Dependant) -> tuple[list[Any], list[Any]]:
    """(query parameters, body parameters) of a route and all its dependencies."""
    query, body = list(dependant.query_params), list(dependant.body_params)
    for sub in dependant.dependencies:
        more_query, more_body = _params(sub)
        query += more_query
        body += more_body
    return query, body


def _marked(extra: Any) -> bool:
    return isinstance(extra, dict) and extra.get("x-memio-ignored") is True


@dataclass(frozen=True)
class InputRules:
    """What one route accepts: its query parameters, its top-level body fields (None: it takes
    no body; `open_body`: the model allows fields it does not declare), and which are ignored."""

    refuse: bool
    query: frozenset[str]
    ignored_query: frozenset[str]
    body: frozenset[str] | None
    ignored_body: frozenset[str]
    open_body: bool

    @classmethod
    def of(cls, route: APIRoute, *, refuse: bool) -> InputRules:
        query_params, body_params = _params(route.dependant)
        query = {param.alias: param for param in query_params}
        body: frozenset[str] | None = None
        ignored_body: set[str] = set()
        open_body = False
        if len(body_params) == 1 and not getattr(body_params[0].field_info, "embed", False):
            model = body_params[0].field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                names: set[str] = set()
                for name, info in model.model_fields.items():
                    names.update(filter(None, (name, info.alias)))
                    if _marked(info.json_schema_extra):
                        ignored_body.update(filter(None, (name, info.alias)))
                body = frozenset(names)
                open_body = model.model_config.get("extra") != "forbid"
        elif body_params:  # several body parameters: each is a top-level field
            body = frozenset(param.alias for param in body_params)
        return cls(
            refuse=refuse,
            query=frozenset(query),
            ignored_query=frozenset(
                name for name, param in query.items() if _marked(param.field_info.json_schema_extra)
            ),
            body=body,
            ignored_body=frozenset(ignored_body),
            open_body=open_body,
        )

    def check(self, request: Request, body: bytes) -> list[str]:
        """Refuse (InvalidRequestError) what this route must not guess about; return the names
        of what it accepts and ignores."""
        value = parse_json_body(request, body)
        all_query = [name for name, _ in request.query_params.multi_items()]
        sent_query = list(dict.fromkeys(all_query))
        unknown_query = [name for name in sent_query if name not in self.query]
        if self.refuse:
            if unknown_query:
                raise InvalidRequestError(
                    f"unknown query parameter; this route takes {_listing(self.query)}",
                    field=unknown_query[0],
                )
            if len(sent_query) != len(all_query):
                repeated = next(name for name in sent_query if all_query.count(name) > 1)
                raise InvalidRequestError("sent more than once; send it once", field=repeated)
        sent_fields = list(value) if isinstance(value, dict) else []
        if self.body is None:
            unknown_fields = sent_fields
            if self.refuse and body.strip() not in _EMPTY_BODIES:
                where = f"body.{sent_fields[0]}" if sent_fields else "body"
                raise InvalidRequestError("this route takes no request body", field=where)
        else:
            unknown_fields = [name for name in sent_fields if name not in self.body]
            if self.refuse and self.open_body and unknown_fields:
                raise InvalidRequestError(
                    f"unknown field; this route takes {_listing(self.body)}",
                    field=f"body.{unknown_fields[0]}",
                )
        return [
            *(n for n in sent_query if n in self.ignored_query or n not in self.query),
            *(n for n in sent_fields if n in self.ignored_body or n in unknown_fields),
        ]


def _listing(names: Iterable[str]) -> str:
    names = sorted(names)
    return ", ".join(names) if names else "none"


def ignored_header(names: list[str]) -> str:
    """The X-Memio-Ignored value: the names, percent-encoded where a header could not carry
    them, comma-separated; past `_MAX_NAMED`, how many more."""
    shown = [quote(name, safe="$[]{}()@!*+:;<=>?^|~'") for name in dict.fromkeys(names)]
    more = len(shown) - _MAX_NAMED
    return ", ".join(shown[:_MAX_NAMED]) + (f", (+{more} more)" if more > 0 else "")
