"""
The embedded default state store: one SQLite file, WAL, safe for several processes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import attrs

from ..exceptions import StateError
from ..model import DeadLetter


__all__ = ["SQLiteStateStore"]

T = TypeVar("T")

#: Each entry migrates the schema from version ``index`` to ``index + 1``.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE cursors (
        source TEXT PRIMARY KEY,
        cursor TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE seen (
        key TEXT PRIMARY KEY,
        expires_at REAL
    ) WITHOUT ROWID;
    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        origin TEXT NOT NULL,
        route TEXT,
        key TEXT,
        reason TEXT NOT NULL,
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE INDEX dead_letters_origin ON dead_letters (origin, id);
    CREATE TABLE records (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        expires_at REAL,
        PRIMARY KEY (namespace, key)
    ) WITHOUT ROWID;
    """,
)

SCHEMA_VERSION = len(_MIGRATIONS)


class _Busy(Exception):  # noqa: N818 - internal signal, never escapes the store
    """The fast path would have to wait; retry in a thread."""


_CHUNK = 500
#: Seen-key batches at least this long go to a worker thread: their SQL (a few microseconds
#: a key, more as the table grows) is worth a thread hop, and SQLite releases the GIL while
#: it works, so the event loop goes on meanwhile (a sink's batch of 500 keys: about 2 ms).
_THREAD_KEYS = 100


@attrs.define(eq=False)
class SQLiteStateStore:
    """
    Cursors, seen keys (with TTL), dead letters and keyed records in one SQLite file.

    The file uses WAL and a busy timeout, and every write is one short transaction, so
    several processes on one machine can share it (a CLI inspecting dead letters while a
    service runs). The schema is versioned (``PRAGMA user_version``) and migrated on open.
    The connection opens lazily on first use and :meth:`aclose` closes it; the store can be
    used again afterwards.

    Args:
        path: The database file; created with its parent folder if missing.
        busy_timeout: Seconds to wait for another process's write lock.
    """

    path: Path = attrs.field(converter=Path)
    busy_timeout: float = 30.0
    clock: Callable[[], float] = attrs.field(default=time.time, repr=False)
    _conn: sqlite3.Connection | None = attrs.field(init=False, default=None, repr=False)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)
    _writes: int = attrs.field(init=False, default=0, repr=False)

    # -- plumbing -----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            self._enable_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            self._migrate(conn)
        except sqlite3.Error as exc:
            raise StateError(f"cannot open state store {self.path}: {exc}") from exc
        self._conn = conn
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch to WAL once; another process switching at the same moment is waited for."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                # Changing the journal mode does not go through the busy handler.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            conn.execute("ROLLBACK")
            msg = (
                f"state store {self.path} has schema version {version}, newer than this "
                f"socialplug understands ({SCHEMA_VERSION}); upgrade socialplug"
            )
            raise StateError(msg)
        try:
            for index in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[index].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _run(
        self, fn: Callable[[sqlite3.Connection], T], *, key: str = "", wait: bool = True
    ) -> T:
        """
        Run *fn* on the connection. With ``wait=False`` (the fast path, on the event loop)
        nothing may block: a busy lock or a connection not opened yet raises :class:`_Busy`
        and the caller retries in a worker thread with ``wait=True``.
        """
        if not wait and (self._conn is None or not self._lock.acquire(blocking=False)):
            raise _Busy
        if wait:
            self._lock.acquire()
        try:
            conn = self._connect()
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000) if wait else 0}")
            try:
                return fn(conn)
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if (
                    not wait
                    and isinstance(exc, sqlite3.OperationalError)
                    and ("locked" in str(exc) or "busy" in str(exc))
                ):
                    raise _Busy from exc
                raise StateError(f"state store {self.path}: {exc}", key=key) from exc
        finally:
            self._lock.release()

    def _write(
        self, fn: Callable[[sqlite3.Connection], T], *, key: str = "", wait: bool = True
    ) -> T:
        def tx(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            result = fn(conn)
            conn.execute("COMMIT")
            return result

        return self._run(tx, key=key, wait=wait)

    async def _call(self, op: Callable[[bool], T], *, keys: int = 0) -> T:
        """
        Run *op* on the event loop when that cannot block (no other writer holds the lock:
        a WAL transaction takes microseconds), else in a worker thread that waits for it.
        Thread hops cost more than a small statement on a loaded machine, so the fast path
        matters; an operation on many *keys* goes to the thread anyway.
        """
        if keys >= _THREAD_KEYS:
            return await anyio.to_thread.run_sync(op, True)  # noqa: FBT003
        try:
            return op(False)  # noqa: FBT003
        except _Busy:
            return await anyio.to_thread.run_sync(op, True)  # noqa: FBT003

    # -- cursors ------------------------------------------------------------------------

    async def get_cursor(self, source: str, /) -> str | None:
        """Return the committed cursor of *source*, or ``None``."""

        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT cursor FROM cursors WHERE source = ?", (source,)).fetchone()
            return None if row is None else str(row[0])

        return await self._call(lambda wait: self._run(read, key=source, wait=wait))

    async def set_cursor(self, source: str, cursor: str, /) -> None:
        """Durably commit *cursor* for *source*."""

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO cursors (source, cursor, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, "
                "updated_at = excluded.updated_at",
                (source, cursor, self.clock()),
            )

        await self._call(lambda wait: self._write(write, key=source, wait=wait))

    # -- seen keys ----------------------------------------------------------------------

    async def seen(self, keys: Sequence[str], /) -> set[str]:
        """Return which of *keys* were marked seen and have not expired."""
        if not keys:
            return set()
        now = self.clock()

        def read(conn: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT key FROM seen WHERE key IN ({marks}) "  # noqa: S608 - only ?s
                    "AND (expires_at IS NULL OR expires_at > ?)",
                    (*chunk, now),
                )
                found.update(r[0] for r in rows)
            return found

        return await self._call(lambda wait: self._run(read, wait=wait), keys=len(keys))

    async def mark_seen(self, keys: Sequence[str], /, *, ttl: float | None = None) -> None:
        """Remember *keys* for *ttl* seconds (forever with ``None``)."""
        if not keys:
            return
        now = self.clock()
        expires = None if ttl is None else now + ttl

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO seen (key, expires_at) VALUES (?, ?)",
                [(k, expires) for k in keys],
            )
            self._writes += 1
            if self._writes % 256 == 0:
                conn.execute(
                    "DELETE FROM seen WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
                )

        await self._call(lambda wait: self._write(write, wait=wait), keys=len(keys))

    # -- dead letters -------------------------------------------------------------------

    async def add_dead_letters(self, letters: Sequence[DeadLetter], /) -> None:
        """Durably keep *letters*."""
        if not letters:
            return
        rows = [
            (
                letter.kind,
                letter.origin,
                letter.route,
                letter.key,
                letter.reason,
                letter.payload,
                letter.attempts,
                letter.created_at.isoformat(),
            )
            for letter in letters
        ]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO dead_letters "
                "(kind, origin, route, key, reason, payload, attempts, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

        await self._call(lambda wait: self._write(write, wait=wait))

    async def dead_letters(
        self, *, origin: str | None = None, limit: int | None = None
    ) -> list[DeadLetter]:
        """Return dead letters, oldest first, optionally only those of *origin*."""
        sql = (
            "SELECT id, kind, origin, route, key, reason, payload, attempts, created_at "
            "FROM dead_letters"
        )
        params: list[Any] = []
        if origin is not None:
            sql += " WHERE origin = ?"
            params.append(origin)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)

        def read(conn: sqlite3.Connection) -> list[DeadLetter]:
            return [
                DeadLetter(
                    id=row[0],
                    kind=row[1],
                    origin=row[2],
                    route=row[3],
                    key=row[4],
                    reason=row[5],
                    payload=row[6],
                    attempts=row[7],
                    created_at=datetime.fromisoformat(row[8]).astimezone(UTC),
                )
                for row in conn.execute(sql, params)
            ]

        return await self._call(lambda wait: self._run(read, wait=wait))

    async def remove_dead_letters(self, ids: Sequence[int], /) -> int:
        """Delete the dead letters with *ids*; return how many were deleted."""
        if not ids:
            return 0

        def write(conn: sqlite3.Connection) -> int:
            return sum(
                conn.execute("DELETE FROM dead_letters WHERE id = ?", (i,)).rowcount for i in ids
            )

        return await self._call(lambda wait: self._write(write, wait=wait))

    # -- records ------------------------------------------------------------------------

    async def get_record(self, namespace: str, key: str, /) -> Any:
        """Return the JSON value stored under (*namespace*, *key*), or ``None``."""
        now = self.clock()

        def read(conn: sqlite3.Connection) -> Any:
            row = conn.execute(
                "SELECT value FROM records WHERE namespace = ? AND key = ? "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (namespace, key, now),
            ).fetchone()
            return None if row is None else json.loads(row[0])

        return await self._call(lambda wait: self._run(read, key=f"{namespace}/{key}", wait=wait))

    async def put_record(
        self, namespace: str, key: str, value: Any, /, *, ttl: float | None = None
    ) -> None:
        """Store a JSON *value* under (*namespace*, *key*)."""
        encoded = json.dumps(value, ensure_ascii=False)
        expires = None if ttl is None else self.clock() + ttl

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO records (namespace, key, value, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (namespace, key, encoded, expires),
            )

        await self._call(lambda wait: self._write(write, key=f"{namespace}/{key}", wait=wait))

    async def delete_record(self, namespace: str, key: str, /) -> None:
        """Delete (*namespace*, *key*) if present."""

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM records WHERE namespace = ? AND key = ?", (namespace, key))

        await self._call(lambda wait: self._write(write, key=f"{namespace}/{key}", wait=wait))

    async def records(self, namespace: str, /) -> dict[str, Any]:
        """Return every live record of *namespace*."""
        now = self.clock()

        def read(conn: sqlite3.Connection) -> dict[str, Any]:
            rows = conn.execute(
                "SELECT key, value FROM records WHERE namespace = ? "
                "AND (expires_at IS NULL OR expires_at > ?) ORDER BY key",
                (namespace, now),
            )
            return {k: json.loads(v) for k, v in rows}

        return await self._call(lambda wait: self._run(read, key=namespace, wait=wait))

    async def aclose(self) -> None:
        """Close the connection; the store reopens on next use."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __fspath__(self) -> str:
        return os.fspath(self.path)
