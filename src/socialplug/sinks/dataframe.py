"""
Collect delivered posts into a pandas DataFrame, for notebooks (the ``pandas`` extra).

:class:`DataFrameSink` keeps what it receives in memory; :meth:`DataFrameSink.frame` builds the
frame on demand. :func:`to_frame` does the same for any iterable of posts, e.g. what
``socialplug.sync.collect`` returned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

import attrs

from ..exceptions import MissingExtraError
from ..model import Delivery, Item, Post, delivery_key
from ._rows import COLUMNS, Row, row_of


if TYPE_CHECKING:
    import pandas as pd


__all__ = ["DataFrameSink", "to_frame"]

_DTYPES = {
    "text": "string",
    "time": "datetime64[us, UTC]",
    "real": "Float64",
    "int": "Int64",
    "json": "string",
}
_CATEGORIES = ("kind", "platform", "lang", "sentiment", "route", "severity")


def _import_pandas() -> Any:
    try:
        import pandas  # noqa: PLC0415  (optional extra, imported on first use)
    except ImportError as exc:
        raise MissingExtraError("pandas", extra="pandas") from exc
    return pandas


def _frame(rows: list[Row]) -> pd.DataFrame:
    pandas = _import_pandas()
    names = [n for n, _ in COLUMNS]
    frame = pandas.DataFrame.from_records(rows, columns=names)
    for name, kind in COLUMNS:
        if name == "matched":
            frame[name] = [json.loads(v) for v in frame[name]]
        elif name in _CATEGORIES:
            frame[name] = frame[name].astype("category")
        else:
            frame[name] = frame[name].astype(_DTYPES[kind])
    return cast("pd.DataFrame", frame.set_index("key", drop=False))


def to_frame(items: Iterable[Item], /, *, route: str = "") -> pd.DataFrame:
    """
    Return a DataFrame with one row per post or alert of *items*.

    Columns: ``key`` (also the index), ``kind``, ``platform``, ``id``, ``author``,
    ``author_id``, ``created_at`` (``datetime64[us, UTC]``), ``text``, ``lang``, ``url``,
    ``sentiment`` (category) and ``sentiment_score`` (float), ``matched`` (list of query
    names), ``route``, ``severity``, ``likes``/``reposts``/``replies`` (nullable ``Int64``),
    ``delivery_key`` and ``item`` (the whole item as JSON; ``Post.from_json`` rebuilds it).
    Low-cardinality text columns are categories.

    Raises:
        MissingExtraError: pandas is not installed.

    .. versionadded:: 0.1.0
    """
    rows = [
        row_of(Delivery(item=i, route=route, sink="", key=delivery_key(route, "", i.key)))
        for i in items
    ]
    return _frame(rows)


@attrs.define(eq=False)
class DataFrameSink:
    """
    Keep delivered items in memory and hand them out as a DataFrame.

    A replayed delivery replaces the earlier row of the same item key, so the frame has one
    row per item (hence :attr:`idempotent`). Memory grows with the number of distinct items:
    this is for notebooks and tests, not for services.

    .. versionadded:: 0.1.0
    """

    _rows: dict[str, Row] = attrs.field(factory=dict, init=False, repr=False)
    _items: dict[str, Item] = attrs.field(factory=dict, init=False, repr=False)

    idempotent: ClassVar[bool] = True

    def __attrs_post_init__(self) -> None:
        _import_pandas()

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Remember *batch*."""
        for d in batch:
            self._rows[d.item.key] = row_of(d)
            self._items[d.item.key] = d.item

    @property
    def posts(self) -> list[Post]:
        """The posts received, in order of first arrival."""
        return [i for i in self._items.values() if isinstance(i, Post)]

    def frame(self) -> pd.DataFrame:
        """Return what was received so far as a new DataFrame (see :func:`to_frame`)."""
        return _frame(list(self._rows.values()))

    def clear(self) -> None:
        """Forget everything received."""
        self._rows.clear()
        self._items.clear()

    async def aclose(self) -> None:
        """Keep the rows (a notebook reads them after the run); nothing to release."""

    def __len__(self) -> int:
        return len(self._rows)
