"""
Machinery shared by the HTTP sinks: the lazily owned client, error classification, secret
redaction in httpx's own log lines, and a memory of what was already accepted so a retried
batch does not resend what got through.
"""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import anyio
import attrs
import httpx

from .._client import ClientOwner
from .._http import delivery_error, new_client, transport_delivery_error
from ..exceptions import DeliveryError
from ..model import Delivery


_REDACTED = "***"


class _SecretFilter(logging.Filter):
    """Replaces registered secrets in log records (httpx logs every request URL at INFO)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: weakref.WeakKeyDictionary[object, tuple[str, ...]] = (
            weakref.WeakKeyDictionary()
        )

    def register(self, owner: object, secrets: Iterable[str]) -> None:
        values = tuple(s for s in secrets if s and len(s) >= 4)
        with self._lock:
            self._secrets[owner] = values

    def redact(self, text: str) -> str:
        with self._lock:
            values = [s for group in self._secrets.values() for s in group]
        for value in sorted(values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, _REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = _SecretFilter()
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_FILTER)


def register_secrets(owner: object, *secrets: str | None) -> None:
    """Keep *secrets* out of httpx's and httpcore's log lines while *owner* lives."""
    _FILTER.register(owner, [s for s in secrets if s])


def url_secrets(url: str) -> tuple[str, ...]:
    """The parts of a webhook URL that are secret: its path (after the first segment) and query."""
    parsed = httpx.URL(url)
    parts: list[str] = []
    path = parsed.path
    if path and path != "/":
        parts.append(path)
        segments = [s for s in path.split("/") if s]
        parts.extend(s for s in segments if len(s) >= 8)
    if parsed.query:
        parts.append(parsed.query.decode())
        parts.extend(v for _, v in parsed.params.multi_items() if len(v) >= 8)
    return tuple(parts)


@functools.lru_cache(maxsize=256)
def host_of(url: str) -> str:
    """The host of *url*, the only part of a webhook URL that is safe to show."""
    try:
        return httpx.URL(url).host or "?"
    except (httpx.InvalidURL, TypeError):
        return "?"


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or ``{}`` when the body is empty, not JSON or not an object."""
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


@attrs.define(eq=False)
class HttpSinkBase(ClientOwner):
    """
    Base of the HTTP sinks: owns a client lazily (or uses the injected one), translates
    failures into :class:`~socialplug.exceptions.DeliveryError` and remembers accepted
    delivery keys so a retried batch skips them.
    """

    client: httpx.AsyncClient | None = attrs.field(default=None, kw_only=True, repr=False)
    timeout: float = attrs.field(default=30.0, kw_only=True)
    _owned: httpx.AsyncClient | None = attrs.field(init=False, default=None, repr=False)
    _accepted: OrderedDict[str, None] = attrs.field(init=False, factory=OrderedDict, repr=False)

    _remember = 10_000

    def _new_client(self) -> httpx.AsyncClient:
        return new_client(timeout=self.timeout)

    def _was_accepted(self, key: str) -> bool:
        return key in self._accepted

    def _accept(self, key: str) -> None:
        self._accepted[key] = None
        if len(self._accepted) > self._remember:
            self._accepted.popitem(last=False)

    async def _request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; return a 2xx response or raise a classified ``DeliveryError``."""
        try:
            response = await self._get_client().request(
                method,
                url,
                json=json,
                content=content,
                headers=headers,
                params=params,
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as exc:
            raise transport_delivery_error(exc, what=what) from exc
        except httpx.HTTPError as exc:  # InvalidURL, TooManyRedirects...
            raise DeliveryError(f"{what}: {type(exc).__name__}", retryable=False) from exc
        if response.is_success:
            return response
        raise self._classify(response, what=what)

    def _classify(self, response: httpx.Response, *, what: str) -> DeliveryError:
        return delivery_error(response, what=what)


async def deliver_each(
    batch: Sequence[Delivery],
    send: Callable[[Delivery], Awaitable[None]],
    *,
    concurrency: int = 1,
    accepted: Callable[[str], bool] | None = None,
    accept: Callable[[str], None] | None = None,
) -> None:
    """
    Call *send* for every delivery of *batch* (in order when *concurrency* is 1), skipping
    keys already *accepted*; when some fail, raise one ``DeliveryError`` that is retryable if
    any failure was (the retried batch then skips what got through).
    """
    errors: list[BaseException] = []

    async def one(delivery: Delivery) -> None:
        if accepted is not None and accepted(delivery.key):
            return
        await send(delivery)
        if accept is not None:
            accept(delivery.key)

    if concurrency <= 1:
        for delivery in batch:
            try:
                await one(delivery)
            except DeliveryError as exc:
                errors.append(exc)
                if exc.retryable:
                    break  # keep the order: later items wait for the retry
    else:
        limiter = anyio.CapacityLimiter(concurrency)

        async def guarded(delivery: Delivery) -> None:
            async with limiter:
                try:
                    await one(delivery)
                except DeliveryError as exc:
                    errors.append(exc)

        async with anyio.create_task_group() as tg:
            for delivery in batch:
                tg.start_soon(guarded, delivery)
    if errors:
        done = [d.key for d in batch if accepted is not None and accepted(d.key)]
        raise combine(errors, total=len(batch), delivered=done)


def combine(
    errors: Sequence[BaseException], *, total: int, delivered: Sequence[str] = ()
) -> DeliveryError:
    """
    One error for a batch: retryable when any failure is, with the longest Retry-After, and
    the keys that did get through (so the runtime dead-letters only the rest).
    """
    classified = [e for e in errors if isinstance(e, DeliveryError)]
    retryable = [e for e in classified if e.retryable]
    first = (retryable or classified)[0]
    if len(errors) == 1:
        first.delivered = tuple(delivered)
        return first
    delays = [e.retry_after for e in retryable if e.retry_after is not None]
    return DeliveryError(
        f"{len(errors)} of {total} deliveries failed; first: {first}",
        retryable=bool(retryable),
        retry_after=max(delays) if delays else None,
        status_code=first.status_code,
        delivered=delivered,
    )


@attrs.define(eq=False)
class Memo:
    """
    Small durable map for a sink (incident -> ticket, thread root...): kept in the state
    store's records under *namespace* when a store is given, in memory otherwise.
    """

    namespace: str
    store: Any = None  # StateStore | None; Any keeps this module free of a cycle
    _local: dict[str, Any] = attrs.field(init=False, factory=dict)

    async def get(self, key: str) -> Any:
        """The value under *key*, or ``None``."""
        if key not in self._local and self.store is not None:
            value = await self.store.get_record(self.namespace, key)
            if value is not None:
                self._local[key] = value
        return self._local.get(key)

    async def put(self, key: str, value: Any) -> None:
        """Remember *value* under *key*."""
        self._local[key] = value
        if self.store is not None:
            await self.store.put_record(self.namespace, key, value)
