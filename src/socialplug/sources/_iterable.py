"""
A source over what is already in memory: lists, generators, async generators.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterable, AsyncIterator, Iterable

import attrs

from ..exceptions import ConfigurationError
from ..model import Page, Post


__all__ = ["IterableSource"]


@attrs.define(eq=False)
class IterableSource:
    """
    Read posts from an iterable or async iterable, in pages of *page_size*.

    The cursor is the number of posts consumed, so a re-run over the same (re-creatable)
    sequence resumes after what was already handled. A one-shot generator cannot be
    re-read: give a list or a factory (a zero-argument callable returning a new iterable)
    when you want resuming to work.

    Args:
        items: The posts, or a zero-argument callable that returns them.
        name: Stable name (keys the stored cursor).
        page_size: Posts per page.
    """

    items: Iterable[Post] | AsyncIterable[Post] | object
    name: str = "iterable"
    page_size: int = attrs.field(default=100, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.page_size < 1:
            msg = f"{self.name}: page_size must be at least 1"
            raise ConfigurationError(msg)

    def _iterable(self) -> Iterable[Post] | AsyncIterable[Post]:
        items = self.items
        if callable(items) and not isinstance(items, (Iterable, AsyncIterable)):
            items = items()
        if not isinstance(items, (Iterable, AsyncIterable)):
            msg = f"{self.name}: expected posts or a callable returning them, got {items!r}"
            raise ConfigurationError(msg)
        return items

    async def pages(self, cursor: str | None, /, *, follow: bool = False) -> AsyncIterator[Page]:
        """Yield pages after the first *cursor* posts."""
        skip = int(cursor) if cursor else 0
        position = skip
        page: list[Post] = []
        items = self._iterable()
        if isinstance(items, AsyncIterable):
            seen = 0
            async for post in items:
                seen += 1
                if seen <= skip:
                    continue
                page.append(post)
                if len(page) >= self.page_size:
                    position += len(page)
                    yield Page(posts=page, cursor=str(position))
                    page = []
        else:
            iterator = iter(items)
            if skip:
                next(itertools.islice(iterator, skip - 1, skip), None)
            while True:
                page = list(itertools.islice(iterator, self.page_size))
                if not page:
                    break
                position += len(page)
                yield Page(posts=page, cursor=str(position))
            page = []
        if page:
            position += len(page)
            yield Page(posts=page, cursor=str(position))

    async def aclose(self) -> None:
        """Nothing to release."""
