"""Every new source keeps the Source contract (socialplug.testing.check_source)."""

from __future__ import annotations

import json

import pytest
from sources_replay import Reply, Request, recorded
from sources_support import OWN, shared_fixtures

from socialplug.sources.feeds import FeedsSource
from socialplug.sources.hackernews import HackerNewsSource
from socialplug.sources.http import HTTPSource
from socialplug.sources.reddit import RedditSource
from socialplug.sources.webhook import WebhookSource
from socialplug.sources.x import XSource
from socialplug.state import MemoryStateStore
from socialplug.testing import check_source


pytestmark = pytest.mark.anyio


async def test_reddit(server):
    """The Reddit source keeps the contract on a recorded listing."""
    server.routes["/r/askreddit/new.json"] = recorded(
        shared_fixtures("reddit"), "praw__TestSubredditListings__new__01"
    )
    pages = await check_source(RedditSource(subreddit="askreddit", base_url=server.url))

    assert len(pages[0].posts) == 100


async def test_hackernews(server):
    """The Hacker News source keeps the contract."""
    body = json.loads((OWN / "hackernews" / "comment.json").read_text())
    server.routes["/search_by_date"] = lambda req: Reply.json(
        {"hits": [] if "numericFilters" in req.query else [body], "nbPages": 1}
    )
    pages = await check_source(HackerNewsSource(base_url=server.url))

    assert [p.id for p in pages[0].posts] == ["46000002"]


async def test_x(server):
    """The X source keeps the contract."""
    body = json.loads((OWN / "x" / "search_recent.json").read_text())
    server.routes["/2/tweets/search/recent"] = lambda req: Reply.json(
        {"meta": {"result_count": 0}} if "since_id" in req.query else body
    )
    pages = await check_source(XSource(query="acme", bearer_token="t", base_url=server.url))

    assert len(pages[0].posts) == 2


async def test_feeds(server):
    """The feeds source keeps the contract."""
    data = (OWN / "feeds" / "xhtml.atom").read_bytes()
    server.routes["/feed.atom"] = Reply(200, {"Content-Type": "application/atom+xml"}, data)
    pages = await check_source(FeedsSource(urls=[server.url + "/feed.atom"]))

    assert len(pages[0].posts) == 2


async def test_http(server):
    """The JSON API source keeps the contract."""

    def handler(req: Request) -> Reply:
        items = [{"id": 2, "t": "2026-11-26T08:00:00Z"}, {"id": 1, "t": "2026-11-26T07:00:00Z"}]
        return Reply.json([i for i in items if i["id"] > int(req.query.get("after", 0))])

    server.routes["/items"] = handler
    source = HTTPSource(url=server.url + "/items", fields={"id": "id", "created_at": "t"},
                        cursor_field="id", cursor_param="after")  # fmt: skip
    pages = await check_source(source)

    assert [p.id for p in pages[0].posts] == ["1", "2"]


async def test_webhook():
    """The webhook source keeps the contract on stored items."""
    store = MemoryStateStore()
    source = WebhookSource(secret="s", store=store, batch_size=1)
    for i in range(3):
        body = json.dumps({"id": f"m{i}", "text": "x"})
        record = {"body": body, "received_at": "2026-11-26T08:00:00+00:00", "headers": {}}
        await store.put_record(source.namespace, f"{i:020d}", record)
    pages = await check_source(source)

    assert [p.posts[0].id for p in pages] == ["m0", "m1", "m2"]
