"""
Everyday filters: language, authors, audience, engagement, time, platform, post kind.

Each returns a :class:`~socialplug.filters.Predicate`, so they compose with ``&``, ``|``,
``~`` and with :class:`~socialplug.filters.Query`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from ..clock import Clock, SystemClock
from ..exceptions import ConfigurationError
from ..model import Post
from ._predicate import Predicate
from ._text import fold


__all__ = [
    "authors",
    "has_media",
    "is_reply",
    "is_repost",
    "language",
    "min_engagement",
    "min_followers",
    "platforms",
    "time_window",
]


def _lang_of(post: Post) -> str | None:
    lang = post.lang or post.annotations.get("lang")
    return lang.lower().replace("_", "-") if isinstance(lang, str) and lang else None


def language(*codes: str, unknown: bool = False) -> Predicate:
    """
    Keep posts in one of *codes* (``"en"`` keeps ``en-GB`` too).

    The language is the post's own tag (``post.lang``) or, without one, what a language
    detection transform wrote to ``annotations["lang"]``. Posts of unknown language are kept
    only with ``unknown=True``.
    """
    if not codes:
        raise ConfigurationError("language() needs at least one language code")
    wanted = frozenset(c.lower().replace("_", "-") for c in codes)

    def test(post: Post) -> bool:
        lang = _lang_of(post)
        if lang is None:
            return unknown
        return lang in wanted or lang.partition("-")[0] in wanted

    return Predicate(test, f"language({', '.join(sorted(wanted))})")


def _handles(post: Post) -> set[str]:
    handle = fold(post.author.handle.lstrip("@"))
    out = {handle, handle.partition("@")[0]}
    if post.author.id:
        out.add(fold(post.author.id))
    out.discard("")
    return out


def authors(*, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> Predicate:
    """
    Keep posts by *allow*-listed authors (all authors when empty) that are not *deny*-listed.

    Entries are handles (``alice``, ``@alice``, ``alice@mastodon.social``, case-insensitive;
    a bare name also matches the same name on any server) or platform account ids.
    """
    allowed = frozenset(fold(a.lstrip("@")) for a in allow)
    denied = frozenset(fold(d.lstrip("@")) for d in deny)
    if not allowed and not denied:
        raise ConfigurationError("authors() needs an allow or a deny list")

    def test(post: Post) -> bool:
        names = _handles(post)
        if denied and not names.isdisjoint(denied):
            return False
        return not allowed or not names.isdisjoint(allowed)

    parts = []
    if allowed:
        parts.append(f"allow={len(allowed)}")
    if denied:
        parts.append(f"deny={len(denied)}")
    return Predicate(test, f"authors({', '.join(parts)})")


def min_followers(count: int, /, *, unknown: bool = False) -> Predicate:
    """Keep posts whose author has at least *count* followers (unknown counts: *unknown*)."""

    def test(post: Post) -> bool:
        followers = post.author.followers
        return unknown if followers is None else followers >= count

    return Predicate(test, f"min_followers({count})")


def min_engagement(count: int, /, *, metric: str = "total") -> Predicate:
    """
    Keep posts with at least *count* engagement: ``metric`` is ``"total"`` (likes + reposts +
    replies + quotes), ``"likes"``, ``"reposts"``, ``"replies"``, ``"quotes"`` or ``"score"``
    (unknown counts are zero).
    """
    if metric not in ("total", "likes", "reposts", "replies", "quotes", "score"):
        raise ConfigurationError(f"min_engagement: unknown metric {metric!r}")

    def test(post: Post) -> bool:
        value = getattr(post.engagement, metric)
        return (value or 0) >= count

    return Predicate(test, f"min_engagement({count}, {metric})")


def time_window(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    max_age: timedelta | float | None = None,
    clock: Clock | None = None,
) -> Predicate:
    """
    Keep posts created in ``[since, until)`` and, with *max_age* (a timedelta or seconds),
    no older than that relative to *clock*'s now (the system clock by default).
    """
    for bound in (since, until):
        if bound is not None and bound.utcoffset() is None:
            raise ConfigurationError("time_window: since/until must be timezone-aware")
    age = (
        None
        if max_age is None
        else max_age
        if isinstance(max_age, timedelta)
        else timedelta(seconds=max_age)
    )
    now = (clock or SystemClock()).now

    def test(post: Post) -> bool:
        created = post.created_at
        if since is not None and created < since:
            return False
        if until is not None and created >= until:
            return False
        return age is None or created >= now() - age

    return Predicate(test, "time_window")


def platforms(*names: str) -> Predicate:
    """Keep posts from the platforms *names* (``"mastodon"``, ``"bluesky"``, ...)."""
    wanted = frozenset(n.lower() for n in names)
    return Predicate(lambda p: p.platform.lower() in wanted, f"platforms({', '.join(names)})")


#: Keep replies (``~is_reply`` drops them).
is_reply = Predicate(lambda p: p.reply_to is not None, "is_reply")
#: Keep reposts / boosts / retweets.
is_repost = Predicate(lambda p: p.repost_of is not None, "is_repost")
#: Keep posts with attachments.
has_media = Predicate(lambda p: bool(p.media), "has_media")
