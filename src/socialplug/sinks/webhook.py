"""
A generic JSON webhook sink: one ``POST`` per delivery, signed, with an ``Idempotency-Key``.

The body defaults to an envelope holding the delivery key, route and the serialized item
(:func:`socialplug.model.item_to_dict`); pass ``body=`` to send your own shape. With a
``secret``, every request carries ``X-Socialplug-Signature: t=<unix>,v1=<hex>``, the
HMAC-SHA256 of ``f"{t}." + body`` (:mod:`socialplug._signing`, the scheme the webhook
source verifies).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import attrs
import httpx

from .._http import USER_AGENT, delivery_error, transport_delivery_error
from .._signing import SIGNATURE_HEADER, sign
from ..exceptions import DeliveryError
from ..model import Delivery, item_to_dict
from ._base import HttpSinkBase, combine, host_of, register_secrets, url_secrets


__all__ = ["WebhookSink", "default_body"]


def default_body(delivery: Delivery) -> dict[str, Any]:
    """The default JSON body: ``{"key", "route", "sink", "item": {...,"type": ...}}``."""
    return {
        "key": delivery.key,
        "route": delivery.route,
        "sink": delivery.sink,
        "item": item_to_dict(delivery.item),
    }


@attrs.define(eq=False)
class WebhookSink(HttpSinkBase):
    """
    POST each delivery as JSON to *url*.

    Args:
        url: The receiver's URL; treated as a secret (never logged or shown).
        secret: HMAC key for the signature header; no signature without it.
        body: ``Delivery -> JSON value``; :func:`default_body` when omitted.
        headers: Extra headers (e.g. an ``Authorization``); their values are never shown.
        concurrency: Requests in flight at once within a batch.
        idempotent: Whether the receiver dedupes on ``Idempotency-Key``; when ``True`` the
            runtime leaves dedupe to it.
        client: An ``httpx.AsyncClient`` to use; otherwise the sink owns one.
    """

    url: str = attrs.field(repr=False)
    secret: str | bytes | None = attrs.field(default=None, kw_only=True, repr=False)
    body: Callable[[Delivery], Any] = attrs.field(default=default_body, kw_only=True)
    headers: Mapping[str, str] = attrs.field(factory=dict, kw_only=True, repr=False)
    concurrency: int = attrs.field(default=32, kw_only=True)
    idempotent: bool = attrs.field(default=True, kw_only=True)
    method: str = attrs.field(default="POST", kw_only=True)

    def __attrs_post_init__(self) -> None:
        secret = (
            self.secret.decode(errors="ignore") if isinstance(self.secret, bytes) else self.secret
        )
        register_secrets(self, *url_secrets(self.url), secret, *self.headers.values())

    _lanes: list[httpx.AsyncHTTPTransport] = attrs.field(init=False, factory=list, repr=False)
    _tls: ssl.SSLContext | None = attrs.field(init=False, default=None, repr=False)
    _target: httpx.URL | None = attrs.field(init=False, default=None, repr=False)
    _name: str | None = attrs.field(init=False, default=None, repr=False)

    @property
    def _what(self) -> str:
        if self._name is None:
            self._name = f"webhook {host_of(self.url)}"
        return self._name

    def encode(self, delivery: Delivery) -> tuple[bytes, dict[str, str]]:
        """Return the body bytes and headers of the request for *delivery*."""
        content = json.dumps(
            self.body(delivery), ensure_ascii=False, separators=(",", ":")
        ).encode()
        headers = {
            "User-Agent": USER_AGENT,
            **self.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": delivery.key,
        }
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.secret, content)
        return content, headers

    async def _send(self, delivery: Delivery, lane: int) -> None:
        content, headers = self.encode(delivery)
        what = self._what
        if self.client is not None:
            await self._request(self.method, self.url, what=what, content=content, headers=headers)
            return
        # An owned sink gives each lane its own keep-alive connection and talks to the
        # transport directly: a shared pool's bookkeeping grows with its connections.
        if self._target is None:
            self._target = httpx.URL(self.url)  # parsed once, not per request
        request = httpx.Request(
            self.method,
            self._target,
            content=content,
            headers=headers,
            extensions={"timeout": self._timeouts},
        )
        try:
            response = await self._lanes[lane].handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            raise transport_delivery_error(exc, what=what) from exc
        if not response.is_success:
            raise delivery_error(response, what=what)

    @property
    def _timeouts(self) -> dict[str, float | None]:
        return httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)).as_dict()

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """POST every delivery of *batch*, up to :attr:`concurrency` at once."""
        todo = [d for d in batch if not self._was_accepted(d.key)]
        if not todo:
            return
        lanes = max(1, min(self.concurrency, len(todo)))
        if self.client is None:
            tls = self._tls
            if tls is None:  # loading CA certificates is slow: once per sink, not per lane
                tls = self._tls = httpx.create_ssl_context()
            while len(self._lanes) < lanes:
                self._lanes.append(httpx.AsyncHTTPTransport(limits=_ONE_CONNECTION, verify=tls))
        queue = iter(todo)
        errors: list[BaseException] = []

        async def lane(index: int) -> None:
            for delivery in queue:
                try:
                    await self._send(delivery, index)
                except DeliveryError as exc:
                    errors.append(exc)
                else:
                    self._accept(delivery.key)

        async with anyio.create_task_group() as tg:
            for index in range(lanes):
                tg.start_soon(lane, index)
        if errors:
            done = [d.key for d in batch if self._was_accepted(d.key)]
            raise combine(errors, total=len(batch), delivered=done)

    async def aclose(self) -> None:
        """Close the connections this sink opened (not an injected client); idempotent."""
        lanes, self._lanes = self._lanes, []
        for transport in lanes:
            await transport.aclose()
        await super().aclose()


_ONE_CONNECTION = httpx.Limits(max_connections=1, max_keepalive_connections=1)
