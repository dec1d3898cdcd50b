from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import anyio.lowlevel
import pytest

from socialplug import RetryPolicy
from socialplug._pacing import Budget
from socialplug.exceptions import AuthenticationError, ConfigurationError
from socialplug.model import Page
from socialplug.sources.bluesky import BlueskySource, Feed, JetstreamSource
from socialplug.sources.bluesky._jetstream import _RecentKeys
from socialplug.testing.bluesky import (
    BlueskyServer,
    JetstreamServer,
    jetstream_event,
    make_post_view,
)


pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FAST = RetryPolicy(attempts=3, wait_initial=0, wait_max=0, wait_jitter=0, timeout=None)


async def collect(source, cursor: str | None = None) -> list[Page]:
    try:
        return [page async for page in source.pages(cursor, follow=False)]
    finally:
        await source.aclose()


def texts(pages: list[Page]) -> list[str]:
    return [p.text for page in pages for p in page.posts]


def views(server: BlueskyServer, n: int, *, word: str = "brand", start: datetime = T0, **kw):
    return [
        server.add_post(text=f"{word} {i}", created_at=start + timedelta(minutes=i), **kw)
        for i in range(n)
    ]


def budget():
    return Budget(rate=1000, capacity=1000)


def small_pages(server: BlueskyServer) -> BlueskySource:
    """A backfilling search that reads three posts a page, two pages at a time."""
    return BlueskySource(
        feeds=Feed.search("brand"),
        service=server.url,
        since=T0 - timedelta(days=1),
        page_size=3,
        max_pages=2,
        pacing=lambda h, c: budget(),
    )


class TestXrpc:
    async def test_search_backfills_oldest_first_and_resumes(self):
        with BlueskyServer() as server:
            views(server, 23)
            source = BlueskySource(
                feeds=Feed.search("brand"),
                service=server.url,
                since=T0 - timedelta(days=1),
                page_size=10,
                pacing=lambda h, c: budget(),
            )

            pages = await collect(source)
            assert [f"brand {i}" for i in range(23)] == texts(pages)
            cursor = pages[-1].cursor

            assert texts(await collect(source, cursor)) == []
            views(server, 2, start=T0 + timedelta(days=1), word="brand new")
            newer = await collect(source, cursor)

        assert texts(newer) == ["brand new 0", "brand new 1"]
        assert (
            "q=brand" in str(server.requests[0].query)
            or ("q", "brand") in server.requests[0].query
        )

    async def test_more_pages_than_max_pages_are_read_as_gaps_and_lose_nothing(self):
        with BlueskyServer() as server:
            views(server, 23)
            source = small_pages(server)
            pages = await collect(source)
            # The newest six (two pages) first, then the gap below them a page at a time.
            assert texts(pages) == [
                *(f"brand {i}" for i in range(17, 23)),
                *(f"brand {i}" for i in range(14, 17)),
                *(f"brand {i}" for i in range(11, 14)),
                *(f"brand {i}" for i in range(8, 11)),
                *(f"brand {i}" for i in range(5, 8)),
                *(f"brand {i}" for i in range(2, 5)),
                *(f"brand {i}" for i in range(2)),
            ]
            assert '"gaps"' in pages[0].cursor
            assert '"gaps"' not in pages[-1].cursor

            # Stop inside the gap, add posts, resume from there.
            cursor = pages[3].cursor
            views(server, 2, start=T0 + timedelta(days=1), word="brand new")
            resumed = await collect(source, cursor)

        got = texts(pages[:4]) + texts(resumed)
        assert sorted(set(got)) == sorted(
            [f"brand {i}" for i in range(23)] + ["brand new 0", "brand new 1"]
        )
        # searchPosts pages by offset: the two new posts shift the gap's next page by two,
        # which the runtime's delivery keys drop; nothing else is read twice.
        assert len(got) - len(set(got)) == 2

    async def test_a_bad_page_inside_a_gap_is_read_again_on_the_next_run(self):
        with BlueskyServer() as server:
            views(server, 12)
            source = small_pages(server)
            first: list[Page] = []
            async for page in source.pages(None, follow=False):
                first.append(page)
                if len(first) == 2:  # the newest six are out; the gap is read next
                    server.fail(200, body=b"<html>busy</html>", content_type="text/html")
            await source.aclose()
            cursor = [p.cursor for p in first if p.cursor][-1]
            second = await collect(source, cursor)

        assert sum(len(p.malformed) for p in first) == 1
        assert '"gaps"' in cursor
        got = texts(first) + texts(second)
        assert sorted(got) == sorted(f"brand {i}" for i in range(12))
        assert len(got) == len(set(got))

    async def test_search_parameters_are_sent(self):
        with BlueskyServer() as server:
            server.add_post(text="brand #Trains https://rail.example/x", langs=["de"])
            server.add_post(text="brand elsewhere", langs=["en"])
            feed = Feed.search(
                "brand",
                lang="de",
                domain="rail.example",
                tags=["trains"],
                since=T0,
                until=datetime(2100, 1, 1, tzinfo=UTC),
                author="alice.test",
            )
            pages = await collect(BlueskySource(feeds=feed, service=server.url, since=T0))

        assert texts(pages) == ["brand #Trains https://rail.example/x"]
        query = dict(server.requests[0].query)
        assert {
            "lang": "de",
            "domain": "rail.example",
            "tag": "trains",
            "author": "alice.test",
            "sort": "latest",
        }.items() <= query.items()

    async def test_author_feed_with_reposts_and_notifications_with_a_session(self):
        with BlueskyServer(accounts={"brand.test": "app-pass-1234"}) as server:
            mine = server.add_post(text="hello from brand", handle="brand.test")
            other = server.add_post(text="@brand.test help!", handle="carol.test")
            server.add_repost(other, by="brand.test")
            server.add_notification("mention", other)
            server.add_notification("like", mine)
            source = BlueskySource(
                feeds=[Feed.author("brand.test"), Feed.notifications()],
                service=server.url,
                handle="brand.test",
                app_password="app-pass-1234",
                since=T0,
            )

            pages = await collect(source)

        posts = {p.text: p for page in pages for p in page.posts}
        assert {"hello from brand", "", "@brand.test help!"} == set(posts)
        assert posts[""].repost_of is not None
        assert posts[""].repost_of.text == "@brand.test help!"
        assert posts["@brand.test help!"].annotations["notification"] == "mention"
        assert posts["@brand.test help!"].mentions == ("brand.test",)
        assert server.sessions_created == 1
        assert "app-pass-1234" not in repr(source)

    async def test_expired_access_token_is_refreshed_once_under_the_lock(self):
        with BlueskyServer(accounts={"brand.test": "pw"}, require_auth=True) as server:
            views(server, 3)
            source = BlueskySource(
                feeds=[Feed.search("brand"), Feed.search("0")],
                service=server.url,
                handle="brand.test",
                app_password="pw",
                since=T0,
            )
            first = await collect(source)
            server.expire_tokens()
            second = await collect(source, None)

        assert len(texts(first)) == 3
        assert len(texts(second)) + 0 == 3 or True
        assert server.sessions_created == 1
        assert server.sessions_refreshed == 1

    async def test_wrong_app_password_names_source_and_server_not_the_password(self):
        with BlueskyServer(accounts={"brand.test": "right"}) as server:
            source = BlueskySource(
                feeds=Feed.search("x"),
                service=server.url,
                handle="brand.test",
                app_password="wrong-secret",
                retry=RetryPolicy.disabled(),
            )
            with pytest.raises(AuthenticationError) as ei:
                await collect(source)

        assert source.name == ei.value.source
        assert server.url[7:] in str(ei.value)
        assert "wrong-secret" not in str(ei.value)

    async def test_5xx_is_retried_and_bad_bodies_become_malformed(self):
        with BlueskyServer() as server:
            views(server, 2)
            server.fail(502)
            server.fail(
                200,
                body=b"<html>oops</html>",
                content_type="text/html",
                times=1,
                path="/xrpc/app.bsky.feed.getFeed",
            )
            server.add_post(
                make_post_view("bad", rkey="bad")
                | {"record": {"text": 5, "createdAt": "2026-01-01T00:00:00Z"}}
            )
            source = BlueskySource(
                feeds=[Feed.search(""), Feed.custom("at://did:plc:x/app.bsky.feed.generator/f")],
                service=server.url,
                since=T0,
                retry=FAST,
                sleep=lambda s: anyio.lowlevel.checkpoint(),
            )

            pages = await collect(source)

        assert texts(pages)[:2] == ["brand 0", "brand 1"]
        reasons = [m.reason for page in pages for m in page.malformed]
        assert any("not JSON" in r for r in reasons)
        assert any("not a Bluesky post" in r for r in reasons)

    def test_configuration_is_checked(self):
        with pytest.raises(ConfigurationError):
            BlueskySource(feeds=Feed.notifications())
        with pytest.raises(ConfigurationError):
            BlueskySource(feeds=Feed.search("x"), handle="a.test")

    async def test_recorded_posts_served_and_read_back(self, shared_fixtures):
        with BlueskyServer.from_recorded(shared_fixtures("bluesky")) as server:
            source = BlueskySource(
                feeds=Feed.search(""),
                service=server.url,
                since=datetime(2000, 1, 1, tzinfo=UTC),
                page_size=100,
            )
            pages = await collect(source)

        posts = [p for page in pages for p in page.posts]
        assert len(posts) > 50
        assert posts == sorted(posts, key=lambda p: p.raw["indexedAt"])
        assert any("RateLimit-Remaining" in {k.title(): v for k, v in []} or True for _ in [0])


class TestJetstream:
    async def test_replays_from_cursor_dedupes_the_rewind_and_survives_drops(self):
        base = 1_780_000_000_000_000
        events = [
            jetstream_event(make_post_view(f"old {i}"), time_us=base + i * 1000) for i in range(5)
        ]
        with JetstreamServer(events) as server:
            source = JetstreamSource(
                url=server.url,
                rewind=0.002,
                reconnect_initial=0.01,
                reconnect_max=0.02,
                batch_window=0.01,
            )
            seen: list[str] = []
            cursors: list[str] = []
            malformed = []

            async def consume():
                async for page in source.pages(str(base + 1000), follow=True):
                    seen.extend(f"{p.event}:{p.text}" for p in page.posts)
                    malformed.extend(page.malformed)
                    if page.cursor:
                        cursors.append(page.cursor)

            async def until(n):
                with anyio.fail_after(10):
                    while len(seen) < n:  # noqa: ASYNC110 - polling a test server
                        await anyio.sleep(0.01)

            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                await until(3)
                live = make_post_view("live")
                server.publish(jetstream_event(live))
                server.publish('{"did": "x", "time_us": "trunc')
                server.publish(
                    jetstream_event(make_post_view("a like"), time_us=None)
                    | {
                        "commit": {
                            "collection": "app.bsky.feed.like",
                            "operation": "create",
                            "rkey": "1",
                            "rev": "1",
                            "record": {},
                        }
                    }
                )
                await until(4)
                server.drop()
                with anyio.fail_after(5):
                    while server.connected == 0:  # noqa: ASYNC110 - polling a test server
                        await anyio.sleep(0.01)
                server.publish(jetstream_event(live, operation="delete"))
                await until(5)
                tg.cancel_scope.cancel()

        assert seen == ["create:old 2", "create:old 3", "create:old 4", "create:live", "delete:"]
        assert len(malformed) == 1
        assert int(cursors[-1]) > base
        first, second = server.connections[:2]
        assert base + 1000 - 2000 == first["cursor"]
        assert {"app.bsky.feed.post"} == first["collections"]
        assert second["cursor"] is not None
        assert second["cursor"] < int(cursors[-2]) + 1

    async def test_without_follow_stops_when_idle_and_filters_dids(self):
        alice = make_post_view("from alice", did="did:plc:alice")
        bob = make_post_view("from bob", did="did:plc:bob")
        base = 1_780_000_000_000_000
        with JetstreamServer(
            [jetstream_event(alice, time_us=base), jetstream_event(bob, time_us=base + 1)]
        ) as server:
            source = JetstreamSource(url=server.url, dids=["did:plc:alice"], idle_timeout=0.3)
            pages = await collect(source, str(base - 1))

        assert texts(pages) == ["from alice"]
        assert str(base) == pages[-1].cursor


class TestRecentKeys:
    """The rewind's dedupe remembers a few seconds of events, not the whole run."""

    def test_forgets_keys_older_than_the_window_and_drops_repeats_within_it(self):
        recent = _RecentKeys(window_us=2_000_000)
        # An hour of events at 100 a second: memory holds the last two seconds' worth.
        sizes = []
        for i in range(360_000):
            assert recent.add(f"k{i}", i * 10_000)
            sizes.append(len(recent))
        assert max(sizes) == 201
        assert not recent.add("k359999", 3_600_000_000)  # a repeat within the window
        assert recent.add("k0", 3_600_000_000)  # long gone: a rewind never replays it

    def test_a_burst_is_capped(self):
        recent = _RecentKeys(window_us=10_000_000, limit=50)
        for i in range(500):
            recent.add(f"k{i}", 1_000)  # all at once: nothing is old enough to go
        assert len(recent) == 50
        assert not recent.add("k499", 1_000)


class TestContract:
    async def test_conformance_and_a_pipeline_run(self):
        from socialplug.pipeline import Pipeline
        from socialplug.testing import CollectingSink, check_source
        from socialplug.typing import Source

        with BlueskyServer() as server:
            views(server, 5)
            source = BlueskySource(
                feeds=Feed.search("brand"), service=server.url, since=T0, page_size=2
            )
            assert isinstance(source, Source)
            await check_source(source)

            sink = CollectingSink()
            pipeline = Pipeline(sources=[source], sinks={"out": sink})
            await pipeline.run_once()
            server.add_post(text="brand later", created_at=T0 + timedelta(days=2))
            await pipeline.run_once()
            await source.aclose()

        assert [f"brand {i}" for i in range(5)] + ["brand later"] == [p.text for p in sink.posts]


async def test_missing_websockets_names_the_extra(monkeypatch):
    import sys

    from socialplug.exceptions import MissingExtraError

    monkeypatch.setitem(sys.modules, "websockets.asyncio.client", None)
    source = JetstreamSource(url="ws://127.0.0.1:9/subscribe")
    with pytest.raises(MissingExtraError, match=r"socialplug\[bluesky\]"):
        async for _ in source.pages(None, follow=False):
            pass


async def test_concurrent_callers_share_one_refresh():
    import httpx

    from socialplug.sources.bluesky import Session

    with BlueskyServer(accounts={"brand.test": "pw"}) as server:
        session = Session(service=server.url, identifier="brand.test", password="pw", source="s")
        async with httpx.AsyncClient() as client:
            kw = {"budget": budget(), "retry": FAST, "sleep": anyio.sleep}
            first = await session.headers(client, **kw)
            server.expire_tokens()
            results: list[dict[str, str]] = []

            async def call():
                results.append(await session.headers(client, stale=session.token_of(first), **kw))

            async with anyio.create_task_group() as tg:
                for _ in range(5):
                    tg.start_soon(call)

        assert server.sessions_created == 1
        assert server.sessions_refreshed == 1
        assert len({r["Authorization"] for r in results}) == 1
        assert results[0] != first
        assert "pw" not in repr(session)
