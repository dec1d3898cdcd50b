"""
The monitor inside a real pipeline, with SQLite state, killed and restarted mid-surge.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from alerting_streams import incident_stream
from alerting_support import rail_router

from socialplug.alerting import Incidents, Monitor, Spike
from socialplug.clock import ManualClock
from socialplug.pipeline import Pipeline
from socialplug.state import SQLiteStateStore
from socialplug.testing import CollectingSink, StaticSource


pytestmark = pytest.mark.anyio


async def run(posts, path, until):
    """
    One process: a fresh pipeline, monitor and sinks on the SQLite file at *path*; it reads
    *posts*, then ticks once more at *until* (what a service's periodic tick does).
    """
    clock = ManualClock(current=posts[0].created_at)

    def replay_time(post):
        """Move simulated time along with the recorded posts, as they were read live."""
        clock.set(post.created_at)
        return post

    router = rail_router()
    sinks = {name: CollectingSink() for name in router.destinations}
    store = SQLiteStateStore(path)
    pipeline = Pipeline(
        sources=[StaticSource(posts, name="mentions", page_size=50)],
        router=router,
        transforms=[replay_time],
        sinks=sinks,
        detectors=[
            Monitor(
                router=router,
                spikes=[Spike(cooldown=timedelta(minutes=10))],
                incidents=Incidents(quiet=timedelta(minutes=30)),
                clock=clock,
            )
        ],
        state=store,
        clock=clock,
    )
    try:
        report = await pipeline.run_once()
        clock.set(until)
        await pipeline.run_once()
    finally:
        await store.aclose()
    kinds = {name: [a.kind for a in sink.alerts] for name, sink in sinks.items()}
    return report, kinds


async def test_restarts_mid_surge_keep_one_incident_and_its_escalation(tmp_path):
    """
    Three processes on one SQLite file: the first sees the surge begin (incident opened,
    operations told), the second its middle (management told, no second incident), the
    third the quiet after it (resolved once).
    """
    posts, surge_start = incident_stream()
    path = tmp_path / "state.db"
    cut1 = surge_start + timedelta(minutes=20)
    cut2 = surge_start + timedelta(minutes=35)

    _, first = await run([p for p in posts if p.created_at < cut1], path, cut1)
    _, second = await run([p for p in posts if p.created_at < cut2], path, cut2)
    report, third = await run(posts, path, posts[-1].created_at)

    assert first["support-chat"].count("incident.opened") == 1
    assert first["ops-pager"] == ["escalation"]
    assert first["management-mail"] == []
    assert "incident.opened" not in second["support-chat"] + third["support-chat"]
    assert second["ops-pager"] + third["ops-pager"] == []
    assert second["management-mail"] == ["escalation"]
    assert third["management-mail"] == []
    assert [k for k in third["support-chat"] if k != "incident.updated"] == ["incident.resolved"]
    assert report.read == len(posts) - sum(p.created_at < cut2 for p in posts)
