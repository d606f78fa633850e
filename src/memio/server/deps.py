"""Dependencies and small helpers shared by every router, whatever its dialect.

The store dependencies are the one place where a request's credential meets the stores: they hand
each route `app.state.memio.<kind>` confined to the caller's scope (`memio.scoping`), reporting
every write to the audit log. A route that takes its store from here cannot see, change or delete
anything outside that scope, however it builds its calls. A store that is not configured raises
NotSupportedError, which the app's error handlers turn into 501.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from memio.client import Memio
from memio.errors import InvalidRequestError
from memio.protocols import DocumentStore, FactStore, GraphStore, HistoryStore
from memio.scoping import confine
from memio.server.audit import audit_observer
from memio.server.auth import principal_of, require_admin_unless_bound
from memio.server.links import link_to
from memio.server.schemas import Restored

__all__ = [
    "PAGED",
    "RESTORED",
    "DocumentsDep",
    "FactsDep",
    "GraphDep",
    "HistoryDep",
    "admin_unless_scoped",
    "get_memio",
    "parse_json_filters",
    "restored",
    "scoped_store",
    "set_next_cursor",
    "written",
]


def get_memio(request: Request) -> Memio:
    return request.app.state.memio


def scoped_store(request: Request, kind: str) -> Any:
    """The `kind` store as the caller may use it: confined to its credential's scope, audited."""
    store = getattr(get_memio(request), kind)  # NotSupportedError when not configured
    return confine(kind, store, principal_of(request).scope, observe=audit_observer(request))


async def get_facts(request: Request) -> FactStore:
    return scoped_store(request, "facts")


async def get_history(request: Request) -> HistoryStore:
    return scoped_store(request, "history")


async def get_documents(request: Request) -> DocumentStore:
    return scoped_store(request, "documents")


async def get_graph(request: Request) -> GraphStore:
    return scoped_store(request, "graph")


FactsDep = Annotated[FactStore, Depends(get_facts)]
HistoryDep = Annotated[HistoryStore, Depends(get_history)]
DocumentsDep = Annotated[DocumentStore, Depends(get_documents)]
GraphDep = Annotated[GraphStore, Depends(get_graph)]


def admin_unless_scoped(*params: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency for delete-all routes: without any of the scope query `params` an operator's
    request would wipe a whole store, so it needs the admin key
    (`memio.server.auth.require_admin`). A bound credential's deletes are confined to its scope
    by its stores, so it needs no parameter."""

    async def check(request: Request) -> None:
        if not any(request.query_params.get(name) for name in params):
            await require_admin_unless_bound(request)

    check.__name__ = f"admin_unless_{'_or_'.join(params)}"
    return check


TOO_DEEP = "is nested too deeply to be a filter"


def parse_json_filters(raw: str | None, *, field: str = "filters") -> dict[str, Any] | None:
    """`filters` passed in a query string as JSON text; bad JSON is a 400 naming the field."""
    if raw is None or raw.strip() == "":
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise InvalidRequestError(
            f"is not valid JSON ({getattr(exc, 'msg', exc)}); send a JSON object", field=field
        ) from None
    except RecursionError:  # Python's JSON decoder recurses per nesting level
        raise InvalidRequestError(TOO_DEEP, field=field) from None
    if not isinstance(value, dict):
        raise InvalidRequestError("must be a JSON object", field=field)
    return value


_HEADER = {"schema": {"type": "string"}}

# `responses=` of every listing route: documents the paging headers in the OpenAPI document.
PAGED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One page, oldest first. When more items remain, the headers say how to "
        "get the next page; on the last page they are absent.",
        "headers": {
            "Link": {
                "description": '`<url of the next page>; rel="next"`: a path and '
                "query, absolute only when the server has a configured public URL",
                **_HEADER,
            },
            "X-Next-Cursor": {
                "description": "Pass as `cursor` (with the same other parameters) for the next "
                "page",
                **_HEADER,
            },
        },
    }
}


def set_next_cursor(request: Request, response: Response, next_cursor: str | None) -> None:
    """Advertise the next page: `Link: <url>; rel="next"` and `X-Next-Cursor` (absent on the last
    page). The link is this request's URL with `cursor` replaced, so every other query parameter
    (scope, limit, filters) carries over; relative unless `server.public_url` is set (`links`)."""
    if not next_cursor:
        return
    response.headers["Link"] = f'<{link_to(request, cursor=next_cursor)}>; rel="next"'
    response.headers["X-Next-Cursor"] = next_cursor


def written(request: Request, stored: Any) -> Response:
    """The answer of a write route that memio 0.3.1 answered with 204: still 204, unless the
    client sent ``Prefer: return=representation`` (RFC 7240), then 200 with `stored` (what the
    write stored, or ``{"deleted": n}``): how the Python client (`memio.connect`) learns what a
    local store's call returns."""
    preferences = request.headers.get("prefer", "").replace(" ", "").lower().split(",")
    if "return=representation" not in preferences:
        return Response(status_code=204)
    return JSONResponse(
        jsonable_encoder(stored), headers={"Preference-Applied": "return=representation"}
    )


RESTORED = {200: {"description": "Every item's id was already there: left untouched"}}


def restored(response: Response, written: list[bool]) -> Any:
    """The answer of a restore route: 201 when an item was written, 200 when every id was
    there."""
    response.status_code = 201 if any(written) else 200
    return Restored(restored=written)
