"""
The sink that calls your code: the primitive that plugs social media into a business.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio.to_thread
import attrs

from ..model import Delivery


__all__ = ["CallableSink"]


@attrs.define(eq=False)
class CallableSink:
    """
    Deliver by calling a function of yours, sync or async.

    By default the function is called once per item with a :class:`~socialplug.Delivery`
    (``delivery.item`` is the post or alert, ``delivery.key`` its idempotency key); with
    ``batch=True`` it gets the whole batch as a list. Sync functions run in a worker thread,
    so they may block (a database call, a request with ``requests``).

    Raise :exc:`~socialplug.exceptions.DeliveryError` with ``retryable=True`` for a transient
    failure (the runtime retries with backoff); any other exception dead-letters the batch.
    Set *idempotent* when your code dedupes on ``delivery.key`` itself.

    Args:
        fn: ``fn(delivery)`` or, with *batch*, ``fn(deliveries)``.
        batch: Pass the batch instead of one delivery at a time.
        idempotent: Your function dedupes on ``delivery.key``; the runtime then skips its
            own seen-key bookkeeping for this sink.
    """

    fn: Callable[[Any], Any | Awaitable[Any]]
    batch: bool = attrs.field(default=False, kw_only=True)
    idempotent: bool = attrs.field(default=False, kw_only=True)

    async def _call(self, arg: object) -> None:
        fn = self.fn
        if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
        ):
            await fn(arg)
            return
        result = await anyio.to_thread.run_sync(fn, arg)
        if inspect.isawaitable(result):
            await result

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Call the function for the batch (or for each delivery, in order)."""
        if self.batch:
            await self._call(list(batch))
            return
        for delivery in batch:
            await self._call(delivery)

    async def aclose(self) -> None:
        """Nothing to release."""
