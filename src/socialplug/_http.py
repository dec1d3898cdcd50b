"""
HTTP plumbing shared by every HTTP-speaking source and sink.

One place constructs clients (timeouts, User-Agent), parses ``Retry-After``, classifies
responses into retryable and permanent failures, and builds the tenacity retry loop from a
:class:`RetryPolicy`. Users never see tenacity or httpx exceptions.
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
import httpx
import tenacity

from .exceptions import (
    AuthenticationError,
    DeliveryError,
    FetchError,
    RateLimitedError,
)


__all__ = ["RetryPolicy"]

T = TypeVar("T")

USER_AGENT = "socialplug/0.1 (+https://github.com/socialplug/socialplug)"


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
        delay = (
            min(asked, policy.max_retry_after)
            if asked is not None
            else backoff(state.attempt_number)
        )
        if on_retry is not None and exc is not None:
            on_retry(exc, delay)
        return delay

    return tenacity.AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=tenacity.retry_if_exception(is_retryable),
        sleep=sleep,
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


def retry_after(response: httpx.Response) -> float | None:
    """The delay a response asks for: ``Retry-After``, else rate-limit reset headers."""
    delay = parse_retry_after(response.headers.get("retry-after"))
    if delay is not None:
        return delay
    for header in ("ratelimit-reset", "x-ratelimit-reset", "x-rate-limit-reset"):
        raw = response.headers.get(header)
        if raw is None:
            continue
        try:
            number = float(raw)
        except ValueError:
            parsed = parse_retry_after(raw)
            if parsed is not None:
                return parsed
            continue
        # Epoch seconds (X: x-rate-limit-reset) or delta seconds (IETF RateLimit-Reset).
        return max(0.0, number - time.time()) if number > 1_000_000_000 else max(0.0, number)
    return None


def delivery_error(response: httpx.Response, *, what: str) -> DeliveryError:
    """
    Classify a failed response of a sink: 408, 409, 425, 429 and 5xx are retryable; other
    4xx are permanent. *what* names the destination without secrets (no URL with a token).
    """
    status = response.status_code
    retryable = status in (408, 409, 425, 429) or status >= 500
    snippet = response.text[:200].replace("\n", " ") if response.content else ""
    return DeliveryError(
        f"{what} answered HTTP {status}" + (f": {snippet}" if snippet else ""),
        retryable=retryable,
        retry_after=retry_after(response) if retryable else None,
        status_code=status,
    )


def transport_delivery_error(exc: httpx.TransportError, *, what: str) -> DeliveryError:
    """A connect error or timeout of a sink: always retryable. The message has no URL."""
    return DeliveryError(f"{what}: {type(exc).__name__}", retryable=True)


def fetch_error(response: httpx.Response, *, source: str, server: str) -> FetchError:
    """Classify a failed response of a source, naming the source and server, never a token."""
    status = response.status_code
    if status == 429:
        return RateLimitedError(
            f"{source}: {server} rate-limited us (HTTP 429)",
            source=source,
            retry_after=retry_after(response),
        )
    if status in (401, 403):
        return AuthenticationError(
            f"{source}: {server} refused our credentials (HTTP {status}); check the token",
            source=source,
            status_code=status,
        )
    return FetchError(
        f"{source}: {server} answered HTTP {status}",
        source=source,
        status_code=status,
        retryable=status in (408, 425) or status >= 500,
    )


def transport_fetch_error(exc: httpx.TransportError, *, source: str, server: str) -> FetchError:
    """A connect error or timeout of a source: retryable."""
    return FetchError(f"{source}: {server}: {type(exc).__name__}", source=source, retryable=True)


def new_client(
    *,
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """
    The one place that constructs clients: explicit timeouts, a User-Agent, redirects.

    Create it inside the running event loop (clients cannot move between loops).
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        follow_redirects=True,
        transport=transport,
    )


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
