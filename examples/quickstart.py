"""
Quickstart: route a day of bundled rail-company mentions to the teams that need them.

Runs offline. Complaints about stuck trains go to operations, refunds to support, the rest
to an archive; a second run resumes from the stored cursor and delivers nothing twice.

    python examples/quickstart.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from socialplug import Pipeline, Route, Router, SQLiteStateStore
from socialplug.filters import where
from socialplug.sinks import CallableSink, ConsoleSink, JSONLSink
from socialplug.sources import JSONLSource
from socialplug.sync import run_once


DATA = Path(__file__).parent / "data" / "rail_mentions.jsonl"


def mentions(*words: str):
    """A filter keeping posts that mention any of *words* (case-insensitive)."""
    return where(lambda post: any(w in post.text.lower() for w in words), label=f"mentions{words}")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="socialplug-quickstart-"))
    tickets: list[str] = []
    pipeline = Pipeline(
        name="rail-watch",
        sources=[JSONLSource(DATA, name="rail-mentions")],
        filters=[~mentions("train of thought")],
        router=Router(
            [
                Route(
                    name="operations",
                    sinks=["console", "archive"],
                    when=mentions("stuck", "tunnel", "delay"),
                ),
                Route(
                    name="support",
                    sinks=["tickets", "archive"],
                    when=mentions("refund", "cancelled"),
                ),
            ],
            default=Route(name="archive", sinks="archive"),
        ),
        sinks={
            "console": ConsoleSink(width=90),
            "tickets": CallableSink(lambda d: tickets.append(d.post.url or d.post.key)),
            "archive": JSONLSink(work / "archive.jsonl"),
        },
        state=SQLiteStateStore(work / "state.db"),
    )
    first = run_once(pipeline)
    second = run_once(pipeline)
    print()
    print(f"first run:  {first.summary()}")
    print(f"second run: {second.summary()}")
    print(f"support tickets opened: {len(tickets)}; archive: {work / 'archive.jsonl'}")


if __name__ == "__main__":
    main()
