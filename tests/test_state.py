"""
State stores: both implementations keep the same contract; SQLite persists, migrates and is
shared by processes.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime

import pytest

from socialplug import DeadLetter, MemoryStateStore, SQLiteStateStore
from socialplug.exceptions import StateError


pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request, tmp_path):
    def make(clock=None):
        kw = {"clock": clock} if clock else {}
        if request.param == "memory":
            return MemoryStateStore(**kw)
        return SQLiteStateStore(tmp_path / "state.db", **kw)

    return make


def letter(origin: str, payload: str = "{}") -> DeadLetter:
    return DeadLetter(
        kind="delivery",
        origin=origin,
        reason="boom",
        payload=payload,
        created_at=T0,
        route="r",
        key="k",
        attempts=2,
    )


class TestContract:
    async def test_cursors(self, make_store):
        """Cursors are per source and overwritten by later commits."""
        store = make_store()
        assert await store.get_cursor("a") is None
        await store.set_cursor("a", "1")
        await store.set_cursor("a", "2")
        await store.set_cursor("b", '{"x": 1}')

        assert "2" == await store.get_cursor("a")
        assert '{"x": 1}' == await store.get_cursor("b")

    async def test_seen_keys_expire(self, make_store):
        """Seen keys are remembered for their TTL, forever without one."""
        clock = Clock()
        store = make_store(clock)
        await store.mark_seen(["a", "b"], ttl=10)
        await store.mark_seen(["c"])

        assert {"a", "c"} == await store.seen(["a", "c", "z"])
        clock.now += 11
        assert {"c"} == await store.seen(["a", "b", "c"])

    async def test_many_seen_keys(self, make_store):
        """Lookups of more keys than one SQL statement holds still work."""
        store = make_store()
        keys = [f"k{i}" for i in range(1500)]
        await store.mark_seen(keys[::2])

        assert set(keys[::2]) == await store.seen(keys)

    async def test_dead_letters_list_filter_remove(self, make_store):
        """Dead letters keep every field, filter by origin and can be removed."""
        store = make_store()
        await store.add_dead_letters(
            [letter("slack", '{"a": 1}'), letter("email"), letter("slack")]
        )
        everything = await store.dead_letters()
        slack = await store.dead_letters(origin="slack")

        assert 3 == len(everything)
        assert ["slack", "slack"] == [x.origin for x in slack]
        assert '{"a": 1}' == slack[0].payload
        assert (2, "r", "k", T0) == (
            slack[0].attempts,
            slack[0].route,
            slack[0].key,
            slack[0].created_at,
        )
        assert 1 == len(await store.dead_letters(limit=1))
        assert 2 == await store.remove_dead_letters([x.id for x in slack])
        assert ["email"] == [x.origin for x in await store.dead_letters()]

    async def test_records(self, make_store):
        """Records are namespaced JSON values with optional TTL."""
        clock = Clock()
        store = make_store(clock)
        await store.put_record("incidents", "i1", {"state": "open", "posts": [1, 2]})
        await store.put_record("incidents", "i2", {"state": "resolved"}, ttl=5)
        await store.put_record("windows", "w", [1.5, None])

        assert {"state": "open", "posts": [1, 2]} == await store.get_record("incidents", "i1")
        assert {"i1", "i2"} == set(await store.records("incidents"))
        clock.now += 6
        assert {"i1"} == set(await store.records("incidents"))
        await store.delete_record("incidents", "i1")
        assert await store.get_record("incidents", "i1") is None
        assert [1.5, None] == await store.get_record("windows", "w")


class TestSQLite:
    async def test_persists_across_instances_and_aclose_is_not_terminal(self, tmp_path):
        """What one store object wrote, another reads; a closed store reopens on use."""
        path = tmp_path / "s" / "state.db"
        first = SQLiteStateStore(path)
        await first.set_cursor("a", "42")
        await first.aclose()
        await first.aclose()
        await first.mark_seen(["x"])

        second = SQLiteStateStore(path)
        assert "42" == await second.get_cursor("a")
        assert {"x"} == await second.seen(["x"])
        assert "wal" == sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]

    async def test_large_seen_batches_leave_the_event_loop(self, tmp_path):
        """A sink's batch of seen keys is read and written in a worker thread; one key not."""
        store = SQLiteStateStore(tmp_path / "state.db")
        await store.set_cursor("open", "1")  # opens the connection
        threads: dict[str, set[int]] = {}

        def trace(statement: str) -> None:
            kind = statement.split(" ", 1)[0]
            threads.setdefault(kind, set()).add(threading.get_ident())

        assert store._conn is not None
        store._conn.set_trace_callback(trace)
        loop_thread = threading.get_ident()
        keys = [f"k{i}" for i in range(500)]

        await store.seen(["one"])
        await store.mark_seen(["one"])
        assert {loop_thread} == threads["SELECT"] == threads["INSERT"]

        threads.clear()
        assert set() == await store.seen(keys)
        await store.mark_seen(keys)
        assert loop_thread not in threads["SELECT"] | threads["INSERT"]
        assert set(keys) == await store.seen(keys)
        await store.aclose()

    async def test_refuses_a_newer_schema(self, tmp_path):
        """A file written by a newer version is refused with a clear error."""
        path = tmp_path / "state.db"
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA user_version=999")
        conn.close()

        with pytest.raises(StateError, match="newer"):
            await SQLiteStateStore(path).get_cursor("a")

    async def test_several_processes_write_one_file(self, tmp_path):
        """Processes writing the same file concurrently all succeed (WAL + busy timeout)."""
        path = tmp_path / "state.db"
        code = (
            "import anyio, sys\n"
            "from socialplug import SQLiteStateStore\n"
            "async def main():\n"
            "    s = SQLiteStateStore(sys.argv[1])\n"
            "    for i in range(200):\n"
            "        await s.mark_seen([f'{sys.argv[2]}-{i}'])\n"
            "        await s.set_cursor(sys.argv[2], str(i))\n"
            "anyio.run(main)\n"
        )
        cmd = [sys.executable, "-c", code, str(path)]
        procs = [subprocess.Popen([*cmd, f"p{n}"]) for n in range(3)]  # noqa: ASYNC220
        assert [0, 0, 0] == [p.wait(timeout=60) for p in procs]

        store = SQLiteStateStore(path)
        keys = [f"p{n}-{i}" for n in range(3) for i in range(200)]
        assert set(keys) == await store.seen(keys)
        assert ["199"] * 3 == [await store.get_cursor(f"p{n}") for n in range(3)]
