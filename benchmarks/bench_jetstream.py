"""
A Jetstream-like stream at a fixed rate through JetstreamSource -> filter -> sink, in one
process: reports throughput, event-to-sink latency (p50/p99) per window and memory, to show
whether the pipeline keeps up with no growing lag and flat memory.

    python benchmarks/bench_jetstream.py [--rate 2000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import anyio

from socialplug.model import Delivery
from socialplug.pipeline import Pipeline
from socialplug.sources.bluesky import JetstreamSource
from socialplug.testing.bluesky import JetstreamServer, jetstream_event, make_post_view


class LatencySink:
    """Records event-to-sink latency; keeps no posts (flat memory)."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.count = 0

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        now = time.time_ns() // 1000
        for delivery in batch:
            self.latencies.append((now - delivery.post.raw["time_us"]) / 1000)
        self.count += len(batch)

    async def aclose(self) -> None:
        pass


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def publish(server: JetstreamServer, rate: int, seconds: float, done: threading.Event) -> None:
    start = time.perf_counter()
    sent = 0
    while not done.is_set() and time.perf_counter() - start < seconds:
        due = int((time.perf_counter() - start) * rate)
        while sent < due:
            text = f"post {sent} {'#brand' if sent % 2 else 'other'}"  # half pass the filter
            server.publish(jetstream_event(make_post_view(text)))
            sent += 1
        time.sleep(0.002)
    done.set()


async def main(rate: int, seconds: float) -> None:
    with JetstreamServer() as server:
        sink = LatencySink()
        source = JetstreamSource(url=server.url, batch_window=0.02)
        pipeline = Pipeline(
            sources=[source], filters=[lambda p: "brand" in p.tags], sinks={"out": sink}
        )
        server.events = []  # keep no history in the server (only live fan-out)
        done = threading.Event()
        stop = anyio.Event()

        async def report() -> None:
            seen = 0
            while not done.is_set():
                await anyio.sleep(5)
                window = sink.latencies[seen:]
                seen = len(sink.latencies)
                if window:
                    q = statistics.quantiles(window, n=100)
                    print(
                        f"{len(window) / 5:7.0f} delivered/s  p50 {q[49]:7.1f} ms  "
                        f"p99 {q[98]:7.1f} ms  rss {rss_mb():6.1f} MB"
                    )
                server.events.clear()
            await anyio.sleep(1)
            stop.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: pipeline.run(follow=True, stop=stop))
            await anyio.sleep(0.5)
            tg.start_soon(anyio.to_thread.run_sync, publish, server, rate, seconds, done)
            tg.start_soon(report)
        q = statistics.quantiles(sink.latencies, n=100)
        print(
            f"total {sink.count} posts kept of {rate * seconds:.0f} events; "
            f"p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    anyio.run(main, args.rate, args.seconds)
