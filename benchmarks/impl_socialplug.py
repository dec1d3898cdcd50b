#!/usr/bin/env python3
"""
impl_socialplug: the workload (../shared/bench/WORKLOAD.md) through socialplug's public API.

    JSONLSource(parse) -> dedupe filter -> match transform -> router -> 4 JSONLSinks

Reading, pages, channels, batching, routing, sinks, the SQLite state store and
checkpoint-after-ack are socialplug's; the parse function, the dedupe filter and the rule
matcher are the user code a team would write (the matcher is the workload's own, until
socialplug's query engine takes its place).

    python impl_socialplug.py DATA --rules DATA/rules.json --posts DATA/posts.jsonl --out OUT
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

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

from socialplug import Author, Delivery, Pipeline, Post, SinkPolicy, SQLiteStateStore
from socialplug.sinks import JSONLSink
from socialplug.sources import JSONLSource
from socialplug.sync import run_once


NAME = "socialplug"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def main(argv: list[str] | None = None) -> None:
    args = cli(NAME, argv)
    t0 = now()
    rs = RuleSet(load_rules(args.rules))
    match, route_rules = rs.match, rs.route_rules
    checks = Sinks(args.out, rs)  # only for its counters and checksums; files reopened below
    checks.close()
    st = Stats()
    loads = json.loads
    find_tags = HASHTAG_RE.findall

    def parse(line: str) -> Post:
        d = loads(line)
        text = plain_text(d["content"])
        return Post(
            platform="mastodon",
            id=d["id"],
            text=text,
            created_at=EPOCH,  # the workload never reads it; the original string is in raw
            author=Author(handle=d["account"]["acct"]),
            tags=frozenset(find_tags(text)),
            raw=d,
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
        matched = match(post.text, frozenset(post.tags))
        if not matched:
            st.unmatched += 1
            return None
        return post.annotate(rules=route_rules(matched))

    def routes(post: Post) -> list[str]:
        return list(post.annotations["rules"])

    pairs, matches = checks.pairs, checks.matches

    def render(delivery: Delivery) -> str:
        post = delivery.post
        route = delivery.route
        rids = post.annotations["rules"][route]
        pairs.append((route, post.id))
        matches.extend((rid, post.id) for rid in rids)
        checks.counts[route] += 1
        return json.dumps(
            {
                "id": post.id,
                "created_at": post.raw["created_at"],
                "acct": post.author.handle,
                "route": route,
                "rules": rids,
                "hashtags": sorted(post.tags),
                "text": post.text,
            },
            ensure_ascii=False,
        )

    out = Path(args.out)
    sinks = {r: JSONLSink(out / f"{r}.jsonl", render=render) for r in ROUTES}
    for r in ROUTES:
        (out / f"{r}.jsonl").write_text("")
    with tempfile.TemporaryDirectory() as tmp:
        policy = SinkPolicy(batch_size=500, batch_wait=1.0)
        pipeline = Pipeline(
            name="bench",
            sources=[JSONLSource(args.posts, parse=parse, page_size=250)],
            filters=[dedupe],
            transforms=[rules],
            router=routes,
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
    report(NAME, args, st, checks, t1 - t0, t2 - t1)


if __name__ == "__main__":
    main()
