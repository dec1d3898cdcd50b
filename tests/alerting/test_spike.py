"""
Spike detection: volume and negative-share triggers, warmup, cooldown, minimum count,
per-key grouping, seasonality, and a quiet week that must stay quiet.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from alerting_streams import START, incident_stream, post, seasonal_week

from socialplug.alerting import Incidents, Monitor, Spike, backtest, by_matched, everything
from socialplug.exceptions import ConfigurationError
from socialplug.model import Post


pytestmark = pytest.mark.anyio


def spikes(report):
    return [f.alert for f in report.of_kind("spike")]


def flat(hours: float, per_minute: int = 1, *, sentiment: str = "neutral") -> list[Post]:
    """Exactly *per_minute* posts every minute for *hours* from START."""
    return [
        post(
            m * 100 + i,
            START + timedelta(minutes=m, seconds=i),
            text="acmerail",
            sentiment=sentiment,
        )
        for m in range(int(hours * 60))
        for i in range(per_minute)
    ]


def burst(at, count: int, *, sentiment: str = "negative", first: int = 10**6) -> list[Post]:
    """*count* posts in the minute starting *at*."""
    return [
        post(
            first + i,
            at + timedelta(seconds=i * 60 / count),
            text="acmerail stuck",
            sentiment=sentiment,
            likes=i,
        )
        for i in range(count)
    ]


class TestVolume:
    async def test_spike_alert_carries_numbers_and_samples(self):
        """Without incidents a raw spike alert is raised, with its numbers and top posts."""
        posts = flat(26) + burst(START + timedelta(hours=26), 40, sentiment="neutral")

        report = await backtest(posts, Monitor(spikes=[Spike(key=everything)]))

        (alert,) = spikes(report)
        assert alert.kind == "spike"
        assert alert.data["triggers"] == ["volume"]
        assert alert.data["count"] >= 30
        assert alert.data["expected"] == pytest.approx(10.0)
        assert alert.data["z"] > 4
        assert not alert.data["seasonal"]
        assert alert.data["key"] == "all"
        assert len(alert.posts) == 3
        likes = [p.engagement.likes for p in alert.posts]
        assert likes == sorted(likes, reverse=True)

    async def test_no_alert_during_warmup(self):
        """A key alerts only once it has a warmup's worth of history."""
        posts = flat(5) + burst(START + timedelta(hours=5), 60)

        report = await backtest(posts, Monitor(spikes=[Spike(key=everything)]))

        assert spikes(report) == []

    async def test_no_warmup_waits_for_one_complete_hour(self):
        """With warmup=0 a key can alert once one complete hour gives a baseline, not before."""
        early = flat(0.5) + burst(START + timedelta(minutes=30), 60)
        later = flat(3) + burst(START + timedelta(hours=3), 60)

        too_early = await backtest(
            early, Monitor(spikes=[Spike(key=everything, warmup=timedelta(0))])
        )
        in_time = await backtest(
            later, Monitor(spikes=[Spike(key=everything, warmup=timedelta(0))])
        )

        assert spikes(too_early) == []
        assert len(spikes(in_time)) == 1

    async def test_minimum_count(self):
        """A key whose window never reaches min_count never alerts, however rare it is."""
        posts = flat(26, 0) + [
            post(i, START + timedelta(hours=h), text="acmerail", sentiment="neutral")
            for i, h in enumerate(range(26))
        ]
        posts += burst(START + timedelta(hours=26, minutes=1), 9)

        report = await backtest(posts, Monitor(spikes=[Spike(key=everything, min_count=10)]))

        assert spikes(report) == []

    async def test_cooldown_spaces_alerts_of_a_long_surge(self):
        """A surge lasting an hour alerts again only after each cooldown."""
        posts = flat(26)
        for m in range(60):
            posts += burst(START + timedelta(hours=26, minutes=m), 20, first=10**6 + m * 100)

        spec = Spike(key=everything, cooldown=timedelta(minutes=20))
        report = await backtest(posts, Monitor(spikes=[spec]))

        times = [a.created_at for a in spikes(report)]
        assert len(times) == 3
        assert all(b - a >= timedelta(minutes=20) for a, b in itertools.pairwise(times))

    async def test_keys_are_counted_separately(self):
        """By matched query: a surge of one query alerts for that query only."""
        quiet = [p.annotate(matched=["fares"]) for p in flat(26)]
        loud = [p.annotate(matched=["tunnel"]) for p in flat(26)]
        loud = [attrs_id(p, "t") for p in loud]
        surge = [p.annotate(matched=["tunnel"]) for p in burst(START + timedelta(hours=26), 40)]

        report = await backtest(quiet + loud + surge, Monitor(spikes=[Spike(key=by_matched)]))

        assert [a.data["key"] for a in spikes(report)] == ["tunnel"]


def attrs_id(p: Post, prefix: str) -> Post:
    import attrs

    return attrs.evolve(p, id=prefix + p.id, key=prefix + p.key)


class TestNegativeShare:
    async def test_negative_turn_without_volume_change(self):
        """Same volume, but the mood turns: the negative-share trigger fires alone."""
        posts = flat(26, 2)
        posts += [
            post(
                10**6 + i,
                START + timedelta(hours=26, seconds=30 * i),
                text="acmerail",
                sentiment="negative",
            )
            for i in range(30)
        ]
        # Drop the neutral posts of that quarter hour, so the volume stays the same.
        turn = START + timedelta(hours=26)
        posts = [
            p
            for p in posts
            if not (turn <= p.created_at < turn + timedelta(minutes=15))
            or p.annotations["sentiment"] == "negative"
        ]

        report = await backtest(posts, Monitor(spikes=[Spike(key=everything)]))

        (alert,) = spikes(report)
        assert alert.data["triggers"] == ["negative"]
        assert alert.data["negative_share"] >= 0.6
        assert alert.title.startswith("Negative turn")

    async def test_negative_trigger_can_be_switched_off(self):
        """negative_share=None leaves volume as the only trigger."""
        posts = flat(26, 2)
        turn = START + timedelta(hours=26)
        posts = [
            attrs_sentiment(p) if turn <= p.created_at < turn + timedelta(minutes=15) else p
            for p in posts
        ]

        report = await backtest(
            posts, Monitor(spikes=[Spike(key=everything, negative_share=None)])
        )

        assert spikes(report) == []


def attrs_sentiment(p: Post) -> Post:
    return p.annotate(sentiment="negative")


class TestSeasonality:
    async def test_a_quiet_week_opens_no_incident(self):
        """
        A simulated week whose rate follows the day (night lull, two rush hours) and no
        surge opens no incident.
        """
        posts = seasonal_week()

        report = await backtest(
            posts,
            Monitor(spikes=[Spike(key=everything)], incidents=Incidents()),
            until=posts[-1].created_at + timedelta(hours=1),
        )

        assert report.of_kind("spike", "incident.opened") == ()
        assert report.incidents == ()

    async def test_surge_after_days_of_history_uses_seasonal_baseline(self):
        """After three days the baseline is the same hour on previous days."""
        posts, surge_start = incident_stream(before=timedelta(days=4, hours=2))

        report = await backtest(posts, Monitor(spikes=[Spike(key=everything)]))

        first = spikes(report)[0]
        assert first.data["seasonal"]
        assert surge_start <= first.created_at <= surge_start + timedelta(minutes=10)

    async def test_surge_on_top_of_the_daily_wave_is_found(self):
        """The same week with a 40-minute surge on Friday evening rush hour: one incident."""
        week = seasonal_week()
        surge_start = START + timedelta(days=4, hours=18)
        rush = sum(surge_start <= p.created_at < surge_start + timedelta(hours=1) for p in week)
        surge = [
            post(
                10**6 + i,
                surge_start + timedelta(seconds=i * 2400 / (rush * 10)),
                text="acmerail",
                sentiment="negative",
            )
            for i in range(rush * 10)
        ]

        report = await backtest(
            week + surge,
            Monitor(spikes=[Spike(key=everything)], incidents=Incidents()),
            onset=surge_start,
        )

        (incident,) = report.incidents
        assert incident.latency is not None
        assert incident.latency <= timedelta(minutes=10)


class TestConfiguration:
    def test_bad_spike_settings_are_refused(self):
        """A window that is not whole buckets, a bucket not dividing an hour, bad counts."""
        with pytest.raises(ConfigurationError) as info:
            Spike(
                window=timedelta(minutes=10, seconds=30),
                bucket=timedelta(minutes=7),
                min_count=0,
            )

        assert len(info.value.problems) == 3
        with pytest.raises(ConfigurationError, match="positive"):
            Spike(window=timedelta(0))
