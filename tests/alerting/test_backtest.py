"""
The backtest report, the Detector contract, and throttling per key.
"""

from __future__ import annotations

from datetime import timedelta

import anyio
import anyio.lowlevel
import pytest
from alerting_streams import START, incident_stream, post
from alerting_support import DictStore

from socialplug.alerting import (
    Bucket,
    Digest,
    Incidents,
    Monitor,
    Spike,
    Throttle,
    backtest,
    everything,
)
from socialplug.clock import ManualClock
from socialplug.exceptions import ConfigurationError, StateError
from socialplug.model import Post
from socialplug.typing import Detector


pytestmark = pytest.mark.anyio


async def test_report_counts_routes_unrouted_and_sinks(router):
    """Posts the router does not take are counted unrouted and never observed."""
    posts = [
        post(i, START + timedelta(minutes=i), text="acmerail", sentiment="neutral")
        for i in range(5)
    ]
    posts += [post(9, START, text="weather", sentiment="neutral")]

    report = await backtest(posts, Monitor(router=router), until=START + timedelta(hours=1))

    assert report.posts == 6
    assert report.routed == {"support": 5}
    assert report.unrouted == 1
    assert report.start == START
    assert report.end == START + timedelta(hours=1)
    assert report.alerts == ()
    assert report.to_sink("support-chat") == ()


async def test_monitor_is_a_detector_and_needs_binding():
    """The Monitor matches the Detector protocol; ticking before bind() is a StateError."""
    watcher = Monitor()

    assert isinstance(watcher, Detector)
    with pytest.raises(StateError, match="bind"):
        await watcher.tick(START)


async def test_tick_must_be_positive():
    """A backtest ticking every zero seconds is refused."""
    with pytest.raises(ConfigurationError):
        await backtest([], Monitor(), tick=timedelta(0))


async def test_per_key_throttle_holds_repeated_spikes_for_the_digest():
    """
    Raw spikes of one key, one token a day: the first passes, the re-fires after each
    cooldown are held and listed in the digest.
    """
    posts, _ = incident_stream(surge=timedelta(minutes=60))
    watcher = Monitor(
        spikes=[Spike(key=everything, cooldown=timedelta(minutes=10))],
        throttle=Throttle(key=Bucket(1, timedelta(days=1))),
        digests=[Digest(every=timedelta(hours=6))],
    )

    report = await backtest(posts, watcher, until=posts[-1].created_at + timedelta(hours=6))

    spikes = report.of_kind("spike")
    assert len(spikes) == 1
    held = [h for f in report.of_kind("digest") for h in f.alert.data["held_back"]]
    assert len(held) >= 3
    assert {h["kind"] for h in held} == {"spike"}


class YieldingStore(DictStore):
    """A store that lets other tasks run inside every call, like a real database does."""

    async def put_record(self, namespace, key, value, /, *, ttl=None):
        await anyio.lowlevel.checkpoint()
        await super().put_record(namespace, key, value, ttl=ttl)

    async def delete_record(self, namespace, key, /):
        await anyio.lowlevel.checkpoint()
        await super().delete_record(namespace, key)

    async def records(self, namespace, /):
        await anyio.lowlevel.checkpoint()
        return await super().records(namespace)


async def test_observe_and_tick_from_two_tasks(router):
    """
    The pipeline observes and ticks from two tasks: interleaved at every store call, the
    monitor still opens one incident and the store ends up with what memory holds.
    """
    posts, surge_start = incident_stream()
    store = YieldingStore()
    clock = ManualClock(current=posts[0].created_at)
    watcher = Monitor(
        router=router,
        spikes=[Spike(cooldown=timedelta(minutes=5))],
        incidents=Incidents(quiet=timedelta(minutes=30)),
        clock=clock,
    )
    await watcher.bind(store)
    raised: list[str] = []
    done = anyio.Event()

    async def feed() -> None:
        for p in posts:
            if p.created_at > surge_start + timedelta(minutes=40):
                break
            clock.set(p.created_at)
            raised.extend(a.kind for a in await watcher.observe(p.annotate(routes=["support"])))
        done.set()

    async def ticker() -> None:
        while not done.is_set():
            raised.extend(a.kind for a in await watcher.tick(clock.now()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(feed)
        tg.start_soon(ticker)
    await watcher.tick(clock.now())

    assert raised.count("incident.opened") == 1
    assert raised.count("escalation") == 2
    stored = await store.records("monitor.incidents")
    assert [r["key"] for r in stored.values()] == [i["incident"] for i in watcher.open_incidents()]
    (record,) = stored.values()
    assert record["tier"] == 2


async def test_recorded_jsonl_replays_like_the_live_posts(tmp_path, router):
    """Posts recorded as JSON lines (timestamps and annotations included) replay the same."""
    posts, _ = incident_stream()
    recording = tmp_path / "mentions.jsonl"
    recording.write_text("".join(p.to_json() + "\n" for p in posts), encoding="utf-8")
    replayed = [
        Post.from_json(line) for line in recording.read_text(encoding="utf-8").splitlines()
    ]

    live = await backtest(posts, Monitor(router=router, spikes=[Spike()], incidents=Incidents()))
    again = await backtest(
        replayed, Monitor(router=router, spikes=[Spike()], incidents=Incidents())
    )

    assert [(f.at, f.alert.key) for f in again.alerts] == [
        (f.at, f.alert.key) for f in live.alerts
    ]
    assert [i.latency for i in again.incidents] == [i.latency for i in live.incidents]
