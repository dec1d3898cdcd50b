"""X: tweets with includes to posts, and the recent-search source over a loopback server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sources_replay import Reply, Request, recorded
from sources_support import OWN, shared_fixtures

from socialplug import RetryPolicy
from socialplug.exceptions import AuthenticationError, RateLimitedError
from socialplug.sources.x import XSource, snowflake_time, to_post


pytestmark = pytest.mark.anyio

REPLY_ID = "2125864633758646274"
RETWEET_ID = "2125865900438454275"
ORIGINAL_ID = "2125863375467446273"
QUOTED_ID = "2125847017681846281"


def _own() -> dict:
    return json.loads((OWN / "x" / "search_recent.json").read_text())


class TestToPost:
    def test_reply_with_media_quote_and_entities(self):
        """Author, media, expanded links, entities, reply, thread and quote come through."""
        body = _own()
        post = to_post(body["data"][1], includes=body["includes"], source="x")

        assert post.platform == "x"
        assert post.id == REPLY_ID
        assert f"https://x.com/commuter_jo/status/{REPLY_ID}" == post.url
        assert post.text == (
            "@acme_rail stuck for 40 min at #Central, no announcement. Thoughts @acme_help? "
            "https://status.example.com/incidents/42"
        )
        assert post.links == ("https://status.example.com/incidents/42",)
        assert post.tags == ("Central",)
        assert post.mentions == ("acme_rail", "acme_help")
        assert (post.author.handle, post.author.name, post.author.followers) == (
            "commuter_jo",
            "Jo Commuter",
            87,
        )
        assert datetime(2026, 11, 26, 8, 10, tzinfo=UTC) == post.created_at
        assert post.lang == "en"
        assert ORIGINAL_ID == post.reply_to == post.thread
        assert post.quote_of is not None
        assert post.quote_of.id == QUOTED_ID
        assert f"https://x.com/i/web/status/{QUOTED_ID}" == post.quote_of.url
        assert snowflake_time(QUOTED_ID) == post.quote_of.created_at
        assert [
            (m.kind, m.url, m.alt) for m in post.media
        ] == [("image", "https://pbs.twimg.com/media/GdEf.jpg", "A crowded platform"),
                ("video", "https://video.twimg.com/ext_tw_video/1/pu/vid/640x360/high.mp4", None)]  # fmt: skip
        assert (
            post.engagement.likes, post.engagement.reposts, post.engagement.replies,
            post.engagement.quotes,
        ) == (5, 1, 2, 0)  # fmt: skip

    def test_retweet_links_to_the_original(self):
        """A retweet's repost_of is the original from includes, with its own author."""
        body = _own()
        post = to_post(body["data"][0], includes=body["includes"])

        assert post.repost_of is not None
        assert post.repost_of.id == ORIGINAL_ID
        assert post.repost_of.author.handle == "acme_rail"
        assert post.repost_of.text == (
            "Service update: trains to the north are delayed & crowded "
            "https://acme-rail.example/status"
        )
        assert post.thread is None  # its own conversation

    def test_recorded_tweet_without_fields(self):
        """A recorded tweet with only id and text gets its time from the snowflake id."""
        body = json.loads(
            (
                shared_fixtures("twitter") / "tweepy_v2__client_search_all_tweets__00.json"
            ).read_text()
        )
        post = to_post(body["data"][0])

        assert post.text == "2022-10-07 22:58:12.637170 tweepy"
        assert (
            abs(
                (
                    post.created_at - datetime(2022, 10, 7, 22, 58, 12, 637170, tzinfo=UTC)
                ).total_seconds()
            )
            < 1
        )
        assert post.url == "https://x.com/i/web/status/1578520094778740736"
        assert post.repost_of is None

    def test_recorded_retweet_without_includes(self):
        """Recorded RT text is kept as is when no references were requested."""
        body = json.loads(
            (shared_fixtures("twitter") / "tweepy_v2__client_get_tweet__00.json").read_text()
        )
        post = to_post(body["data"])

        assert post.text.startswith(
            "It\u2019s finally here! \U0001f941 Say hello to the new #TwitterAPI."
        )


class TestSource:
    async def test_since_id_paging_and_order(self, server):
        """The next run asks since_id, follows next_token and yields oldest first."""
        body = _own()
        calls: list[dict] = []

        def handler(req: Request) -> Reply:
            calls.append(req.query)
            if len(calls) == 1:
                return Reply.json(
                    body, **{"x-rate-limit-remaining": "449", "x-rate-limit-reset": "1900000000"}
                )
            if "next_token" not in req.query:
                return Reply.json(
                    {
                        "data": body["data"][:1],
                        "includes": body["includes"],
                        "meta": {"next_token": "p2"},
                    }
                )
            return Reply.json({"data": body["data"][1:], "includes": body["includes"], "meta": {}})

        server.routes["/2/tweets/search/recent"] = handler
        source = XSource(query="acme", bearer_token="AAAA-secret", base_url=server.url)
        try:
            first = [p async for p in source.pages(None, follow=False)]
            second = [p async for p in source.pages('{"since_id": "1"}', follow=False)]
        finally:
            await source.aclose()

        assert [p.id for p in first[0].posts] == [REPLY_ID, RETWEET_ID]
        assert json.loads(first[0].cursor or "") == {"since_id": RETWEET_ID}
        assert "since_id" not in calls[0]
        assert "author_id" in calls[0]["expansions"]
        assert "created_at" in calls[0]["tweet.fields"]
        assert (calls[2]["since_id"], calls[2]["next_token"]) == ("1", "p2")
        assert [p.id for p in second[0].posts] == [REPLY_ID, RETWEET_ID]
        assert server.requests[0].headers["authorization"] == "Bearer AAAA-secret"

    async def test_rate_limited(self, server):
        """A 429 with x-rate-limit-reset is a RateLimitedError once retries are exhausted."""
        server.routes["/2/tweets/search/recent"] = Reply.json(
            {"title": "Too Many Requests"},
            status=429,
            **{"x-rate-limit-remaining": "0", "x-rate-limit-reset": "0"},
        )
        source = XSource(
            query="acme", bearer_token="tok", base_url=server.url, retry=RetryPolicy.disabled()
        )
        try:
            with pytest.raises(RateLimitedError):
                _ = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

    async def test_refused_token_is_not_leaked(self, server):
        """A 401 is an AuthenticationError whose message and the repr hold no token."""
        server.routes["/2/tweets/search/recent"] = recorded(
            shared_fixtures("reddit"), "praw__TestAuthImplicit__implicit__with_invalid_token__00"
        )
        source = XSource(query="acme", bearer_token="tok-very-secret", base_url=server.url)
        try:
            with pytest.raises(AuthenticationError) as info:
                _ = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        assert "tok-very-secret" not in str(info.value)
        assert "tok-very-secret" not in repr(source)

    async def test_recorded_headers(self, server):
        """A recorded search answer with its headers is read: every tweet becomes a post."""
        server.routes["/2/tweets/search/recent"] = recorded(
            shared_fixtures("twitter"), "tweepy_v2__client_get_users_mentions__00"
        )
        source = XSource(query="@twitter", bearer_token="tok", base_url=server.url)
        try:
            pages = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        assert len(pages[0].posts) == 10
        assert json.loads(pages[0].cursor or "") == {"since_id": "1578516295611748353"}
