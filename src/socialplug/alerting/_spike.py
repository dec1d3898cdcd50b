"""
Spike detection: post volume in a sliding window against a robust, seasonal baseline.

The pure core: :class:`Spike` is the configuration, :class:`SpikeEngine` keeps the state of
one detector (per key: a ring of per-bucket counts for the window, per-hour counts for the
history) and turns posts into ``Alert(kind="spike")``. The :class:`~socialplug.alerting.Monitor`
loads and stores that state through the state store.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any

import attrs

from ..exceptions import ConfigurationError
from ..model import Alert, Post
from ._keys import KeyFunction, by_route, from_epoch, sentiment_of


__all__ = ["Spike", "SpikeEngine"]

_HOUR = 3600.0
_MAD_TO_SD = 1.4826


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: timedelta) -> None:
    if value <= timedelta(0):
        msg = f"Spike.{attribute.name} must be positive, got {value}"
        raise ConfigurationError(msg)


@attrs.frozen(kw_only=True)
class Spike:
    """
    Detect a spike of posts per key.

    Posts are counted by their ``created_at`` in buckets of *bucket*; the last *window*
    of buckets is compared with what is usual for that key: the median (and median absolute
    deviation) of the hourly counts at the same hour of day over the previous days when
    there are at least *seasonal_days* of history, else of the last 24 hours. A spike is a
    window holding at least *min_count* posts, at least *ratio* times the expected count
    and *threshold* standard deviations above it (Poisson noise plus the spread of the
    history). A second trigger fires when the share of negative posts in the window
    reaches *negative_share* and exceeds the usual share by *negative_delta*.

    After an alert, a key stays quiet for *cooldown* even if the spike goes on; the
    detector keeps track of how long it lasts, which is what resolves incidents.

    Attributes:
        name: Stable identity (state key, alert data, incident grouping).
        key: What to count by: :func:`by_route` (default), :func:`by_matched`,
            :func:`everything` or any ``Post -> str | Iterable[str] | None``.
        route: The route alerts go to; ``None`` sends a key's alerts to the route of that
            name when there is one (so :func:`by_route` alerts reach their own team), else
            to the routes that take alerts.
        window: The sliding window compared with the baseline.
        bucket: The counting granularity (the window is a whole number of buckets).
        min_count: Fewer posts than this in the window never alert.
        ratio: The window must hold at least this many times the expected count.
        threshold: ...and this many standard deviations above it.
        cooldown: Quiet time per key after an alert.
        warmup: History needed before a key can alert.
        history: How much hourly history to keep per key.
        seasonal_days: Days of history needed for the hour-of-day baseline.
        negative_share: Share of negative posts that triggers on its own (``None``: off).
        negative_delta: ...when it is this much above the key's usual share.
        negative_min: ...and the window holds at least this many negative posts.
        samples: How many sample posts an alert carries.

    .. versionadded:: 0.1.0
    """

    name: str = "spike"
    key: KeyFunction = attrs.field(default=by_route, eq=False)
    route: str | None = None
    window: timedelta = attrs.field(default=timedelta(minutes=10), validator=_positive)
    bucket: timedelta = attrs.field(default=timedelta(minutes=1), validator=_positive)
    min_count: int = 10
    ratio: float = 3.0
    threshold: float = 4.0
    cooldown: timedelta = timedelta(minutes=15)
    warmup: timedelta = timedelta(days=1)
    history: timedelta = timedelta(days=7)
    seasonal_days: int = 3
    negative_share: float | None = 0.6
    negative_delta: float = 0.25
    negative_min: int = 10
    samples: int = 3

    def __attrs_post_init__(self) -> None:
        problems = []
        window_s, bucket_s = self.window.total_seconds(), self.bucket.total_seconds()
        if window_s % bucket_s or window_s < bucket_s:
            problems.append(f"window {self.window} is not a whole number of buckets")
        if _HOUR % bucket_s:
            problems.append(f"bucket {self.bucket} does not divide an hour")
        if self.min_count < 1:
            problems.append("min_count must be at least 1")
        if self.history < timedelta(days=1):
            problems.append("history must cover at least a day")
        if problems:
            msg = f"spike detector {self.name!r}: {'; '.join(problems)}"
            raise ConfigurationError(msg, problems=tuple(problems))


class _Baseline:
    __slots__ = ("expected", "hour", "root", "seasonal", "share", "sigma")

    def __init__(
        self, hour: int, expected: float, sigma: float, share: float, *, seasonal: bool
    ) -> None:
        self.hour = hour
        self.expected = expected
        self.root = math.sqrt(expected + 0.375)
        self.sigma = sigma
        self.share = share
        self.seasonal = seasonal


class _KeyState:
    """Counts of one key. Buckets and hours are integer indexes since the epoch."""

    __slots__ = (
        "base",
        "cur",
        "hot",
        "hour",
        "hours",
        "last_alert",
        "ring",
        "samples",
        "since",
        "wneg",
        "wsum",
    )

    def __init__(self, bucket: int, hour: int, samples: int) -> None:
        self.cur = bucket
        self.hour = hour
        self.since = hour
        self.ring: dict[int, list[int]] = {}
        self.wsum = 0
        self.wneg = 0
        self.hours: dict[int, list[int]] = {}
        self.last_alert: float | None = None
        self.hot: float | None = None
        self.base: _Baseline | None = None
        self.samples: deque[Post] = deque(maxlen=max(1, samples * 4))

    def dump_window(self) -> dict[str, Any]:
        """The fast-moving part: the window and the last two hours."""
        recent = self.hour - 1
        return {
            "cur": self.cur,
            "hour": self.hour,
            "since": self.since,
            "ring": [[b, c, n] for b, (c, n) in sorted(self.ring.items())],
            "hours": [[h, c, n] for h, (c, n) in sorted(self.hours.items()) if h >= recent],
            "last_alert": self.last_alert,
            "hot": self.hot,
        }

    def dump_history(self) -> list[list[int]]:
        """The slow part: the closed hours older than the last two, saved once an hour."""
        recent = self.hour - 1
        return [[h, c, n] for h, (c, n) in sorted(self.hours.items()) if h < recent]

    @classmethod
    def load(cls, data: dict[str, Any], history: list[list[int]], samples: int) -> _KeyState:
        st = cls(int(data["cur"]), int(data["hour"]), samples)
        st.since = int(data["since"])
        st.ring = {int(b): [int(c), int(n)] for b, c, n in data["ring"]}
        st.wsum = sum(c for c, _ in st.ring.values())
        st.wneg = sum(n for _, n in st.ring.values())
        st.hours = {int(h): [int(c), int(n)] for h, c, n in (*history, *data["hours"])}
        st.last_alert = data.get("last_alert")
        st.hot = data.get("hot")
        return st


class SpikeEngine:
    """
    The state of one :class:`Spike` detector: pure, synchronous, serializable per key.

    .. versionadded:: 0.1.0
    """

    def __init__(self, spec: Spike, /) -> None:
        self.spec = spec
        self.keys: dict[str, _KeyState] = {}
        self.dirty: set[str] = set()
        self.dirty_history: set[str] = set()
        self._now = datetime.min.replace(tzinfo=UTC)
        self._out: list[Alert] = []
        self._bucket_s = spec.bucket.total_seconds()
        self._per_hour = int(_HOUR // self._bucket_s)
        self._window_n = int(spec.window.total_seconds() // self._bucket_s)
        self._fraction = spec.window.total_seconds() / _HOUR
        self._cooldown = spec.cooldown.total_seconds()
        self._warmup_h = math.ceil(spec.warmup.total_seconds() / _HOUR)
        self._history_h = math.ceil(spec.history.total_seconds() / _HOUR)

    # -- state ------------------------------------------------------------------------

    def load(self, windows: dict[str, Any], histories: dict[str, Any], /) -> None:
        """
        Replace the state with *windows* and *histories* (key -> what :meth:`dump_window`
        and :meth:`dump_history` wrote).
        """
        samples = self.spec.samples
        self.keys = {
            k: _KeyState.load(v, histories.get(k) or [], samples) for k, v in windows.items()
        }
        self.dirty.clear()
        self.dirty_history.clear()

    def dump_window(self, key: str, /) -> dict[str, Any]:
        """The JSON state of *key*'s window and last hours (changes with every post)."""
        return self.keys[key].dump_window()

    def dump_history(self, key: str, /) -> list[list[int]]:
        """The JSON hourly history of *key* (changes once an hour)."""
        return self.keys[key].dump_history()

    def last_active(self, key: str, /) -> float | None:
        """When *key* last alerted or was above its threshold (epoch seconds)."""
        st = self.keys.get(key)
        if st is None:
            return None
        times = [t for t in (st.hot, st.last_alert) if t is not None]
        return max(times) if times else None

    # -- counting ---------------------------------------------------------------------

    def observe(self, post: Post, t: float, now: datetime, out: list[Alert], /) -> None:
        """Count *post* (published at epoch *t*) and append the alerts it triggers to *out*."""
        keys = self.spec.key(post)
        if not keys:
            return
        negative = 1 if sentiment_of(post) == "negative" else 0
        self._now, self._out = now, out
        if isinstance(keys, str):
            self._count(keys, post, t, negative)
        else:
            for key in keys:
                self._count(key, post, t, negative)

    def _count(self, key: str, post: Post, t: float, negative: int) -> None:
        b = int(t // self._bucket_s)
        st = self.keys.get(key)
        if st is None:
            st = self.keys[key] = _KeyState(b, b // self._per_hour, self.spec.samples)
        elif b > st.cur:
            self._roll(key, st, b)
        h = b // self._per_hour
        hour = st.hours.get(h)
        if hour is None:
            hour = st.hours[h] = [0, 0]
        hour[0] += 1
        self.dirty.add(key)
        if b <= st.cur - self._window_n:
            if negative:
                hour[1] += 1
            return  # too late for the window: history only
        cell = st.ring.get(b)
        if cell is None:
            cell = st.ring[b] = [0, 0]
        cell[0] += 1
        st.wsum += 1
        if negative:
            hour[1] += 1
            cell[1] += 1
            st.wneg += 1
        st.samples.append(post)
        if st.wsum >= self.spec.min_count:
            alert = self._check(key, st, t, self._now)
            if alert is not None:
                self._out.append(alert)

    def _roll(self, key: str, st: _KeyState, b: int) -> None:
        oldest = b - self._window_n
        if b - st.cur >= self._window_n:
            st.ring.clear()  # the whole window moved on
            st.wsum = st.wneg = 0
        else:
            for old in [x for x in st.ring if x <= oldest]:
                c, n = st.ring.pop(old)
                st.wsum -= c
                st.wneg -= n
        st.cur = b
        h = b // self._per_hour
        if h != st.hour:
            st.hour = h
            self.dirty_history.add(key)
            if len(st.hours) > self._history_h + 2:
                floor = h - self._history_h - 1
                for old in [x for x in st.hours if x < floor]:
                    del st.hours[old]

    # -- deciding ---------------------------------------------------------------------

    def _baseline(self, st: _KeyState) -> _Baseline | None:
        base = st.base
        if base is not None and base.hour == st.hour:
            return base
        # The window straddles the hour boundary for a while: take the busier of the two
        # hours, so a falling rate (the end of a rush hour) is not read as a spike.
        now, before = self._hour_baseline(st, st.hour), self._hour_baseline(st, st.hour - 1)
        if now is None or before is None:
            st.base = now
        else:
            st.base = now if now.expected >= before.expected else before
            st.base.hour = st.hour
        return st.base

    def _hour_baseline(self, st: _KeyState, h: int) -> _Baseline | None:
        complete = h - st.since - 1  # the first hour was partial
        if complete < max(1, self._warmup_h):  # no complete hour yet: nothing to compare with
            return None
        spec = self.spec
        days = min(complete // 24, self._history_h // 24)
        if spec.seasonal_days and days >= spec.seasonal_days:
            hours = [h - 24 * d for d in range(1, days + 1)]
            seasonal = True
        else:
            hours = [h - i for i in range(1, min(complete, 24) + 1)]
            seasonal = False
        empty = (0, 0)
        cells = [st.hours.get(x, empty) for x in hours]
        counts = [c for c, _ in cells]
        mid = median(counts)
        mad = median(abs(c - mid) for c in counts)
        expected = mid * self._fraction
        spread = _MAD_TO_SD * mad * self._fraction
        sigma = max(1.0, math.sqrt(expected + spread * spread))
        total = sum(counts)
        share = sum(n for _, n in cells) / total if total else 0.0
        return _Baseline(h, expected, sigma, share, seasonal=seasonal)

    def _check(self, key: str, st: _KeyState, t: float, now: datetime) -> Alert | None:
        base = self._baseline(st)
        if base is None:
            return None
        spec = self.spec
        count = st.wsum
        volume = (
            count >= base.expected + spec.threshold * base.sigma
            and count >= spec.ratio * base.expected
            # Poisson tails are heavier than normal ones at small counts: also ask the
            # variance-stabilised (Anscombe) deviation to clear the threshold.
            and 2.0 * (math.sqrt(count + 0.375) - base.root) >= spec.threshold
        )
        share = st.wneg / count
        negative = (
            spec.negative_share is not None
            and st.wneg >= spec.negative_min
            and share >= spec.negative_share
            and share - base.share >= spec.negative_delta
        )
        if not (volume or negative):
            return None
        st.hot = t
        if st.last_alert is not None and t - st.last_alert < self._cooldown:
            return None
        st.last_alert = t
        triggers = [name for name, hit in (("volume", volume), ("negative", negative)) if hit]
        return self._alert(key, st, base, triggers, now=now, t=t)

    def _onset(self, st: _KeyState, base: _Baseline) -> float:
        per_bucket = base.expected / self._window_n
        limit = per_bucket + 2.0 * math.sqrt(per_bucket) + 1.0
        for b in sorted(st.ring):
            if st.ring[b][0] > limit:
                return b * self._bucket_s
        return min(st.ring) * self._bucket_s

    def _alert(
        self,
        key: str,
        st: _KeyState,
        base: _Baseline,
        triggers: list[str],
        *,
        now: datetime,
        t: float,
    ) -> Alert:
        spec = self.spec
        count = st.wsum
        window_end = (st.cur + 1) * self._bucket_s
        window_start = window_end - self._window_n * self._bucket_s
        z = (count - base.expected) / base.sigma
        share = st.wneg / count
        ranked = sorted(st.samples, key=lambda p: p.engagement.total, reverse=True)
        samples: tuple[Post, ...] = tuple(ranked[: spec.samples])
        minutes = spec.window.total_seconds() / 60
        if "volume" in triggers:
            title = (
                f"Spike in {key}: {count} posts in {minutes:g} min (usually {base.expected:.1f})"
            )
        else:
            title = f"Negative turn in {key}: {share:.0%} of {count} posts negative"
        summary = (
            f"{count} posts in the last {minutes:g} minutes, expected {base.expected:.1f} "
            f"(z = {z:.1f}); {st.wneg} negative ({share:.0%}, usually {base.share:.0%})."
        )
        return Alert(
            kind="spike",
            key=f"spike:{spec.name}:{key}:{int(t)}",
            title=title,
            summary=summary,
            created_at=now,
            route=spec.route,
            posts=samples,
            data={
                "detector": spec.name,
                "key": key,
                "triggers": triggers,
                "count": count,
                "expected": round(base.expected, 3),
                "sigma": round(base.sigma, 3),
                "z": round(z, 2),
                "negative": st.wneg,
                "negative_share": round(share, 3),
                "usual_negative_share": round(base.share, 3),
                "seasonal": base.seasonal,
                "window_start": from_epoch(window_start).isoformat(),
                "window_end": from_epoch(window_end).isoformat(),
                "onset": from_epoch(self._onset(st, base)).isoformat(),
            },
        )

    def keys_of(self, post: Post, /) -> Iterable[str]:
        """The keys *post* counts under."""
        keys = self.spec.key(post)
        if keys is None:
            return ()
        return (keys,) if isinstance(keys, str) else keys
