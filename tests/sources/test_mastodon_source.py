from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import anyio
import anyio.lowlevel
import pytest

from socialplug import RetryPolicy
from socialplug._pacing import Budget
from socialplug.exceptions import AuthenticationError, ConfigurationError
from socialplug.model import Page
from socialplug.sources.mastodon import MastodonSource, Timeline
from socialplug.testing.mastodon import MastodonServer, make_status


pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FAST = RetryPolicy(attempts=3, wait_initial=0, wait_max=0, wait_jitter=0, timeout=None)


async def no_sleep(_seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


async def collect(source: MastodonSource, cursor: str | None = None) -> list[Page]:
    try:
        return [page async for page in source.pages(cursor, follow=False)]
    finally:
        await source.aclose()


def statuses(server: MastodonServer, n: int, *, tag: str = "brand", start: datetime = T0):
    return [
        server.add_status(
            content=f"<p>status {i}</p>", tags=[tag], created_at=start + timedelta(minutes=i)
        )
        for i in range(n)
    ]


def texts(pages: list[Page]) -> list[str]:
    return [p.text.split("\n")[0] for page in pages for p in page.posts]


class TestPaging:
    async def test_backfill_pages_forward_then_resumes_from_the_cursor(self):
        with MastodonServer() as server:
            statuses(server, 95)
            source = MastodonSource(
                servers=server.url,
                timelines=Timeline.tag("brand"),
                since=T0 - timedelta(days=1),
                page_size=40,
            )

            pages = await collect(source)
            assert [f"status {i}" for i in range(95)] == texts(pages)
            assert [len(p.posts) for p in pages] == [40, 40, 15]
            cursor = pages[-1].cursor
            assert cursor is not None

            again = await collect(source, cursor)
            assert texts(again) == []

            statuses(server, 3, start=T0 + timedelta(days=1))
            newer = await collect(source, cursor)

        assert texts(newer) == ["status 0", "status 1", "status 2"]
        assert any(
            ("min_id", json.loads(cursor)[f"{server.url[7:]}/tag:brand"]) in r.query
            for r in server.requests
        )

    async def test_backfill_stops_at_the_date(self):
        with MastodonServer() as server:
            statuses(server, 10)
            source = MastodonSource(
                servers=server.url,
                timelines=Timeline.tag("brand"),
                since=T0 + timedelta(minutes=6, seconds=30),
                page_size=3,
            )

            pages = await collect(source)

        assert texts(pages) == ["status 7", "status 8", "status 9"]

    async def test_first_run_without_date_reads_the_newest_page(self):
        with MastodonServer() as server:
            statuses(server, 50)
            source = MastodonSource(
                servers=server.url, timelines=Timeline.tag("brand"), page_size=5
            )

            pages = await collect(source)

        assert [f"status {i}" for i in range(45, 50)] == texts(pages)

    async def test_fan_out_dedupes_by_uri_and_keeps_one_cursor_each(self):
        shared = make_status(
            content="<p>everywhere</p>", tags=["brand"], server="https://origin.example"
        )
        with MastodonServer([shared]) as one, MastodonServer([shared]) as two:
            one.add_status(content="<p>only one</p>", tags=["brand"])
            two.add_status(content="<p>only two</p>", tags=["brand", "other"])
            source = MastodonSource(
                servers=[one.url, two.url],
                timelines=[Timeline.tag("brand"), Timeline.tag("other")],
                since=T0,
            )

            pages = await collect(source)

        keys = [p.key for page in pages for p in page.posts]
        assert len(keys) == len(set(keys))
        assert {"everywhere", "only one", "only two"} == set(texts(pages))
        positions = json.loads(pages[-1].cursor or "{}")
        assert {
            f"{one.url[7:]}/tag:brand",
            f"{one.url[7:]}/tag:other",
            f"{two.url[7:]}/tag:brand",
            f"{two.url[7:]}/tag:other",
        } == set(positions)

    async def test_tag_filters_are_sent_and_applied(self):
        with MastodonServer() as server:
            server.add_status(content="<p>a</p>", tags=["brand", "trains"])
            server.add_status(content="<p>b</p>", tags=["brand", "trains", "spam"])
            server.add_status(content="<p>c</p>", tags=["brand"])
            server.add_status(content="<p>d</p>", tags=["rail", "trains"])
            source = MastodonSource(
                servers=server.url,
                timelines=Timeline.tag(
                    "brand", any_tags=["rail"], all_tags=["trains"], none_tags=["spam"]
                ),
                since=T0,
            )

            pages = await collect(source)

        assert texts(pages) == ["a", "d"]
        query = server.requests[-1].query
        assert ("any[]", "rail") in query
        assert ("all[]", "trains") in query
        assert ("none[]", "spam") in query

    async def test_notifications_with_types_and_search(self):
        with MastodonServer(token="tok") as server:
            mention = server.add_status(content="<p>@brand help</p>")
            server.add_notification("mention", mention)
            server.add_notification("favourite", mention)
            server.add_notification("follow", None)
            server.add_status(content="<p>brand is great</p>")
            notifications = MastodonSource(
                servers=server.url,
                timelines=Timeline.notifications(["mention", "follow"]),
                token="tok",
            )
            search = MastodonSource(
                servers=server.url, timelines=Timeline.search("great"), token="tok"
            )

            got = await collect(notifications)
            found = await collect(search)

        posts = [p for page in got for p in page.posts]
        assert [p.annotations["notification"] for p in posts] == ["mention"]
        assert ("types[]", "mention") in server.requests[0].query
        assert texts(found) == ["brand is great"]

    async def test_public_local_account_list_and_home(self):
        with MastodonServer(token="tok") as server:
            local = server.add_status(content="<p>local</p>")
            server.add_status(
                content="<p>remote</p>", acct="bob@elsewhere.example", username="bob"
            )
            for timeline, expected in [
                (Timeline.public(local=True), ["local"]),
                (Timeline.public(), ["local", "remote"]),
                (Timeline.account(local["account"]["id"]), ["local"]),
                (Timeline.user_list("7"), ["local", "remote"]),
                (Timeline.home(), ["local", "remote"]),
            ]:
                source = MastodonSource(
                    servers=server.url, timelines=timeline, token="tok", since=T0
                )
                assert expected == texts(await collect(source)), timeline


class TestFailures:
    async def test_unauthorized_names_source_and_server_never_the_token(self):
        with MastodonServer(token="right") as server:
            source = MastodonSource(
                servers=server.url, timelines=Timeline.home(), token="wrong-secret-token"
            )

            with pytest.raises(AuthenticationError) as ei:
                await collect(source)

        assert source.name == ei.value.source
        assert server.url[7:] in str(ei.value)
        assert "wrong-secret-token" not in str(ei.value)
        assert "wrong-secret-token" not in repr(source)
        assert ei.value.status_code == 401

    async def test_429_and_5xx_are_retried_honouring_retry_after(self):
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        budget = Budget(sleep=sleep)
        with MastodonServer() as server:
            statuses(server, 2)
            server.fail(429, headers={"Retry-After": "7"})
            server.fail(503)
            source = MastodonSource(
                servers=server.url,
                timelines=Timeline.tag("brand"),
                retry=FAST,
                sleep=sleep,
                pacing=lambda host, token: budget,
            )

            pages = await collect(source)

        assert texts(pages) == ["status 0", "status 1"]
        assert 7.0 in waits

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            pytest.param(b"<html><body>Maintenance</body></html>", "text/html", id="html-page"),
            pytest.param(b'[{"id": "1", "content": "trunc', "application/json", id="truncated"),
            pytest.param(b'{"error": "not a list"}', "application/json", id="wrong-shape"),
        ],
    )
    async def test_bad_body_becomes_malformed_and_the_source_goes_on(self, body, content_type):
        with MastodonServer() as server:
            statuses(server, 2)
            server.fail(200, body=body, content_type=content_type)
            source = MastodonSource(
                servers=[server.url], timelines=[Timeline.tag("brand"), Timeline.tag("other")]
            )

            pages = await collect(source)

        assert sum(len(p.malformed) for p in pages) == 1
        bad = next(m for p in pages for m in p.malformed)
        assert body.decode() == bad.payload
        assert source.name == bad.source

    async def test_a_malformed_status_is_kept_and_the_rest_delivered(self):
        with MastodonServer() as server:
            good = statuses(server, 2)
            broken = dict(good[0], id=good[1]["id"] + "1")
            del broken["account"]
            server.add_status(broken)
            source = MastodonSource(servers=server.url, timelines=Timeline.public(), since=T0)

            pages = await collect(source)

        assert texts(pages) == ["status 0", "status 1"]
        assert sum(len(p.malformed) for p in pages) == 1

    def test_configuration_is_checked(self):
        with pytest.raises(ConfigurationError):
            MastodonSource(servers=[], timelines=Timeline.home())

    async def test_served_rate_limit_headers_pace_the_requests(self):
        """
        When the server says no request is left until its reset (an ISO 8601 time, as
        Mastodon sends it), the shared budget holds further requests until then: no 429.
        """
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            await anyio.sleep(seconds)

        budget = Budget(sleep=sleep)
        with MastodonServer(rate_limit=3, rate_window=1.0) as server:
            statuses(server, 8)
            source = MastodonSource(
                servers=server.url,
                timelines=Timeline.tag("brand"),
                page_size=2,
                since=T0,
                retry=RetryPolicy.disabled(),
                pacing=lambda host, token: budget,
            )

            pages = await collect(source)

        assert len(texts(pages)) == 8
        assert waits
        assert max(waits) > 0.2


class TestStreaming:
    async def test_stream_relays_updates_edits_deletes_and_catches_up_after_drops(self):
        with MastodonServer(heartbeat=0.2) as server:
            first = statuses(server, 2)
            source = MastodonSource(
                servers=server.url,
                timelines=Timeline.tag("brand"),
                since=T0,
                reconnect_initial=0.05,
                reconnect_max=0.1,
            )
            seen: list[tuple[str, str]] = []
            cursors: list[str] = []
            malformed = []

            async def wait_for(n: int) -> None:
                with anyio.fail_after(10):
                    while len(seen) < n:  # noqa: ASYNC110 - polling a test server
                        await anyio.sleep(0.02)

            async def consume() -> None:
                async for page in source.pages(None, follow=True):
                    seen.extend((p.event, p.text.split("\n")[0]) for p in page.posts)
                    malformed.extend(page.malformed)
                    if page.cursor:
                        cursors.append(page.cursor)

            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                await wait_for(2)
                with anyio.fail_after(5):
                    while server.stream_count == 0:  # noqa: ASYNC110 - polling a test server
                        await anyio.sleep(0.02)
                live = server.add_status(content="<p>live</p>", tags=["brand"])
                await wait_for(3)
                server.edit_status(live["id"], "<p>live, edited</p>")
                server.publish("update", '{"id": "1", "content": "trunc')
                server.delete_status(first[0]["id"])
                await wait_for(5)
                server.drop_streams()
                missed = server.add_status(content="<p>while away</p>", tags=["brand"])
                await wait_for(6)
                with anyio.fail_after(5):
                    while server.stream_count == 0:  # noqa: ASYNC110 - polling a test server
                        await anyio.sleep(0.02)
                server.add_status(content="<p>after</p>", tags=["brand"])
                await wait_for(7)
                tg.cancel_scope.cancel()
            await source.aclose()

        assert seen == [
            ("create", "status 0"),
            ("create", "status 1"),
            ("create", "live"),
            ("update", "live, edited"),
            ("delete", ""),
            ("create", "while away"),
            ("create", "after"),
        ]
        assert len(malformed) == 1
        assert missed["id"] in cursors[-1] or json.loads(cursors[-1])
        catch_ups = [r for r in server.requests if r.param("min_id") and r.path.endswith("/brand")]
        assert catch_ups, "reconnect must catch up over REST"
        stream_requests = [r for r in server.requests if "streaming" in r.path]
        assert len(stream_requests) >= 2


class TestContract:
    async def test_conformance_and_a_pipeline_run(self):
        from socialplug.pipeline import Pipeline
        from socialplug.testing import CollectingSink, check_source
        from socialplug.typing import Source

        with MastodonServer() as server:
            statuses(server, 7)
            source = MastodonSource(
                servers=server.url, timelines=Timeline.tag("brand"), since=T0, page_size=3
            )
            assert isinstance(source, Source)
            await check_source(source)

            sink = CollectingSink()
            pipeline = Pipeline(sources=[source], sinks={"out": sink})
            await pipeline.run_once()
            server.add_status(content="<p>later</p>", tags=["brand"])
            await pipeline.run_once()
            await source.aclose()

        assert [f"status {i}" for i in range(7)] + ["later"] == [
            p.text.split("\n")[0] for p in sink.posts
        ]


class TestExtras:
    async def test_missing_httpx_sse_names_the_extra(self, monkeypatch):
        import sys

        from socialplug.exceptions import MissingExtraError

        monkeypatch.setitem(sys.modules, "httpx_sse", None)
        with MastodonServer() as server:
            source = MastodonSource(servers=server.url, timelines=Timeline.public())
            with pytest.raises(MissingExtraError, match=r"socialplug\[mastodon\]"):
                async for _ in source.pages(None, follow=True):
                    pass
            await source.aclose()

    def test_importing_socialplug_imports_no_extra(self):
        import subprocess
        import sys

        code = (
            "import sys, socialplug, socialplug.sources, socialplug.sources.mastodon, "
            "socialplug.sources.bluesky; "
            "print([m for m in ('httpx_sse', 'websockets') if m in sys.modules])"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout

        assert out.strip() == "[]"


async def test_a_refused_stream_raises_the_authentication_error_itself():
    with MastodonServer(token="right") as server:
        source = MastodonSource(
            servers=server.url, timelines=Timeline.home(), token="wrong", retry=FAST
        )
        with pytest.raises(AuthenticationError):
            async for _ in source.pages('{"x": 1}', follow=True):
                pass
        await source.aclose()


class TestRecordedPayloads:
    async def test_recorded_statuses_served_and_read_back(self, shared_fixtures):
        folder = shared_fixtures("mastodon")
        with MastodonServer.from_recorded(folder) as server:
            source = MastodonSource(
                servers=server.url,
                timelines=Timeline.public(),
                since=datetime(2000, 1, 1, tzinfo=UTC),
            )
            pages = await collect(source)

        posts = [p for page in pages for p in page.posts]
        assert len(posts) > 150
        assert len({p.key for p in posts}) == len(posts)
        ids = [int(p.id) for p in posts]
        assert ids == sorted(ids)
        assert not [m for page in pages for m in page.malformed]

    async def test_recorded_stream_with_a_truncated_line(self, shared_fixtures):
        """
        The rtoot capture (49 statuses, one of them twice, and one truncated line) and the recorded Mastodon SSE
        events go through a live stream: every status arrives, the broken line is kept as
        malformed, the stream goes on.
        """
        folder = shared_fixtures("mastodon")
        capture = (folder / "rtoot__stream_capture_malformed.jsonl").read_text()
        lines = [line for line in capture.split("\n") if line]  # not splitlines(): U+2028
        recorded = [
            line.removeprefix("data: ")
            for line in (folder / "mastodonpy__stream_user_local__05.sse.txt")
            .read_text()
            .splitlines()
            if line.startswith("data: ")
        ]
        unique = len({json.loads(line)["uri"] for line in lines[:49]})
        with MastodonServer(heartbeat=0.2) as server:
            source = MastodonSource(servers=server.url, timelines=Timeline.public())
            posts, malformed = [], []

            async def consume():
                async for page in source.pages('{"x": 1}', follow=True):
                    posts.extend(page.posts)
                    malformed.extend(page.malformed)

            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                with anyio.fail_after(10):
                    while server.stream_count == 0:  # noqa: ASYNC110 - polling a test server
                        await anyio.sleep(0.02)
                for line in [*lines, *recorded]:
                    server.publish("update", line)
                with anyio.fail_after(10):
                    while len(posts) + len(malformed) < unique + len(recorded) + 1:  # noqa: ASYNC110
                        await anyio.sleep(0.02)
                tg.cancel_scope.cancel()
            await source.aclose()

        assert len(malformed) == 1
        assert malformed[0].payload == lines[49]
        assert len(posts) == unique + len(recorded)  # the capture repeats one status
        assert {"zh", "hu", "es", "fr"} <= {p.lang for p in posts}


async def test_a_silent_stream_is_reconnected():
    """
    No byte (not even a heartbeat) for longer than stream_timeout: the source reconnects.
    """
    with MastodonServer(heartbeat=30) as server:
        source = MastodonSource(
            servers=server.url,
            timelines=Timeline.public(),
            stream_timeout=0.3,
            reconnect_initial=0.01,
            reconnect_max=0.02,
        )

        async def consume():
            async for _ in source.pages('{"x": 1}', follow=True):
                pass

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            with anyio.fail_after(10):
                while len([r for r in server.requests if "streaming" in r.path]) < 3:  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
        await source.aclose()
