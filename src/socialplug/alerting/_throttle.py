"""
Throttles: token buckets per route and per key; what overflows goes to the next digest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import attrs

from ..exceptions import ConfigurationError
from ..model import Alert


__all__ = ["Bucket", "Throttle", "ThrottleState"]


@attrs.frozen
class Bucket:
    """
    A token bucket: at most *capacity* messages at once, refilled at *capacity* per *per*.

    ``Bucket(3, timedelta(hours=1))`` lets three alerts through at once, then one every 20
    minutes.

    .. versionadded:: 0.1.0
    """

    capacity: int
    per: timedelta

    def __attrs_post_init__(self) -> None:
        if self.capacity < 1 or self.per <= timedelta(0):
            msg = f"a bucket needs a capacity >= 1 and a positive period, got {self!r}"
            raise ConfigurationError(msg)


@attrs.frozen(kw_only=True)
class Throttle:
    """
    Limit how many alerts reach each route and each incident (or alert key).

    An alert passes when every bucket it draws from (its route's, its incident's) has a
    token; otherwise it is held back and listed in the next digest of its route, never
    dropped. Alerts of the *exempt* kinds always pass.

    Attributes:
        route: The bucket of each route.
        key: The bucket of each incident (spikes without incidents: of each detector and
            key; other alerts: of each alert key).
        exempt: Alert kinds never throttled.

    .. versionadded:: 0.1.0
    """

    route: Bucket | None = None
    key: Bucket | None = None
    exempt: frozenset[str] = attrs.field(
        default=frozenset({"digest", "escalation"}), converter=frozenset
    )


def key_of(alert: Alert, /) -> str:
    """What a per-key bucket counts: the incident, else the detector and key, else the alert."""
    if alert.incident is not None:
        return alert.incident
    detector, key = alert.data.get("detector"), alert.data.get("key")
    if detector is not None and key is not None:
        return f"{detector}:{key}"
    return alert.key


class ThrottleState:
    """
    The token buckets, by name (``route:<name>``, ``key:<incident>``); JSON per bucket.

    .. versionadded:: 0.1.0
    """

    def __init__(self, spec: Throttle, /) -> None:
        self.spec = spec
        self.buckets: dict[str, list[float]] = {}
        self.dirty: set[str] = set()

    def load(self, records: Mapping[str, Any], /) -> None:
        """Replace the buckets with *records* (name -> ``[tokens, updated_at]``)."""
        self.buckets = {k: [float(v[0]), float(v[1])] for k, v in records.items()}
        self.dirty.clear()

    def allow(self, alert: Alert, routes: Iterable[str], t: float, /) -> bool:
        """Take a token from every bucket *alert* draws from, if they all have one."""
        if alert.kind in self.spec.exempt:
            return True
        wanted: list[tuple[str, Bucket]] = []
        if self.spec.route is not None:
            wanted.extend((f"route:{r}", self.spec.route) for r in routes)
        if self.spec.key is not None:
            wanted.append((f"key:{key_of(alert)}", self.spec.key))
        states = [self._refill(name, bucket, t) for name, bucket in wanted]
        if any(state[0] < 1.0 for state in states):
            return False
        for (name, _), state in zip(wanted, states, strict=True):
            state[0] -= 1.0
            self.dirty.add(name)
        return True

    def _refill(self, name: str, bucket: Bucket, t: float) -> list[float]:
        state = self.buckets.get(name)
        if state is None:
            state = self.buckets[name] = [float(bucket.capacity), t]
            self.dirty.add(name)
            return state
        rate = bucket.capacity / bucket.per.total_seconds()
        elapsed = max(0.0, t - state[1])
        state[0] = min(float(bucket.capacity), state[0] + elapsed * rate)
        state[1] = max(state[1], t)
        return state

    def prune(self, t: float, /) -> list[str]:
        """Forget buckets that are full again; return their names (to delete from the store)."""
        gone = []
        for name, state in list(self.buckets.items()):
            bucket = self.spec.route if name.startswith("route:") else self.spec.key
            if bucket is None:
                continue
            rate = bucket.capacity / bucket.per.total_seconds()
            if state[0] + (t - state[1]) * rate >= bucket.capacity and name.startswith("key:"):
                del self.buckets[name]
                self.dirty.discard(name)
                gone.append(name)
        return gone
