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
from datetime import datetime, timedelta

from memio.client import Memio
from memio.errors import InvalidRequestError, MemioError
from memio.models import utc_timestamp, utcnow
from memio.server.config import ExpiryConfig

__all__ = ["MAX_TTL_SECONDS", "requested_expiry", "sweeping"]

logger = logging.getLogger("memio.server.expiry")

MAX_TTL_SECONDS = 100 * 366 * 86400  # a century: enough for any memory, far from overflow


def requested_expiry(
    expires_at: datetime | None, ttl_seconds: int | None, *, where: str = ""
) -> datetime | None:
    """The expiry a write asks for: `expires_at` (naive = UTC), or `ttl_seconds` from now, or
    None; both at once is a 400 naming `ttl_seconds`."""
    if ttl_seconds is not None:
        if expires_at is not None:
            raise InvalidRequestError(
                "give expires_at or ttl_seconds, not both", field=f"{where}ttl_seconds"
            )
        return utcnow() + timedelta(seconds=ttl_seconds)
    if expires_at is None:
        return None
    return utc_timestamp(expires_at, field=f"{where}expires_at")


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


async def _sweep_forever(facts: object, config: ExpiryConfig) -> None:
    grace = timedelta(seconds=config.grace_seconds)
    while True:
        await asyncio.sleep(config.sweep_interval_seconds)
        try:
            gone = await facts.purge_expired(before=utcnow() - grace)  # type: ignore[attr-defined]
        except MemioError as exc:  # the backend is away: try again next time
            logger.warning("expiry sweep failed: %s", exc)
            continue
        if gone:
            logger.info("expiry sweep deleted %d expired fact(s)", gone)
