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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import httpx

from .._http import new_client
from .._signing import SIGNATURE_HEADER, sign
from ..model import Delivery, item_to_dict
from ._base import HttpSinkBase, deliver_each, host_of, register_secrets, url_secrets


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

    @property
    def _what(self) -> str:
        return f"webhook {host_of(self.url)}"

    def _new_client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(
            max_connections=max(self.concurrency, 10),
            max_keepalive_connections=max(self.concurrency, 10),
        )
        return new_client(timeout=self.timeout, transport=httpx.AsyncHTTPTransport(limits=limits))

    def encode(self, delivery: Delivery) -> tuple[bytes, dict[str, str]]:
        """Return the body bytes and headers of the request for *delivery*."""
        content = json.dumps(
            self.body(delivery), ensure_ascii=False, separators=(",", ":")
        ).encode()
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": delivery.key,
        }
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.secret, content)
        return content, headers

    async def _send(self, delivery: Delivery) -> None:
        content, headers = self.encode(delivery)
        await self._request(self.method, self.url, what=self._what, content=content, headers=headers)

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """POST every delivery of *batch*, up to :attr:`concurrency` at once."""
        await deliver_each(
            batch,
            self._send,
            concurrency=self.concurrency,
            accepted=self._was_accepted,
            accept=self._accept,
        )
