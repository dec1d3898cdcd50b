"""
HTTP plumbing shared by every HTTP-speaking source and sink.

One place constructs clients (timeouts, User-Agent), parses ``Retry-After``, classifies
responses into retryable and permanent failures, and builds the tenacity retry loop from a
:class:`RetryPolicy`. Users never see tenacity or httpx exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import httpx

from ._retry import (
    RetryPolicy,
    call_with_retry,
    is_retryable,
    parse_reset,
    parse_retry_after,
    retrying,
)
from .exceptions import (
    AuthenticationError,
    DeliveryError,
    FetchError,
    RateLimitedError,
)


__all__ = [
    "RetryPolicy",
    "call_with_retry",
    "delivery_error",
    "fetch_error",
    "is_retryable",
    "new_client",
    "parse_retry_after",
    "retry_after",
    "retrying",
    "transport_delivery_error",
    "transport_fetch_error",
]

USER_AGENT = "socialplug/0.1 (+https://github.com/socialplug/socialplug)"


class Answer(Protocol):
    """What classifying a response reads of it (an ``httpx.Response`` has both)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


def retry_after(response: Answer) -> float | None:
    """The delay a response asks for: ``Retry-After``, else rate-limit reset headers."""
    delay = parse_retry_after(response.headers.get("retry-after"))
    if delay is not None:
        return delay
    for header in ("ratelimit-reset", "x-ratelimit-reset", "x-rate-limit-reset"):
        reset = parse_reset(response.headers.get(header))
        if reset is not None:
            return reset
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


def fetch_error(response: Answer, *, source: str, server: str) -> FetchError:
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
