"""
An example socialplug plugin: a source and a sink, found by name through entry points.

Nothing here subclasses a socialplug class: matching the protocols in ``socialplug.typing`` is
enough.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import attrs

from socialplug import Author, Delivery, Page, Post


__all__ = ["CannedSource", "TextFileSink"]


@attrs.define(eq=False)
class CannedSource:
    """
    Posts whose texts are given in the configuration, one page of them.

    The cursor is the number of texts already read, so a second run reads only what was added.
    """

    texts: Sequence[str] = attrs.field(converter=tuple)
    name: str = "canned"
    platform: str = "example"

    async def pages(self, cursor: str | None, /, *, follow: bool = False) -> AsyncIterator[Page]:
        """Yield one page with the texts after *cursor*."""
        start = int(cursor or 0)
        base = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
        posts = tuple(
            Post(
                platform=self.platform,
                id=str(i),
                key=f"{self.platform}:{self.name}:{i}",
                text=text,
                author=Author(id="example", handle="example"),
                created_at=base + timedelta(minutes=i),
                source=self.name,
            )
            for i, text in enumerate(self.texts)
            if i >= start
        )
        yield Page(posts=posts, cursor=str(len(self.texts)))
        if follow:
            await anyio.sleep_forever()

    async def aclose(self) -> None:
        """Nothing to release."""


@attrs.define(eq=False)
class TextFileSink:
    """Append one line per delivery to a text file: ``route<TAB>key<TAB>text``."""

    path: Path = attrs.field(converter=Path)

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Append *batch*."""
        lines = []
        for d in batch:
            text = getattr(d.item, "text", None) or getattr(d.item, "title", "")
            lines.append(f"{d.route}\t{d.item.key}\t{text}\n")
        async with await anyio.open_file(self.path, "a", encoding="utf-8") as f:
            await f.write("".join(lines))

    async def aclose(self) -> None:
        """Nothing to release (the file is opened per batch)."""
