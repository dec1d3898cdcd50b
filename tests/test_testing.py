"""
socialplug.testing: the replay server, the conformance checks, FailingSink and make_post.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anyio
import httpx
import pytest

from socialplug import Delivery, Page, Post
from socialplug.exceptions import DeliveryError
from socialplug.sinks import CallableSink, ConsoleSink, JSONLSink, MemorySink
from socialplug.sources import IterableSource, JSONLSource
from socialplug.testing import (
    CollectingSink,
    ConformanceError,
    FailingSink,
    Recorded,
    Reply,
    StaticSource,
    check_sink,
    check_source,
    make_post,
    serve,
)
from socialplug.testing.mastodon import MastodonServer


OWN_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "testing"


class TestServe:
    def test_replies_in_order_then_404(self):
        """A list of replies is served in order; once used up, the route answers 404."""
        with (
            serve({"/items": [Reply(json=[1]), Reply(json=[2])]}) as server,
            httpx.Client(base_url=server.url) as client,
        ):
            bodies = [client.get("/items") for _ in range(3)]
            unknown = client.get("/elsewhere")

        assert [r.status_code for r in bodies] == [200, 200, 404]
        assert [bodies[0].json(), bodies[1].json()] == [[1], [2]]
        assert bodies[0].headers["content-type"] == "application/json"
        assert unknown.status_code == 404

    def test_repeat_last(self):
        """With repeat_last the final reply answers every later request."""
        with (
            serve({"/x": [Reply(status=503), Reply(body="ok")]}, repeat_last=True) as server,
            httpx.Client(base_url=server.url) as client,
        ):
            statuses = [client.get("/x").status_code for _ in range(4)]
        assert statuses == [503, 200, 200, 200]

    def test_single_reply_and_method_routes(self):
        """A lone Reply answers once; "POST /path" routes win over the bare path."""
        routes = {"/hook": Reply(body="any"), "POST /hook": [Reply(status=202)]}
        with serve(routes) as server, httpx.Client(base_url=server.url) as client:
            posted = client.post("/hook", content=b"x")
            got = client.get("/hook")
            again = client.get("/hook")
        assert (posted.status_code, got.text, again.status_code) == (202, "any", 404)

    def test_callable_decides_from_the_request(self):
        """A function route sees the recorded request and returns the reply."""

        def echo(request: Recorded) -> Reply:
            return Reply(status=201, json={"q": request.query.get("q"), "body": request.json()})

        with serve({"POST /echo": echo}) as server, httpx.Client(base_url=server.url) as client:
            replies = [client.post("/echo", params={"q": str(i)}, json={"n": i}) for i in range(3)]
        assert [r.json() for r in replies] == [{"q": [str(i)], "body": {"n": i}} for i in range(3)]
        assert {r.status_code for r in replies} == {201}

    def test_records_requests(self):
        """Every request is recorded with method, path, query, headers and body."""
        with (
            serve({"/a": Reply(body="", headers={"X-Extra": "1"})}) as server,
            httpx.Client(base_url=server.url) as client,
        ):
            response = client.put(
                "/a", params={"page": "2", "tag": ["x", "y"]}, content=b"payload",
                headers={"X-Token": "t"},
            )  # fmt: skip
            client.get("/b")

        assert response.headers["x-extra"] == "1"
        first = server.requests[0]
        assert (first.method, first.path, first.body) == ("PUT", "/a", b"payload")
        assert first.query == {"page": ["2"], "tag": ["x", "y"]}
        assert first.headers["X-Token"] == "t"
        assert server.paths() == ["/a?page=2&tag=x&tag=y", "/b"]

    def test_chunked_sse_reply_arrives_piece_by_piece(self):
        """chunks are flushed one by one, chunk_delay apart, then the connection closes."""
        chunks = [b"event: update\ndata: 1\n\n", b"event: update\ndata: 2\n\n"]
        reply = Reply(
            chunks=chunks, chunk_delay=0.3, headers={"Content-Type": "text/event-stream"}
        )
        arrivals: list[tuple[float, str]] = []
        with serve({"/stream": reply}) as server, httpx.Client(base_url=server.url) as client:
            start = time.monotonic()
            with client.stream("GET", "/stream") as response:
                assert response.headers["content-type"] == "text/event-stream"
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        arrivals.append((time.monotonic() - start, line))

        assert [line for _, line in arrivals] == ["data: 1", "data: 2"]
        assert arrivals[0][0] < 0.25  # the first event did not wait for the second
        assert arrivals[1][0] - arrivals[0][0] >= 0.2

    def test_delay_provokes_client_timeouts(self):
        """A delayed reply makes a client with a shorter timeout time out."""
        with (
            serve({"/slow": Reply(delay=0.5)}) as server,
            httpx.Client(base_url=server.url, timeout=0.1) as client,
            pytest.raises(httpx.ReadTimeout),
        ):
            client.get("/slow")


class TestReplyFixture:
    def test_own_fixture_with_sidecar(self):
        """A body and its .meta.json give status and recorded headers, without the
        transfer-level ones; extra headers override."""
        reply = Reply.fixture(
            OWN_FIXTURES / "statuses.json", headers={"X-RateLimit-Remaining": "0"}
        )

        assert reply.status == 200
        assert reply.body == (OWN_FIXTURES / "statuses.json").read_bytes()
        assert reply.headers["Link"].endswith('rel="next"')
        assert reply.headers["X-RateLimit-Remaining"] == "0"
        lowered = {k.lower() for k in reply.headers}
        assert not lowered & {"content-length", "transfer-encoding"}

        with serve({"/api/v1/timelines/public": reply}) as server:
            response = httpx.get(server.url + "/api/v1/timelines/public")
        assert response.json()[1]["id"] == "2"
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert response.headers["x-ratelimit-remaining"] == "0"

    def test_own_fixture_error_status(self):
        """The recorded status is replayed (a 429 with its Retry-After)."""
        with serve({"/": Reply.fixture(OWN_FIXTURES / "limited.json")}) as server:
            response = httpx.get(server.url + "/")
        assert (response.status_code, response.headers["retry-after"]) == (429, "7")

    def test_body_without_sidecar(self, tmp_path):
        """Without a sidecar the body is served with status 200."""
        body = tmp_path / "plain.txt"
        body.write_bytes(b"hello")
        reply = Reply.fixture(body)
        assert (reply.status, reply.body, dict(reply.headers)) == (200, b"hello", {})

    def test_shared_recorded_fixture(self, fixtures_dir):
        """A recorded Mastodon response replays with its body and its Link and rate-limit
        headers."""
        path = fixtures_dir / "mastodon" / "mastodonpy__bookmarks__02.json"
        meta = json.loads(path.with_name("mastodonpy__bookmarks__02.meta.json").read_text())
        with serve({"/api/v1/bookmarks": Reply.fixture(path)}) as server:
            response = httpx.get(server.url + "/api/v1/bookmarks")

        assert response.status_code == meta["response"]["status"]
        assert response.content == path.read_bytes()
        assert response.headers["link"] == meta["response"]["headers"]["link"]
        assert response.headers["x-ratelimit-remaining"] == "299"

    def test_shared_sse_fixture_finds_its_sidecar(self, fixtures_dir):
        """A double-suffixed body (.sse.txt) finds its sidecar and its content type."""
        path = fixtures_dir / "mastodon" / "mastodonpy__stream_user_local__05.sse.txt"
        reply = Reply.fixture(path)
        assert reply.headers["Content-Type"] == "text/event-stream"
        assert "Transfer-Encoding" not in reply.headers
        assert b"event: update" in path.read_bytes()


class RepeatingSource:
    """Broken: ignores the cursor, so resuming repeats what was read."""

    name = "repeating"

    def __init__(self) -> None:
        self.posts = [make_post() for _ in range(4)]

    async def pages(self, cursor: str | None, /, *, follow: bool = False) -> AsyncIterator[Page]:
        for i in range(0, 4, 2):
            yield Page(posts=self.posts[i : i + 2], cursor=str(i + 2))

    async def aclose(self) -> None:
        pass


class TerminalSource(StaticSource):
    """Broken: after aclose() it never reads again."""

    async def pages(self, cursor: str | None, /, *, follow: bool = False) -> AsyncIterator[Page]:
        if self.closed:
            return
        async for page in super().pages(cursor, follow=follow):
            yield page


class TerminalSink(MemorySink):
    """Broken: refuses to deliver after aclose()."""

    closed = False

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        if self.closed:
            raise RuntimeError("sink is closed")
        await super().deliver(batch)

    async def aclose(self) -> None:
        self.closed = True


class EmptyBatchSink(MemorySink):
    """Broken: chokes on an empty batch."""

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        batch[0]
        await super().deliver(batch)


@pytest.mark.anyio
class TestConformance:
    async def test_builtin_sources_pass(self, tmp_path):
        """The built-in sources keep the source contract."""
        posts = [make_post() for _ in range(5)]
        path = tmp_path / "in.jsonl"
        path.write_text("".join(p.to_json() + "\n" for p in posts), encoding="utf-8")

        for source in (
            IterableSource(posts, page_size=2),
            JSONLSource(path, page_size=2),
            StaticSource(posts, page_size=2),
        ):
            pages = await check_source(source)
            assert [p for page in pages for p in page.posts] == posts[:6]

    async def test_builtin_sinks_pass(self, tmp_path):
        """The built-in sinks keep the sink contract and receive the check's posts."""
        memory = MemorySink()
        stream = io.StringIO()
        called: list[Delivery] = []
        for sink in (
            memory,
            CollectingSink(),
            CallableSink(called.append),
            ConsoleSink(stream),
            JSONLSink(tmp_path / "out.jsonl"),
        ):
            await check_sink(sink)
        assert len(memory.deliveries) == 3
        assert len(called) == 3
        assert len(stream.getvalue().splitlines()) == 3
        assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 3

    async def test_source_repeating_after_resume_fails(self):
        """A source that ignores its cursor fails the check, naming the repeated keys."""
        source = RepeatingSource()
        with pytest.raises(ConformanceError, match="repeated") as info:
            await check_source(source)
        assert source.posts[0].key in str(info.value)

    async def test_source_with_terminal_aclose_fails(self):
        """A source that cannot read after aclose() fails the check."""
        with pytest.raises(ConformanceError, match="must not be terminal"):
            await check_source(TerminalSource([make_post(), make_post()]))

    async def test_one_shot_generator_fails(self):
        """An IterableSource over a one-shot generator cannot be re-read: the check says so."""
        source = IterableSource(iter([make_post(), make_post()]))
        with pytest.raises(ConformanceError, match="terminal"):
            await check_source(source)

    async def test_source_with_bad_name_or_pages_fails(self):
        """A blank name and a page that is not a Page are reported."""
        with pytest.raises(ConformanceError, match="name"):
            await check_source(StaticSource([make_post()], name=" padded "))

        class NotPages(StaticSource):
            async def pages(self, cursor, /, *, follow=False):  # type: ignore[override]
                yield [make_post()]

        with pytest.raises(ConformanceError, match="not a Page"):
            await check_source(NotPages([]))

    async def test_sink_with_terminal_aclose_fails(self):
        """A sink that refuses to deliver after aclose() fails with ConformanceError."""
        with pytest.raises(ConformanceError, match="after aclose"):
            await check_sink(TerminalSink())

    async def test_sink_rejecting_an_empty_batch_fails(self):
        """A sink that cannot take an empty batch fails with ConformanceError."""
        with pytest.raises(ConformanceError, match="empty batch"):
            await check_sink(EmptyBatchSink())


@pytest.mark.anyio
class TestFailingSink:
    async def test_fails_then_collects(self):
        """The first `times` calls raise the error; later batches are collected."""
        sink = FailingSink(times=2)
        post = make_post()
        batch = [Delivery(item=post, route="r", sink="s", key="k")]
        for _ in range(2):
            with pytest.raises(DeliveryError) as info:
                await sink.deliver(batch)
            assert info.value.retryable
        await sink.deliver(batch)

        assert sink.calls == 3
        assert sink.received.posts == [post]

    async def test_forever_with_custom_error(self):
        """times=None fails every call with the given error; nothing is collected."""
        sink = FailingSink(error=DeliveryError("gone", retryable=False), times=None)
        for _ in range(3):
            with pytest.raises(DeliveryError, match="gone"):
                await sink.deliver([])
        assert sink.calls == 3
        assert sink.received.deliveries == []


class TestMakePost:
    def test_fresh_ids_and_increasing_times(self):
        """Each post gets a new id and a later created_at; keys follow platform:id."""
        a, b = make_post(), make_post()
        assert a.id != b.id
        assert b.created_at > a.created_at
        assert a.key == f"test:{a.id}"
        assert a.created_at.utcoffset() is not None

    def test_overrides(self):
        """Any field can be overridden, and the result is a valid, serializable Post."""
        post = make_post(platform="mastodon", id="x1", text="hi", lang="fr", tags=("a",))
        assert (post.platform, post.id, post.key, post.text, post.lang, post.tags) == (
            "mastodon",
            "x1",
            "mastodon:x1",
            "hi",
            "fr",
            ("a",),
        )
        assert Post.from_json(post.to_json()) == post


def test_serve_shuts_down():
    """After the with block the port no longer accepts connections."""
    with serve({}) as server:
        url = server.url
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/", timeout=1.0)


def test_serve_is_usable_from_async_code():
    """The server runs in its own thread, so an async client in an event loop can use it."""

    async def main() -> int:
        with serve({"/": Reply(json={"ok": True})}) as server:
            async with httpx.AsyncClient() as client:
                return (await client.get(server.url + "/")).status_code

    assert anyio.run(main) == 200


class TestMastodonServerPosting:
    """The Mastodon imitation accepts replies the way Mastodon does."""

    def test_post_needs_the_token_and_a_text(self):
        """No or a wrong token answers 401; a body without ``status`` answers 422."""
        with MastodonServer(token="t0k") as server:
            url = f"{server.url}/api/v1/statuses"
            assert httpx.post(url, json={"status": "hi"}).status_code == 401
            wrong = httpx.post(url, json={"status": "hi"}, headers={"Authorization": "Bearer x"})
            assert wrong.status_code == 401
            empty = httpx.post(url, json={}, headers={"Authorization": "Bearer t0k"})
            assert empty.status_code == 422

    def test_idempotency_key_posts_once(self):
        """A repeated Idempotency-Key returns the first status: one status per key."""
        with MastodonServer(token="t0k") as server:
            url = f"{server.url}/api/v1/statuses"
            headers = {"Authorization": "Bearer t0k", "Idempotency-Key": "draft-1"}
            body = {"status": "Sorry <late>", "in_reply_to_id": "42"}
            first = httpx.post(url, json=body, headers=headers).json()
            again = httpx.post(url, json=body, headers=headers).json()
            other = httpx.post(url, json=body, headers={**headers, "Idempotency-Key": "d2"})
            timeline = httpx.get(f"{server.url}/api/v1/timelines/public").json()

        assert again["id"] == first["id"]
        assert other.json()["id"] != first["id"]
        assert first["in_reply_to_id"] == "42"
        assert first["content"] == "<p>Sorry &lt;late&gt;</p>"
        assert sorted(s["id"] for s in timeline) == sorted([first["id"], other.json()["id"]])
