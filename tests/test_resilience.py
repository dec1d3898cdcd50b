"""
Crash safety under SIGKILL, graceful SIGTERM, and bounded memory under backpressure.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from signal_support import WORKERS, signal_ticker


def delivered(sink_db: Path) -> int:
    """Delivery attempts the crash worker's sink has recorded so far."""
    conn = sqlite3.connect(sink_db, timeout=5)
    try:
        return conn.execute("SELECT count(*) FROM attempts").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        conn.close()


def test_sigkill_at_random_moments_loses_nothing_and_delivers_once(tmp_path):
    """
    20,000 posts; the worker is SIGKILLed at several random moments and restarted each time.
    At the end every (route, post) pair was delivered, each under one stable idempotency key,
    and re-deliveries after the kills are bounded by what was in flight (the state store's
    seen keys stop the replayed pages), so no pair reached the sink as a second effect.
    """
    n = 20_000
    state, sink = tmp_path / "state.db", tmp_path / "sink.db"
    cmd = [sys.executable, str(WORKERS / "crash_worker.py"), str(state), str(sink), str(n)]
    # Kill at random points of progress (not of time), so the test kills mid-run on a fast
    # machine and on a loaded one alike.
    rng = random.Random(7)
    points = sorted(rng.sample(range(n // 10, n - n // 10), 4))
    kills = 0
    for point in points:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if delivered(sink) >= point:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.005)
        proc.wait(timeout=60)
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True)
    assert final.stdout.startswith("done")
    assert kills == len(points)

    rows = sqlite3.connect(sink).execute("SELECT key, route, post FROM attempts").fetchall()
    pairs = {(route, post) for _, route, post in rows}
    expected = {("even" if i % 2 == 0 else "all", f"test:{i}") for i in range(n)}
    assert expected == pairs
    keys_per_pair: dict[tuple[str, str], set[str]] = {}
    for key, route, post in rows:
        keys_per_pair.setdefault((route, post), set()).add(key)
    assert all(len(keys) == 1 for keys in keys_per_pair.values())
    # At most the batches in flight at each kill (2 concurrent batches of 50) arrive again.
    assert len(rows) - len(expected) <= kills * 2 * 50
    cursor = sqlite3.connect(state).execute("SELECT cursor FROM cursors").fetchone()[0]
    assert str(n) == cursor


def test_sigterm_drains_commits_and_exits_zero(tmp_path):
    """An async service with handle_signals=True stops on SIGTERM with exit status 0."""
    returncode, result, cursor = signal_ticker(tmp_path / "s.db", "async", signal.SIGTERM)

    assert 0 == returncode
    assert "SIGTERM" == result["stopped"]
    assert result["delivered"] == int(cursor)


BACKPRESSURE = """
import sys, anyio
from datetime import UTC, datetime
from socialplug import Pipeline, Post, SinkPolicy, MemoryStateStore
from socialplug.sinks import CallableSink
from socialplug.sources import IterableSource

N = int(sys.argv[1])
T0 = datetime(2026, 1, 1, tzinfo=UTC)
produced = 0
delivered = 0
max_ahead = 0

async def posts():
    global produced, max_ahead
    for i in range(N):
        produced += 1
        max_ahead = max(max_ahead, produced - delivered)
        yield Post(platform="gen", id=str(i), text="x" * 200, created_at=T0)

async def slow(batch):
    global delivered
    await anyio.sleep(0.0005)
    delivered += len(batch)

class Forgetful(MemoryStateStore):
    async def mark_seen(self, keys, /, *, ttl=None):
        pass  # keep the measurement about the pipeline's buffers, not a growing key table

async def main():
    p = Pipeline(
        sources=[IterableSource(posts, name="gen", page_size=100)],
        sinks={"slow": CallableSink(slow, batch=True)},
        policies={"slow": SinkPolicy(batch_size=100, batch_wait=0.01)},
        state=Forgetful(),
        buffer=8,
    )
    report = await p.run_once()
    # VmHWM is this process's own peak (ru_maxrss would include the forking parent's).
    with open("/proc/self/status") as status:
        hwm = next(line for line in status if line.startswith("VmHWM:"))
    rss = int(hwm.split()[1]) / 1024
    print(report.read, delivered, max_ahead, round(rss, 1))

anyio.run(main)
"""


@pytest.mark.timeout(600)
def test_backpressure_keeps_memory_flat(tmp_path):
    """
    1,000,000 posts from a generator into a sink that sleeps: the producer is never more
    than the channel bounds ahead of the sink, and peak RSS stays under 150 MB.
    """
    script = tmp_path / "bp.py"
    script.write_text(BACKPRESSURE)
    out = subprocess.run(
        [sys.executable, str(script), "1000000"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    read, delivered, max_ahead, rss = out.stdout.split()

    assert 1_000_000 == int(read) == int(delivered)
    # Pages in flight, 100 posts each: the page channel (8) and the sink channel (8), plus
    # one page in the process stage, one batch being assembled, one being delivered and one
    # page being produced.
    assert int(max_ahead) <= (8 + 8 + 4) * 100
    assert float(rss) < 150, f"peak RSS {rss} MB"
