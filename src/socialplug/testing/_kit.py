"""
Fakes for users' own tests: static source, collecting and failing sinks, a post factory.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from ..exceptions import DeliveryError
from ..model import Author, Delivery, Malformed, Page, Post
from ..sinks import MemorySink


__all__ = ["CollectingSink", "FailingSink", "StaticSource", "make_post"]

_counter = itertools.count(1)
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def make_post(**overrides: Any) -> Post:
    """
    Return a valid :class:`~socialplug.Post` with sensible defaults; override any field.

    Each call gets a fresh ``id`` (``"1"``, ``"2"``, ...) and a ``created_at`` one second
    after the previous one, unless given.
    """
    n = next(_counter)
    fields: dict[str, Any] = {
        "platform": "test",
        "id": str(n),
        "text": f"post number {n}",
        "created_at": _EPOCH + timedelta(seconds=n),
        "author": Author(id=f"a{n % 7}", handle=f"user{n % 7}", name=f"User {n % 7}"),
        "url": f"https://example.test/posts/{n}",
        "source": "test",
    }
    fields.update(overrides)
    return Post(**fields)


@attrs.define(eq=False)
class StaticSource:
    """
    Serve a fixed list of posts in pages of *page_size*; the cursor is the position.

    *malformed* items are reported with the first page, as a source does with payloads it
    cannot decode.
    """

    __test__ = False

    posts: Sequence[Post] = attrs.field(converter=list)
    name: str = attrs.field(default="static", kw_only=True)
    page_size: int = attrs.field(default=1, kw_only=True)
    malformed: Sequence[Malformed] = attrs.field(factory=tuple, kw_only=True)
    closed: int = attrs.field(default=0, init=False)

    async def pages(self, cursor: str | None, /, *, follow: bool = False) -> AsyncIterator[Page]:
        """Yield pages after position *cursor*."""
        start = int(cursor) if cursor else 0
        first = True
        for i in range(start, len(self.posts), self.page_size):
            chunk = self.posts[i : i + self.page_size]
            yield Page(
                posts=chunk,
                cursor=str(i + len(chunk)),
                malformed=self.malformed if first and start == 0 else (),
            )
            first = False

    async def aclose(self) -> None:
        """Count closes (the conformance checks look at this)."""
        self.closed += 1


@attrs.define(eq=False)
class CollectingSink(MemorySink):
    """
    A :class:`~socialplug.sinks.MemorySink` with checks for tests.
    """

    __test__ = False

    @property
    def keys(self) -> list[str]:
        """The idempotency keys received, in order."""
        return [d.key for d in self.deliveries]

    def duplicates(self) -> dict[str, int]:
        """Idempotency keys received more than once, with their counts."""
        return {k: n for k, n in Counter(self.keys).items() if n > 1}


@attrs.define(eq=False)
class FailingSink:
    """
    Fail the first *times* deliveries with *error*, then collect like a
    :class:`CollectingSink` (``times=None`` fails forever).

    Attributes:
        calls: How many times :meth:`deliver` was called.
        received: Deliveries accepted after the failures.
    """

    __test__ = False

    error: BaseException = attrs.field(
        factory=lambda: DeliveryError("destination unavailable", retryable=True)
    )
    times: int | None = 1
    calls: int = attrs.field(default=0, init=False)
    received: CollectingSink = attrs.field(factory=CollectingSink, init=False)

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Raise *error* while failures remain, else collect."""
        self.calls += 1
        if self.times is None or self.calls <= self.times:
            raise self.error
        await self.received.deliver(batch)

    async def aclose(self) -> None:
        """Nothing to release."""
