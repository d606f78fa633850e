"""Expiring facts on the wire and in the background.

`requested_expiry` turns what a request says (`expires_at`, or `ttl_seconds` from now; mem0's
`expiration_date`) into the timestamp the store keeps. `sweeping` runs the sweep every replica
may run: `FactStore.purge_expired` deletes what expired more than the grace period ago, and
each provider makes concurrent sweeps delete a fact once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from memio.client import Memio
from memio.config import ExpiryConfig
from memio.errors import InvalidRequestError, MemioError
from memio.models import KEEP, utc_timestamp, utcnow
from memio.protocols import FactStore

__all__ = [
    "EXPIRATION_DATE",
    "MAX_TTL_SECONDS",
    "MEM0_DATE_SCHEMA",
    "ONE_EXPIRY",
    "expiration_date",
    "mem0_expiry",
    "mem0_time",
    "requested_expiry",
    "sweeping",
    "update_expiry",
]

logger = logging.getLogger("memio.server.expiry")

MAX_TTL_SECONDS = 100 * 366 * 86400  # a century: enough for any memory, far from overflow


def requested_expiry(body: BaseModel, *, where: str = "") -> datetime | None:
    """The expiry a /v1 write asks for: `expires_at` (naive = UTC), or `ttl_seconds` from now,
    or None. Both fields in one body, even as null, is a 400 naming `ttl_seconds` (the OpenAPI
    document says the same: `not: {required: [expires_at, ttl_seconds]}`)."""
    if {"expires_at", "ttl_seconds"} <= body.model_fields_set:
        raise InvalidRequestError(
            "give expires_at or ttl_seconds, not both", field=f"{where}ttl_seconds"
        )
    ttl_seconds = getattr(body, "ttl_seconds", None)
    if ttl_seconds is not None:
        return utcnow() + timedelta(seconds=ttl_seconds)
    expires_at = getattr(body, "expires_at", None)
    return None if expires_at is None else utc_timestamp(expires_at, field=f"{where}expires_at")


def mem0_time(value: str, *, field: str, day_end: bool) -> tuple[datetime, bool]:
    """A mem0 date field: a day (its first moment, or with `day_end` the next midnight, UTC)
    or an ISO 8601 timestamp; and whether it was a day. Parsed by pydantic, as the document's
    `format`s say."""
    try:
        if len(value) == len("YYYY-MM-DD"):
            day = datetime.combine(_DAY.validate_python(value), time(), timezone.utc)
            return (day + timedelta(days=1) if day_end else day), True
        return utc_timestamp(_MOMENT.validate_python(value), field=field), False
    except (ValidationError, OverflowError):
        raise InvalidRequestError(
            "must be a date (YYYY-MM-DD) or an ISO 8601 timestamp", field=field
        ) from None


def mem0_expiry(value: str | None, *, field: str = "expiration_date") -> datetime | None:
    """mem0's `expiration_date` as memio's expiry: a day ("2026-12-31": the memory lives through
    that day, UTC, and is expired from the next midnight, as mem0 decides) or a timestamp."""
    return None if value is None else mem0_time(value, field=field, day_end=True)[0]


_DAY = TypeAdapter(date)
_MOMENT = TypeAdapter(datetime)


EXPIRATION_DATE = (
    "When the memory expires: a day (YYYY-MM-DD, it lives through that day, UTC) or an ISO 8601 "
    "timestamp. Reads leave expired memories out unless show_expired."
)
MEM0_DATE_SCHEMA = {
    "anyOf": [
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
        {"type": "null"},
    ]
}
# A /v1 write gives its expiry one way.
ONE_EXPIRY = {"not": {"required": ["expires_at", "ttl_seconds"]}}


def update_expiry(value: str | None, given: bool) -> Any:
    """The expiry a mem0 update asks for: KEEP when `expiration_date` was not `given`, None
    (clear) for an explicit null."""
    return mem0_expiry(value) if given else KEEP


def expiration_date(expires_at: datetime | None) -> str | None:
    """memio's expiry in mem0's words: the day for an expiry at midnight UTC (what
    `mem0_expiry` made of a day), else the ISO 8601 timestamp."""
    if expires_at is None:
        return None
    if expires_at.timetz() == time(tzinfo=timezone.utc):
        return (expires_at - timedelta(days=1)).date().isoformat()
    return expires_at.isoformat()


@contextlib.asynccontextmanager
async def sweeping(memio: Memio, config: ExpiryConfig) -> AsyncIterator[None]:
    """Sweep expired facts every `config.sweep_interval_seconds` while the server runs."""
    facts = memio.stores.get("facts")
    if facts is None or not config.sweep:
        yield
        return
    task = asyncio.create_task(_sweep_forever(facts, config), name="memio-expiry-sweep")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _sweep_forever(facts: FactStore, config: ExpiryConfig) -> None:
    grace = timedelta(seconds=config.grace_seconds)
    while True:
        await asyncio.sleep(config.sweep_interval_seconds)
        try:
            gone = await facts.purge_expired(before=utcnow() - grace)
        except MemioError as exc:  # the backend is away: try again next time
            logger.warning("expiry sweep failed: %s", exc)
            continue
        except Exception:  # a bug must not end the sweep for the life of the server unseen
            logger.exception("expiry sweep failed")
            continue
        if gone:
            logger.info("expiry sweep deleted %d expired fact(s)", gone)
