"""Opaque, signed cursors and page-size checks shared by every provider.

A cursor is URL-safe base64 of a small JSON object, the provider's position (an offset, or the
last key seen) plus a fingerprint of the listing's scope, followed by ``.`` and an HMAC-SHA256
tag of it. The tag means only memio mints cursors: a forged one (a huge offset, another
listing's position) is refused as the caller's mistake before any store sees it. The
fingerprint binds a cursor to its listing, so a cursor replayed against another user's listing
is rejected instead of leaking or skipping items.

The signing key is per process unless the server installs its configured one
(`use_cursor_secret`: ``server.cursor_secret`` or ``<data_dir>/cursor-secret``), so replicas
sharing that secret accept each other's cursors. Keys installed earlier in the process stay
accepted, so several apps in one process (tests) keep honouring the cursors they issued.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

from memio.errors import InvalidRequestError

__all__ = [
    "MAX_LIMIT",
    "check_limit",
    "decode_cursor",
    "encode_cursor",
    "int_position",
    "use_cursor_secret",
]

MAX_LIMIT = 1000


def check_limit(limit: int, *, field: str = "limit", maximum: int = MAX_LIMIT) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise InvalidRequestError(f"must be an integer from 1 to {maximum}", field=field)
    return limit


def _fingerprint(scope: Mapping[str, Any]) -> str:
    text = json.dumps(scope, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2s(text.encode(), digest_size=6).hexdigest()


_TAG_BYTES = 16  # of HMAC-SHA256: 128 bits, far beyond guessing
_KEPT_KEYS = 32  # earlier keys still accepted (one per app started in this process)
_keys: list[bytes] = [secrets.token_bytes(32)]  # [signing key, *earlier keys]


def use_cursor_secret(secret: str | bytes) -> None:
    """Sign cursors with a key derived from `secret` from now on (and accept them)."""
    raw = secret.encode() if isinstance(secret, str) else secret
    key = hashlib.sha256(b"memio cursor key\0" + raw).digest()
    if key in _keys:
        _keys.remove(key)
    _keys.insert(0, key)
    del _keys[_KEPT_KEYS:]


def _tag(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_TAG_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(position: Mapping[str, Any], *, scope: Mapping[str, Any]) -> str:
    payload = {"p": dict(position), "s": _fingerprint(scope)}
    raw = json.dumps(payload, separators=(",", ":"), default=str).encode()
    return f"{_b64(raw)}.{_b64(_tag(_keys[0], raw))}"


def decode_cursor(
    cursor: str | None, *, scope: Mapping[str, Any], field: str = "cursor"
) -> dict[str, Any] | None:
    """The position stored in `cursor`, or None for the first page."""
    if cursor is None or cursor == "":
        return None
    not_issued = InvalidRequestError("not a cursor this server issued", field=field)
    body, dot, tag = cursor.partition(".")
    try:
        raw, given = _unb64(body), _unb64(tag)
    except (binascii.Error, ValueError):
        raise not_issued from None
    if not dot or not any(hmac.compare_digest(given, _tag(key, raw)) for key in _keys):
        raise not_issued
    try:
        payload = json.loads(raw)
        position, fingerprint = payload["p"], payload["s"]
    except (ValueError, TypeError, KeyError):
        raise not_issued from None
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
