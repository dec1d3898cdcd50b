"""
File sinks: JSON Lines and CSV files rotated by size or age, and Parquet datasets.

Each :meth:`deliver` appends the batch and flushes it (``fsync=True`` also forces it to disk)
before returning, so an acknowledged batch survives a crash of the process. Files are appended
to, so a replayed page appends its posts again: these sinks are not idempotent, and the
runtime's seen-keys keep replays out. Rotation renames the active file to
``<stem>.<UTC time>.<suffix>`` (``posts.20260301T083000123456Z.jsonl``) and starts a new
one, so finished files never change again and can be shipped elsewhere.

:class:`ParquetSink` needs the ``parquet`` extra (pyarrow).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, ClassVar

import anyio
import anyio.to_thread
import attrs

from ..clock import Clock, SystemClock
from ..exceptions import ConfigurationError, DeliveryError, MissingExtraError
from ..model import Delivery, item_to_dict
from ._rows import COLUMNS, row_of


__all__ = ["CSVSink", "JSONLinesSink", "ParquetSink"]


def _stamp(when: datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%S%fZ")


def _seconds(value: float | timedelta | None) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds <= 0:
        msg = f"max_age must be positive, got {value!r}"
        raise ConfigurationError(msg)
    return seconds


def _error(what: str, exc: OSError) -> DeliveryError:
    # A full disk or an I/O error may pass; a missing permission or a bad path will not.
    permanent = isinstance(
        exc, PermissionError | IsADirectoryError | NotADirectoryError | FileExistsError
    ) or exc.errno in (errno.EROFS, errno.ENAMETOOLONG)
    return DeliveryError(
        f"{what}: {type(exc).__name__}: {exc.strerror or exc}", retryable=not permanent
    )


@attrs.define(eq=False)
class _RotatingFile:
    """An append-only text file that rotates by size or age; used from one thread at a time."""

    path: Path
    max_bytes: int | None
    max_age: float | None
    fsync: bool
    clock: Clock
    _fh: IO[str] | None = None
    _opened: datetime | None = None

    def _rotated_name(self, now: datetime) -> Path:
        stem, suffix = self.path.stem, self.path.suffix
        candidate = self.path.with_name(f"{stem}.{_stamp(now)}{suffix}")
        n = 1
        while candidate.exists():
            candidate = self.path.with_name(f"{stem}.{_stamp(now)}-{n}{suffix}")
            n += 1
        return candidate

    def _due(self, now: datetime) -> bool:
        if self._fh is None or self._fh.tell() == 0:
            return False
        if self.max_bytes is not None and self._fh.tell() >= self.max_bytes:
            return True
        return (
            self.max_age is not None
            and self._opened is not None
            and (now - self._opened).total_seconds() >= self.max_age
        )

    def rotate(self) -> Path | None:
        """Close and rename the active file (if it has content); return its new name."""
        if self._fh is None:
            if not self.path.exists() or self.path.stat().st_size == 0:
                return None
        else:
            self.close()
        target = self._rotated_name(self.clock.now())
        self.path.rename(target)
        return target

    def write(self, text: str, *, header: str = "") -> None:
        now = self.clock.now()
        if self._due(now):
            self.rotate()
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8", newline="")
            self._opened = now
        if header and self._fh.tell() == 0:
            self._fh.write(header)
        self._fh.write(text)
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        fh, self._fh = self._fh, None
        self._opened = None
        if fh is not None:
            fh.close()


@attrs.define(eq=False)
class _FileSink:
    path: Path = attrs.field(converter=Path)
    max_bytes: int | None = None
    max_age: float | timedelta | None = None
    fsync: bool = False
    clock: Clock = attrs.field(factory=SystemClock, repr=False)
    _file: _RotatingFile = attrs.field(init=False, repr=False)
    _lock: anyio.Lock = attrs.field(factory=anyio.Lock, init=False, repr=False)

    idempotent: ClassVar[bool] = False
    _kind: ClassVar[str] = "file"

    def __attrs_post_init__(self) -> None:
        if self.max_bytes is not None and self.max_bytes <= 0:
            msg = f"max_bytes must be positive, got {self.max_bytes!r}"
            raise ConfigurationError(msg)
        self._file = _RotatingFile(
            path=self.path,
            max_bytes=self.max_bytes,
            max_age=_seconds(self.max_age),
            fsync=self.fsync,
            clock=self.clock,
        )

    def _render(self, batch: Sequence[Delivery]) -> str:
        raise NotImplementedError

    def _header(self) -> str:
        return ""

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """
        Append *batch* to the active file, rotating first if it is due, and flush.

        Raises:
            DeliveryError: The file could not be written; retryable unless the error is a
                permission or path problem.
        """
        if not batch:
            return
        text = self._render(batch)
        async with self._lock:
            try:
                await anyio.to_thread.run_sync(
                    lambda: self._file.write(text, header=self._header())
                )
            except OSError as exc:
                await anyio.to_thread.run_sync(self._file.close)
                raise _error(f"{self._kind} {self.path.name}", exc) from exc

    async def rotate(self) -> Path | None:
        """
        Rotate now: close the active file and rename it; return its new path (``None`` when
        there was nothing to rotate).
        """
        async with self._lock:
            return await anyio.to_thread.run_sync(self._file.rotate)

    async def aclose(self) -> None:
        """Close the active file; the next :meth:`deliver` appends to it again."""
        async with self._lock:
            await anyio.to_thread.run_sync(self._file.close)


@attrs.define(eq=False)
class JSONLinesSink(_FileSink):
    """
    Append one JSON line per delivery, rotating the file by size or age.

    A line is ``{"route": ..., "delivery": <idempotency key>, "item": {...}}`` with the item
    losslessly (:func:`~socialplug.model.item_to_dict`), the format of
    :class:`~socialplug.sinks.JSONLSink`, so :class:`~socialplug.sources.JSONLSource` reads
    both the active and the rotated files back.

    Args:
        path: The active file (``out/posts.jsonl``); parent folders are created.
        max_bytes: Rotate before a batch once the file holds at least this many bytes.
        max_age: Rotate before a batch once the file has been open this long (seconds or a
            :class:`~datetime.timedelta`), measured on *clock*.
        fsync: Force each batch to disk before acknowledging it.
        clock: The time source for *max_age* and rotated names.

    .. versionadded:: 0.1.0
    """

    _kind: ClassVar[str] = "JSON Lines file"

    def _render(self, batch: Sequence[Delivery]) -> str:
        lines = []
        for d in batch:
            record = {"route": d.route, "delivery": d.key, "item": item_to_dict(d.item)}
            lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        return "\n".join(lines) + "\n"


@attrs.define(eq=False)
class CSVSink(_FileSink):
    """
    Append one CSV row per post or alert, with a header in each new file.

    The columns are the queryable fields (key, kind, platform, id, author, created_at, text,
    lang, url, sentiment, matched, route, severity, engagement counts, delivery_key) and,
    unless *include_item* is false, ``item``: the whole post as JSON, for lossless reloads.
    Times are ISO 8601 in UTC; ``matched`` is a JSON list.

    Args:
        path: The active file (``out/posts.csv``).
        max_bytes, max_age, fsync, clock: As for :class:`JSONLinesSink`.
        include_item: Add the ``item`` column.

    .. versionadded:: 0.1.0
    """

    include_item: bool = True
    _kind: ClassVar[str] = "CSV file"

    @property
    def columns(self) -> tuple[str, ...]:
        """The CSV header, in order."""
        return tuple(n for n, _ in COLUMNS if self.include_item or n != "item")

    def _header(self) -> str:
        out = io.StringIO()
        csv.writer(out).writerow(self.columns)
        return out.getvalue()

    def _render(self, batch: Sequence[Delivery]) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        names = self.columns
        for d in batch:
            row = row_of(d)
            writer.writerow(
                [row[n].isoformat() if isinstance(row[n], datetime) else row[n] for n in names]
            )
        return out.getvalue()


def _import_pyarrow() -> Any:
    try:
        import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415

        # (optional extra, imported on first use; pyarrow ships no type hints)
        import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415
    except ImportError as exc:
        raise MissingExtraError("pyarrow", extra="parquet") from exc
    return pa, pq


def _arrow_schema(pa: Any) -> Any:
    types = {
        "text": pa.string(),
        "time": pa.timestamp("us", tz="UTC"),
        "real": pa.float64(),
        "int": pa.int64(),
        "json": pa.string(),
    }
    fields = [pa.field(n, types[kind], nullable=n != "key") for n, kind in COLUMNS]
    fields[[n for n, _ in COLUMNS].index("matched")] = pa.field("matched", pa.list_(pa.string()))
    return pa.schema(fields)


@attrs.define(eq=False)
class ParquetSink:
    """
    Write each batch as one Parquet file of a dataset folder (``pyarrow.dataset`` and
    ``pandas.read_parquet(folder)`` read the folder as one table).

    A Parquet file is readable only once it is closed, so an open file cannot hold
    acknowledged rows: every batch becomes a complete file, written under a temporary name
    and renamed into place (``<basename>-<UTC time>-<n>.parquet``). Larger runtime batches
    give larger files. Columns are typed: ``created_at`` is a UTC timestamp, counts are
    64-bit integers, ``matched`` a list of strings, ``item`` the post as JSON.

    Args:
        directory: The dataset folder (created if missing).
        basename: The file name prefix.
        compression: A Parquet codec (``"zstd"``, ``"snappy"``, ``"none"``...).
        clock: The time source for file names.

    .. versionadded:: 0.1.0
    """

    directory: Path = attrs.field(converter=Path)
    basename: str = "posts"
    compression: str = "zstd"
    clock: Clock = attrs.field(factory=SystemClock, repr=False)
    _seq: int = attrs.field(default=0, init=False, repr=False)
    _lock: anyio.Lock = attrs.field(factory=anyio.Lock, init=False, repr=False)

    idempotent: ClassVar[bool] = False

    def __attrs_post_init__(self) -> None:
        _import_pyarrow()

    def _write(self, batch: Sequence[Delivery]) -> Path:
        pa, pq = _import_pyarrow()
        rows = [row_of(d) for d in batch]
        for r in rows:
            r["matched"] = [str(m) for m in json.loads(r["matched"])]
        table = pa.Table.from_pylist(rows, schema=_arrow_schema(pa))
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"{self.basename}-{_stamp(self.clock.now())}-{self._seq:06d}.parquet"
        target = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        pq.write_table(table, tmp, compression=self.compression)
        tmp.replace(target)
        return target

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """
        Write *batch* as one new Parquet file.

        Raises:
            DeliveryError: The file could not be written.
        """
        if not batch:
            return
        async with self._lock:
            try:
                await anyio.to_thread.run_sync(self._write, batch)
            except OSError as exc:
                raise _error(f"Parquet dataset {self.directory.name}", exc) from exc

    async def aclose(self) -> None:
        """Nothing stays open between batches; present for the :class:`Sink` protocol."""
