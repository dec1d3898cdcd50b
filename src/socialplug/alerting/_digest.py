"""
Digests: scheduled summaries per route.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from ..exceptions import ConfigurationError
from ..model import Alert, Post
from ._keys import by_matched, epoch, from_epoch, sentiment_of


__all__ = ["Digest", "DigestState"]

_SENTIMENTS = ("negative", "neutral", "positive", "unknown")


@attrs.frozen(kw_only=True)
class Digest:
    """
    A summary of a route, every *every* (aligned on UTC: hourly digests at the top of the
    hour, daily ones at midnight) and/or every *posts* posts.

    It holds the number of posts, the most engaging ones, the sentiment split, the most
    frequent matched terms (``post.annotations["matched"]``), the open incidents, and the
    alerts a :class:`~socialplug.alerting.Throttle` held back.

    Attributes:
        route: The route summarised (and that receives the digest); ``None`` for every
            post, the digest then going to the routes that take alerts.
        every: The period; ``None`` for count-based digests only.
        posts: Send a digest as soon as this many posts accumulated.
        top: How many posts the digest carries.
        terms: How many matched terms it lists.
        skip_empty: Send nothing for a period without posts, incidents or held-back alerts.
        severity: The digest's severity.

    .. versionadded:: 0.1.0
    """

    route: str | None = None
    every: timedelta | None = timedelta(hours=1)
    posts: int | None = None
    top: int = 5
    terms: int = 10
    skip_empty: bool = True
    severity: str = "P4"

    def __attrs_post_init__(self) -> None:
        if self.every is None and self.posts is None:
            msg = f"digest of {self.route!r} needs a period (every=) or a post count (posts=)"
            raise ConfigurationError(msg)
        if self.every is not None and self.every <= timedelta(0):
            msg = f"digest of {self.route!r}: every must be positive"
            raise ConfigurationError(msg)
        if self.posts is not None and self.posts < 1:
            msg = f"digest of {self.route!r}: posts must be at least 1"
            raise ConfigurationError(msg)

    @property
    def name(self) -> str:
        """Stable identity: route, period and count."""
        every = "" if self.every is None else f"{self.every.total_seconds():g}s"
        posts = "" if self.posts is None else f"{self.posts}p"
        return f"{self.route or '*'}/{every}/{posts}"


class DigestState:
    """
    What one digest accumulated since it was last sent (JSON: :meth:`dump`).

    .. versionadded:: 0.1.0
    """

    def __init__(self, spec: Digest, start: float, /) -> None:
        self.spec = spec
        self.period = self._align(start)
        self.seq = 0
        self._reset()
        self.held: list[dict[str, Any]] = []
        self.dirty = True

    def _align(self, t: float) -> float:
        every = self.spec.every
        if every is None:
            return t
        step = every.total_seconds()
        return math.floor(t / step) * step

    def _reset(self) -> None:
        self.count = 0
        self.sentiment = dict.fromkeys(_SENTIMENTS, 0)
        self.terms: dict[str, int] = {}
        self.top: list[tuple[int, int, Post]] = []
        self.pushed = 0

    def load(self, data: Mapping[str, Any], /) -> None:
        """Restore from :meth:`dump`'s output."""
        self.period = float(data["period"])
        self.seq = int(data["seq"])
        self.count = int(data["count"])
        self.sentiment = {k: int(data["sentiment"].get(k, 0)) for k in _SENTIMENTS}
        self.terms = {str(k): int(v) for k, v in data["terms"].items()}
        self.top = [(int(s), i, Post.from_dict(p)) for i, (s, p) in enumerate(data["top"])]
        heapq.heapify(self.top)
        self.pushed = len(self.top)
        self.held = list(data["held"])
        self.dirty = False

    def dump(self) -> dict[str, Any]:
        """Return the state as JSON."""
        return {
            "period": self.period,
            "seq": self.seq,
            "count": self.count,
            "sentiment": dict(self.sentiment),
            "terms": dict(self.terms),
            "top": [[s, p.to_dict()] for s, _, p in sorted(self.top, key=lambda x: x[:2])],
            "held": list(self.held),
        }

    def observe(self, post: Post, routes: Sequence[str], /) -> bool:
        """Account for *post*; return whether the post count says to send now."""
        spec = self.spec
        if spec.route is not None and spec.route not in routes:
            return False
        self.count += 1
        self.dirty = True
        self.sentiment[sentiment_of(post) or "unknown"] += 1
        terms = self.terms
        for term in by_matched(post):
            terms[term] = terms.get(term, 0) + 1
        score = post.engagement.total
        top = self.top
        if len(top) < spec.top:
            self.pushed += 1
            heapq.heappush(top, (score, self.pushed, post))
        elif score > top[0][0]:
            self.pushed += 1
            heapq.heapreplace(top, (score, self.pushed, post))
        return spec.posts is not None and self.count >= spec.posts

    def hold(self, alert: Alert, /) -> None:
        """Keep a throttled *alert* for the next digest."""
        self.dirty = True
        self.held.append(
            {
                "kind": alert.kind,
                "key": alert.key,
                "title": alert.title,
                "severity": alert.severity,
                "incident": alert.incident,
                "at": alert.created_at.isoformat(),
            }
        )

    def due(self, t: float, /) -> bool:
        """Whether the period is over at epoch *t*."""
        every = self.spec.every
        return every is not None and t >= self.period + every.total_seconds()

    def send(self, now: datetime, incidents: Sequence[Mapping[str, Any]], /) -> Alert | None:
        """Return the digest of what accumulated (``None`` if empty and skipped) and reset."""
        spec = self.spec
        t = epoch(now)
        start = self.period
        self.period = self._align(t)
        count, held = self.count, self.held
        sentiment, terms = self.sentiment, self.terms
        top: tuple[Post, ...] = tuple(
            p for _, _, p in sorted(self.top, key=lambda x: (-x[0], x[1]))
        )
        self._reset()
        self.held = []
        self.dirty = True
        if spec.skip_empty and not (count or held or incidents):
            return None
        self.seq += 1
        top_terms = sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))[: spec.terms]
        where = spec.route or "all routes"
        title = f"Digest for {where}: {count} posts"
        if incidents:
            title += f", {len(incidents)} open incidents"
        if held:
            title += f", {len(held)} alerts held back"
        lines = [f"{count} posts since {from_epoch(start).isoformat()}."]
        split = ", ".join(f"{v} {k}" for k, v in sentiment.items() if v)
        if split:
            lines.append(f"Sentiment: {split}.")
        if top_terms:
            lines.append("Top terms: " + ", ".join(f"{k} ({v})" for k, v in top_terms) + ".")
        lines.extend(f"Open incident: {i['subject']} ({i['incident']})" for i in incidents)
        lines.extend(f"Held back: {h['title']}" for h in held)
        return Alert(
            kind="digest",
            key=f"digest:{spec.name}:{int(start)}:{self.seq}",
            title=title,
            summary="\n".join(lines),
            created_at=now,
            severity=spec.severity,
            route=spec.route,
            posts=top,
            data={
                "period_start": from_epoch(start).isoformat(),
                "period_end": now.isoformat(),
                "count": count,
                "sentiment": sentiment,
                "top_terms": [[k, v] for k, v in top_terms],
                "open_incidents": [dict(i) for i in incidents],
                "held_back": held,
            },
        )
