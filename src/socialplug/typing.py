"""
The contracts socialplug components implement.

Implementations do not need to subclass anything: matching the shapes below is enough, so a
third-party package can provide sources and sinks without importing socialplug at runtime.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from .model import Alert, DeadLetter, Delivery, Item, Page, Post


__all__ = [
    "Detector",
    "Filter",
    "Router",
    "Sink",
    "Source",
    "StateStore",
    "Transform",
]


@runtime_checkable
class Source(Protocol):
    """
    **Protocol:** Reads pages of posts from one place, from a cursor.

    :meth:`pages` is called once per run with the cursor the runtime loaded for :attr:`name`
    (``None`` on the first run). It yields :class:`~socialplug.model.Page`\\ s in source
    order. With ``follow=False`` it returns once it has read what is there (ETL jobs,
    notebooks); with ``follow=True`` it keeps polling or streaming until cancelled.

    A page's cursor is the position *after* that page. The runtime commits it only when every
    post of that page (and of every earlier page) has been delivered, filtered out or
    dead-lettered, so a crash re-reads the page: delivery is at-least-once.

    :attr:`name` must be stable across runs: it keys the stored cursor.

    A source reading from a broker (or any place with its own acknowledgement) may also
    define ``async def commit(self, cursor: str) -> None``: the runtime calls it, in page
    order, right after it durably stored *cursor*, i.e. once every post of that page and of
    every earlier page was handled. That is where such a source acknowledges its messages.
    """

    @property
    def name(self) -> str:
        """Stable identity of this source (state key, log field, metric label)."""
        ...

    def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        """Yield pages from *cursor* on."""
        ...

    async def aclose(self) -> None:
        """Release what the source owns; idempotent and not terminal."""
        ...


class Filter(Protocol):
    """
    **Protocol:** A predicate on a post; ``True`` keeps it.

    Must not block or do I/O. Any ``def f(post: Post) -> bool`` qualifies;
    :func:`socialplug.filters.where` lifts it into a composable predicate.
    """

    def __call__(self, post: Post, /) -> bool:
        """Return whether to keep *post*."""
        ...


class Transform(Protocol):
    """
    **Protocol:** ``Post -> Post``, sync or async (enrichment: sentiment, language, links).

    A transform returns a new post (``post.annotate(...)`` or ``attrs.evolve``); it never
    mutates. Returning ``None`` drops the post (counted as filtered), for steps whose
    decision needs their own result (a matcher that drops what matched nothing). Blocking
    work belongs in ``anyio.to_thread.run_sync`` inside an async transform.
    """

    def __call__(self, post: Post, /) -> Post | Awaitable[Post | None] | None:
        """Return the enriched post."""
        ...


class Router(Protocol):
    """
    **Protocol:** Names the routes a post or alert takes (possibly none).

    A router may also have ``targets(route) -> Sequence[str]`` naming each route's sinks and
    ``destinations`` naming every sink it can target (checked when the pipeline is built).
    Without ``targets``, a route name is a sink name, so any
    ``def route(item) -> list[str]`` is a router.
    """

    def __call__(self, item: Item, /) -> Iterable[str]:
        """Return the route names for *item*."""
        ...


@runtime_checkable
class Sink(Protocol):
    """
    **Protocol:** Delivers batches of posts and alerts to one destination.

    Returning from :meth:`deliver` acknowledges the whole batch. Raising
    :exc:`~socialplug.exceptions.DeliveryError` with ``retryable=True`` makes the runtime
    retry with backoff (honouring ``retry_after``); ``retryable=False`` (or any other
    exception) dead-letters the batch. Each delivery carries an idempotency key: a sink whose
    destination can dedupe on it sets ``idempotent = True`` and the runtime then leaves
    dedupe to it; otherwise the state store remembers delivered keys.
    """

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Deliver *batch*; return only when the destination accepted all of it."""
        ...

    async def aclose(self) -> None:
        """Release what the sink owns; idempotent and not terminal."""
        ...


@runtime_checkable
class StateStore(Protocol):
    """
    **Protocol:** Durable state: cursors, seen keys, dead letters and keyed records.

    Stateful stages (dedupe, spike windows, incidents, approvals) keep their state in
    *records*, namespaced JSON values, so that they survive restarts and can be shared by
    several processes when the store allows.
    """

    async def get_cursor(self, source: str, /) -> str | None:
        """Return the committed cursor of *source*, or ``None``."""
        ...

    async def set_cursor(self, source: str, cursor: str, /) -> None:
        """Durably commit *cursor* for *source*."""
        ...

    async def seen(self, keys: Sequence[str], /) -> set[str]:
        """Return which of *keys* were marked seen and have not expired."""
        ...

    async def mark_seen(self, keys: Sequence[str], /, *, ttl: float | None = None) -> None:
        """Remember *keys* for *ttl* seconds (forever with ``None``)."""
        ...

    async def add_dead_letters(self, letters: Sequence[DeadLetter], /) -> None:
        """Durably keep *letters*."""
        ...

    async def dead_letters(
        self, *, origin: str | None = None, limit: int | None = None
    ) -> list[DeadLetter]:
        """Return dead letters, oldest first, optionally only those of *origin*."""
        ...

    async def remove_dead_letters(self, ids: Sequence[int], /) -> int:
        """Delete the dead letters with *ids*; return how many were deleted."""
        ...

    async def get_record(self, namespace: str, key: str, /) -> Any:
        """Return the JSON value stored under (*namespace*, *key*), or ``None``."""
        ...

    async def put_record(
        self, namespace: str, key: str, value: Any, /, *, ttl: float | None = None
    ) -> None:
        """Store a JSON *value* under (*namespace*, *key*)."""
        ...

    async def delete_record(self, namespace: str, key: str, /) -> None:
        """Delete (*namespace*, *key*) if present."""
        ...

    async def records(self, namespace: str, /) -> dict[str, Any]:
        """Return every live record of *namespace*."""
        ...

    async def aclose(self) -> None:
        """Close connections; idempotent and not terminal."""
        ...


@runtime_checkable
class Detector(Protocol):
    """
    **Protocol:** A stateful stage that watches routed posts and emits alerts.

    :meth:`observe` sees every post that was kept, after routing (its routes are in
    ``post.annotations["routes"]``); alerts it returns are routed and delivered before that
    post's page is committed. :meth:`tick` is called periodically with the current time (from
    the injected clock) for time-driven alerts: escalations, digests, auto-resolve, gaps.
    State lives in the state store passed to :meth:`bind`, so it survives restarts.
    """

    @property
    def name(self) -> str:
        """Stable identity (state namespace, log field)."""
        ...

    async def bind(self, store: StateStore, /) -> None:
        """Load state from *store*; called once per run before any other method."""
        ...

    async def observe(self, post: Post, /) -> Sequence[Alert]:
        """Account for *post*; return alerts it triggers."""
        ...

    async def tick(self, now: datetime, /) -> Sequence[Alert]:
        """Return alerts due at *now*."""
        ...
