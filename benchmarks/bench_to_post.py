"""
Throughput of ``to_post`` for Mastodon and Bluesky on the recorded payloads, against a bare
``json.loads`` loop over the same bytes (the baseline), in the same run, on one core.

    python benchmarks/bench_to_post.py [--repeat N] [--fixtures PATH]

Prints items/s (CPU time of this process, best of *repeat*) of ``json.loads`` alone, of
``to_post`` alone (on decoded items), of ``json.loads`` + ``to_post`` and its ratio to
``json.loads`` alone, and of the decoding the sources do (``socialplug._fastjson.loads``:
orjson with the ``fast`` extra) + ``to_post``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from socialplug import _fastjson
from socialplug.sources import bluesky, mastodon


ROOT = Path(__file__).resolve().parents[1]


def mastodon_items(folder: Path) -> list[bytes]:
    out: list[bytes] = []
    for path in sorted(folder.iterdir()):
        if path.name.endswith(".meta.json") or path.suffix not in (".json", ".jsonl"):
            continue
        for chunk in (
            path.read_bytes().splitlines() if path.suffix == ".jsonl" else [path.read_bytes()]
        ):
            try:
                data = json.loads(chunk)
            except ValueError:
                continue
            for item in data if isinstance(data, list) else [data]:
                if isinstance(item, dict) and {"id", "uri", "content", "account"} <= set(item):
                    out.append(json.dumps(item, ensure_ascii=False).encode())
    return out


def bluesky_items(folder: Path) -> list[bytes]:
    out: list[bytes] = []
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(".meta.json"):
            continue
        data = json.loads(path.read_bytes())
        if isinstance(data, dict):
            for field in ("posts", "feed"):
                out += [json.dumps(i, ensure_ascii=False).encode() for i in data.get(field) or ()]
    for path in sorted(folder.glob("jetstream__*.jsonl")):
        for line in path.read_bytes().splitlines():
            event = json.loads(line)
            if (event.get("commit") or {}).get("collection") == "app.bsky.feed.post":
                out.append(line)
    return out


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def measure(label: str, items: list[bytes], convert: Callable[[Any], Any], repeat: int) -> None:
    loads = json.loads
    fast = _fastjson.loads
    decoded = [loads(b) for b in items]
    baseline = best(lambda: [loads(b) for b in items], repeat)
    alone = best(lambda: [convert(d) for d in decoded], repeat)
    full = best(lambda: [convert(loads(b)) for b in items], repeat)
    sources = best(lambda: [convert(fast(b)) for b in items], repeat)
    n = len(items)
    print(
        f"{label:9} {n:4} items | json.loads {n / baseline:8,.0f}/s | "
        f"to_post alone {n / alone:8,.0f}/s | json.loads+to_post {n / full:8,.0f}/s "
        f"(ratio {full / baseline:3.1f}x) | _fastjson.loads+to_post {n / sources:8,.0f}/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--fixtures", type=Path, default=ROOT / ".." / "shared" / "fixtures")
    args = parser.parse_args()
    measure("mastodon", mastodon_items(args.fixtures / "mastodon"), mastodon.to_post, args.repeat)
    measure("bluesky", bluesky_items(args.fixtures / "bluesky"), bluesky.to_post, args.repeat)


if __name__ == "__main__":
    main()
