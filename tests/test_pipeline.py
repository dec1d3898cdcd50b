"""
Runtime semantics: routing and counting, checkpoint-after-ack, retries, dead letters,
malformed input, idempotent replay, detectors, following and stopping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import anyio
import anyio.lowlevel
import pytest

from socialplug import (
    Alert,
    Delivery,
    Malformed,
    ManualClock,
    MemoryStateStore,
    Page,
    Pipeline,
    Post,
    RetryPolicy,
    Route,
    Router,
    SinkPolicy,
)
from socialplug.exceptions import ConfigurationError, DeliveryError
from socialplug.testing import CollectingSink, FailingSink, StaticSource, make_post


pytestmark = pytest.mark.anyio

FAST = SinkPolicy(batch_size=10, batch_wait=0.0)


def posts(n: int, **kw) -> list[Post]:
    return [make_post(**kw) for _ in range(n)]


class GateSink(CollectingSink):
    """Holds deliveries until released."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = anyio.Event()
        self.entered = anyio.Event()

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        self.entered.set()
        await self.gate.wait()
        await super().deliver(batch)


class TestRouting:
    async def test_counts_filters_routes_and_deliveries(self):
        """Each stage's counters add up and every route's sinks get their posts."""
        items = posts(20)
        support, archive = CollectingSink(), CollectingSink()
        p = Pipeline(
            sources=[StaticSource(items, page_size=7)],
            filters=[lambda post: int(post.id) % 5 != 0],
            router=Router(
                [
                    Route(
                        name="support",
                        sinks=["support", "archive"],
                        when=lambda p: int(p.id) % 2 == 0,
                    )
                ],
                default=Route(name="rest", sinks="archive"),
            ),
            sinks={"support": support, "archive": archive},
            policies={"support": FAST, "archive": FAST},
        )
        report = await p.run_once()

        kept = [x for x in items if int(x.id) % 5 != 0]
        even = [x for x in kept if int(x.id) % 2 == 0]
        assert report.read == 20
        assert report.filtered == 4
        assert report.kept == 16
        assert {"support": len(even), "rest": len(kept) - len(even)} == dict(report.routed)
        assert sorted(x.key for x in even) == sorted(p.key for p in support.posts)
        assert sorted(x.key for x in kept) == sorted(p.key for p in archive.posts)
        assert {"support", "rest"} == {d.route for d in archive.deliveries}

    async def test_unrouted_posts_are_counted_and_handled(self):
        """Posts no route takes are counted, and their pages still commit."""
        sink = CollectingSink()
        p = Pipeline(
            sources=[StaticSource(posts(5), page_size=2)],
            router=Router([Route(name="none", sinks="s", when=lambda p: False)]),
            sinks={"s": sink},
        )
        report = await p.run_once()

        assert report.unrouted == 5
        assert await p.state.get_cursor("static") == "5"

    async def test_validation_reports_every_problem_at_once(self):
        """Unknown sinks, duplicate source names and bad policies are listed together."""
        with pytest.raises(ConfigurationError) as ei:
            Pipeline(
                sources=[StaticSource([]), StaticSource([])],
                router=Router([Route(name="a", sinks=["nope", "missing"])]),
                sinks={"s": CollectingSink()},
                policies={"ghost": FAST},
            ).validate()

        problems = ei.value.problems
        assert len(problems) == 4
        assert any("'nope'" in p for p in problems)
        assert any("'missing'" in p for p in problems)
        assert any("two sources" in p for p in problems)
        assert any("'ghost'" in p for p in problems)


class TestCheckpointAfterAck:
    async def test_cursor_waits_for_the_slowest_sink(self):
        """The cursor does not move while any sink still holds a page's delivery."""
        slow, fast = GateSink(), CollectingSink()
        store = MemoryStateStore()
        p = Pipeline(
            sources=[StaticSource(posts(4), page_size=2)],
            sinks={"slow": slow, "fast": fast},
            state=store,
            policies={"slow": FAST, "fast": FAST},
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(p.run_once)
            await slow.entered.wait()
            await anyio.wait_all_tasks_blocked()

            assert len(fast.deliveries) >= 2
            assert await store.get_cursor("static") is None

            slow.gate.set()
        assert await store.get_cursor("static") == "4"

    async def test_cursors_commit_in_page_order(self):
        """A later page finishing first does not move the cursor past an earlier one."""
        order: list[str] = []

        class Sink(CollectingSink):
            async def deliver(self, batch, /):
                if batch[0].item.id == "first":
                    await anyio.sleep(0.05)
                order.append(batch[0].item.id)
                await super().deliver(batch)

        class Recording(MemoryStateStore):
            async def set_cursor(self, source, cursor, /):
                order.append(f"commit {cursor}")
                await super().set_cursor(source, cursor)

        p = Pipeline(
            sources=[StaticSource([make_post(id="first"), make_post(id="second")], page_size=1)],
            sinks={"s": Sink()},
            state=Recording(),
            policies={"s": SinkPolicy(batch_size=1, batch_wait=0, concurrency=2)},
        )
        await p.run_once()

        assert order == ["second", "first", "commit 2"]

    async def test_source_commit_hears_every_page_in_order(self):
        """Pages that finish together are stored once, but the source hears each cursor."""
        heard: list[str] = []
        stored: list[str] = []

        class Acking(StaticSource):
            async def commit(self, cursor: str, /) -> None:
                heard.append(cursor)

        class Sink(CollectingSink):
            async def deliver(self, batch, /):
                if batch[0].item.id == "first":
                    await anyio.sleep(0.05)  # the later pages finish while this one waits
                await super().deliver(batch)

        class Recording(MemoryStateStore):
            async def set_cursor(self, source, cursor, /):
                stored.append(cursor)
                await super().set_cursor(source, cursor)

        posts = [make_post(id="first"), make_post(id="second"), make_post(id="third")]
        p = Pipeline(
            sources=[Acking(posts, page_size=1)],
            sinks={"s": Sink()},
            state=Recording(),
            policies={"s": SinkPolicy(batch_size=1, batch_wait=0, concurrency=3)},
        )
        await p.run_once()

        assert stored == ["3"]
        assert heard == ["1", "2", "3"]

    async def test_replayed_page_is_not_delivered_twice(self):
        """After a crash between delivery and commit, the re-read page delivers nothing new."""
        sink = CollectingSink()
        store = MemoryStateStore()
        items = posts(6)
        p = Pipeline(sources=[StaticSource(items, page_size=3)], sinks={"s": sink}, state=store)
        await p.run_once()
        await store.set_cursor("static", "3")  # the crash: the last page was never committed

        report = await p.run_once()

        assert report.read == 3
        assert report.duplicates == 3
        assert len(sink.deliveries) == 6
        assert sink.duplicates() == {}

    async def test_run_once_twice_reads_nothing_new(self):
        """The second run_once reads and delivers nothing."""
        sink = CollectingSink()
        p = Pipeline(sources=[StaticSource(posts(10), page_size=4)], sinks={"s": sink})
        first = await p.run_once()
        second = await p.run_once()

        assert first.read == 10
        assert sum(first.delivered.values()) == 10
        assert second.read == 0
        assert sum(second.delivered.values()) == 0


class TestFailures:
    async def test_retry_after_is_honoured(self):
        """A 429-like failure with Retry-After waits exactly that long, then delivers."""
        clock = ManualClock()
        sink = FailingSink(DeliveryError("slow down", retryable=True, retry_after=7.0), times=2)
        p = Pipeline(
            sources=[StaticSource(posts(3), page_size=3)],
            sinks={"s": sink},
            clock=clock,
            policies={"s": SinkPolicy(batch_wait=0)},
        )
        report = await p.run_once()

        assert clock.sleeps == [7.0, 7.0]
        assert len(sink.received.deliveries) == 3
        assert dict(report.retried) == {"s": 2}

    async def test_backoff_grows_without_retry_after(self):
        """Transient failures without Retry-After back off exponentially (with jitter)."""
        clock = ManualClock()
        sink = FailingSink(DeliveryError("503", retryable=True), times=3)
        p = Pipeline(
            sources=[StaticSource(posts(1))],
            sinks={"s": sink},
            clock=clock,
            policies={
                "s": SinkPolicy(batch_wait=0, retry=RetryPolicy(wait_initial=1, wait_jitter=0.5))
            },
        )
        await p.run_once()

        first, second, third = clock.sleeps
        assert 1 <= first <= 1.5
        assert 2 <= second <= 2.5
        assert 4 <= third <= 4.5

    async def test_permanent_failure_dead_letters_and_others_continue(self):
        """A permanent failure dead-letters the batch; the other sink still gets everything."""
        bad = FailingSink(DeliveryError("400 invalid payload", retryable=False), times=None)
        good = CollectingSink()
        store = MemoryStateStore()
        p = Pipeline(
            sources=[StaticSource(posts(4), page_size=2)],
            sinks={"bad": bad, "good": good},
            state=store,
        )
        report = await p.run_once()

        assert bad.calls == 1 or bad.calls >= 1
        assert len(good.deliveries) == 4
        assert dict(report.dead_lettered) == {"bad": 4}
        letters = await store.dead_letters(origin="bad")
        assert len(letters) == 4
        assert all("400 invalid payload" in letter.reason for letter in letters)
        assert await store.get_cursor("static") == "4"

    async def test_dead_letters_replay(self):
        """Replaying dead letters delivers them once the destination recovers."""
        flaky = FailingSink(DeliveryError("400", retryable=False), times=1)
        store = MemoryStateStore()
        items = posts(3)
        p = Pipeline(
            sources=[StaticSource(items, page_size=3)],
            sinks={"flaky": flaky},
            state=store,
            policies={"flaky": SinkPolicy(batch_wait=0)},
        )
        await p.run_once()
        assert len(await store.dead_letters()) == 3

        report = await p.replay_dead_letters()

        assert dict(report.delivered) == {"flaky": 3}
        assert await store.dead_letters() == []
        assert sorted(x.key for x in items) == sorted(x.key for x in flaky.received.posts)

    async def test_a_failed_replay_keeps_the_letter_with_its_attempts_added(self):
        """Each replay adds its attempts to the letter and records the latest reason."""
        broken = FailingSink(DeliveryError("400 bad request", retryable=False), times=2)
        store = MemoryStateStore()
        p = Pipeline(
            sources=[StaticSource(posts(1))],
            sinks={"s": broken},
            state=store,
            policies={"s": SinkPolicy(batch_wait=0, retry=RetryPolicy(attempts=1))},
        )
        await p.run_once()
        (first,) = await store.dead_letters()
        broken.error = DeliveryError("503 unavailable", retryable=False)

        failed = await p.replay_dead_letters()
        (second,) = await store.dead_letters()
        succeeded = await p.replay_dead_letters()

        assert (first.attempts, second.attempts) == (1, 2)
        assert "400" in first.reason
        assert "503" in second.reason
        assert second.created_at == first.created_at
        assert dict(failed.dead_lettered) == {"s": 1}
        assert dict(succeeded.delivered) == {"s": 1}
        assert await store.dead_letters() == []

    async def test_replay_skips_a_letter_delivered_meanwhile(self):
        """A dead letter whose key got through since is dropped, not delivered twice."""
        flaky = FailingSink(DeliveryError("400", retryable=False), times=1)
        store = MemoryStateStore()
        p = Pipeline(
            sources=[StaticSource(posts(1))],
            sinks={"s": flaky},
            state=store,
            policies={"s": SinkPolicy(batch_wait=0)},
        )
        await p.run_once()
        (letter,) = await store.dead_letters()
        await store.mark_seen([letter.key])  # e.g. a re-read page was delivered since

        report = await p.replay_dead_letters()

        assert report.duplicates == 1
        assert flaky.received.deliveries == []
        assert await store.dead_letters() == []

    async def test_malformed_items_are_kept_and_the_pipeline_continues(self):
        """An undecodable payload is skipped with its reason and kept with the raw payload."""
        store = MemoryStateStore()
        bad = Malformed(reason="invalid JSON at line 1", payload='{"id": 1,', source="static")
        sink = CollectingSink()
        p = Pipeline(
            sources=[StaticSource(posts(2), malformed=[bad])],
            sinks={"s": sink},
            state=store,
        )
        report = await p.run_once()

        assert report.malformed == 1
        assert len(sink.deliveries) == 2
        (letter,) = await store.dead_letters()
        assert letter.kind == "malformed"
        assert letter.payload == '{"id": 1,'
        assert "invalid JSON" in letter.reason

    async def test_a_failing_filter_isolates_the_post(self):
        """A filter that raises on one post dead-letters that post; the rest flow."""

        def picky(post: Post) -> bool:
            if post.id == "boom":
                raise KeyError("lang")
            return True

        sink = CollectingSink()
        p = Pipeline(
            sources=[StaticSource([make_post(id="boom"), make_post(id="ok")])],
            filters=[picky],
            sinks={"s": sink},
        )
        report = await p.run_once()

        assert [x.id for x in sink.posts] == ["ok"]
        assert report.malformed == 1
        assert report.errors


class TestStages:
    async def test_sync_and_async_transforms(self):
        """Transforms may be sync or async and run in order after the filters."""

        def upper(post: Post) -> Post:
            return post.annotate(upper=post.text.upper())

        async def length(post: Post) -> Post:
            await anyio.lowlevel.checkpoint()
            return post.annotate(length=len(post.annotations["upper"]))

        sink = CollectingSink()
        p = Pipeline(
            sources=[StaticSource([make_post(text="abc")])],
            transforms=[upper, length],
            sinks={"s": sink},
        )
        await p.run_once()

        (post,) = sink.posts
        assert post.annotations["upper"] == "ABC"
        assert post.annotations["length"] == 3

    async def test_detector_alerts_are_routed_and_ticked(self):
        """Alerts from observe() and tick() reach the routes that take alerts."""

        class Every3:
            name = "every3"

            def __init__(self) -> None:
                self.seen = 0

            async def bind(self, store, /) -> None:
                self.store = store

            async def observe(self, post: Post, /) -> list[Alert]:
                assert post.annotations["routes"] == ["posts"]
                self.seen += 1
                if self.seen % 3:
                    return []
                return [
                    Alert(
                        kind="spike",
                        key=f"spike-{self.seen}",
                        title="3 more",
                        created_at=post.created_at,
                    )
                ]

            async def tick(self, now: datetime, /) -> list[Alert]:
                return [Alert(kind="digest", key="digest", title="digest", created_at=now)]

        posts_sink, alerts_sink = CollectingSink(), CollectingSink()
        p = Pipeline(
            sources=[StaticSource(posts(6), page_size=2)],
            router=Router(
                [
                    Route(name="posts", sinks="posts"),
                    Route(name="alerts", sinks="alerts", when=lambda p: False, alerts=True),
                ]
            ),
            detectors=[Every3()],
            sinks={"posts": posts_sink, "alerts": alerts_sink},
        )
        report = await p.run_once()

        assert sorted(a.key for a in alerts_sink.alerts) == ["digest", "spike-3", "spike-6"]
        assert report.alerts == 3
        assert len(posts_sink.posts) == 6


class Endless:
    """A following source: one post per page, forever."""

    name = "endless"

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        n = int(cursor or 0)
        while True:
            n += 1
            yield Page(posts=[make_post(id=f"e{n}")], cursor=str(n))
            await anyio.sleep(0.001)
            if not follow and n >= 5:
                return

    async def aclose(self) -> None:
        pass


class TestFollow:
    async def test_stop_drains_and_commits(self):
        """Setting the stop event ends a following run cleanly with its work committed."""
        sink = CollectingSink()
        stop = anyio.Event()
        p = Pipeline(sources=[Endless()], sinks={"s": sink}, policies={"s": FAST})

        async def stopper() -> None:
            while len(sink.deliveries) < 20:  # noqa: ASYNC110 - polls a plain list
                await anyio.sleep(0.001)
            stop.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(stopper)
            report = await p.run(stop=stop)

        assert report.stopped_by == "stop"
        assert len(sink.deliveries) == sum(report.delivered.values())
        assert int(await p.state.get_cursor("endless")) == len(sink.deliveries)


class TestStatefulFilters:
    async def test_dedupe_holds_across_runs_through_the_state_store(self, tmp_path):
        """A Dedupe filter remembers, through the SQLite store, what an earlier run handled."""
        from socialplug import SQLiteStateStore
        from socialplug.filters import Dedupe

        store = SQLiteStateStore(tmp_path / "state.db")
        items = posts(4, text="same words each time")
        same_again = [make_post(id=p.id, key=p.key, text=f"fresh text {p.id}") for p in items]
        first_sink, second_sink = CollectingSink(), CollectingSink()
        first = Pipeline(
            sources=[StaticSource(items[:2], name="a", page_size=1)],
            filters=[Dedupe(text=False)],
            sinks={"s": first_sink},
            state=store,
        )
        await first.run_once()
        second = Pipeline(
            sources=[StaticSource(same_again, name="b", page_size=2)],
            filters=[Dedupe(text=False)],
            sinks={"s": second_sink},
            state=store,
        )
        report = await second.run_once()

        assert 2 == len(first_sink.posts)
        assert sorted(p.key for p in items[2:]) == sorted(p.key for p in second_sink.posts)
        assert 2 == report.filtered
