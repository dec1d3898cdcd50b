"""
Plumbing shared by the HTTP sources (Mastodon, Bluesky, Reddit, Hacker News, X, feeds, any
JSON API): ownership of the HTTP client, the polling loop, one request under the pacing budget
and the retry policy with every failure translated into :mod:`socialplug.exceptions`, JSON
bodies, ``Link`` headers, JSON cursors and a bounded memory of seen keys.
"""

from __future__ import annotations

import json
import random
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from .. import _fastjson, _http
from .._client import ClientOwner
from .._pacing import Budget, budget_for
from ..exceptions import DecodeError, FetchError
from ..model import Page


__all__ = [
    "BadBody",
    "Backoff",
    "PollingSource",
    "SeenKeys",
    "dump_cursor",
    "expect",
    "from_epoch",
    "load_cursor",
    "parse_link_header",
    "request",
    "request_json",
]

Sleep = Callable[[float], Awaitable[None]]
Params = Mapping[str, str | int] | list[tuple[str, str | int | float | bool | None]]

_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_REL = re.compile(r'rel\s*=\s*"?([^";,]+)"?')


# -- the polling loop ------------------------------------------------------


class PollingSource(ClientOwner):
    """
    Mixin of a source that polls: ``_poll(cursor)`` yields the pages of one poll, and
    :meth:`_follow` repeats it every ``poll_interval`` seconds in follow mode, each time from
    the newest cursor seen. :meth:`_get_json` sends the JSON GETs of a poll.
    """

    if not TYPE_CHECKING:
        __slots__ = ()

    name: str
    poll_interval: float
    retry: _http.RetryPolicy
    sleep: Sleep

    def _poll(self, cursor: str | None) -> AsyncIterator[Page]:
        raise NotImplementedError

    async def _get_json(
        self,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        credential: str | None = None,
        on_unauthorized: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
        decode: Callable[[bytes], Any] = _fastjson.loads,
    ) -> tuple[httpx.Response, Any]:
        """
        GET *url* under the shared budget of its host and *credential*; return the response
        and its JSON body (:func:`request_json`, strict).
        """
        server = httpx.URL(url).host
        return await request_json(
            self._get_client(),
            "GET",
            url,
            params=params,
            headers=headers,
            source=self.name,
            server=server,
            retry=self.retry,
            budget=budget_for(server, credential),
            sleep=self.sleep,
            on_unauthorized=on_unauthorized,
            strict=True,
            decode=decode,
        )

    def _odd_answer(self, url: str, what: str) -> FetchError:
        """The error of a JSON answer from *url* that is not what was expected."""
        return FetchError(
            f"{self.name}: {httpx.URL(url).host} answered {what}",
            source=self.name,
            retryable=False,
        )

    async def _follow(self, cursor: str | None, *, follow: bool) -> AsyncIterator[Page]:
        """The body of ``pages``: one poll, or one every ``poll_interval`` seconds."""
        while True:
            async for page in self._poll(cursor):
                cursor = page.cursor or cursor
                yield page
            if not follow:
                return
            await self.sleep(self.poll_interval)


# -- requests -----------------------------------------------------------------------------


class BadBody(Exception):  # noqa: N818 - internal signal, not an error users see
    """A 2xx response whose body is not the JSON we expect; becomes a ``Malformed``."""

    def __init__(self, reason: str, payload: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.payload = payload


async def request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    source: str,
    server: str,
    retry: _http.RetryPolicy,
    budget: Budget | None = None,
    params: Params | None = None,
    json_body: Any = None,
    headers: Mapping[str, str] | None = None,
    sleep: Sleep = anyio.sleep,
    on_unauthorized: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
    also_ok: Collection[int] = (),
) -> httpx.Response:
    """
    Send one request under the shared pacing *budget* (if any) and *retry*'s policy; return
    the response, a 2xx one or one whose status is in *also_ok*.

    *server* names the host in messages (never a token). *on_unauthorized*, when given, is
    awaited once after a 401 to obtain fresh headers (an expired OAuth token) before failing.

    Raises:
        socialplug.exceptions.FetchError: The request failed for good
            (``AuthenticationError`` on 401/403, ``RateLimitedError`` on 429 once retries
            are spent).
    """
    sent: dict[str, str] = dict(headers or {})
    refreshed = False

    async def once() -> httpx.Response:
        nonlocal sent, refreshed
        if budget is not None:
            await budget.acquire()
        try:
            response = await client.request(
                method, url, params=params, json=json_body, headers=sent
            )
        except httpx.TransportError as exc:
            raise _http.transport_fetch_error(exc, source=source, server=server) from exc
        if budget is not None:
            budget.observe(response.headers, status=response.status_code)
        if response.status_code == 401 and on_unauthorized is not None and not refreshed:
            refreshed = True
            sent = {**sent, **(await on_unauthorized())}
            return await once()
        if response.is_success or response.status_code in also_ok:
            return response
        raise _http.fetch_error(response, source=source, server=server)

    return await _http.call_with_retry(retry, once, sleep=sleep)


async def request_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    source: str,
    server: str,
    retry: _http.RetryPolicy,
    budget: Budget | None = None,
    params: Params | None = None,
    json_body: Any = None,
    headers: Mapping[str, str] | None = None,
    sleep: Sleep = anyio.sleep,
    on_unauthorized: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
    strict: bool = False,
    decode: Callable[[bytes], Any] = _fastjson.loads,
) -> tuple[httpx.Response, Any]:
    """
    Send one request with :func:`request`; return the response and its JSON body, decoded
    by *decode* (orjson where installed; :func:`json.loads` for APIs whose integers may
    exceed 64 bits, which orjson would read as floats).

    Raises:
        socialplug.exceptions.FetchError: The request failed for good.
        socialplug.exceptions.DecodeError: *strict*, and a successful answer whose body is
            not JSON (the source fails).
        BadBody: Not *strict*, and a successful answer whose body is not JSON (the source
            keeps it as a ``Malformed``).
    """
    response = await request(
        client,
        method,
        url,
        source=source,
        server=server,
        retry=retry,
        budget=budget,
        params=params,
        json_body=json_body,
        headers=headers,
        sleep=sleep,
        on_unauthorized=on_unauthorized,
    )
    try:
        return response, decode(response.content)
    except ValueError as exc:
        if strict:
            kind = response.headers.get("content-type", "no content type")
            raise DecodeError(
                f"{source}: {server} answered HTTP {response.status_code} with a body that "
                f"is not JSON ({kind})",
                source=source,
                payload=response.text[:2000],
            ) from exc
        kind = response.headers.get("content-type", "unknown type")
        raise BadBody(
            f"HTTP {response.status_code} with a body that is not JSON ({kind}): {exc}",
            response.content.decode("utf-8", "replace"),
        ) from exc


def expect(condition: bool, reason: str, payload: object) -> None:  # noqa: FBT001
    """Raise :class:`BadBody` with *reason* unless *condition* holds."""
    if not condition:
        text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        raise BadBody(reason, text)


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


# -- cursors and values -------------------------------------------------------------------


def load_cursor(cursor: str | None, *, source: str, strict: bool = True) -> dict[str, Any]:
    """
    Decode a JSON-object cursor written by :func:`dump_cursor`; ``{}`` for ``None``.

    With ``strict=False`` a cursor that is not one (empty, edited by hand, from another
    version) starts over (``{}``) rather than failing.

    Raises:
        DecodeError: Strict, and the stored cursor is not a JSON object (written by
            something else).
    """
    if cursor is None or (not strict and not cursor):
        return {}
    try:
        value = json.loads(cursor)
    except ValueError as exc:
        if not strict:
            return {}
        raise DecodeError(f"{source}: stored cursor is not JSON", source=source) from exc
    if not isinstance(value, dict):
        if not strict:
            return {}
        raise DecodeError(f"{source}: stored cursor is not a JSON object", source=source)
    return value


def dump_cursor(value: Mapping[str, Any]) -> str:
    """Encode a cursor compactly, keys sorted, so equal states give equal text."""
    return json.dumps(dict(value), separators=(",", ":"), sort_keys=True)


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
