"""
Synthetic recorded streams for alerting tests: a trickle, a surge, daily seasonality.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from socialplug.model import Author, Engagement, Post


START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday


def post(n: int, at: datetime, *, text: str, sentiment: str, likes: int = 0) -> Post:
    """One mention of the brand at *at*."""
    return Post(
        platform="mastodon",
        id=str(n),
        text=text,
        created_at=at,
        author=Author(id=f"a{n % 97}", handle=f"user{n % 97}@example.social"),
        engagement=Engagement(likes=likes, reposts=likes // 3),
        source="mastodon:#acmerail",
        annotations={"sentiment": sentiment, "matched": ["acmerail"]},
    )


def poisson_times(
    rng: random.Random, start: datetime, end: datetime, rate_per_hour: float
) -> Iterator[datetime]:
    """Arrival times of a Poisson process of *rate_per_hour* between *start* and *end*."""
    t = start
    while True:
        t += timedelta(hours=rng.expovariate(rate_per_hour))
        if t >= end:
            return
        yield t


def incident_stream(
    *,
    seed: int = 7,
    trickle_per_hour: float = 30.0,
    before: timedelta = timedelta(hours=26),
    surge: timedelta = timedelta(minutes=40),
    surge_factor: float = 20.0,
    after: timedelta = timedelta(hours=2),
) -> tuple[list[Post], datetime]:
    """
    A steady trickle of mentions, then complaints at *surge_factor* times the usual rate for
    *surge*, then back to the trickle. Returns the posts and the start of the surge.
    """
    rng = random.Random(seed)
    surge_start = START + before
    surge_end = surge_start + surge
    end = surge_end + after
    posts: list[Post] = []
    moods = ("positive", "neutral", "neutral", "negative")
    for at in poisson_times(rng, START, end, trickle_per_hour):
        posts.append(
            post(
                len(posts),
                at,
                text="Lovely trip with acmerail today",
                sentiment=rng.choice(moods),
                likes=rng.randrange(5),
            )
        )
    extra = trickle_per_hour * (surge_factor - 1)
    for at in poisson_times(rng, surge_start, surge_end, extra):
        posts.append(
            post(
                len(posts),
                at,
                text="Stuck in the tunnel for an hour, acmerail says nothing",
                sentiment="negative",
                likes=rng.randrange(40),
            )
        )
    posts.sort(key=lambda p: p.created_at)
    return posts, surge_start


def seasonal_week(*, seed: int = 11, mean_per_hour: float = 30.0) -> list[Post]:
    """A week of mentions whose rate follows the day: quiet at night, busy at rush hours."""
    rng = random.Random(seed)
    posts: list[Post] = []
    moods = ("positive", "neutral", "neutral", "negative")
    for hour in range(7 * 24):
        h = hour % 24
        # Two rush hours on a daily wave: from about 3 to about 70 posts an hour.
        rate = mean_per_hour * (
            1.0
            + 0.8 * math.sin((h - 9) / 24 * 2 * math.pi)
            + 0.6 * math.exp(-((h - 8) ** 2) / 2)
            + 0.6 * math.exp(-((h - 18) ** 2) / 2)
        )
        rate = max(rate, 2.0)
        begin = START + timedelta(hours=hour)
        for at in poisson_times(rng, begin, begin + timedelta(hours=1), rate):
            posts.append(post(len(posts), at, text="acmerail again", sentiment=rng.choice(moods)))
    return posts
