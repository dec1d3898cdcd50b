"""
Notebook quickstart: explore a day of rail-company mentions, no async code.

Each ``# %%`` marks a cell (VS Code, PyCharm and Jupytext open it as a notebook); as a
script it runs top to bottom. Offline, over the bundled sample.

    python examples/notebook_quickstart.py
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from socialplug import Pipeline, Post
from socialplug.filters import where
from socialplug.sinks import MemorySink
from socialplug.sources import JSONLSource
from socialplug.sync import collect, run_once


DATA = Path(__file__).parent / "data" / "rail_mentions.jsonl"


def bar(count: int, total: int, width: int = 30) -> str:
    """A text bar: no plotting library needed."""
    return "#" * max(1, round(width * count / total))


def main() -> None:
    # %% Read every post of the file.
    source = JSONLSource(DATA, name="rail-mentions")
    posts: list[Post] = collect(source)
    print(f"{len(posts)} posts from {posts[0].created_at:%Y-%m-%d}")

    # %% Count by language.
    languages = Counter(post.lang or "unknown" for post in posts)
    print("\nposts by language")
    for lang, count in languages.most_common():
        print(f"  {lang:<8} {count:>3} {bar(count, len(posts))}")

    # %% Who is loudest, and what got most engagement?
    authors = Counter(post.author.handle for post in posts)
    handle, count = authors.most_common(1)[0]
    top = max(posts, key=lambda post: post.engagement.total)
    print(f"\nmost active: {handle} ({count} posts)")
    print(f"most engagement ({top.engagement.total}): {top.text[:70]}")

    # %% Keep English complaints and send them to a sink.
    complaint = where(lambda p: p.lang == "en" and "stuck" in p.text.lower(), label="stuck")
    inbox = MemorySink()
    report = run_once(Pipeline(sources=[source], filters=[complaint], sinks={"inbox": inbox}))
    print(f"\n{report.summary()}")
    for post in inbox.posts:
        print(f"  {post.created_at:%H:%M} {post.author.handle}: {post.text[:60]}")


if __name__ == "__main__":
    main()
