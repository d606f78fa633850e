"""Opaque cursors and page-size checks shared by every provider.

A cursor is URL-safe base64 of a small JSON object: the provider's position (an offset, or the
last key seen) plus a fingerprint of the listing's scope, so a cursor replayed against another
user's listing is rejected instead of leaking or skipping items.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from memio.errors import InvalidRequestError

__all__ = ["MAX_LIMIT", "check_limit", "decode_cursor", "encode_cursor", "int_position"]

MAX_LIMIT = 1000


def check_limit(limit: int, *, field: str = "limit", maximum: int = MAX_LIMIT) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise InvalidRequestError(f"must be an integer from 1 to {maximum}", field=field)
    return limit


def _fingerprint(scope: Mapping[str, Any]) -> str:
    text = json.dumps(scope, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2s(text.encode(), digest_size=6).hexdigest()


def encode_cursor(position: Mapping[str, Any], *, scope: Mapping[str, Any]) -> str:
    payload = {"p": dict(position), "s": _fingerprint(scope)}
    raw = json.dumps(payload, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str | None, *, scope: Mapping[str, Any], field: str = "cursor"
) -> dict[str, Any] | None:
    """The position stored in `cursor`, or None for the first page."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        position, fingerprint = payload["p"], payload["s"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise InvalidRequestError("not a cursor this server issued", field=field) from None
    if not isinstance(position, dict) or fingerprint != _fingerprint(scope):
        raise InvalidRequestError(
            "this cursor belongs to a different listing (scope or filters changed)", field=field
        )
    return position


def int_position(position: Mapping[str, Any] | None, key: str = "after", *, first: int = -1) -> int:
    """The integer `key` of a decoded cursor position; `first` (the lowest valid value) when
    there is no cursor yet. Anything else was not issued by memio."""
    if position is None:
        return first
    value = position.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < first:
        raise InvalidRequestError("not a cursor this server issued", field="cursor")
    return value
