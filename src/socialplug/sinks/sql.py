"""
Table sinks: every delivered post or alert becomes one row of a SQL table, upserted on the
item's key, so a replayed page updates rows instead of duplicating them.

:class:`SQLiteSink` needs nothing but the standard library; :class:`PostgresSink` needs the
``postgres`` extra (psycopg 3). Both create their table on first use and add the columns a newer
socialplug version defines to an older table (additive migration; nothing is dropped). The
columns are those of :data:`socialplug.sinks._rows.COLUMNS`: the queryable fields (platform,
author, created_at, text, lang, sentiment, matched queries, route, ...) and ``item``, the whole
post or alert as JSON (``jsonb`` on PostgreSQL), which :func:`item_of_row` turns back into it.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from os import PathLike
from typing import TYPE_CHECKING, Any, ClassVar, Final

import anyio
import anyio.to_thread
import attrs

from ..exceptions import ConfigurationError, DeliveryError, MissingExtraError
from ..model import Delivery
from ..pipeline import SinkPolicy
from ._rows import COLUMNS, Row, item_of_row, row_of


if TYPE_CHECKING:
    import psycopg


__all__ = ["PostgresSink", "SQLiteSink", "item_of_row"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_NAMES: Final = tuple(name for name, _ in COLUMNS)
_SQLITE_TYPES: Final = {"text": "TEXT", "time": "TEXT", "real": "REAL", "int": "INTEGER"}
_SQLITE_TYPES["json"] = "TEXT"
_PG_TYPES: Final = {
    "text": "text",
    "time": "timestamptz",
    "real": "double precision",
    "int": "bigint",
    "json": "jsonb",
}
_INDEXED: Final = ("platform", "created_at", "route")


def _check_table(table: str, *, schema_allowed: bool) -> tuple[str, ...]:
    parts = tuple(table.split(".")) if schema_allowed else (table,)
    if not 1 <= len(parts) <= 2 or not all(_IDENT.fullmatch(p) for p in parts):
        msg = f"table name {table!r} must be a plain SQL identifier"
        if schema_allowed:
            msg += " (optionally schema-qualified, as schema.table)"
        raise ConfigurationError(msg)
    return parts


def _dedupe(batch: Sequence[Delivery]) -> list[Row]:
    """One row per key, the last delivery winning (an upsert cannot touch a row twice)."""
    rows: dict[str, Row] = {}
    for delivery in batch:
        row = row_of(delivery)
        rows.pop(row["key"], None)
        rows[row["key"]] = row
    return list(rows.values())


def _upsert_tail(quote: str) -> str:
    updates = ", ".join(f"{quote}{n}{quote} = excluded.{quote}{n}{quote}" for n in _NAMES[1:])
    return f"ON CONFLICT ({quote}key{quote}) DO UPDATE SET {updates}"


def _require_key(table: str, have: set[str]) -> None:
    if "key" not in have:
        msg = f"table {table!r} exists without a key column; it is not a socialplug table"
        raise sqlite3.IntegrityError(msg)


# --------------------------------------------------------------------------------------------
# SQLite


@attrs.define(eq=False)
class SQLiteSink:
    """
    Upsert deliveries into a table of a SQLite database file.

    Writes run in a worker thread; each batch is one transaction (WAL mode), so a returned
    :meth:`deliver` is on disk. The destination dedupes on the item key, hence
    :attr:`idempotent`.

    Args:
        path: The database file (created if missing), or ``":memory:"``.
        table: The table name (created and migrated on first use).
        timeout: Seconds to wait for a lock held by another process before the batch fails
            (retryably).

    .. versionadded:: 0.1.0
    """

    path: str | PathLike[str]
    table: str = "posts"
    timeout: float = 30.0
    _db: sqlite3.Connection | None = attrs.field(default=None, init=False, repr=False)
    _lock: anyio.Lock = attrs.field(factory=anyio.Lock, init=False, repr=False)

    idempotent: ClassVar[bool] = True
    #: Default batching (a pipeline's ``policies`` override it).
    policy: ClassVar[SinkPolicy] = SinkPolicy(batch_size=500, batch_wait=0.5)

    def __attrs_post_init__(self) -> None:
        _check_table(self.table, schema_allowed=False)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=self.timeout, check_same_thread=False, isolation_level=None
        )
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        t = self.table
        cols = ", ".join(
            f'"{n}" {_SQLITE_TYPES[kind]}' + (" PRIMARY KEY NOT NULL" if n == "key" else "")
            for n, kind in COLUMNS
        )
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(f'CREATE TABLE IF NOT EXISTS "{t}" ({cols})')
            have = {r[1] for r in db.execute(f'PRAGMA table_info("{t}")')}
            _require_key(t, have)
            for n, kind in COLUMNS:
                if n not in have:
                    db.execute(f'ALTER TABLE "{t}" ADD COLUMN "{n}" {_SQLITE_TYPES[kind]}')
            for n in _INDEXED:
                db.execute(f'CREATE INDEX IF NOT EXISTS "{t}_{n}" ON "{t}" ("{n}")')
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _write(self, rows: list[Row]) -> None:
        if self._db is None:
            self._db = self._connect()
        db = self._db
        names = ", ".join(f'"{n}"' for n in _NAMES)
        marks = ", ".join("?" for _ in _NAMES)
        sql = f'INSERT INTO "{self.table}" ({names}) VALUES ({marks}) {_upsert_tail(chr(34))}'  # noqa: S608
        values = [
            tuple(v.isoformat() if isinstance(v, datetime) else v for v in (r[n] for n in _NAMES))
            for r in rows
        ]
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(sql, values)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """
        Upsert *batch* in one transaction.

        Raises:
            DeliveryError: Retryable when the database is locked or unreachable (busy file,
                I/O error); permanent for bad data or a table that is not ours.
        """
        if not batch:
            return
        rows = _dedupe(batch)
        async with self._lock:
            try:
                await anyio.to_thread.run_sync(self._write, rows)
            except sqlite3.OperationalError as exc:
                await self._drop()
                raise DeliveryError(f"SQLite table {self.table!r}: {exc}", retryable=True) from exc
            except sqlite3.Error as exc:
                raise DeliveryError(
                    f"SQLite table {self.table!r}: {exc}", retryable=False
                ) from exc

    async def _drop(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await anyio.to_thread.run_sync(db.close)

    async def aclose(self) -> None:
        """Close the database connection; the next :meth:`deliver` reopens it."""
        async with self._lock:
            await self._drop()


# --------------------------------------------------------------------------------------------
# PostgreSQL


def _import_psycopg() -> Any:
    try:
        import psycopg  # noqa: PLC0415  (optional extra, imported on first use)
    except ImportError as exc:
        raise MissingExtraError("psycopg", extra="postgres") from exc
    return psycopg


@attrs.define(eq=False)
class PostgresSink:
    """
    Upsert deliveries into a PostgreSQL table (psycopg 3, async).

    Batches of at least *copy_threshold* rows are streamed with ``COPY``: straight into the
    table when every key is new (inside a savepoint), otherwise into a temporary staging
    table merged with one ``INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE``. Smaller
    batches are sent as a pipelined multi-row upsert. Each batch is one transaction.

    Args:
        conninfo: A libpq connection string or URL (``postgresql://user@host/db``); never
            logged, since it may hold a password. Ignored when *connection* is given.
        table: The table, optionally schema-qualified (``schema.table``).
        connection: An open :class:`psycopg.AsyncConnection` to use instead of opening one;
            the caller owns it (not closed by :meth:`aclose`). It must not be shared with
            concurrent work while a batch is being written.
        copy_threshold: The smallest batch written with ``COPY``.

    .. versionadded:: 0.1.0
    """

    conninfo: str = attrs.field(default="", repr=False)
    table: str = "posts"
    connection: psycopg.AsyncConnection[Any] | None = attrs.field(default=None, repr=False)
    copy_threshold: int = 64
    _owned: psycopg.AsyncConnection[Any] | None = attrs.field(default=None, init=False, repr=False)
    _ready: set[int] = attrs.field(factory=set, init=False, repr=False)
    _lock: anyio.Lock = attrs.field(factory=anyio.Lock, init=False, repr=False)

    idempotent: ClassVar[bool] = True
    #: Default batching (a pipeline's ``policies`` override it).
    policy: ClassVar[SinkPolicy] = SinkPolicy(batch_size=1000, batch_wait=0.5)

    def __attrs_post_init__(self) -> None:
        _check_table(self.table, schema_allowed=True)
        if not self.conninfo and self.connection is None:
            msg = "PostgresSink needs a conninfo or a connection"
            raise ConfigurationError(msg)

    @property
    def _qualified(self) -> str:
        return ".".join(f'"{p}"' for p in self.table.split("."))

    @property
    def _bare(self) -> str:
        return self.table.split(".")[-1]

    async def _conn(self) -> psycopg.AsyncConnection[Any]:
        if self.connection is not None:
            conn = self.connection
        else:
            if self._owned is None or self._owned.closed:
                psycopg = _import_psycopg()
                self._owned = await psycopg.AsyncConnection.connect(self.conninfo)
                self._ready.clear()
            conn = self._owned
        if id(conn) not in self._ready:
            await self._migrate(conn)
            self._ready.add(id(conn))
        return conn

    async def _migrate(self, conn: psycopg.AsyncConnection[Any]) -> None:
        q, bare = self._qualified, self._bare
        cols = ", ".join(
            f'"{n}" {_PG_TYPES[kind]}' + (" PRIMARY KEY" if n == "key" else "")
            for n, kind in COLUMNS
        )
        schema = self.table.split(".")[0] if "." in self.table else None
        async with conn.transaction():
            # Serialize concurrent migrations of the same table across processes.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.table,))
            await conn.execute(f"CREATE TABLE IF NOT EXISTS {q} ({cols})")
            cur = await conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = %s AND table_schema = coalesce(%s, current_schema())",
                (bare, schema),
            )
            have = {r[0] for r in await cur.fetchall()}
            if "key" not in have:
                msg = f"table {self.table!r} exists without a key column"
                raise ConfigurationError(msg)
            for n, kind in COLUMNS:
                if n not in have:
                    await conn.execute(f'ALTER TABLE {q} ADD COLUMN "{n}" {_PG_TYPES[kind]}')
            for n in _INDEXED:
                await conn.execute(f'CREATE INDEX IF NOT EXISTS "{bare}_{n}" ON {q} ("{n}")')
        await conn.execute(
            f'CREATE TEMP TABLE IF NOT EXISTS "_socialplug_stage_{bare}"'
            f" (LIKE {q} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        await conn.commit()

    async def _copy(self, conn: psycopg.AsyncConnection[Any], table: str, rows: list[Row]) -> None:
        names = ", ".join(f'"{n}"' for n in _NAMES)
        async with conn.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for r in rows:
                await copy.write_row([r[n] for n in _NAMES])

    async def _write(self, conn: psycopg.AsyncConnection[Any], rows: list[Row]) -> None:
        psycopg = _import_psycopg()
        names = ", ".join(f'"{n}"' for n in _NAMES)
        tail = _upsert_tail('"')
        async with conn.transaction():
            if len(rows) < self.copy_threshold:
                marks = ", ".join(f"%({n})s" for n in _NAMES)
                async with conn.cursor() as cur:
                    await cur.executemany(
                        f"INSERT INTO {self._qualified} ({names}) VALUES ({marks}) {tail}",  # noqa: S608
                        rows,
                    )
                return
            # New posts are the common case: COPY straight into the table, inside a
            # savepoint. If a key is already there (a replay, an edit), roll back to the
            # savepoint and merge through the staging table instead.
            try:
                async with conn.transaction():
                    await self._copy(conn, self._qualified, rows)
            except psycopg.errors.UniqueViolation:
                pass
            else:
                return
            stage = f'"_socialplug_stage_{self._bare}"'
            await self._copy(conn, stage, rows)
            merge = f"INSERT INTO {self._qualified} ({names}) SELECT {names} FROM {stage}"  # noqa: S608
            await conn.execute(f"{merge} {tail}")

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """
        Upsert *batch* in one transaction.

        Raises:
            DeliveryError: Retryable for connection loss, timeouts, lock and serialization
                conflicts and resource shortages (``OperationalError``); permanent for data
                the table refuses and for a table that is not ours.
        """
        if not batch:
            return
        rows = _dedupe(batch)
        psycopg = _import_psycopg()
        async with self._lock:
            try:
                conn = await self._conn()
                await self._write(conn, rows)
            except psycopg.OperationalError as exc:
                await self._reset()
                raise DeliveryError(
                    f"PostgreSQL table {self.table!r}: {type(exc).__name__}: {_first_line(exc)}",
                    retryable=True,
                ) from exc
            except (psycopg.Error, ConfigurationError) as exc:
                raise DeliveryError(
                    f"PostgreSQL table {self.table!r}: {type(exc).__name__}: {_first_line(exc)}",
                    retryable=False,
                ) from exc

    async def _reset(self) -> None:
        self._ready.clear()
        owned, self._owned = self._owned, None
        if owned is not None:
            await owned.close()

    async def aclose(self) -> None:
        """Close the connection the sink opened (not an injected one)."""
        async with self._lock:
            await self._reset()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]
