"""How memio records live in Chroma metadata: reserved keys, lossless user metadata, timestamps.

Chroma metadata holds str, int (64-bit), float and bool natively (Chroma >= 1.5 also non-empty lists
of one of those types), and its `where` filters work on those values. Everything memio stores must
come back exactly, so:

- memio's own fields (scope ids, timestamps, the creation sequence, the dedup key) live under keys
  starting with `RESERVED` ("__memio_"); user metadata may not use that prefix.
- A user value Chroma stores natively is kept under its own key, so `where` can filter on it.
- Floats are stored natively too (for filtering) but Chroma does not return every float exactly
  (its storage rounds some in the last digit), so their exact value is also kept in the JSON of
  `KEY_EXACT`, which decoding prefers.
- Values Chroma cannot hold (empty or mixed-type lists, any list before Chroma 1.5, integers beyond
  64 bits, strings that are not UTF-8 encodable) and keys it rejects or hides ("#...", "$...",
  "chroma:...") live only in `KEY_EXACT`. A key of the first kind also gets a flag
  `absent_key(key) = True`, so a pushed-down filter can let such records through to the exact
  Python check instead of silently dropping them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from memio.errors import InvalidRequestError
from memio.models import MetadataValue

RESERVED = "__memio_"
KEY_EXACT = RESERVED + "exact"
ABSENT_PREFIX = RESERVED + "absent:"
KEY_CREATED = RESERVED + "created_at"
KEY_UPDATED = RESERVED + "updated_at"
KEY_SEQ = RESERVED + "seq"
KEY_CONTENT = RESERVED + "content_key"
KEY_SHARED = RESERVED + "shared"  # documents: True when stored without a user_id
KEY_LAST_EVENT = RESERVED + "last_event"  # facts: the rank of the fact's latest event
KEY_EXPIRES = RESERVED + "expires_at"  # facts: the expiry, only where one is set
KEY_MORTAL = RESERVED + "mortal"  # facts: True beside KEY_EXPIRES (see _where)

# Event records (the `<collection>_events` collection): lookup keys plus one JSON payload.
EVENT_FACT_ID = "fact_id"
EVENT_SEQ = "seq"
EVENT_PAYLOAD = "payload"
EVENT_PREV = "prev"  # the rank of the event before it in its fact's history (0: none)

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICRO = timedelta(microseconds=1)
_CHROMA_KEY_PREFIXES = ("#", "$", "chroma:")


def scope_key(field: str) -> str:
    """The metadata key of a top-level scope field (user_id, agent_id, ...)."""
    return RESERVED + field


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def native_key(key: str) -> bool:
    """Whether Chroma stores (and returns, and filters on) this metadata key as is."""
    return not key.startswith(_CHROMA_KEY_PREFIXES) and _utf8(key)


def _scalar_kind(value: Any) -> type | None:
    if isinstance(value, bool):
        return bool
    if isinstance(value, int):
        return int if I64_MIN <= value <= I64_MAX else None
    if isinstance(value, float):
        return float
    if isinstance(value, str):
        return str if _utf8(value) else None
    return None


def absent_key(key: str) -> str:
    """The flag set on records whose `key` is kept only in `KEY_EXACT`."""
    return ABSENT_PREFIX + key


def native_kind(value: Any, *, lists: bool = True) -> type | None:
    """The Chroma type `value` is stored as natively, or None when it cannot be."""
    if isinstance(value, list):
        if not lists:
            return None
        kinds = {_scalar_kind(item) for item in value}
        if len(kinds) != 1:  # empty or mixed
            return None
        return kinds.pop()
    return _scalar_kind(value)


def check_reserved(metadata: Mapping[str, Any], *, field: str = "metadata") -> None:
    """Reject user metadata keys in the provider's reserved namespace."""
    for key in metadata:
        if key.startswith(RESERVED):
            raise InvalidRequestError(
                f"keys starting with {RESERVED!r} are reserved by the chroma provider",
                field=f"{field}.{key}",
            )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def encode_metadata(metadata: Mapping[str, MetadataValue], *, lists: bool = True) -> dict[str, Any]:
    """User metadata (already validated) as Chroma metadata entries. `lists`: whether the Chroma
    in use stores list values (>= 1.5)."""
    out: dict[str, Any] = {}
    exact: dict[str, MetadataValue] = {}
    for key, value in metadata.items():
        key_ok = native_key(key)
        kind = native_kind(value, lists=lists) if key_ok else None
        if kind is not None:
            out[key] = list(value) if isinstance(value, list) else value
        if kind is None or kind is float:
            exact[key] = value
        if kind is None and key_ok:
            out[absent_key(key)] = True
    if exact:
        out[KEY_EXACT] = _dumps(exact)
    return out


def decode_metadata(raw: Mapping[str, Any] | None) -> dict[str, MetadataValue]:
    """The user metadata of a Chroma record, exactly as it was written."""
    if not raw:
        return {}
    user = {key: value for key, value in raw.items() if not key.startswith(RESERVED)}
    exact = raw.get(KEY_EXACT)
    if exact:
        user.update(json.loads(exact))
    return user


def dumps_payload(value: Any) -> str:
    return _dumps(value)


def loads_payload(text: str) -> Any:
    return json.loads(text)


def with_removals(new: dict[str, Any], old: Mapping[str, Any] | None) -> dict[str, Any]:
    """`new` plus a None for every key of `old` it drops: Chroma's update/upsert merge metadata,
    and None is how a key is removed."""
    out = dict(new)
    for key in old or {}:
        if key not in out:
            out[key] = None
    return out


def to_micros(value: datetime) -> int:
    """A timezone-aware timestamp as integer microseconds since the epoch (exact)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH) // _MICRO


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(value))


class _SequenceClock:
    """Creation ranks: microseconds since the epoch, strictly increasing within the process.

    Ranks order listings (oldest first). Wall-clock based, so ranks written by other processes
    sharing a Chroma server interleave by time; ties between processes are broken by id.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def take(self, count: int = 1) -> int:
        """The first of `count` consecutive fresh ranks."""
        with self._lock:
            start = max(time.time_ns() // 1000, self._last + 1)
            self._last = start + count - 1
            return start


sequence = _SequenceClock()
