"""
Flat, queryable rows for tabular sinks (SQL tables, CSV, Parquet, DataFrames).

One delivery becomes one row: the item's key, a handful of columns people filter and group on,
and the whole item as lossless JSON (:func:`socialplug.model.item_to_dict`), so nothing is lost
and a row can always be turned back into the post or alert it came from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from .._fastjson import dumps_text
from ..model import Alert, Delivery, Item, Post, item_from_dict, item_to_dict


__all__ = ["COLUMNS", "Row", "item_of_row", "row_of"]

#: Column name and logical type, in table order. ``key`` is the primary key.
#: Logical types: ``text``, ``time`` (aware UTC), ``real``, ``int``, ``json`` (JSON text).
COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("key", "text"),
    ("kind", "text"),
    ("platform", "text"),
    ("id", "text"),
    ("author", "text"),
    ("author_id", "text"),
    ("created_at", "time"),
    ("text", "text"),
    ("lang", "text"),
    ("url", "text"),
    ("sentiment", "text"),
    ("sentiment_score", "real"),
    ("matched", "json"),
    ("route", "text"),
    ("severity", "text"),
    ("likes", "int"),
    ("reposts", "int"),
    ("replies", "int"),
    ("delivery_key", "text"),
    ("item", "json"),
)

#: One row, keyed by column name; ``created_at`` is a datetime, JSON columns are ``str``.
Row = dict[str, Any]


def _sentiment(annotations: Mapping[str, Any]) -> tuple[str | None, float | None]:
    """
    Split the ``sentiment`` annotation into a label and a score, whatever shape a transform
    gave it: a label (``"negative"``), a number (``-0.7``) or a mapping with ``label`` and
    ``score`` (or ``compound``).
    """
    value = annotations.get("sentiment")
    if isinstance(value, bool) or value is None:
        return None, None
    if isinstance(value, int | float):
        return None, float(value)
    if isinstance(value, str):
        return value, None
    if isinstance(value, Mapping):
        label = value.get("label")
        score = value.get("score", value.get("compound"))
        return (
            label if isinstance(label, str) else None,
            float(score)
            if isinstance(score, int | float) and not isinstance(score, bool)
            else None,
        )
    return None, None


def _matched(annotations: Mapping[str, Any]) -> str:
    value = annotations.get("matched")
    if value is None:
        names: list[Any] = []
    elif isinstance(value, str):
        names = [value]
    elif isinstance(value, Mapping | list | tuple | set | frozenset):
        names = list(value)
    else:
        names = [value]
    return dumps_text(names)


def row_of(delivery: Delivery, /) -> Row:
    """
    Flatten *delivery* into a row of :data:`COLUMNS`.
    """
    item: Item = delivery.item
    as_json = dumps_text(item_to_dict(item))
    label, score = _sentiment(item.annotations)
    if isinstance(item, Post):
        return {
            "key": item.key,
            "kind": "post",
            "platform": item.platform,
            "id": item.id,
            "author": item.author.handle or None,
            "author_id": item.author.id or None,
            "created_at": item.created_at,
            "text": item.text,
            "lang": item.lang or _str_or_none(item.annotations.get("lang")),
            "url": item.url,
            "sentiment": label,
            "sentiment_score": score,
            "matched": _matched(item.annotations),
            "route": delivery.route,
            "severity": _str_or_none(item.annotations.get("severity")),
            "likes": item.engagement.likes,
            "reposts": item.engagement.reposts,
            "replies": item.engagement.replies,
            "delivery_key": delivery.key,
            "item": as_json,
        }
    alert: Alert = item
    return {
        "key": alert.key,
        "kind": "alert",
        "platform": None,
        "id": alert.incident,
        "author": None,
        "author_id": None,
        "created_at": alert.created_at,
        "text": alert.title if not alert.summary else f"{alert.title}\n{alert.summary}",
        "lang": None,
        "url": alert.url,
        "sentiment": label,
        "sentiment_score": score,
        "matched": _matched(alert.annotations),
        "route": delivery.route,
        "severity": alert.severity,
        "likes": None,
        "reposts": None,
        "replies": None,
        "delivery_key": delivery.key,
        "item": as_json,
    }


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def item_of_row(row: Mapping[str, Any], /) -> Item:
    """
    Rebuild the post or alert stored in *row*'s ``item`` column (JSON text or a parsed dict).
    """
    value = row["item"]
    data = json.loads(value) if isinstance(value, str | bytes) else value
    return item_from_dict(data)


def iso(value: datetime) -> str:
    """Return *value* as ISO 8601 text (the form SQLite and CSV store)."""
    return value.isoformat()
