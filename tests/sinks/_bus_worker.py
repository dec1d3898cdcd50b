"""
A pipeline worker process for the crash tests: a bus source into a recording sink, with the
SQLite state store, run by the real runtime.

    python _pipeline_worker.py BROKER CONFIG_JSON RECORD_FILE STATE_DB EXPECTED DELAY

The recording sink appends each delivered post key to RECORD_FILE (flushed to disk) and then
waits DELAY seconds, so a test can kill the process while pages are in flight. The worker
stops (gracefully: in-flight work drains and is committed) once EXPECTED distinct keys are in
RECORD_FILE, counting earlier runs.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio
from _bus_consume import build

from socialplug.model import Delivery
from socialplug.pipeline import Pipeline, SinkPolicy
from socialplug.state import SQLiteStateStore


class RecordingSink:
    """Appends delivered keys to a file; not idempotent, so the runtime dedupes replays."""

    def __init__(self, path: Path, delay: float, expected: int) -> None:
        self.path = path
        self.delay = delay
        self.expected = expected
        self.keys = set(path.read_text().splitlines()) if path.exists() else set()
        self.done = anyio.Event()

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.writelines(d.item.key + "\n" for d in batch)
            out.flush()
            os.fsync(out.fileno())
        self.keys.update(d.item.key for d in batch)
        if len(self.keys) >= self.expected:
            self.done.set()
        await anyio.sleep(self.delay)

    async def aclose(self) -> None:
        pass


async def main() -> None:
    broker, config, record, state, expected, delay = sys.argv[1:7]
    sink = RecordingSink(Path(record), float(delay), int(expected))
    pipeline = Pipeline(
        sources=[build(broker, json.loads(config))],
        sinks={"record": sink},
        state=SQLiteStateStore(state),
        policies={"record": SinkPolicy(batch_size=20, batch_wait=0.05)},
        drain_timeout=10,
    )
    report = await pipeline.run(follow=True, stop=sink.done)
    summary = {"read": report.read, "duplicates": report.duplicates, "commits": report.commits}
    print(json.dumps(summary))


if __name__ == "__main__":
    anyio.run(main)
