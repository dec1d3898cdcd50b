"""
Request helpers shared by the polling sources (Reddit, Hacker News, X, any JSON API).

One GET under the shared rate-limit budget and the retry policy, with every failure
translated into :mod:`socialplug.exceptions`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx

from .._http import RetryPolicy, call_with_retry, fetch_error, transport_fetch_error
from .._pacing import Budget
from ..exceptions import DecodeError


__all__ = ["dump_cursor", "from_epoch", "get_json", "load_cursor"]

Sleep = Callable[[float], Awaitable[None]]


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    source: str,
    server: str,
    retry: RetryPolicy,
    params: Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
    budget: Budget | None = None,
    sleep: Sleep = anyio.sleep,
    on_unauthorized: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
) -> tuple[Any, httpx.Response]:
    """
    GET *url* and decode its JSON body, retrying what is retryable.

    *server* names the host in messages (never a token). *on_unauthorized*, when given, is
    awaited once after a 401 to obtain fresh headers (an expired OAuth token) before failing.

    Raises:
        FetchError: HTTP failure or transport error (with its subclasses for 401/403, 429).
        DecodeError: A successful answer whose body is not JSON.
    """
    sent: dict[str, str] = dict(headers or {})
    refreshed = False

    async def once() -> tuple[Any, httpx.Response]:
        nonlocal sent, refreshed
        if budget is not None:
            await budget.acquire()
        try:
            response = await client.get(url, params=params, headers=sent)
        except httpx.TransportError as exc:
            raise transport_fetch_error(exc, source=source, server=server) from exc
        if budget is not None:
            budget.observe(response.headers, status=response.status_code)
        if response.status_code == 401 and on_unauthorized is not None and not refreshed:
            refreshed = True
            sent = {**sent, **(await on_unauthorized())}
            return await once()
        if not 200 <= response.status_code < 300:
            raise fetch_error(response, source=source, server=server)
        try:
            return json.loads(response.content), response
        except ValueError as exc:
            kind = response.headers.get("content-type", "no content type")
            raise DecodeError(
                f"{source}: {server} answered HTTP {response.status_code} with a body that is "
                f"not JSON ({kind})",
                source=source,
                payload=response.text[:2000],
            ) from exc

    return await call_with_retry(retry, once, sleep=sleep)


def from_epoch(value: object) -> datetime:
    """
    Return the aware UTC datetime of epoch seconds *value* (int, float or numeric text).

    Raises:
        TypeError: *value* is not a number.
        ValueError: *value* is text that is not a number.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        msg = f"expected epoch seconds, got {value!r}"
        raise TypeError(msg)
    return datetime.fromtimestamp(float(value), tz=UTC)


def load_cursor(cursor: str | None, *, source: str) -> dict[str, Any]:
    """
    Decode a JSON-object cursor; ``{}`` for ``None``.

    Raises:
        DecodeError: The stored cursor is not a JSON object (written by something else).
    """
    if cursor is None:
        return {}
    try:
        value = json.loads(cursor)
    except ValueError as exc:
        raise DecodeError(f"{source}: stored cursor is not JSON", source=source) from exc
    if not isinstance(value, dict):
        raise DecodeError(f"{source}: stored cursor is not a JSON object", source=source)
    return value


def dump_cursor(value: Mapping[str, Any]) -> str:
    """Encode a cursor compactly, keys sorted, so equal states give equal text."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
