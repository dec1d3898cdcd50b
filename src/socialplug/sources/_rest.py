"""
Request plumbing shared by the HTTP sources: pacing, retries, error translation, JSON bodies,
``Link`` headers, JSON cursors of sub-cursors and a bounded memory of seen keys.
"""

from __future__ import annotations

import json
import random
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import httpx

from .. import _http
from .._pacing import Budget


__all__ = [
    "BadBody",
    "Backoff",
    "SeenKeys",
    "dump_cursor",
    "expect",
    "load_cursor",
    "parse_link_header",
    "request_json",
]

Params = list[tuple[str, str | int | float | bool | None]]

_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_REL = re.compile(r'rel\s*=\s*"?([^";,]+)"?')


class BadBody(Exception):  # noqa: N818 - internal signal, not an error users see
    """A 2xx response whose body is not the JSON we expect; becomes a ``Malformed``."""

    def __init__(self, reason: str, payload: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.payload = payload


def parse_link_header(value: str | None) -> dict[str, str]:
    """Map each ``rel`` of an RFC 8288 ``Link`` header to its URL."""
    out: dict[str, str] = {}
    if not value:
        return out
    for url, params in _LINK.findall(value):
        match = _REL.search(params)
        if match:
            for rel in match.group(1).split():
                out.setdefault(rel, url)
    return out


def load_cursor(cursor: str | None, *, source: str) -> dict[str, Any]:
    """
    Read a cursor written by :func:`dump_cursor`: a JSON object of sub-cursors. A cursor that
    is not one (edited by hand, from another version) starts over rather than failing.
    """
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    return dict(data) if isinstance(data, dict) else {}


def dump_cursor(subs: Mapping[str, Any]) -> str:
    """Serialize sub-cursors as a compact, key-sorted JSON object."""
    return json.dumps(dict(subs), sort_keys=True, separators=(",", ":"))


class SeenKeys:
    """The last *size* keys seen, to drop repeats within one run (several servers, rewinds)."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._keys: OrderedDict[str, None] = OrderedDict()

    def add(self, key: str) -> bool:
        """Remember *key*; return whether it is new."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._keys


class Backoff:
    """Reconnect delays: exponential with full jitter, reset after a healthy connection."""

    def __init__(self, initial: float = 1.0, maximum: float = 60.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.failures = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; grows with each consecutive failure."""
        ceiling = min(self.maximum, self.initial * (2**self.failures))
        self.failures += 1
        return float(ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 - jitter, not crypto

    def reset(self) -> None:
        """Forget past failures."""
        self.failures = 0


def _decode(response: httpx.Response) -> Any:
    body = response.content
    try:
        data: Any = json.loads(body)
    except ValueError as exc:
        kind = response.headers.get("content-type", "unknown type")
        raise BadBody(
            f"HTTP {response.status_code} with a body that is not JSON ({kind}): {exc}",
            body.decode("utf-8", "replace"),
        ) from exc
    return data


async def request_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    source: str,
    server: str,
    budget: Budget,
    retry: _http.RetryPolicy,
    params: Params | None = None,
    json_body: Any = None,
    headers: Mapping[str, str] | None = None,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> tuple[httpx.Response, Any]:
    """
    Send one request under the shared pacing budget and *retry*'s policy; return the
    response and its decoded JSON body.

    Raises:
        socialplug.exceptions.FetchError: The request failed for good
            (``AuthenticationError`` on 401/403, ``RateLimitedError`` on 429 once retries
            are spent).
        BadBody: A successful response whose body is not JSON.
    """

    async def once() -> httpx.Response:
        await budget.acquire()
        try:
            response = await client.request(
                method, url, params=params, json=json_body, headers=headers
            )
        except httpx.TransportError as exc:
            raise _http.transport_fetch_error(exc, source=source, server=server) from exc
        budget.observe(response.headers, status=response.status_code)
        if response.is_success:
            return response
        raise _http.fetch_error(response, source=source, server=server)

    response = await _http.call_with_retry(retry, once, sleep=sleep)
    return response, _decode(response)


def expect(condition: bool, reason: str, payload: object) -> None:  # noqa: FBT001
    """Raise :class:`BadBody` with *reason* unless *condition* holds."""
    if not condition:
        text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        raise BadBody(reason, text)
