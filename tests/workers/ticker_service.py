"""
A following pipeline, one post per page forever, stopped by a signal. Used by the signal
tests (test_sync.py, test_resilience.py).

    python ticker_service.py STATE_DB sync|async

``sync`` runs it with ``socialplug.sync.run`` (Ctrl-C); ``async`` with
``await pipeline.run(handle_signals=True)`` (SIGINT/SIGTERM). Prints ``ready`` once posts
flow, then, after the stop, one JSON line: how many were delivered and what stopped it.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import AsyncIterator

import anyio

from socialplug import Page, Pipeline, SQLiteStateStore
from socialplug.sync import run
from socialplug.testing import CollectingSink, make_post


class Ticker:
    name = "ticker"

    async def pages(self, cursor: str | None, /, *, follow: bool) -> AsyncIterator[Page]:
        n = int(cursor or 0)
        while True:
            n += 1
            yield Page(posts=[make_post(id=str(n))], cursor=str(n))
            if n == 3:
                print("ready", flush=True)
            await anyio.sleep(0.01)

    async def aclose(self) -> None:
        pass


def main() -> None:
    # Started from a background job, the process inherits SIGINT ignored; the tests mean
    # Ctrl-C as a terminal sends it, so take Python's own handler back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    db, mode = sys.argv[1], sys.argv[2]
    sink = CollectingSink()
    pipeline = Pipeline(sources=[Ticker()], sinks={"s": sink}, state=SQLiteStateStore(db))
    if mode == "sync":
        report = run(pipeline)
    else:
        report = anyio.run(lambda: pipeline.run(handle_signals=True))
    print(json.dumps({"delivered": len(sink.deliveries), "stopped": report.stopped_by}))


if __name__ == "__main__":
    main()
