"""
Per-post cost of routing, spike detection and incident grouping, in a tight loop (no I/O).

    python benchmarks/bench_alerting.py            # 200,000 posts
    python benchmarks/bench_alerting.py -n 20000   # quick

Prints microseconds per post for: the router alone; the annotation the runtime adds when
detectors run; a Monitor with a per-route spike detector and incidents; and the same with a
second, per-query spike detector over 500 query keys. State lives in a MemoryStateStore.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

import anyio

from socialplug.alerting import Incidents, Monitor, Spike, by_matched
from socialplug.clock import ManualClock
from socialplug.model import Author, Engagement, Post
from socialplug.routing import Route, Router
from socialplug.state import MemoryStateStore


ROUTES = ("support", "marketing", "ops", "management")


def make_posts(n: int, rules: int, seed: int = 42) -> list[Post]:
    rng = random.Random(seed)
    start = datetime(2026, 3, 2, tzinfo=UTC)
    span = timedelta(days=7).total_seconds()
    times = sorted(rng.uniform(0, span) for _ in range(n))
    moods = ("negative", "neutral", "positive", None)
    posts = []
    for i, t in enumerate(times):
        rule = rng.randrange(rules)
        annotations = {"matched": [f"r{rule:05d}"], "rule_route": ROUTES[rule % 4]}
        mood = rng.choice(moods)
        if mood is not None:
            annotations["sentiment"] = mood
        posts.append(
            Post(
                platform="mastodon",
                id=str(i),
                text="acmerail delayed again",
                created_at=start + timedelta(seconds=t),
                author=Author(id=str(i % 1000), handle=f"u{i % 1000}"),
                engagement=Engagement(likes=i % 13),
                annotations=annotations,
            )
        )
    return posts


def route_is(name: str):
    def test(post: Post) -> bool:
        return post.annotations["rule_route"] == name

    return test


def make_router() -> Router:
    return Router([Route(name=r, sinks=[f"{r}-sink"], when=route_is(r)) for r in ROUTES])


async def observe_all(
    posts: list[Post], monitor: Monitor, clock: ManualClock, ticks: int
) -> tuple[float, float]:
    """Observe every post; tick *ticks* times, evenly spread. Return both times apart."""
    await monitor.bind(MemoryStateStore())
    every = max(1, len(posts) // max(ticks, 1))
    observing = ticking = 0.0
    for i, post in enumerate(posts):
        clock.current = post.created_at
        if ticks and i and i % every == 0:
            started = time.perf_counter()
            await monitor.tick(post.created_at)
            ticking += time.perf_counter() - started
        started = time.perf_counter()
        await monitor.observe(post)
        observing += time.perf_counter() - started
    return observing, ticking


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200_000)
    parser.add_argument("--rules", type=int, default=500)
    parser.add_argument(
        "--ticks", type=int, default=10, help="ticks during the run (the runtime ticks every 60 s)"
    )
    args = parser.parse_args()
    posts = make_posts(args.n, args.rules)
    router = make_router()
    us = 1e6 / len(posts)

    started = time.perf_counter()
    routed = [(p, router(p)) for p in posts]
    route_s = time.perf_counter() - started

    started = time.perf_counter()
    annotated = [p.annotate(routes=list(r)) for p, r in routed]
    annotate_s = time.perf_counter() - started

    results = {}
    for label, spikes in (
        ("per-route spike + incidents", [Spike()]),
        ("+ per-query spike (500 keys)", [Spike(), Spike(name="queries", key=by_matched)]),
    ):
        clock = ManualClock(current=annotated[0].created_at)
        monitor = Monitor(router=router, spikes=spikes, incidents=Incidents(), clock=clock)
        results[label] = anyio.run(observe_all, annotated, monitor, clock, args.ticks)

    print(f"{len(posts)} posts, {args.rules} rules, 4 routes")
    print(f"router                          {route_s * us:6.2f} us/post")
    print(f"annotate routes (runtime)       {annotate_s * us:6.2f} us/post")
    for label, (observing, ticking) in results.items():
        per_tick = ticking / max(args.ticks, 1) * 1e3
        print(
            f"monitor: {label:<30}{observing * us:6.2f} us/post observe, {per_tick:6.2f} ms/tick"
        )


if __name__ == "__main__":
    main()
