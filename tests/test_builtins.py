"""
The built-in sources and sinks: IterableSource, JSONLSource, JSONLSink, CallableSink,
ConsoleSink and MemorySink, through their protocol methods.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import anyio
import pytest

from socialplug import Alert, Delivery, Page, Post
from socialplug.exceptions import ConfigurationError
from socialplug.model import delivery_key
from socialplug.sinks import CallableSink, ConsoleSink, JSONLSink, MemorySink
from socialplug.sources import IterableSource, JSONLSource
from socialplug.testing import make_post


pytestmark = pytest.mark.anyio


async def read_all(source, cursor: str | None = None) -> list[Page]:
    return [page async for page in source.pages(cursor, follow=False)]


def ids(pages: Sequence[Page]) -> list[str]:
    return [p.id for page in pages for p in page.posts]


def deliveries(*items: Post | Alert, route: str = "r", sink: str = "s") -> list[Delivery]:
    return [
        Delivery(item=i, route=route, sink=sink, key=delivery_key(route, sink, i.key))
        for i in items
    ]


def write_posts(path: Path, posts: Sequence[Post]) -> None:
    path.write_text("".join(p.to_json() + "\n" for p in posts), encoding="utf-8")


class TestIterableSource:
    async def test_list_in_pages_with_position_cursors(self):
        """A list is served in pages of page_size; each cursor counts the posts consumed."""
        posts = [make_post() for _ in range(5)]
        pages = await read_all(IterableSource(posts, page_size=2))

        assert [len(p.posts) for p in pages] == [2, 2, 1]
        assert [p.cursor for p in pages] == ["2", "4", "5"]
        assert ids(pages) == [p.id for p in posts]

    async def test_resume_from_cursor_skips_what_was_consumed(self):
        """Resuming from a page's cursor yields exactly the posts after it."""
        posts = [make_post() for _ in range(7)]
        source = IterableSource(posts, page_size=3)
        first = await read_all(source)
        resumed = await read_all(source, first[0].cursor)

        assert ids(resumed) == [p.id for p in posts[3:]]
        assert resumed[-1].cursor == "7"
        assert await read_all(source, "7") == []

    async def test_generator(self):
        """A generator is read once, in order."""
        posts = [make_post() for _ in range(3)]

        def gen() -> Iterator[Post]:
            yield from posts

        pages = await read_all(IterableSource(gen(), page_size=2))
        assert ids(pages) == [p.id for p in posts]

    async def test_async_generator_with_resume(self):
        """An async generator is paged like a list, and a cursor skips what it counts."""
        posts = [make_post() for _ in range(5)]

        async def agen() -> AsyncIterator[Post]:
            for post in posts:
                await anyio.lowlevel.checkpoint()
                yield post

        pages = await read_all(IterableSource(agen(), page_size=2))
        assert [p.cursor for p in pages] == ["2", "4", "5"]
        assert ids(pages) == [p.id for p in posts]

        resumed = await read_all(IterableSource(agen, page_size=2), "3")
        assert ids(resumed) == [p.id for p in posts[3:]]
        assert [p.cursor for p in resumed] == ["5"]

    async def test_factory_is_called_per_read(self):
        """A zero-argument factory gives a fresh iterable per read, so resuming works."""
        posts = [make_post() for _ in range(4)]
        calls = 0

        def factory() -> Iterator[Post]:
            nonlocal calls
            calls += 1
            return iter(posts)

        source = IterableSource(factory, page_size=3)
        first = await read_all(source)
        resumed = await read_all(source, first[0].cursor)

        assert calls == 2
        assert ids(resumed) == [posts[3].id]

    async def test_bad_arguments(self):
        """page_size below 1 and a non-iterable are configuration errors."""
        with pytest.raises(ConfigurationError):
            IterableSource([], page_size=0)
        with pytest.raises(ConfigurationError, match="expected posts"):
            await read_all(IterableSource(42))


class TestJSONLSource:
    async def test_byte_offset_cursors_and_resume(self, tmp_path):
        """Cursors are byte offsets after each page's last line; resuming reads the rest."""
        posts = [make_post(text="héllo wörld") for _ in range(5)]
        path = tmp_path / "in.jsonl"
        write_posts(path, posts)
        raw = path.read_bytes()
        ends = [i + 1 for i, b in enumerate(raw) if b == ord("\n")]

        source = JSONLSource(path, page_size=2)
        pages = await read_all(source)
        assert [p.cursor for p in pages] == [str(ends[1]), str(ends[3]), str(ends[4])]
        assert [p.posts for p in pages] == [tuple(posts[0:2]), tuple(posts[2:4]), (posts[4],)]

        resumed = await read_all(source, pages[0].cursor)
        assert ids(resumed) == [p.id for p in posts[2:]]
        assert await read_all(source, str(len(raw))) == []

    async def test_malformed_line_kept_with_its_text(self, tmp_path):
        """A bad line is skipped and reported as Malformed carrying the line, not the posts."""
        good = [make_post(), make_post()]
        path = tmp_path / "in.jsonl"
        path.write_text(
            good[0].to_json() + "\n{not json\n" + '{"platform": "x"}\n' + good[1].to_json() + "\n",
            encoding="utf-8",
        )
        pages = await read_all(JSONLSource(path, name="feed"))

        assert ids(pages) == [good[0].id, good[1].id]
        bad = [m for page in pages for m in page.malformed]
        assert [m.payload for m in bad] == ["{not json", '{"platform": "x"}']
        assert all(m.source == "feed" for m in bad)
        assert "JSONDecodeError" in bad[0].reason

    async def test_last_line_without_newline(self, tmp_path):
        """Without follow, a final line lacking a newline is read and the cursor is EOF."""
        posts = [make_post(), make_post()]
        path = tmp_path / "in.jsonl"
        path.write_text(posts[0].to_json() + "\n" + posts[1].to_json(), encoding="utf-8")
        pages = await read_all(JSONLSource(path))

        assert ids(pages) == [p.id for p in posts]
        assert pages[-1].cursor == str(path.stat().st_size)

    async def test_follow_picks_up_appended_lines_then_stops_when_cancelled(self, tmp_path):
        """Following tails the file: appended lines arrive, half-written ones wait for their
        newline, and cancelling the reader ends it."""
        path = tmp_path / "in.jsonl"
        first, second, third = make_post(), make_post(), make_post()
        write_posts(path, [first])
        source = JSONLSource(path, poll_interval=0.01)
        got: list[Post] = []
        cursors: list[str | None] = []

        async def wait_for(n: int) -> None:
            with anyio.fail_after(5):
                while len(got) < n:  # noqa: ASYNC110 - polling what the reader appended
                    await anyio.sleep(0.01)

        async with anyio.create_task_group() as tg:

            async def follow() -> None:
                async for page in source.pages(None, follow=True):
                    got.extend(page.posts)
                    cursors.append(page.cursor)

            tg.start_soon(follow)
            await wait_for(1)
            with path.open("a", encoding="utf-8") as f:
                f.write(second.to_json() + "\n" + third.to_json()[:10])
            await wait_for(2)
            await anyio.sleep(0.05)
            assert len(got) == 2  # the half-written line is not a post yet
            with path.open("a", encoding="utf-8") as f:
                f.write(third.to_json()[10:] + "\n")
            await wait_for(3)
            tg.cancel_scope.cancel()

        assert got == [first, second, third]
        assert cursors[-1] == str(path.stat().st_size)

    async def test_reads_jsonl_sink_lines(self, tmp_path):
        """The default parser reads what JSONLSink writes (the item inside each line)."""
        path = tmp_path / "out.jsonl"
        posts = [make_post(annotations={"score": 1.5}), make_post()]
        sink = JSONLSink(path)
        await sink.deliver(deliveries(*posts))
        await sink.aclose()

        pages = await read_all(JSONLSource(path))
        assert [p for page in pages for p in page.posts] == posts
        assert pages[0].posts[0].annotations == {"score": 1.5}

    async def test_custom_parse(self, tmp_path):
        """parse turns each line into a post; what it raises on becomes Malformed."""
        path = tmp_path / "in.txt"
        path.write_text("alpha\n\nbeta\nBOOM\n", encoding="utf-8")

        def parse(line: str) -> Post:
            if line == "BOOM":
                raise ValueError("no")
            return make_post(id=line, text=line)

        pages = await read_all(JSONLSource(path, parse=parse))
        assert ids(pages) == ["alpha", "beta"]
        assert [m.payload for page in pages for m in page.malformed] == ["BOOM"]

    async def test_custom_map_gets_decoded_json(self, tmp_path):
        """map receives each line decoded; bad JSON and what map raises on are Malformed."""
        path = tmp_path / "in.jsonl"
        path.write_bytes(
            b'{"id": "1", "text": "caf\xc3\xa9"}\n'
            b"{not json\n"
            b'{"id": "2", "text": "ok"}\n'
            b'["a list"]\n'
            b'{"id": "3", "text": "stray \xff byte"}\n'
        )

        def to_post(data: dict[str, str]) -> Post:
            return make_post(id=data["id"], text=data["text"])

        pages = await read_all(JSONLSource(path, map=to_post))
        posts = [p for page in pages for p in page.posts]
        assert [(p.id, p.text) for p in posts] == [
            ("1", "café"),
            ("2", "ok"),
            ("3", "stray \ufffd byte"),  # one stray byte costs one character, not the line
        ]
        bad = [m for page in pages for m in page.malformed]
        assert [m.payload for m in bad] == ["{not json", '["a list"]']
        assert bad[0].reason.startswith("JSONDecodeError")
        assert bad[1].reason.startswith("TypeError")

    def test_map_and_parse_are_exclusive(self, tmp_path):
        with pytest.raises(ConfigurationError, match="not both"):
            JSONLSource(tmp_path / "x.jsonl", map=Post.from_dict, parse=lambda line: make_post())


class TestJSONLSink:
    async def test_default_line_format_round_trips(self, tmp_path):
        """Each line holds route, delivery key and the full item; alerts survive too."""
        path = tmp_path / "deep" / "out.jsonl"
        post = make_post(lang="de", tags=("a", "b"))
        alert = Alert(kind="spike", key="spike:1", title="Spike", created_at=post.created_at)
        batch = deliveries(post, alert, route="ops", sink="archive")
        sink = JSONLSink(path)
        await sink.deliver(batch)
        await sink.aclose()
        await sink.aclose()
        await sink.deliver(batch[:1])  # reopens, appending
        await sink.aclose()

        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert [line["delivery"] for line in lines] == [d.key for d in (*batch, batch[0])]
        assert {line["route"] for line in lines} == {"ops"}
        assert lines[1]["item"]["type"] == "alert"
        assert Post.from_dict({k: v for k, v in lines[0]["item"].items() if k != "type"}) == post

    async def test_custom_render(self, tmp_path):
        """render may return a dict (dumped as JSON) or a ready string."""
        path = tmp_path / "out.jsonl"
        posts = [make_post(), make_post()]
        as_dict = JSONLSink(path, render=lambda d: {"id": d.post.id})
        as_text = JSONLSink(path, render=lambda d: f"raw {d.post.id}")
        await as_dict.deliver(deliveries(posts[0]))
        await as_text.deliver(deliveries(posts[1]))
        await as_dict.aclose()
        await as_text.aclose()

        assert path.read_text(encoding="utf-8").splitlines() == [
            json.dumps({"id": posts[0].id}),
            f"raw {posts[1].id}",
        ]

    async def test_rendered_lines_are_exactly_json_dumps(self, tmp_path):
        """A rendered dict is written as ``json.dumps(value, ensure_ascii=False)`` would."""
        path = tmp_path / "out.jsonl"
        values = [
            {"text": 'café ☕ \u2028 "q" \\ \n', "n": [1, 2.5, -0.0, None, True], "e": {}},
            {"nan": float("nan"), "inf": [float("inf")], "big": 2**70, "t": ("a", "b")},
        ]
        posts = [make_post(), make_post()]
        by_id = dict(zip((p.id for p in posts), values, strict=True))
        sink = JSONLSink(path, render=lambda d: by_id[d.post.id])
        await sink.deliver(deliveries(*posts))
        await sink.aclose()

        expected = "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in values)
        assert path.read_text(encoding="utf-8") == expected

    async def test_a_value_json_cannot_hold_names_its_type(self, tmp_path):
        """A rendered value that is not JSON fails the batch with dumps' own TypeError."""
        sink = JSONLSink(tmp_path / "out.jsonl", render=lambda d: {"tags": {"a"}})
        with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
            await sink.deliver(deliveries(make_post()))


class TestCallableSink:
    async def test_sync_function_per_delivery(self):
        """A sync function is called once per delivery, in batch order."""
        seen: list[str] = []
        batch = deliveries(make_post(), make_post())
        await CallableSink(lambda d: seen.append(d.key)).deliver(batch)
        assert seen == [d.key for d in batch]

    async def test_async_function(self):
        """An async function is awaited for each delivery."""
        seen: list[str] = []

        async def fn(delivery: Delivery) -> None:
            await anyio.lowlevel.checkpoint()
            seen.append(delivery.post.id)

        batch = deliveries(make_post(), make_post())
        await CallableSink(fn).deliver(batch)
        assert seen == [d.post.id for d in batch]

    async def test_async_callable_object(self):
        """An object with an async __call__ is awaited, not sent to a thread."""

        class Handler:
            def __init__(self) -> None:
                self.got: list[Delivery] = []

            async def __call__(self, delivery: Delivery) -> None:
                self.got.append(delivery)

        handler = Handler()
        batch = deliveries(make_post())
        await CallableSink(handler).deliver(batch)
        assert handler.got == batch

    async def test_batch_function_gets_the_whole_batch(self):
        """With batch=True the function is called once with the list."""
        calls: list[list[Delivery]] = []
        batch = deliveries(make_post(), make_post(), make_post())
        await CallableSink(calls.append, batch=True).deliver(batch)
        assert calls == [batch]

    async def test_blocking_function_runs_in_a_thread(self):
        """A blocking sync function runs in a worker thread and does not stall the loop."""
        threads: list[int] = []
        ticks = 0

        def slow(delivery: Delivery) -> None:
            threads.append(threading.get_ident())
            time.sleep(0.2)

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await anyio.sleep(0.01)
                ticks += 1

        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            await CallableSink(slow).deliver(deliveries(make_post()))
            tg.cancel_scope.cancel()

        assert threads
        assert threads[0] != threading.get_ident()
        assert ticks >= 5

    async def test_errors_propagate(self):
        """An exception of the function reaches the caller (the runtime classifies it)."""

        def boom(delivery: Delivery) -> None:
            raise RuntimeError("down")

        with pytest.raises(RuntimeError, match="down"):
            await CallableSink(boom).deliver(deliveries(make_post()))


class TestConsoleSink:
    async def test_text_lines(self):
        """One line per delivery: route, platform, author, time and the collapsed text,
        shortened to width; alerts show severity and title."""
        out = io.StringIO()
        post = make_post(text="train  stuck\n in the tunnel " + "x" * 50)
        alert = Alert(
            kind="spike", key="k", title="Mentions x5", severity="P2", created_at=post.created_at
        )
        await ConsoleSink(out, width=30).deliver(deliveries(post, alert, route="ops"))
        first, second = out.getvalue().splitlines()

        handle = post.author.handle
        stamp = f"{post.created_at:%Y-%m-%d %H:%M}"
        assert first == f"[ops] test @{handle} {stamp}: train stuck in the tunnel xxx…"
        assert second == "[ops] ALERT P2 spike: Mentions x5"

    async def test_json_lines(self):
        """With json=True each line is a JSON document with the route and the typed item."""
        out = io.StringIO()
        post = make_post(text="naïve")
        await ConsoleSink(out, json=True).deliver(deliveries(post, route="ops"))
        doc = json.loads(out.getvalue())

        assert doc["route"] == "ops"
        assert doc["type"] == "post"
        assert doc["text"] == "naïve"
        assert "naïve" in out.getvalue()  # not ASCII-escaped


class TestMemorySink:
    async def test_collects_batches_posts_and_alerts(self):
        """Deliveries are kept in order, per batch, split into posts and alerts; aclose keeps
        them and clear forgets them."""
        post = make_post()
        alert = Alert(kind="spike", key="k", title="t", created_at=post.created_at)
        sink = MemorySink()
        first, second = deliveries(post), deliveries(alert)
        await sink.deliver(first)
        await sink.deliver(second)
        await sink.aclose()

        assert sink.batches == [first, second]
        assert sink.items == [post, alert]
        assert sink.posts == [post]
        assert sink.alerts == [alert]
        sink.clear()
        assert sink.deliveries == []
        assert sink.batches == []
