"""
Per-post cost of routing, spike detection and incident grouping, in a tight loop (no I/O).

    python benchmarks/bench_alerting.py            # 200,000 posts
    python benchmarks/bench_alerting.py -n 20000   # quick

Prints CPU microseconds per post (robust on a shared, busy machine) for: the router; the
route annotation plus ``Monitor.observe`` the runtime adds per routed post, with a per-route
spike detector and incidents, then with a second, per-query spike detector over 500 query
keys; and the share of impl_plain's per-item time that adds on the bench workload. State
lives in a MemoryStateStore.
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


#: impl_plain's cost per item on the 200,000-post workload with 500 rules (the shared
#: bench's reference table: 9.9 s / 200,000). The ratios below are against it.
PLAIN_US = 49.5
#: Share of the workload's items the router sees (kept after dedupe) and that are routed
#: (and so reach the detectors), from WORKLOAD.md's expected counts.
KEPT, ROUTED = 193_114 / 200_000, 26_686 / 200_000


async def stream(
    posts: list[Post], router: Router, monitor: Monitor | None, clock: ManualClock, ticks: int
) -> tuple[float, float]:
    """
    Route each post, as the runtime does; with a monitor, annotate its routes and observe
    it, ticking *ticks* times along the way. Return CPU seconds of the loop and of the ticks.
    """
    if monitor is not None:
        await monitor.bind(MemoryStateStore())
    every = max(1, len(posts) // max(ticks, 1))
    ticking = 0.0
    started = time.process_time()
    for i, post in enumerate(posts):
        routes = router(post)
        if monitor is None or not routes:
            continue
        clock.current = post.created_at
        if ticks and i and i % every == 0:
            tick_started = time.process_time()
            await monitor.tick(post.created_at)
            ticking += time.process_time() - tick_started
        await monitor.observe(post.annotate(routes=list(routes)))
    return time.process_time() - started - ticking, ticking


async def empty_loop(posts: list[Post]) -> float:
    started = time.process_time()
    for _post in posts:
        pass
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200_000)
    parser.add_argument("--rules", type=int, default=500)
    parser.add_argument(
        "--ticks", type=int, default=10, help="ticks during the run (the runtime ticks every 60 s)"
    )
    args = parser.parse_args()
    posts = make_posts(args.n, args.rules)
    us = 1e6 / len(posts)
    router = make_router()
    clock = ManualClock(current=posts[0].created_at)

    base = anyio.run(empty_loop, posts)
    routing, _ = anyio.run(stream, posts, router, None, clock, 0)
    router_us = (routing - base) * us
    print(f"{len(posts)} posts, {args.rules} rules, 4 routes; CPU time, not wall time")
    print(f"router                                  {router_us:6.2f} us/post")
    print(f"reference: impl_plain                   {PLAIN_US:6.2f} us/item")
    for label, spikes in (
        ("per-route spike + incidents", [Spike()]),
        ("+ per-query spike (500 keys)", [Spike(), Spike(name="queries", key=by_matched)]),
    ):
        clock = ManualClock(current=posts[0].created_at)
        monitor = Monitor(router=router, spikes=spikes, incidents=Incidents(), clock=clock)
        loop, ticking = anyio.run(stream, posts, router, monitor, clock, args.ticks)
        detectors_us = (loop - routing) * us  # annotate + observe, per routed post
        added = ROUTED * detectors_us
        print(
            f"monitor, {label:<30} {detectors_us:6.2f} us/routed post (annotate + observe), "
            f"{ticking / max(args.ticks, 1) * 1e3:6.2f} ms/tick"
        )
        print(
            f"  added to the bench pipeline: detectors {added / PLAIN_US:6.1%}, "
            f"router too {(added + KEPT * router_us) / PLAIN_US:6.1%}"
        )


if __name__ == "__main__":
    main()
