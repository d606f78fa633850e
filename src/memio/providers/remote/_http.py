"""One pooled HTTP connection to a memio server, shared by the four remote stores.

Every call goes through `RemoteConnection.call`, which turns the server's error answers back into
the `memio.errors` type the server made them from, and a network failure into a ProviderError
naming the remote provider and the operation: code catching errors behaves the same whether its
stores are local or behind a server.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import httpx

from memio.errors import (
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    MemioError,
    NotFoundError,
    NotSupportedError,
    ProviderError,
)
from memio.models import check_text

__all__ = ["PROVIDER", "REPRESENTATION", "RemoteConnection", "check_wire"]

PROVIDER = "remote"
# Asks the server for the body of a route that answers 204 to 0.3.1 clients (RFC 7240): the
# stored messages and triples of an add, `{"deleted": n}` of a delete.
REPRESENTATION = {"Prefer": "return=representation"}


class RemoteConnection:
    """An `httpx.AsyncClient` for one server and credential, closed when its last store closes."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )
        self._users = 0

    def acquire(self) -> RemoteConnection:
        """Count one more store using this connection (`release` closes it with the last)."""
        self._users += 1
        return self

    async def release(self) -> None:
        self._users -= 1
        if self._users <= 0:
            await self._client.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        item: tuple[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The server's answer to one request; an error answer raises its memio error (`item`,
        (kind, id), is what a 404 reports as not found)."""
        for name, value in {
            **(params or {}),
            **(body if isinstance(body, Mapping) else {}),
        }.items():
            check_wire(value, field=name)
        query = {key: _query_value(value) for key, value in (params or {}).items()}
        query = {key: value for key, value in query.items() if value is not None}
        try:
            response = await self._client.request(
                method, path, params=query, json=body, headers=headers
            )
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"{type(exc).__name__} talking to {self.url}: {exc}",
                provider=PROVIDER,
                operation=operation,
                cause=exc,
            ) from exc
        if response.is_success:
            return response
        raise _error_of(response, operation=operation, item=item)


def check_wire(value: Any, *, field: str) -> None:
    """Refuse here what JSON cannot carry or the server would refuse the same way, naming the
    argument as a local store does: text with NUL or a lone surrogate (not UTF-8), numbers that
    are not finite, object keys that are not text."""
    if isinstance(value, str):
        check_text(value, field=field)
    elif isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequestError("must be a finite number", field=field)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidRequestError(f"keys must be text, not {key!r}", field=field)
            check_wire(key, field=f"{field}.{key}")
            check_wire(item, field=f"{field}.{key}")
    elif isinstance(value, list | tuple):
        # items that are objects are named by index (documents[3]); values by their list
        for i, item in enumerate(value):
            check_wire(item, field=f"{field}[{i}]" if isinstance(item, Mapping) else field)


def _query_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return json.dumps(value)
    return str(value)


def _error_of(
    response: httpx.Response, *, operation: str, item: tuple[str, str] | None
) -> MemioError:
    """The memio error an error answer stands for (its `detail` kept as the message)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    detail = str(body.get("detail") or response.reason_phrase or response.status_code)
    status = response.status_code
    field = _field_in(body, detail)
    if status == 404:
        kind, item_id = item or ("item", response.request.url.path)
        error: MemioError = NotFoundError(kind, item_id)
    elif status == 409:
        error = ConflictError(_reason(detail, field), field=field)
    elif status in (400, 422):
        error = InvalidRequestError(_reason(detail, field), field=_field_of(field))
    elif status in (401, 403):
        error = ForbiddenError(_reason(detail, field), field=field)
    elif status == 501:
        error = NotSupportedError(detail)
    elif status == 502 and body.get("provider"):
        prefix = f"{body['provider']}.{body.get('operation')} failed: "
        return ProviderError(
            detail.removeprefix(prefix),
            provider=str(body["provider"]),
            operation=str(body.get("operation") or operation),
        )
    else:
        return ProviderError(
            f"the server answered {status}: {detail}", provider=PROVIDER, operation=operation
        )
    error.message = detail
    error.args = (detail,)
    return error


def _field_in(body: Mapping[str, Any], detail: str) -> str | None:
    """The argument an error names: a validation issue's location, else the ``field: reason``
    prefix memio's errors put in `detail` (a field has no spaces)."""
    issues = body.get("errors")
    if isinstance(issues, list) and issues and isinstance(issues[0], Mapping):
        return ".".join(str(part) for part in issues[0].get("loc", [])) or None
    named = re.match(r"(\S+?): ", detail)
    return named.group(1) if named else None


def _reason(detail: str, field: str | None) -> str:
    return detail.removeprefix(f"{field}: ") if field else detail


def _field_of(field: str | None) -> str | None:
    """A request-validation location (``body.content``, ``query.limit``) as the argument name
    the local stores report (``content``, ``limit``)."""
    if field is None:
        return None
    for part in ("body.", "query.", "path."):
        field = field.removeprefix(part)
    return re.sub(r"\.(\d+)", r"[\1]", field)
