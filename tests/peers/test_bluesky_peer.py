"""
socialplug's Bluesky source against Bluesky's own ``@atproto/dev-env`` (PLC, PDS, AppView):
posts with facets are written through the PDS, then read back through searchPosts,
getAuthorFeed and listNotifications with a real session, and a restart resumes from the
committed cursor. (The dev-env has no Jetstream; Jetstream is tested against the loopback
imitation.)
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from socialplug.model import Page
from socialplug.sources.bluesky import BlueskySource, Feed
from socialplug.testing.bluesky import facets_for


pytestmark = [pytest.mark.peers, pytest.mark.anyio]

SINCE = datetime.now(UTC) - timedelta(hours=1)


class Net:
    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.http = httpx.Client(timeout=30)

    def account(self, name: str) -> dict:
        handle = f"{name}{uuid.uuid4().hex[:6]}.test"
        response = self.http.post(
            f"{self.urls['pds']}/xrpc/com.atproto.server.createAccount",
            json={"handle": handle, "email": f"{handle}@example.test", "password": f"pw-{name}"},
        )
        response.raise_for_status()
        return {**response.json(), "password": f"pw-{name}"}

    def post(self, who: dict, text: str, *, mentions: dict[str, str] | None = None) -> dict:
        record = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "facets": facets_for(text, mentions),
            "createdAt": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "langs": ["en"],
        }
        response = self.http.post(
            f"{self.urls['pds']}/xrpc/com.atproto.repo.createRecord",
            headers={"Authorization": f"Bearer {who['accessJwt']}"},
            json={"repo": who["did"], "collection": "app.bsky.feed.post", "record": record},
        )
        response.raise_for_status()
        time.sleep(0.005)  # distinct millisecond timestamps keep the order well defined
        return response.json()

    def flush(self) -> None:
        self.http.post(f"{self.urls['control']}/process-all").raise_for_status()


@pytest.fixture(name="net", scope="module")
def _net(bluesky_peer):
    net = Net(bluesky_peer)
    yield net
    net.http.close()


async def read(source: BlueskySource, cursor: str | None = None) -> list[Page]:
    try:
        return [page async for page in source.pages(cursor, follow=False)]
    finally:
        await source.aclose()


def posts_of(pages: list[Page]):
    return [p for page in pages for p in page.posts]


async def test_search_author_feed_and_resume_after_restart(net):
    alice = net.account("alice")
    word = f"Brand{uuid.uuid4().hex[:6]}"
    written = [
        net.post(alice, f"日本語 🚆 {word} late again #{word.lower()} https://example.com/a/{i}")
        for i in range(3)
    ]
    net.flush()

    def source(feed: Feed) -> BlueskySource:
        return BlueskySource(
            feeds=feed,
            service=net.urls["pds"],
            handle=alice["handle"],
            app_password=alice["password"],
            since=SINCE,
            page_size=2,
        )

    found = posts_of(await read(source(Feed.search(word))))
    feed_pages = await read(source(Feed.author(alice["handle"])))

    assert [w["uri"] for w in written] == [p.id for p in found]
    first = found[0]
    assert (word.lower(),) == first.tags
    assert first.links == ("https://example.com/a/0",)
    assert f"日本語 🚆 {word} late again #{word.lower()} https://example.com/a/0" == first.text
    assert alice["handle"] == first.author.handle
    assert (
        first.url
        == f"https://bsky.app/profile/{alice['did']}/post/{written[0]['uri'].rsplit('/', 1)[1]}"
    )
    assert [w["uri"] for w in written] == [p.id for p in posts_of(feed_pages)]

    later = net.post(alice, f"{word} update")
    net.flush()
    resumed = posts_of(await read(source(Feed.author(alice["handle"])), feed_pages[-1].cursor))

    assert [later["uri"]] == [p.id for p in resumed]


async def test_mentions_arrive_as_notifications(net):
    alice = net.account("alice")
    brand = net.account("brand")
    mention = net.post(
        alice, f"@{brand['handle']} my train is stuck", mentions={brand["handle"]: brand["did"]}
    )
    net.flush()
    source = BlueskySource(
        feeds=Feed.notifications(),
        service=net.urls["pds"],
        handle=brand["handle"],
        app_password=brand["password"],
        since=SINCE,
    )

    posts = posts_of(await read(source))

    assert [mention["uri"]] == [p.id for p in posts]
    assert posts[0].annotations["notification"] == "mention"
    assert (brand["handle"],) == posts[0].mentions
