"""Checks of single arguments: each returns the clean value or raises InvalidRequestError
naming the field. Used by the validating stores and by the server's own routes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from memio.errors import InvalidRequestError
from memio.models import MetadataValue, check_text, utc_timestamp, validate_metadata

__all__ = [
    "check_bool",
    "check_threshold",
    "coerce_items",
    "expiry_arg",
    "id_list",
    "include_shared_scope",
    "metadata_change",
    "optional_text",
    "require_text",
]


_M = TypeVar("_M", bound=BaseModel)


def require_text(value: Any, *, field: str) -> str:
    """Non-empty text (valid Unicode, no NUL: `models.check_text`), or an InvalidRequestError
    naming the field."""
    if not isinstance(value, str):
        raise InvalidRequestError("must be a string", field=field)
    if not value.strip():
        raise InvalidRequestError("must not be empty", field=field)
    check_text(value, field=field)
    return value


def optional_text(value: Any, *, field: str) -> str | None:
    """A scope id (user_id, agent_id, ...): None or a non-empty string, else InvalidRequestError."""
    return None if value is None else require_text(value, field=field)


def check_bool(value: Any, *, field: str) -> bool:
    """A flag: exactly true or false (not "yes", not 1)."""
    if not isinstance(value, bool):
        raise InvalidRequestError("must be true or false", field=field)
    return value


def check_threshold(threshold: Any, *, field: str = "threshold") -> float | None:
    """A search threshold: None, or a number from 0 to 1 (scores live in [0, 1])."""
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise InvalidRequestError("must be a number from 0 to 1", field=field)
    if not 0.0 <= threshold <= 1.0:  # also rejects NaN
        raise InvalidRequestError("must be a number from 0 to 1", field=field)
    return float(threshold)


def _require_list(value: Any, *, field: str) -> Sequence[Any]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise InvalidRequestError("must be a list", field=field)
    return value


def id_list(value: Any, *, field: str) -> list[str]:
    """A list of ids (may be empty), each non-empty text; errors name the item (``ids[2]``)."""
    return [
        require_text(item, field=f"{field}[{i}]")
        for i, item in enumerate(_require_list(value, field=field))
    ]


def coerce_items(
    model: type[_M], items: Sequence[_M | Mapping[str, Any]], *, field: str
) -> list[_M]:
    """Validate a non-empty batch of models or dicts; errors name the item: documents[3].content."""
    _require_list(items, field=field)
    if not items:
        raise InvalidRequestError("must not be empty", field=field)
    out: list[_M] = []
    for index, item in enumerate(items):
        if isinstance(item, model):
            out.append(item)
            continue
        try:
            out.append(model.model_validate(item))
        except InvalidRequestError as exc:
            raise InvalidRequestError(exc.reason, field=f"{field}[{index}].{exc.field}") from None
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(part) for part in err["loc"])
            raise InvalidRequestError(
                err["msg"], field=f"{field}[{index}]" + (f".{where}" if where else "")
            ) from None
    return out


def expiry_arg(value: Any, *, field: str = "expires_at") -> datetime | None:
    """A fact's expiry: None (never) or a timestamp, kept as timezone-aware UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidRequestError("must be a timestamp (datetime) or None", field=field)
    return utc_timestamp(value, field=field)


def include_shared_scope(user_id: Any, include_shared: Any) -> bool:
    """Validate a read's `user_id` and `include_shared`; True when items stored without a user
    also match (only meaningful with a user_id: without one every item matches anyway)."""
    optional_text(user_id, field="user_id")
    if not isinstance(include_shared, bool):
        raise InvalidRequestError("must be true or false", field="include_shared")
    return include_shared and user_id is not None


def metadata_change(content: Any, metadata: Any) -> dict[str, MetadataValue]:
    """The metadata of an update, checked, and its content when given."""
    if content is not None:
        require_text(content, field="content")
    return validate_metadata(metadata)
