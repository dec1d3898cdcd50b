"""
A Jetstream-like stream at a fixed rate through JetstreamSource -> filter -> sink: reports
throughput, event-to-sink latency (p50/p99) per window and the pipeline's memory, to show
whether the pipeline keeps up with no growing lag and flat memory.

    python benchmarks/bench_jetstream.py [--rate 2000] [--seconds 60] [--state sqlite|memory]

The Jetstream-like server (``socialplug.testing.bluesky.JetstreamServer``) and the thread
that publishes to it run in a process of their own, so that the memory reported is the
pipeline's alone. The pipeline keeps its delivered keys (exactly-once bookkeeping, kept for
``seen_ttl``) in a SQLite state store in a temporary folder, as a service would;
``--state memory`` keeps them in a MemoryStateStore, whose memory grows by the keys of every
delivered post.
"""

from __future__ import annotations

import argparse
import array
import multiprocessing
import multiprocessing.connection
import multiprocessing.synchronize
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import anyio
import anyio.to_thread

from socialplug.model import Delivery
from socialplug.pipeline import Pipeline
from socialplug.sources.bluesky import JetstreamSource
from socialplug.state import MemoryStateStore, SQLiteStateStore


class LatencySink:
    """Records event-to-sink latency (4 bytes each, so that it barely adds memory)."""

    def __init__(self) -> None:
        self.latencies = array.array("f")
        self.count = 0

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        now = time.time_ns() // 1000
        for delivery in batch:
            self.latencies.append((now - delivery.post.raw["time_us"]) / 1000)
        self.count += len(batch)

    async def aclose(self) -> None:
        pass


def memory_mb() -> tuple[float, float]:
    """This process's resident memory now and at its peak, in MB."""
    fields = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def serve(
    rate: int,
    seconds: float,
    conn: multiprocessing.connection.Connection,
    done: multiprocessing.synchronize.Event,
) -> None:
    """Run the server; once told to, publish *rate* events a second for *seconds*."""
    from socialplug.testing.bluesky import (
        JetstreamServer,
        jetstream_event,
        make_post_view,
    )

    with JetstreamServer() as server:
        conn.send(server.url)
        conn.recv()  # the pipeline is connected
        start = time.perf_counter()
        sent = 0
        while time.perf_counter() - start < seconds:
            due = int((time.perf_counter() - start) * rate)
            while sent < due:
                text = f"post {sent} {'#brand' if sent % 2 else 'other'}"  # half pass
                server.publish(jetstream_event(make_post_view(text)))
                sent += 1
            server.events.clear()  # keep no history (only live fan-out)
            time.sleep(0.002)
        done.set()
        conn.recv()  # the pipeline has stopped


async def main(rate: int, seconds: float, state: str) -> None:
    ours, theirs = multiprocessing.Pipe()
    done = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(rate, seconds, theirs, done))
    server.start()
    url = await anyio.to_thread.run_sync(ours.recv)
    with tempfile.TemporaryDirectory() as folder:
        sink = LatencySink()
        pipeline = Pipeline(
            sources=[JetstreamSource(url=url, batch_window=0.02)],
            filters=[lambda p: "brand" in p.tags],
            sinks={"out": sink},
            state=(
                MemoryStateStore()
                if state == "memory"
                else SQLiteStateStore(Path(folder) / "state.db")
            ),
        )
        stop = anyio.Event()
        rss: list[float] = []

        async def report() -> None:
            seen = 0
            while not done.is_set():
                await anyio.sleep(5)
                window = sink.latencies[seen:]
                seen = len(sink.latencies)
                rss.append(memory_mb()[0])
                if len(window) > 1:
                    q = statistics.quantiles(window, n=100)
                    print(
                        f"{len(window) / 5:7.0f} delivered/s  p50 {q[49]:7.1f} ms  "
                        f"p99 {q[98]:7.1f} ms  rss {rss[-1]:6.1f} MB",
                        flush=True,
                    )
            await anyio.sleep(1)
            stop.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: pipeline.run(follow=True, stop=stop))
            await anyio.sleep(0.5)
            ours.send("go")
            tg.start_soon(report)
        ours.send("stopped")
        server.join()
        q = statistics.quantiles(sink.latencies, n=100)
        half = len(rss) // 2
        print(
            f"total {sink.count} posts kept of {rate * seconds:.0f} events; "
            f"p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms; pipeline RSS {rss[0]:.1f} MB after 5 s, "
            f"{statistics.median(rss[half:]):.1f} MB median of the second half, "
            f"peak {memory_mb()[1]:.1f} MB"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--state", choices=["sqlite", "memory"], default="sqlite")
    args = parser.parse_args()
    anyio.run(main, args.rate, args.seconds, args.state)
