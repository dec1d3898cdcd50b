"""
Token buckets: never more than the capacity plus what refilled.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialplug.alerting import Bucket, Throttle
from socialplug.alerting._throttle import ThrottleState
from socialplug.model import Alert


NOW = datetime(2026, 3, 2, tzinfo=UTC)


def alert(n: int, incident: str = "i1", kind: str = "incident.updated") -> Alert:
    return Alert(kind=kind, key=f"a{n}", title="t", created_at=NOW, incident=incident)


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.integers(1, 5),
    per_minutes=st.integers(1, 120),
    gaps=st.lists(st.floats(0, 600, allow_nan=False), min_size=1, max_size=80),
)
def test_bucket_never_lets_through_more_than_capacity_plus_refill(capacity, per_minutes, gaps):
    """Over any run of alerts, passed <= capacity + elapsed * rate."""
    bucket = Bucket(capacity, timedelta(minutes=per_minutes))
    state = ThrottleState(Throttle(route=bucket))
    t, passed, times = 0.0, 0, []
    for n, gap in enumerate(gaps):
        t += gap
        times.append(t)
        passed += state.allow(alert(n), ("support",), t)
    elapsed = times[-1] - times[0]
    rate = capacity / (per_minutes * 60)

    assert passed <= capacity + math.floor(elapsed * rate + 1e-9)
    assert passed >= min(capacity, len(gaps))


def test_exempt_kinds_and_both_buckets():
    """Escalations pass an empty bucket; an alert needs a token from route and key alike."""
    state = ThrottleState(
        Throttle(route=Bucket(3, timedelta(hours=1)), key=Bucket(1, timedelta(hours=1)))
    )

    first = state.allow(alert(1), ("support",), 0.0)
    same_incident = state.allow(alert(2), ("support",), 1.0)
    other_incident = state.allow(alert(3, incident="i2"), ("support",), 2.0)
    escalation = state.allow(alert(4, kind="escalation"), ("support",), 3.0)

    assert (first, same_incident, other_incident, escalation) == (True, False, True, True)
    assert state.buckets["route:support"][0] == pytest.approx(1.0, abs=0.01)
