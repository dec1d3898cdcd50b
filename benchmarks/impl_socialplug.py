#!/usr/bin/env python3
"""
impl_socialplug: the workload (../shared/bench/WORKLOAD.md) through socialplug's public API.

    JSONLSource(map) -> dedupe filter -> match transform -> router -> 4 JSONLSinks

Reading, JSON decoding (orjson, the ``fast`` extra), pages, channels, batching, matching
(``QuerySet``), routing, sinks, the SQLite state store and checkpoint-after-ack are
socialplug's; the mapping from a decoded status to a ``Post`` (with the workload's own
HTML stripping) and the dedupe filter are the user code a team would write. The workload compares accents exactly, hence
``fold_accents=False``. ``impl_socialplug_reference.py`` runs the same pipeline with the
workload's own matcher instead, and ``impl_socialplug_alerting.py`` adds a ``Router`` and a
``Monitor`` (spike detection and incident grouping) to measure what alerting costs.

    python impl_socialplug.py DATA --rules DATA/rules.json --posts DATA/posts.jsonl --out OUT
"""

from __future__ import annotations

import os
import tempfile
from bisect import bisect_left
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import Any

from common import (  # the bench folder is on PYTHONPATH (run_bench.sh)
    HASHTAG_RE,
    ROUTES,
    RuleSet,
    Sinks,
    Stats,
    cli,
    load_rules,
    now,
    plain_text,
    report,
)

from socialplug import Author, Delivery, Pipeline, Post, QuerySet, SinkPolicy, SQLiteStateStore
from socialplug.alerting import Incidents, Monitor, Spike
from socialplug.routing import Route, Router
from socialplug.sinks import JSONLSink
from socialplug.sources import JSONLSource
from socialplug.sync import run_once


NAME = "socialplug"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def queryset_matcher(rules: list[dict[str, str]]) -> Callable[[Post], list[int]]:
    """socialplug's percolator over the rules: post -> matched rule indices, in file order."""
    return QuerySet({r["id"]: r["query"] for r in rules}, fold_accents=False).match_indices


def reference_matcher(rules: list[dict[str, str]]) -> Callable[[Post], list[int]]:
    """The workload's own matcher (common.RuleSet), called on the post's text and tags."""
    match = RuleSet(rules).match
    return lambda post: match(post.text, frozenset(post.tags))


def main(
    argv: list[str] | None = None,
    *,
    name: str = NAME,
    matcher: Callable[[list[dict[str, str]]], Callable[[Post], list[int]]] = queryset_matcher,
    alerting: bool = False,
) -> None:
    """
    Run the workload. With *alerting*, routing goes through a ``Router`` with one route per
    team and a ``Monitor`` (per-route spike detection and incident grouping) watches every
    routed post, which then carries its real ``created_at``.
    """
    args = cli(name, argv)
    t0 = now()
    # The rules route by route, each route's in file order: the matcher returns indices in
    # this order, so a post's rules split into its routes' runs by bisection, with no step
    # per matched rule. (A route's rule ids keep file order, as the workload's lines need;
    # which route comes first in a post's mapping changes no output.)
    rules_list = sorted(load_rules(args.rules), key=lambda r: ROUTES.index(r["route"]))
    rule_ids = [r["id"] for r in rules_list]
    ends: list[tuple[str, int]] = []  # (route, index after its last rule), in order
    for i, r in enumerate(rules_list):
        if ends and ends[-1][0] == r["route"]:
            ends[-1] = (r["route"], i + 1)
        else:
            ends.append((r["route"], i + 1))

    def route_rules(matched: list[int]) -> dict[str, list[str]]:
        """Matched rule indices -> {route: [rule ids]} (what common.RuleSet.route_rules does)."""
        out: dict[str, list[str]] = {}
        start = 0
        for route, end in ends:
            stop = bisect_left(matched, end, start)
            if stop > start:
                out[route] = list(map(rule_ids.__getitem__, matched[start:stop]))
                if stop == len(matched):
                    break
                start = stop
        return out

    match = matcher(rules_list)
    checks = Sinks(args.out, None)  # only its counters and checksums; the files are ours
    checks.close()
    st = Stats()
    find_tags = HASHTAG_RE.findall

    def to_post(d: dict[str, Any]) -> Post:
        text = plain_text(d["content"])
        return Post(
            platform="mastodon",
            id=d["id"],
            text=text,
            # The plain workload never reads the time (the original string stays in raw);
            # the alerting variant's detectors count posts by it.
            created_at=datetime.fromisoformat(d["created_at"]) if alerting else EPOCH,
            author=Author(handle=d["account"]["acct"]),
            tags=frozenset(find_tags(text)),
            raw={"created_at": d["created_at"]},  # what the sink lines need; the rest is dropped
        )

    seen_ids: set[str] = set()
    seen_texts: set[str] = set()

    def dedupe(post: Post) -> bool:
        if post.id in seen_ids:
            st.dup_id += 1
            return False
        seen_ids.add(post.id)
        if post.text in seen_texts:
            st.dup_text += 1
            return False
        seen_texts.add(post.text)
        return True

    def rules(post: Post) -> Post | None:
        matched = match(post)
        if not matched:
            st.unmatched += 1
            return None
        return post.annotate(rules=route_rules(matched))

    def routes(post: Post) -> list[str]:
        return list(post.annotations["rules"])

    def has_rules_of(route: str) -> Callable[[Post], bool]:
        return lambda post: route in post.annotations["rules"]

    router: Router | Callable[[Post], list[str]] = routes
    detectors: list[Monitor] = []
    if alerting:
        router = Router(
            [Route(name=r, sinks=[r], when=has_rules_of(r), team=r) for r in ROUTES],
            fan_out=True,
        )
        detectors.append(Monitor(router=router, spikes=[Spike()], incidents=Incidents()))

    pairs, matches = checks.pairs, checks.matches

    def render(delivery: Delivery) -> dict[str, Any]:
        post = delivery.post
        route = delivery.route
        rids = post.annotations["rules"][route]
        pairs.append((route, post.id))
        matches.extend(zip(rids, repeat(post.id)))
        checks.counts[route] += 1
        # the sink writes it as json.dumps(line, ensure_ascii=False)
        return {
            "id": post.id,
            "created_at": post.raw["created_at"],
            "acct": post.author.handle,
            "route": route,
            "rules": rids,
            "hashtags": sorted(post.tags),
            "text": post.text,
        }

    out = Path(args.out)
    sinks = {r: JSONLSink(out / f"{r}.jsonl", render=render) for r in ROUTES}
    for r in ROUTES:
        (out / f"{r}.jsonl").write_text("")
    with tempfile.TemporaryDirectory() as tmp:
        policy = SinkPolicy(batch_size=500, batch_wait=1.0)
        pipeline = Pipeline(
            name="bench",
            sources=[JSONLSource(args.posts, map=to_post, page_size=250)],
            filters=[dedupe],
            transforms=[rules],
            router=router,
            detectors=detectors,
            sinks=sinks,
            policies=dict.fromkeys(ROUTES, policy),
            state=SQLiteStateStore(os.path.join(tmp, "state.db")),
            buffer=2,
        )
        t1 = now()
        result = run_once(pipeline)
        t2 = now()
    st.read = result.read
    checks.posts = result.kept
    report(name, args, st, checks, t1 - t0, t2 - t1)


if __name__ == "__main__":
    main()
