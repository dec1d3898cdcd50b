"""
Digests (periodic and every N posts) and gap alerts (silent and failing sources).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from alerting_streams import START, post

from socialplug.alerting import Digest, Gaps, Monitor, backtest
from socialplug.clock import ManualClock
from socialplug.exceptions import ConfigurationError


pytestmark = pytest.mark.anyio


def mood_posts(n: int, *, start=START, step=timedelta(minutes=1)):
    moods = ["negative", "neutral", "positive", "negative"]
    return [
        post(i, start + i * step, text="acmerail", sentiment=moods[i % 4], likes=i % 7).annotate(
            matched=["acmerail", "delay"] if i % 2 else ["acmerail"]
        )
        for i in range(n)
    ]


class TestDigest:
    async def test_every_n_posts_holds_counts_top_posts_sentiment_and_terms(self):
        """A digest every 8 posts summarises exactly those posts."""
        report = await backtest(
            mood_posts(16), Monitor(digests=[Digest(every=None, posts=8, top=2)])
        )

        digests = [f.alert for f in report.of_kind("digest")]
        assert len(digests) == 2
        first = digests[0]
        assert first.data["count"] == 8
        assert first.data["sentiment"] == {
            "negative": 4,
            "neutral": 2,
            "positive": 2,
            "unknown": 0,
        }
        assert first.data["top_terms"] == [["acmerail", 8], ["delay", 4]]
        assert [p.engagement.likes for p in first.posts] == [6, 5]
        assert first.key != digests[1].key

    async def test_hourly_digest_is_aligned_and_skips_empty_hours(self):
        """Hourly digests come at the top of the hour; an hour without posts sends nothing."""
        posts = mood_posts(10, start=START + timedelta(minutes=5))
        posts += mood_posts(3, start=START + timedelta(hours=2, minutes=10))
        posts = [p.annotate(routes=["support"]) for p in posts]

        report = await backtest(
            posts,
            Monitor(digests=[Digest(route="support", every=timedelta(hours=1))]),
            until=START + timedelta(hours=4),
        )

        sent = report.of_kind("digest")
        assert [START + timedelta(hours=1), START + timedelta(hours=3)] == [f.at for f in sent]
        assert [f.alert.data["count"] for f in sent] == [10, 3]
        assert sent[0].alert.route == "support"

    async def test_digest_survives_a_restart(self, store):
        """What a digest accumulated is in the store: a restart does not reset the count."""
        posts = mood_posts(6)
        digest = Digest(every=timedelta(hours=1))

        await backtest(posts[:4], Monitor(digests=[digest]), store=store)
        report = await backtest(
            posts[4:], Monitor(digests=[digest]), store=store, until=START + timedelta(hours=1)
        )

        (sent,) = report.of_kind("digest")
        assert sent.alert.data["count"] == 6

    def test_digest_needs_a_period_or_a_count(self):
        """Neither every nor posts is a configuration error."""
        with pytest.raises(ConfigurationError):
            Digest(every=None)


class TestGaps:
    async def test_silent_source_alerts_once_and_all_clear_when_back(self, store):
        """Silent for longer than allowed: one gap alert; the next post: one all-clear."""
        posts = mood_posts(5) + mood_posts(2, start=START + timedelta(hours=2))
        gaps = Gaps(expect={"mastodon:#acmerail": timedelta(minutes=30)})

        report = await backtest(posts, Monitor(gaps=gaps), store=store)

        kinds = [(f.alert.kind, f.at) for f in report.alerts]
        assert [
            ("gap", START + timedelta(minutes=35)),
            ("gap.resolved", START + timedelta(hours=2)),
        ] == kinds
        assert report.alerts[0].alert.data["reason"] == "silent"
        assert report.alerts[0].alert.severity == "P2"

    async def test_silence_alert_is_not_repeated_after_restart(self, store):
        """The 'already told' flag lives in the store."""
        gaps = Gaps(expect={"mastodon:#acmerail": timedelta(minutes=30)})
        clock = ManualClock(current=START)
        watcher = Monitor(gaps=gaps, clock=clock)
        await watcher.bind(store)
        await watcher.observe(mood_posts(1)[0])

        first = await watcher.tick(START + timedelta(hours=1))
        again = Monitor(gaps=gaps, clock=clock)
        await again.bind(store)
        second = await again.tick(START + timedelta(hours=2))

        assert [a.kind for a in first] == ["gap"]
        assert list(second) == []

    async def test_failing_source_alerts_when_errors_persist(self, store):
        """Errors for longer than `failing` raise a gap alert naming the last error."""
        clock = ManualClock(current=START)
        watcher = Monitor(gaps=Gaps(failing=timedelta(minutes=10)), clock=clock)
        await watcher.bind(store)

        watcher.source_failed("reddit:r/trains", "HTTP 503 from reddit.com")
        early = await watcher.tick(START + timedelta(minutes=5))
        clock.advance(600)
        watcher.source_failed("reddit:r/trains", "HTTP 503 from reddit.com")
        late = await watcher.tick(START + timedelta(minutes=11))

        assert list(early) == []
        (alert,) = late
        assert (alert.kind, alert.data["reason"]) == ("gap", "failing")
        assert "HTTP 503" in alert.summary
