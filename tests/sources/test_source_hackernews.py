"""Hacker News: Algolia hits to posts, and the polling source over a loopback server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sources_replay import Reply, Request
from sources_support import OWN, shared_fixtures

from socialplug.sources.hackernews import HackerNewsSource, to_post


pytestmark = pytest.mark.anyio


def _hits(name: str) -> list[dict]:
    return json.loads((shared_fixtures("hackernews") / name).read_text())["hits"]


class TestToPost:
    def test_comment(self):
        """Comment HTML becomes text with the whole URL; parent and story become links."""
        hit = _hits("algolia__01_search_by_date_tags_comment.json")[0]

        post = to_post(hit, source="hn")

        assert post.platform == "hackernews"
        assert post.id == "7919431"
        assert post.url == "https://news.ycombinator.com/item?id=7919431"
        assert post.text.startswith(
            "A perennial HN favorite\n\nhttps://hn.algolia.com/?q=Fibonacci"
        )
        assert post.text.endswith("approximates the Fibonacci sequence.")
        assert "What's fascinating" in post.text  # &#x27; decoded
        assert post.links == (
            "https://hn.algolia.com/?q=Fibonacci+Flim-Flam#!/all/forever/0/Fibonacci%20Flim-Flam",
        )
        assert "7919207" == post.reply_to == post.thread
        assert post.author.handle == "gohrt"
        assert post.author.url == "https://news.ycombinator.com/user?id=gohrt"
        assert datetime(2014, 6, 20, 3, 39, 55, tzinfo=UTC) == post.created_at
        assert post.title is None
        assert "<p>" in (post.html or "")

    def test_reply_deeper_in_a_thread(self):
        """A reply to a comment has its parent as reply_to and the story as thread."""
        hit = _hits("algolia__17_search_by_date_tags_comment_query_apple.json")[0]

        post = to_post(hit)

        assert (post.reply_to, post.thread) == ("7919290", "7918547")

    def test_link_story(self):
        """A link story has its title, the link, points as score and comments as replies."""
        hit = _hits("algolia__06_search_tags_story.json")[0]

        post = to_post(hit)

        assert "Steve Jobs has passed away." == post.title == post.text
        assert post.links == ("http://www.apple.com/stevejobs/",)
        assert (post.engagement.score, post.engagement.replies) == (4271, 376)
        assert post.reply_to is None
        assert post.thread is None

    def test_text_story(self):
        """An Ask-style story's text comes from story_text; an empty url is no link."""
        hit = _hits("algolia__14_search_tags_story_author_pg.json")[0]

        post = to_post(hit)

        assert post.text.startswith("Hacker News was down all last night.")
        assert "\n\nFor some reason I didn't check" in post.text
        assert post.links == ()
        assert post.title == "Why HN was down"

    def test_own_fixture_with_entities(self):
        """Entities and a link inside a comment's HTML are decoded."""
        hit = json.loads((OWN / "hackernews" / "comment.json").read_text())

        post = to_post(hit)

        assert post.text == "Trains stuck at <Central> again & again: https://example.org/status"
        assert post.links == ("https://example.org/status",)

    def test_missing_id_raises(self):
        """A hit without objectID is refused."""
        with pytest.raises(KeyError):
            to_post({"created_at_i": 1})


def _hit(object_id: str, when: int, tags=("story",)) -> dict:
    return {"objectID": object_id, "created_at_i": when, "title": f"t{object_id}",
            "author": "a", "_tags": list(tags), "url": None}  # fmt: skip


class TestSource:
    async def test_first_run_then_resume_without_repeats(self, server):
        """The first run reads the newest page; the next asks created_at_i>= and skips seen ids."""
        hits = _hits("algolia__23_search_by_date_tags_story_query_apple.json") + _hits(
            "algolia__17_search_by_date_tags_comment_query_apple.json"
        )
        newest = max(h["created_at_i"] for h in hits)
        later = [_hit("9000001", newest), hits[0], _hit("9000002", newest + 5)]
        answers = [{"hits": hits, "nbPages": 1}, {"hits": later, "nbPages": 1}]
        server.routes["/api/v1/search_by_date"] = lambda req: Reply.json(answers.pop(0))
        source = HackerNewsSource(query="apple", base_url=server.url + "/api/v1")
        try:
            first = [p async for p in source.pages(None, follow=False)]
            second = [p async for p in source.pages(first[-1].cursor, follow=False)]
        finally:
            await source.aclose()

        assert [p.id for p in first[0].posts] == ["7919418", "7919424"]
        assert "numericFilters" not in server.requests[0].query
        assert server.requests[0].query["tags"] == "(story,comment)"
        assert server.requests[0].query["query"] == "apple"
        assert f"created_at_i>={newest}" == server.requests[1].query["numericFilters"]
        assert [p.id for p in second[0].posts] == ["9000001", "9000002"]
        assert {"t": newest + 5, "ids": ["9000002"]} == json.loads(second[0].cursor or "")

    async def test_pages_through_results_with_a_cursor(self, server):
        """With a cursor every result page is read and the posts come out oldest first."""

        def handler(req: Request) -> Reply:
            page = int(req.query["page"])
            hits = [_hit("3", 30), _hit("2", 20)] if page == 0 else [_hit("1", 10)]
            return Reply.json({"hits": hits, "nbPages": 2, "page": page})

        server.routes["/search_by_date"] = handler
        source = HackerNewsSource(base_url=server.url, hits_per_page=2)
        try:
            pages = [p async for p in source.pages('{"t": 5, "ids": []}', follow=False)]
        finally:
            await source.aclose()

        assert [r.query["page"] for r in server.requests] == ["0", "1"]
        assert [p.id for p in pages[0].posts] == ["1", "2", "3"]

    async def test_malformed_hit(self, server):
        """A hit without created_at_i is dead-lettered; the rest is delivered."""
        server.routes["/search_by_date"] = Reply.json(
            {"hits": [_hit("1", 10), {"objectID": "2", "title": "no time"}], "nbPages": 1}
        )
        source = HackerNewsSource(base_url=server.url)
        try:
            pages = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        assert [p.id for p in pages[0].posts] == ["1"]
        assert '"no time"' in pages[0].malformed[0].payload


async def test_follow_polls_again_after_the_interval(server):
    """With follow=True the source sleeps poll_interval, then polls from the new cursor."""
    answers = [
        {"hits": [_hit("1", 10)], "nbPages": 1},
        {"hits": [], "nbPages": 0},
        {"hits": [_hit("1", 10), _hit("2", 20)], "nbPages": 1},
    ]
    server.routes["/search_by_date"] = lambda req: Reply.json(answers.pop(0))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    source = HackerNewsSource(base_url=server.url, poll_interval=42.0, sleep=sleep)
    got: list[str] = []
    try:
        async for page in source.pages(None, follow=True):
            got.extend(p.id for p in page.posts)
            if len(got) == 2:
                break
    finally:
        await source.aclose()

    assert got == ["1", "2"]
    assert slept == [42.0, 42.0]
    assert server.requests[2].query["numericFilters"] == "created_at_i>=10"
