"""Reddit: the pure mapping on recorded listings, and the source over a loopback server."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest
from sources_replay import Reply, Request, recorded
from sources_support import OWN, shared_fixtures

from socialplug import RetryPolicy
from socialplug.exceptions import (
    AuthenticationError,
    ConfigurationError,
    DecodeError,
    FetchError,
)
from socialplug.sources.reddit import RedditSource, to_post


pytestmark = pytest.mark.anyio


def _load(name: str):
    return json.loads((shared_fixtures("reddit") / name).read_text())


async def _no_sleep(_: float) -> None:
    return None


class TestToPost:
    def test_self_submission(self):
        """A self post maps its fullname, permalink, author, time, score and flags."""
        child = _load("praw__TestSubredditListings__new__01.json")["data"]["children"][0]

        post = to_post(child, source="s")

        assert post.platform == "reddit"
        assert post.id == "t3_48fbm9"
        assert post.key == "reddit:t3_48fbm9"
        assert post.url == (
            "https://www.reddit.com/r/AskReddit/comments/48fbm9/"
            "serious_parents_of_reddit_whats_the_biggest_lie/"
        )
        assert post.title is not None
        assert post.title.startswith("[Serious] Parents of Reddit")
        assert post.title == post.text  # no self text: the title stands in
        assert post.author.handle == "RedHeadQc"
        assert post.author.url == "https://www.reddit.com/user/RedHeadQc"
        assert datetime(2016, 3, 1, 8, 37, 38, tzinfo=UTC) == post.created_at
        assert post.engagement.score == 1
        assert post.engagement.replies == 1
        assert not post.sensitive
        assert post.source == "s"
        assert post.links == ()

    def test_nsfw_crosspost_links_to_original(self):
        """A crosspost carries the original submission in repost_of; NSFW is sensitive."""
        listing = _load("praw__TestSubmission__crosspost__nsfw__03.json")[0]
        post = to_post(listing["data"]["children"][0])

        assert post.id == "t3_c27k7n"
        assert post.sensitive
        assert post.repost_of is not None
        assert post.repost_of.id == "t3_6vx01b"
        assert post.repost_of.text == "crossposting"
        assert post.repost_of.author.handle == "kwwxis2"
        assert not post.repost_of.sensitive
        assert post.links == ()  # the crosspost's url is the original's page, not a link

    def test_deleted_comment(self):
        """A [deleted] comment becomes a delete event with no text and no author."""
        child = _load("praw__TestComment__refresh__deleted_comment__01.json")["data"]["children"][
            0
        ]

        post = to_post(child)

        assert post.id == "t1_d7ltvl0"
        assert post.event == "delete"
        assert post.text == ""
        assert post.html is None
        assert post.author.handle == ""
        assert post.author.url is None
        assert "t3_52o2fl" == post.reply_to == post.thread
        assert post.url == "https://www.reddit.com/r/test/comments/52o2fl/_/d7ltvl0/"

    def test_comment_text_and_links(self):
        """A comment's text comes from body_html as plain text; reply/thread are fullnames."""
        child = _load("praw__TestRedditorListings__comments__new__01.json")["data"]["children"][0]

        post = to_post(child)

        assert '"Soon" as in, "daylight savings is coming up soon"' in post.text
        assert "<p>" in (post.html or "")
        assert post.reply_to == "t1_d0hkqti"
        assert post.thread == "t3_484169"
        assert post.engagement.score == 10
        assert post.title is None

    def test_link_post_keeps_the_link(self):
        """A link submission lists its target URL in links."""
        child = _load("praw__TestReddit__info_url__01.json")["data"]["children"][0]

        post = to_post(child)

        assert post.links[0] == "http://www.youtube.com"

    def test_removed_submission(self):
        """A submission removed by moderators is a delete event that keeps its title."""
        child = json.loads((OWN / "reddit" / "removed.json").read_text())

        post = to_post(child)

        assert post.event == "delete"
        assert post.text == ""
        assert post.title == "Outage at the north station"
        assert post.spoiler == "spoiler"
        assert post.sensitive

    @pytest.mark.parametrize(
        "child",
        [
            pytest.param({"kind": "more", "data": {"id": "_"}}, id="more-stub"),
            pytest.param({"kind": "t5", "data": {}}, id="subreddit"),
        ],
    )
    def test_refuses_non_items(self, child):
        """Stubs and other things are refused with ValueError."""
        with pytest.raises(ValueError, match="kind"):
            to_post(child)


class TestConfiguration:
    def test_needs_one_target(self):
        """Zero or two targets are a configuration error naming the problem."""
        with pytest.raises(ConfigurationError, match="exactly one"):
            RedditSource()
        with pytest.raises(ConfigurationError, match="exactly one"):
            RedditSource(subreddit="a", user="b")

    def test_secrets_not_in_repr(self):
        """The client secret and the password never appear in the repr."""
        source = RedditSource(
            subreddit="a", client_id="id", client_secret="s3cr3t-x", username="u", password="pw-9"
        )

        assert "s3cr3t-x" not in repr(source)
        assert "pw-9" not in repr(source)


class TestSource:
    async def test_public_listing_then_resume(self, server):
        """Reads the public .json listing oldest first; the next poll emits nothing old."""
        server.routes["/r/askreddit/new.json"] = recorded(
            shared_fixtures("reddit"), "praw__TestSubredditListings__new__01"
        )
        source = RedditSource(
            subreddit="askreddit", base_url=server.url, retry=RetryPolicy.disabled()
        )
        try:
            pages = [p async for p in source.pages(None, follow=False)]
            again = [p async for p in source.pages(pages[-1].cursor, follow=False)]
        finally:
            await source.aclose()

        assert len(pages) == 1
        posts = pages[0].posts
        assert len(posts) == 100
        assert posts[-1].id == "t3_48fbm9"  # the newest comes last
        assert all(a.created_at <= b.created_at for a, b in itertools.pairwise(posts))
        assert json.loads(pages[0].cursor or "") == {"t": 1456821458.0, "ids": ["t3_48fbm9"]}
        assert server.requests[0].query["raw_json"] == "1"
        assert server.requests[0].query["limit"] == "100"
        assert "after" not in server.requests[0].query
        assert again == []

    async def test_pages_back_until_it_meets_the_cursor(self, server):
        """With a cursor the source pages back with after= until it reaches read items."""
        listing = {
            None: (["c3", 30, "c2", 20], "t3_c2"),
            "t3_c2": (["c1", 10, "c0", 5], "t3_c0"),
        }

        def handler(req: Request) -> Reply:
            names, after = listing[req.query.get("after")]
            children = [
                {"kind": "t3", "data": {"name": f"t3_{n}", "created_utc": t}}
                for n, t in zip(names[::2], names[1::2], strict=True)
            ]
            return Reply.json({"kind": "Listing", "data": {"children": children, "after": after}})

        server.routes["/r/x/new.json"] = handler
        source = RedditSource(subreddit="x", base_url=server.url, limit=2)
        try:
            known = [p async for p in source.pages('{"t": 10, "ids": ["t3_c1"]}', follow=False)]
            deleted = [
                p async for p in source.pages('{"t": 15, "ids": ["t3_gone"]}', follow=False)
            ]
        finally:
            await source.aclose()

        assert [r.query.get("after") for r in server.requests[:2]] == [None, "t3_c2"]
        assert [p.id for p in known[0].posts] == ["t3_c2", "t3_c3"]
        assert json.loads(known[0].cursor or "") == {"t": 30, "ids": ["t3_c3"]}
        assert [p.id for p in deleted[0].posts] == ["t3_c2", "t3_c3"]

    async def test_more_stubs_are_skipped(self, server):
        """A 'more' stub in a comment listing is neither a post nor a malformed item."""
        listing = _load("praw__TestMore__comments__02.json")[1]
        server.routes["/r/pics/comments.json"] = Reply.json(listing)
        source = RedditSource(subreddit="pics", listing="comments", base_url=server.url)
        try:
            pages = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        assert len(pages[0].posts) == 137
        assert pages[0].malformed == ()
        assert all(p.id.startswith("t1_") for p in pages[0].posts)
        newest = listing["data"]["children"][0]["data"]
        assert json.loads(pages[0].cursor or "")["t"] >= newest["created_utc"]

    async def test_search_parameters(self, server):
        """Search uses syntax=lucene, sort=new and restrict_sr with a subreddit."""
        server.routes["/r/redditdev/search.json"] = recorded(
            shared_fixtures("reddit"), "praw__TestSubreddit__search__01"
        )
        source = RedditSource(subreddit="redditdev", search="title:praw", base_url=server.url)
        try:
            pages = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        query = server.requests[0].query
        assert (query["q"], query["sort"], query["syntax"], query["restrict_sr"]) == (
            "title:praw",
            "new",
            "lucene",
            "1",
        )
        assert len(pages[0].posts) == 6

    async def test_html_error_body(self, server):
        """An HTML error page with status 400 is a permanent FetchError, not a crash."""
        server.routes["/user/spez/comments.json"] = recorded(
            shared_fixtures("reddit"),
            "praw__TestReddit__bad_request_without_json_text_html_response__01",
        )
        source = RedditSource(user="spez", user_listing="comments", base_url=server.url)
        try:
            with pytest.raises(FetchError) as info:
                _ = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        assert info.value.status_code == 400
        assert not info.value.retryable
        assert "sort" in server.requests[0].query

    async def test_html_page_with_200_is_a_decode_error(self, server):
        """A 200 that carries an HTML page (a proxy's error page) is a DecodeError with the body."""
        server.routes["/r/a/new.json"] = Reply(
            200, {"Content-Type": "text/html"}, b"<html><body>Our CDN is down</body></html>"
        )
        source = RedditSource(subreddit="a", base_url=server.url)
        try:
            with pytest.raises(DecodeError) as info:
                _ = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        assert "text/html" in str(info.value)
        assert "Our CDN is down" in str(info.value.payload)

    async def test_quarantined_subreddit(self, server):
        """The recorded 403 of a quarantined subreddit is an AuthenticationError, not retried."""
        server.routes["/r/ferguson/new.json"] = recorded(
            shared_fixtures("reddit"), "praw__TestSubredditQuarantine__opt_in__01"
        )
        source = RedditSource(subreddit="ferguson", base_url=server.url)
        try:
            with pytest.raises(AuthenticationError) as info:
                _ = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        assert info.value.status_code == 403
        assert len(server.requests) == 1

    async def test_server_error_is_retried(self, server):
        """A recorded 500 is retried; the next answer is read."""
        folder = shared_fixtures("reddit")
        replies = [
            recorded(folder, "praw__TestModNotes__delete_note__all_notes__02"),
            recorded(folder, "praw__TestSubredditListings__new__01"),
        ]
        server.routes["/r/askreddit/new.json"] = lambda req: replies.pop(0)
        source = RedditSource(subreddit="askreddit", base_url=server.url, sleep=_no_sleep,
                              retry=RetryPolicy(attempts=3, wait_jitter=0))  # fmt: skip
        try:
            pages = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        assert len(server.requests) == 2
        assert len(pages[0].posts) == 100

    async def test_malformed_child_is_kept_aside(self, server):
        """A child without created_utc is a Malformed item; the others still come."""
        listing = {"kind": "Listing", "data": {"children": [
            {"kind": "t3", "data": {"name": "t3_b", "created_utc": 20}},
            {"kind": "t3", "data": {"name": "t3_a"}},
        ]}}  # fmt: skip
        server.routes["/r/x/new.json"] = Reply.json(listing)
        source = RedditSource(subreddit="x", base_url=server.url)
        try:
            pages = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        assert [p.id for p in pages[0].posts] == ["t3_b"]
        assert len(pages[0].malformed) == 1
        assert "created_utc" in pages[0].malformed[0].reason
        assert '"t3_a"' in pages[0].malformed[0].payload


class TestOAuth:
    async def test_script_flow_and_refresh_after_401(self, server):
        """The script flow posts the password grant with basic auth; a 401 fetches a new token."""
        tokens = iter(["tok-1", "tok-2"])
        seen_auth: list[str] = []

        def token(req: Request) -> Reply:
            form = parse_qs(req.body.decode())
            assert form["grant_type"] == ["password"]
            assert form["username"] == ["bot"]
            assert (
                "Basic " + base64.b64encode(b"cid:csecret").decode()
                == req.headers["authorization"]
            )
            return Reply.json({"access_token": next(tokens), "expires_in": 3600})

        def listing(req: Request) -> Reply:
            seen_auth.append(req.headers["authorization"])
            if req.headers["authorization"] == "bearer tok-1":
                return recorded(
                    shared_fixtures("reddit"),
                    "praw__TestAuthImplicit__implicit__with_invalid_token__00",
                )
            return recorded(shared_fixtures("reddit"), "praw__TestSubredditListings__new__01")

        server.routes["/api/v1/access_token"] = token
        server.routes["/r/askreddit/new"] = listing
        source = RedditSource(
            subreddit="askreddit", client_id="cid", client_secret="csecret", username="bot",
            password="pw", base_url=server.url, token_url=server.url + "/api/v1/access_token",
            user_agent="acme-monitor/1.0",
        )  # fmt: skip
        try:
            pages = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        assert seen_auth == ["bearer tok-1", "bearer tok-2"]
        assert len(pages[0].posts) == 100
        assert server.requests[-1].headers["user-agent"] == "acme-monitor/1.0"

    async def test_refused_credentials(self, server):
        """A refused token request is an AuthenticationError without the secret in it."""
        server.routes["/token"] = Reply.json({"error": "invalid_grant"}, status=401)
        source = RedditSource(
            subreddit="a", client_id="cid", client_secret="very-secret", base_url=server.url,
            token_url=server.url + "/token",
        )  # fmt: skip
        try:
            with pytest.raises(AuthenticationError) as info:
                _ = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        assert "very-secret" not in str(info.value)

    async def test_rate_limit_headers_hold_the_budget(self, server):
        """X-Ratelimit-Remaining: 0 holds the shared budget of the host until the reset."""
        from socialplug._pacing import budget_for

        server.routes["/r/a/new.json"] = Reply.json(
            {"kind": "Listing", "data": {"children": []}},
            **{
                "X-Ratelimit-Used": "600",
                "X-Ratelimit-Remaining": "0.0",
                "X-Ratelimit-Reset": "42",
            },
        )
        source = RedditSource(subreddit="a", base_url=server.url)
        try:
            _ = [p async for p in source.pages(None, follow=False)]
        finally:
            await source.aclose()

        budget = budget_for(httpx.URL(server.url).host)
        assert budget._blocked_until - budget.clock() > 30
        budget._blocked_until = 0.0  # do not slow down other tests on this host
