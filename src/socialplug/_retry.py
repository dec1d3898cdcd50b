"""
Retries: exponential backoff with jitter that honours ``Retry-After``, on tenacity.

Kept free of httpx so that ``import socialplug`` stays light.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import anyio
import attrs
import tenacity

from .exceptions import DeliveryError, FetchError, RateLimitedError


__all__ = [
    "RetryPolicy",
    "call_with_retry",
    "is_retryable",
    "parse_reset",
    "parse_retry_after",
    "retrying",
]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """
    How to retry transient failures: exponential backoff with jitter, honouring
    ``Retry-After``.

    Attributes:
        attempts: Total tries, the first included.
        timeout: Give up once this many seconds have passed since the first try.
        wait_initial: First backoff in seconds; doubles each time.
        wait_max: Longest single backoff.
        wait_jitter: Up to this many random seconds added to each backoff.
        max_retry_after: Longest ``Retry-After`` honoured; a longer one is capped.
    """

    attempts: int = 5
    timeout: float | None = 120.0
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_jitter: float = 1.0
    max_retry_after: float = 300.0

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """Try once, never retry."""
        return cls(attempts=1, timeout=None)


def _retry_after_of(exc: BaseException | None) -> float | None:
    if isinstance(exc, (RateLimitedError, DeliveryError)):
        return exc.retry_after
    return None


def is_retryable(exc: BaseException) -> bool:
    """Whether *exc* is a failure worth retrying (our classification, in one place)."""
    return isinstance(exc, (FetchError, DeliveryError)) and exc.retryable


def retrying(
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> tenacity.AsyncRetrying:
    """
    Return a tenacity loop for *policy*: retry what :func:`is_retryable` accepts.

    *sleep* is injectable so tests run in simulated time (an injected clock records the
    waits); *on_retry* is told about every retry and its delay (for counters and logs).
    """
    stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(policy.attempts)
    if policy.timeout is not None:
        stop = stop | tenacity.stop_after_delay(policy.timeout)

    def backoff(attempt: int) -> float:
        exponential = policy.wait_initial * 2.0 ** max(0, attempt - 1)
        return min(policy.wait_max, exponential) + random.uniform(0, policy.wait_jitter)  # noqa: S311

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = _retry_after_of(exc)
        return (
            min(asked, policy.max_retry_after)
            if asked is not None
            else backoff(state.attempt_number)
        )

    def before_sleep(state: tenacity.RetryCallState) -> None:
        # Told only when a retry will happen (tenacity computes the wait of the last,
        # stopping attempt too).
        exc = state.outcome.exception() if state.outcome else None
        if on_retry is not None and exc is not None and state.next_action is not None:
            on_retry(exc, state.next_action.sleep)

    return tenacity.AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=tenacity.retry_if_exception(is_retryable),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """
    Parse a ``Retry-After`` value: delay seconds or an HTTP date. ``None`` if absent or bad.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


def parse_reset(value: str | None, *, now: float | None = None) -> float | None:
    """
    Parse a rate-limit reset header into seconds from now: delta seconds (IETF, Reddit),
    epoch seconds (X, Bluesky), an HTTP date, or an ISO 8601 time (Mastodon). ``None`` if
    absent or bad.
    """
    if not value:
        return None
    value = value.strip()
    current = time.time() if now is None else now
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, number - current) if number > 1_000_000_000 else max(0.0, number)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return parse_retry_after(value, now=current)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - current)


async def call_with_retry(
    policy: RetryPolicy,
    fn: Callable[[], Awaitable[T]],
    *,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> T:
    """Await *fn* under *policy*'s retry loop."""
    async for attempt in retrying(policy, sleep=sleep, on_retry=on_retry):
        with attempt:
            return await fn()
    raise AssertionError("unreachable")
