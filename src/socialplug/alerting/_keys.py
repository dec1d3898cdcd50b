"""
What detectors group posts by, and how they read sentiment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from ..model import Post


__all__ = ["KeyFunction", "by_matched", "by_route", "everything", "sentiment_of"]

#: Names the groups a post counts in: one key, several keys, or ``None`` for none.
KeyFunction = Callable[[Post], str | Iterable[str] | None]


def by_route(post: Post, /) -> tuple[str, ...]:
    """
    Group posts by the routes they took (``post.annotations["routes"]``).

    .. versionadded:: 0.1.0
    """
    routes = post.annotations.get("routes")
    if routes is None:
        return ()
    return (routes,) if isinstance(routes, str) else tuple(routes)


def by_matched(post: Post, /) -> tuple[str, ...]:
    """
    Group posts by the queries or terms that matched them (``post.annotations["matched"]``).

    .. versionadded:: 0.1.0
    """
    matched = post.annotations.get("matched")
    if matched is None:
        return ()
    return (matched,) if isinstance(matched, str) else tuple(str(m) for m in matched)


def everything(post: Post, /) -> str:
    """
    Put every post in one group, ``"all"``.

    .. versionadded:: 0.1.0
    """
    return "all"


def sentiment_of(post: Post, /) -> str | None:
    """
    Read ``post.annotations["sentiment"]`` as ``"negative"``, ``"neutral"`` or ``"positive"``.

    Accepts a label (``"negative"``, ``"NEG"``...), a score in [-1, 1] (below -0.05 is
    negative, above 0.05 positive), or a mapping with a ``label`` or ``score`` entry.
    Returns ``None`` when the post carries no sentiment.

    .. versionadded:: 0.1.0
    """
    value = post.annotations.get("sentiment")
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = value.get("label", value.get("score"))
    if isinstance(value, str):
        label = value.strip().lower()
        if label.startswith("neg"):
            return "negative"
        if label.startswith("pos"):
            return "positive"
        return "neutral" if label else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if value < -0.05:
            return "negative"
        return "positive" if value > 0.05 else "neutral"
    return None


def epoch(when: datetime, /) -> float:
    """Seconds since the epoch (aware datetimes only)."""
    return when.timestamp()


def from_epoch(seconds: float, /) -> datetime:
    """The aware UTC datetime *seconds* after the epoch."""
    return datetime.fromtimestamp(seconds, UTC)
