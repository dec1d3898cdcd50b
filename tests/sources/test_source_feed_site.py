"""socialplug.testing.feeds.FeedSite: a feed site that changes and honours conditional GET."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from socialplug.sources.feeds import FeedsSource, parse
from socialplug.testing.feeds import FeedSite


pytestmark = pytest.mark.anyio


async def test_feed_site_with_the_feeds_source():
    """Entries added while serving reach the source once; unchanged feeds answer 304."""
    site = FeedSite()
    site.add("/status.xml", title="Delays on the north line", text="Signal failure & crowds",
             published=datetime(2026, 11, 26, 8, tzinfo=UTC))  # fmt: skip
    with site:
        source = FeedsSource(urls=[site.url("/status.xml")])
        try:
            first = [p async for p in source.pages(None, follow=False)]
            cursor = first[-1].cursor
            quiet = [p async for p in source.pages(cursor, follow=False)]
            site.add("/status.xml", title="Service restored",
                     published=datetime(2026, 11, 26, 9, tzinfo=UTC))  # fmt: skip
            news = [p async for p in source.pages(cursor, follow=False)]
        finally:
            await source.aclose()
        assert site.server is not None
        statuses = [r.headers.get("If-None-Match") is not None for r in site.server.requests]

    assert [p.title for p in first[0].posts] == ["Delays on the north line"]
    assert first[0].posts[0].text == "Signal failure & crowds"
    assert quiet == []
    assert [p.title for p in news[0].posts] == ["Service restored"]
    assert statuses == [False, True, True]


def test_render_and_rules():
    """The document parses back; a new feed cannot appear while serving; url needs serving."""
    site = FeedSite(title="Ops <status>")
    guid = site.add("/a.xml", title="One", guid="g-1", link="https://ops.test/1")

    [post] = parse(site.render("/a.xml"), url="https://ops.test/a.xml")
    with pytest.raises(RuntimeError):
        site.url("/a.xml")
    with site, pytest.raises(RuntimeError, match="first entry"):
        site.add("/b.xml", title="Two")

    assert (guid, post.id, post.url) == ("g-1", "g-1", "https://ops.test/1")
