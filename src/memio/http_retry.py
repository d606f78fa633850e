"""One retry policy for memio's calls to remote HTTP services (embedders, extraction LLMs).

A 408/409/429/5xx answer is retried up to `max_retries` times. The wait honours the server's
`Retry-After` (seconds or an HTTP date; OpenAI's `retry-after-ms` too), capped at `max_wait`;
without one it is exponential with full jitter, so many clients throttled together do not come
back together. Transport errors are not retried here: the caller's transport retries connection
failures, and a timeout retried blindly would double a slow request. The last answer is returned
either way, and the caller turns an error answer into its own ProviderError.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt
from tenacity.wait import wait_base, wait_random_exponential

__all__ = ["RETRY_STATUS", "RetryWait", "retry_after", "send_with_retries"]

# The answers OpenAI's own SDK retries: the request may succeed if sent again.
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks the client to wait, or None when it does not say (or says
    something unreadable)."""
    milliseconds = response.headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class RetryWait(wait_base):
    """The server's Retry-After when it gives one, else exponential backoff with full jitter."""

    def __init__(self, backoff: float, max_wait: float) -> None:
        self._max_wait = max_wait
        self._jitter = wait_random_exponential(multiplier=backoff, max=max_wait)

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        asked = retry_after(outcome.result()) if outcome is not None else None
        if asked is not None:
            return min(asked, self._max_wait)
        return self._jitter(retry_state)


async def send_with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    max_retries: int,
    backoff: float,
    max_wait: float = 30.0,
) -> httpx.Response:
    """Call `send` until its answer is not in RETRY_STATUS or `max_retries` retries are spent;
    the last answer is returned. Exceptions from `send` propagate at once."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(max_retries + 1),
        wait=RetryWait(backoff, max_wait),
        retry=retry_if_result(lambda response: response.status_code in RETRY_STATUS),
        retry_error_callback=lambda state: state.outcome.result(),  # the last answer
        reraise=True,
    )

    async def attempt() -> httpx.Response:
        return await send()

    return await retrying(attempt)
