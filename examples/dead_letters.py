"""
Dead letters: a destination refuses deliveries, they are kept, listed and replayed.

The ticket system is down for the first run (every delivery fails permanently); posts are
dead-lettered instead of lost or blocking the pipeline. Once it is back, a replay delivers
them with their original idempotency keys.

    python examples/dead_letters.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio

from socialplug import Pipeline, Post, Route, Router, SQLiteStateStore
from socialplug.exceptions import DeliveryError
from socialplug.filters import where
from socialplug.sinks import MemorySink
from socialplug.sources import JSONLSource
from socialplug.testing import FailingSink


DATA = Path(__file__).parent / "data" / "rail_mentions.jsonl"


async def main() -> None:
    """Run, list the dead letters, replay them, list again."""
    state = SQLiteStateStore(Path(tempfile.mkdtemp(prefix="socialplug-dl-")) / "state.db")
    tickets = FailingSink(DeliveryError("tickets API: HTTP 400", retryable=False), times=None)
    refunds = where(lambda post: "refund" in post.text.lower(), label="refund")
    pipeline = Pipeline(
        sources=[JSONLSource(DATA, name="rail-mentions")],
        router=Router(
            [Route(name="support", sinks="tickets", when=refunds)],
            default=Route(name="archive", sinks="archive"),
        ),
        sinks={"tickets": tickets, "archive": MemorySink()},
        state=state,
    )

    report = await pipeline.run_once()
    print(f"run:    ok={report.ok} {report.summary()}")

    letters = await state.dead_letters()
    print(f"dead letters: {len(letters)}")
    for letter in letters:
        post = letter.item()
        assert isinstance(post, Post)
        print(f"  #{letter.id} {letter.origin} ({letter.reason}): {post.text[:50]}")

    tickets.times = tickets.calls  # the ticket system is back
    replay = await pipeline.replay_dead_letters(sink="tickets")
    print(f"replay: ok={replay.ok} delivered={sum(replay.delivered.values())}")
    print(f"dead letters left: {len(await state.dead_letters())}")
    print(f"tickets opened: {len(tickets.received.deliveries)}")


if __name__ == "__main__":
    anyio.run(main)
