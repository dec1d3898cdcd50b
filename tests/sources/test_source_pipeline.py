"""The new sources in a real pipeline: cursors persist in SQLite and runs do not repeat."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sources_replay import Reply, recorded
from sources_support import shared_fixtures

from socialplug.pipeline import Pipeline
from socialplug.sources.feeds import FeedsSource
from socialplug.sources.reddit import RedditSource
from socialplug.state import SQLiteStateStore
from socialplug.testing import CollectingSink
from socialplug.testing.feeds import FeedSite


pytestmark = pytest.mark.anyio


async def test_reddit_runs_resume_from_the_stored_cursor(server, tmp_path: Path):
    """Two run_once calls on one SQLite store: everything once, then nothing again."""
    server.routes["/r/askreddit/new.json"] = recorded(
        shared_fixtures("reddit"), "praw__TestSubredditListings__new__01"
    )
    store = SQLiteStateStore(tmp_path / "state.db")
    sink = CollectingSink()
    source = RedditSource(subreddit="askreddit", base_url=server.url)
    pipeline = Pipeline(sources=[source], sinks={"out": sink}, state=store)
    try:
        first = await pipeline.run_once()
        second = await pipeline.run_once()
        cursor = await store.get_cursor(source.name)
    finally:
        await source.aclose()
        await store.aclose()

    assert (first.read, second.read) == (100, 0)
    assert len(sink.posts) == 100
    assert json.loads(cursor or "")["ids"] == ["t3_48fbm9"]


async def test_feeds_in_a_pipeline(tmp_path: Path):
    """A feed site that changes between runs: each entry is delivered once, in order."""
    site = FeedSite()
    site.add("/a.xml", title="A1", published=datetime(2026, 11, 26, 8, tzinfo=UTC))
    site.add("/b.xml", title="B1", published=datetime(2026, 11, 26, 8, 30, tzinfo=UTC))
    store = SQLiteStateStore(tmp_path / "state.db")
    sink = CollectingSink()
    with site:
        source = FeedsSource(urls=[site.url("/a.xml"), site.url("/b.xml")], name="acme-feeds")
        pipeline = Pipeline(sources=[source], sinks={"out": sink}, state=store)
        try:
            await pipeline.run_once()
            site.add("/a.xml", title="A2", published=datetime(2026, 11, 26, 9, tzinfo=UTC))
            await pipeline.run_once()
            await pipeline.run_once()
        finally:
            await source.aclose()
            await store.aclose()

    assert sorted(p.title or "" for p in sink.posts[:2]) == ["A1", "B1"]
    assert [p.title for p in sink.posts[2:]] == ["A2"]


async def test_empty_listing_is_not_an_error(server):
    """A listing with no children reads nothing and commits nothing."""
    server.routes["/r/quiet/new.json"] = Reply.json({"kind": "Listing", "data": {"children": []}})
    sink = CollectingSink()
    source = RedditSource(subreddit="quiet", base_url=server.url)
    try:
        report = await Pipeline(sources=[source], sinks={"out": sink}).run_once()
    finally:
        await source.aclose()

    assert report.read == 0
    assert sink.posts == []
