"""
The backtest report, the Detector contract, and throttling per key.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from alerting_streams import START, incident_stream, post

from socialplug.alerting import (
    Bucket,
    Digest,
    Monitor,
    Spike,
    Throttle,
    backtest,
    everything,
)
from socialplug.exceptions import ConfigurationError, StateError
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
