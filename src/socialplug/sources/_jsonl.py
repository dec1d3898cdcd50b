"""
A source over a JSON Lines file: replays what a JSONL sink or another system wrote.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import anyio.to_thread
import attrs

from ..exceptions import ConfigurationError, SourceError
from ..model import Malformed, Page, Post


__all__ = ["JSONLSource"]

_READ = 1 << 20


def _default_parse(line: str) -> Post:
    """A serialized post, or a line of :class:`~socialplug.sinks.JSONLSink` (its ``item``)."""
    data = json.loads(line)
    if not isinstance(data, dict):
        msg = f"expected a JSON object, got {type(data).__name__}"
        raise TypeError(msg)
    item = data.get("item")
    if isinstance(item, dict) and "route" in data:
        data = item
    data.pop("type", None)
    return Post.from_dict(data)


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
    parse: Callable[[str], Post] = attrs.field(default=_default_parse, kw_only=True)
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

    def _read_page(self, offset: int, *, final: bool) -> tuple[list[Post], list[Malformed], int]:
        """Read up to page_size complete lines from *offset*; return posts, bad, new offset."""
        posts: list[Post] = []
        bad: list[Malformed] = []
        parse = self.parse
        try:
            with self.path.open("rb") as f:
                f.seek(offset)
                buf = b""
                lines = 0
                while lines < self.page_size:
                    chunk = f.read(_READ)
                    if not chunk:
                        if final and buf:  # a last line without a newline
                            offset += len(buf)
                            self._parse_into(buf, parse, posts, bad)
                        break
                    buf += chunk
                    parts = buf.split(b"\n")
                    buf = parts.pop()
                    room = self.page_size - lines
                    if len(parts) > room:
                        parts = parts[:room]
                        buf = b""
                    for raw in parts:
                        offset += len(raw) + 1
                        lines += 1
                        if raw.strip():
                            self._parse_into(raw, parse, posts, bad)
        except OSError as exc:
            raise SourceError(
                f"{self.name}: cannot read {self.path}: {exc}", source=self.name
            ) from exc
        return posts, bad, offset

    def _parse_into(
        self,
        raw: bytes,
        parse: Callable[[str], Post],
        posts: list[Post],
        bad: list[Malformed],
    ) -> None:
        text = raw.decode("utf-8", errors="replace")
        try:
            posts.append(parse(text))
        except Exception as exc:
            bad.append(
                Malformed(reason=f"{type(exc).__name__}: {exc}", payload=text, source=self.name)
            )

    async def pages(self, cursor: str | None, /, *, follow: bool = False) -> AsyncIterator[Page]:
        """Yield pages of posts from the byte offset *cursor* on."""
        offset = int(cursor) if cursor else 0
        while True:
            posts, bad, end = await anyio.to_thread.run_sync(
                functools.partial(self._read_page, offset, final=not follow)
            )
            if end != offset:
                offset = end
                yield Page(posts=posts, cursor=str(offset), malformed=bad)
                continue
            if not follow:
                return
            await anyio.sleep(self.poll_interval)

    async def aclose(self) -> None:
        """Nothing held between pages."""
