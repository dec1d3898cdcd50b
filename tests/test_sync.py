"""
The blocking facade works in a plain script, a worker thread and inside a running event loop
(as in Jupyter), and Ctrl-C stops a following run cleanly.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import threading

from signal_support import signal_ticker
from socialplug import Pipeline
from socialplug.sync import collect, iter_posts, run_once
from socialplug.testing import CollectingSink, StaticSource, make_post


def pipeline() -> tuple[Pipeline, CollectingSink]:
    sink = CollectingSink()
    return Pipeline(
        sources=[StaticSource([make_post() for _ in range(5)], page_size=2)], sinks={"s": sink}
    ), sink


def test_run_once_in_a_plain_script(tmp_path):
    """A script calling run_once twice delivers everything once and resumes from SQLite."""
    script = tmp_path / "job.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from socialplug import Pipeline, SQLiteStateStore
            from socialplug.sync import run_once
            from socialplug.testing import CollectingSink, StaticSource, make_post
            sink = CollectingSink()
            p = Pipeline(sources=[StaticSource([make_post(id=str(i)) for i in range(7)], page_size=3)],
                         sinks={"s": sink}, state=SQLiteStateStore(sys.argv[1]))
            print(run_once(p).read, run_once(p).read, len(sink.deliveries))
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "s.db")],
        capture_output=True,
        text=True,
        check=True,
    )

    assert "7 0 7" == out.stdout.strip()


def test_run_once_in_a_worker_thread():
    """The facade works from a thread that is not the main thread."""
    p, sink = pipeline()
    result = {}
    thread = threading.Thread(target=lambda: result.update(report=run_once(p)))
    thread.start()
    thread.join(30)

    assert 5 == result["report"].read
    assert 5 == len(sink.deliveries)


def test_inside_a_running_event_loop():
    """Called from a coroutine (Jupyter runs cells in a loop), the facade still works."""
    p, sink = pipeline()

    async def cell():
        report = run_once(p)
        posts = collect(StaticSource([make_post() for _ in range(3)]), limit=2)
        return report, posts

    report, posts = asyncio.run(cell())

    assert 5 == report.read
    assert 5 == len(sink.deliveries)
    assert 2 == len(posts)


def test_collect_and_iter_posts_stop_at_the_limit():
    """collect() and iter_posts() read from the beginning and close the source."""
    source = StaticSource([make_post(id=str(i)) for i in range(10)], page_size=3)

    assert [str(i) for i in range(10)] == [p.id for p in collect(source)]
    assert ["0", "1", "2", "3"] == [p.id for p in iter_posts(source, limit=4)]
    assert source.closed >= 2


def test_ctrl_c_stops_cleanly_and_commits(tmp_path):
    """SIGINT during a following run drains, commits what completed and exits 0."""
    returncode, result, cursor = signal_ticker(tmp_path / "s.db", "sync", signal.SIGINT)

    assert 0 == returncode
    assert "stop" == result["stopped"]
    assert result["delivered"] == int(cursor)
