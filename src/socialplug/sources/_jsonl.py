"""
A source over a JSON Lines file: replays what a JSONL sink or another system wrote.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import attrs

from .._fastjson import loads
from ..exceptions import ConfigurationError, SourceError
from ..model import Malformed, Page, Post


__all__ = ["JSONLSource"]

_READ = 1 << 20


def _default_map(data: Any) -> Post:
    """A serialized post, or a line of :class:`~socialplug.sinks.JSONLSink` (its ``item``)."""
    if not isinstance(data, dict):
        msg = f"expected a JSON object, got {type(data).__name__}"
        raise TypeError(msg)
    item = data.get("item")
    if isinstance(item, dict) and "route" in data:
        data = item
    data.pop("type", None)
    return Post.from_dict(data)


def _decode(raw: bytes) -> Any:
    try:
        return loads(raw)
    except ValueError:
        # Not UTF-8, or not JSON: read the bytes as the standard library would after a
        # lenient decode, so that a stray byte costs one character, not the line.
        return json.loads(raw.decode("utf-8", errors="replace"))


@attrs.define(eq=False)
class JSONLSource:
    """
    Read posts from a JSON Lines file, one post per line.

    The cursor is the byte offset after the last line of a page, so a re-run resumes
    exactly after what was handled. With ``follow=True`` the file is tailed: new lines are
    picked up as they are appended. A line that cannot be parsed is skipped and kept as a
    dead letter with the line as its payload.

    Args:
        path: The file.
        parse: Turns one line into a :class:`~socialplug.Post`; by default
            a serialized post (:meth:`Post.to_json`) or a line written by
            :class:`~socialplug.sinks.JSONLSink`. Raise any exception to reject a line.
        name: Stable name; defaults to ``"jsonl:<file name>"``.
        page_size: Lines per page.
        poll_interval: Seconds between looks at the end of the file while following.
    """

    path: Path = attrs.field(converter=Path)
    map: Callable[[Any], Post] | None = attrs.field(default=None, kw_only=True)
    parse: Callable[[str], Post] | None = attrs.field(default=None, kw_only=True)
    name: str = attrs.field(kw_only=True)
    page_size: int = attrs.field(default=500, kw_only=True)
    poll_interval: float = attrs.field(default=1.0, kw_only=True)

    @name.default
    def _name(self) -> str:
        return f"jsonl:{self.path.name}"

    def __attrs_post_init__(self) -> None:
        if self.page_size < 1:
            msg = f"{self.name}: page_size must be at least 1"
            raise ConfigurationError(msg)
        if self.map is not None and self.parse is not None:
            msg = f"{self.name}: give map= (for decoded JSON) or parse= (for text), not both"
            raise ConfigurationError(msg)

    def _parse_lines(self, lines: list[bytes]) -> tuple[list[Post], list[Malformed]]:
        """Parse lines on the event loop (parsing holds the GIL; a thread would only add switches)."""
        posts: list[Post] = []
        bad: list[Malformed] = []
        parse = self.parse
        if parse is None:
            to_post = self.map or _default_map
            for raw in lines:
                if not raw or raw.isspace():
                    continue
                try:
                    posts.append(to_post(_decode(raw)))
                except Exception as exc:
                    bad.append(self._malformed(exc, raw.decode("utf-8", errors="replace")))
            return posts, bad
        for raw in lines:
            if not raw or raw.isspace():
                continue
            text = raw.decode("utf-8", errors="replace")
            try:
                posts.append(parse(text))
            except Exception as exc:
                bad.append(self._malformed(exc, text))
        return posts, bad

    def _malformed(self, exc: Exception, line: str) -> Malformed:
        return Malformed(reason=f"{type(exc).__name__}: {exc}", payload=line, source=self.name)

    async def pages(self, cursor: str | None, /, *, follow: bool = False) -> AsyncIterator[Page]:
        """Yield pages of posts from the byte offset *cursor* on."""
        offset = int(cursor) if cursor else 0
        try:
            file = self.path.open("rb")
        except OSError as exc:
            msg = f"{self.name}: cannot read {self.path}: {exc}"
            raise SourceError(msg, source=self.name) from exc
        with file:
            file.seek(offset)
            lines: list[bytes] = []  # complete lines read ahead, not paged yet
            tail = b""  # a last line still without its newline
            while True:
                # Local files are read on the loop, a megabyte at a time: a read from the
                # page cache takes well under a millisecond, less than a hop to a thread.
                while len(lines) < self.page_size:
                    try:
                        chunk = file.read(_READ)
                    except OSError as exc:
                        msg = f"{self.name}: cannot read {self.path}: {exc}"
                        raise SourceError(msg, source=self.name) from exc
                    if not chunk:
                        break
                    parts = (tail + chunk).split(b"\n")
                    tail = parts.pop()
                    lines.extend(parts)
                take, lines = lines[: self.page_size], lines[self.page_size :]
                end = offset + sum(len(line) + 1 for line in take)
                if not take and tail and not follow:  # the file ends without a newline
                    take, end, tail = [tail], offset + len(tail), b""
                if take:
                    offset = end
                    posts, bad = self._parse_lines(take)
                    yield Page(posts=posts, cursor=str(offset), malformed=bad)
                    await anyio.lowlevel.checkpoint()
                    continue
                if not follow:
                    return
                await anyio.sleep(self.poll_interval)

    async def aclose(self) -> None:
        """Nothing to release: the file is open only while :meth:`pages` is iterated."""
