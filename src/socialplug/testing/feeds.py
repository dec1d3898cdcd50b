"""
A loopback site serving RSS feeds whose entries a test adds as it goes, with working
conditional GET (``ETag``/``If-None-Match``, ``Last-Modified``/``If-Modified-Since``), to
test feed pipelines offline.

    site = FeedSite()
    site.add("/status.xml", title="Delays on the north line", text="...")
    with site:
        source = FeedsSource(urls=[site.url("/status.xml")])
        ...
        site.add("/status.xml", title="Service restored")
"""

from __future__ import annotations

import email.utils
import hashlib
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from types import TracebackType
from xml.sax.saxutils import escape

import attrs

from ._server import Recorded, ReplayServer, Reply, serve


__all__ = ["FeedSite"]


@attrs.frozen
class _Entry:
    guid: str
    title: str
    text: str
    link: str
    published: datetime


@attrs.define(eq=False)
class FeedSite:
    """
    RSS 2.0 feeds on ``127.0.0.1``, newest entry first, changing when :meth:`add` is called.

    Use it as a context manager; :attr:`server` then records every request (conditional
    headers included), and :meth:`url` gives a feed's address.

    .. versionadded:: 0.1.0
    """

    title: str = "socialplug test site"
    server: ReplayServer | None = attrs.field(default=None, init=False)
    _feeds: dict[str, list[_Entry]] = attrs.field(factory=dict, init=False)
    _serving: AbstractContextManager[ReplayServer] | None = attrs.field(
        default=None, init=False, repr=False
    )

    def add(
        self,
        path: str,
        *,
        title: str,
        text: str = "",
        guid: str | None = None,
        link: str | None = None,
        published: datetime | None = None,
    ) -> str:
        """
        Add an entry to the feed at *path*; return its guid.

        Raises:
            RuntimeError: *path* is a new feed while the site is serving (add each feed's first
                entry before the ``with`` block; later entries may come at any time).
        """
        if self._serving is not None and path not in self._feeds:
            msg = f"feed {path!r} must get its first entry before the site starts serving"
            raise RuntimeError(msg)
        entries = self._feeds.setdefault(path, [])
        guid = guid or f"{path}#{len(entries) + 1}"
        when = published or datetime.now(UTC)
        entries.append(
            _Entry(guid=guid, title=title, text=text, link=link or f"{path}/{len(entries) + 1}",
                   published=when)
        )  # fmt: skip
        return guid

    def url(self, path: str) -> str:
        """The absolute URL of the feed at *path*.

        Raises:
            RuntimeError: The site is not serving (use it in a ``with`` block).
        """
        if self.server is None:
            msg = "FeedSite is not serving; use it as a context manager"
            raise RuntimeError(msg)
        return self.server.url + path

    def render(self, path: str) -> bytes:
        """The RSS document of the feed at *path*."""
        items = "".join(
            f"<item><title>{escape(e.title)}</title><link>{escape(e.link)}</link>"
            f'<guid isPermaLink="false">{escape(e.guid)}</guid>'
            f"<pubDate>{email.utils.format_datetime(e.published, usegmt=True)}</pubDate>"
            f"<description>{escape(e.text)}</description></item>"
            for e in sorted(self._feeds.get(path, ()), key=lambda e: e.published, reverse=True)
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(self.title)}</title><link>/</link>{items}</channel></rss>"
        ).encode()

    def _answer(self, request: Recorded) -> Reply:
        if request.path not in self._feeds:
            return Reply(status=404, body="no such feed")
        body = self.render(request.path)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        newest = max(e.published for e in self._feeds[request.path])
        modified = email.utils.format_datetime(newest.astimezone(UTC), usegmt=True)
        headers = {"ETag": etag, "Last-Modified": modified}
        sent = {k.lower(): v for k, v in request.headers.items()}
        if sent.get("if-none-match") == etag or (
            "if-none-match" not in sent and sent.get("if-modified-since") == modified
        ):
            return Reply(status=304, headers=headers)
        return Reply(body=body, headers={**headers, "Content-Type": "application/rss+xml"})

    def __enter__(self) -> FeedSite:
        self._serving = serve(dict.fromkeys(self._feeds, self._answer))
        self.server = self._serving.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        serving, self._serving, self.server = self._serving, None, None
        if serving is not None:
            serving.__exit__(exc_type, exc, tb)
