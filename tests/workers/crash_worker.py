"""
A pipeline over N deterministic posts into a sink that records every delivery attempt with its
idempotency key in its own SQLite file. Run, killed and restarted by test_resilience.py.

    python crash_worker.py STATE_DB SINK_DB N
"""

from __future__ import annotations

import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta

from socialplug import Pipeline, Post, Route, Router, SinkPolicy, SQLiteStateStore
from socialplug.sinks import CallableSink
from socialplug.sources import IterableSource
from socialplug.sync import run_once


def main() -> None:
    state_db, sink_db, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    conn = sqlite3.connect(sink_db, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS attempts (key TEXT, route TEXT, post TEXT)")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def posts():
        for i in range(n):
            yield Post(
                platform="test", id=str(i), text=f"post {i}", created_at=t0 + timedelta(seconds=i)
            )

    def record(batch):
        conn.executemany(
            "INSERT INTO attempts VALUES (?, ?, ?)", [(d.key, d.route, d.item.key) for d in batch]
        )
        time.sleep(0.002)

    pipeline = Pipeline(
        sources=[IterableSource(posts, name="numbers", page_size=100)],
        router=Router(
            [Route(name="even", sinks="rec", when=lambda p: int(p.id) % 2 == 0)],
            default=Route(name="all", sinks="rec"),
            fan_out=True,
        ),
        sinks={"rec": CallableSink(record, batch=True)},
        policies={"rec": SinkPolicy(batch_size=50, batch_wait=0.01, concurrency=2)},
        state=SQLiteStateStore(state_db),
    )
    report = run_once(pipeline)
    print("done", report.read, flush=True)


if __name__ == "__main__":
    main()
