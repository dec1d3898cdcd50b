"""
The incident-shaped stream through backtest: one incident, updated, escalated, resolved;
throttled chat with the rest in the digest; restart in the middle of the surge.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from alerting_streams import incident_stream
from alerting_support import DictStore, rail_router

from socialplug.alerting import (
    Bucket,
    Digest,
    Incidents,
    Monitor,
    Spike,
    Throttle,
    backtest,
)
from socialplug.exceptions import ConfigurationError
from socialplug.routing import Router


pytestmark = pytest.mark.anyio

WINDOW = timedelta(minutes=10)
QUIET = timedelta(minutes=30)
SURGE = timedelta(minutes=40)


def monitor(router: Router, **extra) -> Monitor:
    return Monitor(
        router=router,
        spikes=[Spike(window=WINDOW, cooldown=timedelta(minutes=10))],
        incidents=Incidents(quiet=QUIET),
        **extra,
    )


class TestIncidentStream:
    async def test_one_incident_opened_updated_escalated_resolved(self, router):
        """
        A trickle, 20x complaints for 40 minutes, then the trickle again: exactly one
        incident, opened within the first window of the surge, updated, escalated to
        operations after 15 minutes and management after 30, resolved after the quiet
        period; the detection latency is reported.
        """
        posts, surge_start = incident_stream()

        report = await backtest(posts, monitor(router), onset=surge_start)

        opened = report.of_kind("incident.opened")
        assert len(opened) == 1
        assert len(report.incidents) == 1
        incident = report.incidents[0]
        assert incident.opened_at is not None
        assert surge_start <= incident.opened_at <= surge_start + WINDOW
        assert incident.latency == incident.opened_at - surge_start
        assert incident.latency <= WINDOW
        assert opened[0].alert.route == "support"
        assert opened[0].sinks == ("support-chat",)
        assert opened[0].alert.team == "support"
        assert opened[0].alert.posts, "the opening alert carries sample posts"
        assert opened[0].alert.data["count"] >= 10

        assert incident.updates >= 1
        assert all(
            f.alert.incident == incident.key
            for f in report.of_kind("incident.updated", "escalation", "incident.resolved")
        )

        escalations = report.of_kind("escalation")
        assert [f.alert.route for f in escalations] == ["operations", "management"]
        assert [f.sinks[0] for f in escalations] == ["ops-pager", "management-mail"]
        assert [f.alert.severity for f in escalations] == ["P2", "P1"]
        waits = [(at - incident.opened_at) for at, _ in incident.escalations]
        assert timedelta(minutes=15) <= waits[0] < timedelta(minutes=16)
        assert timedelta(minutes=30) <= waits[1] < timedelta(minutes=31)

        assert incident.resolved_at is not None
        assert incident.resolved_at >= surge_start + SURGE + QUIET
        assert incident.resolved_at <= surge_start + SURGE + WINDOW + QUIET + timedelta(minutes=2)
        assert len(report.of_kind("incident.resolved")) == 1
        assert "latency" in report.summary()

    async def test_acknowledged_incident_is_not_escalated_further(self, router):
        """Acknowledged after 20 minutes: operations heard, management never does."""
        posts, _ = incident_stream()

        report = await backtest(posts, monitor(router), acknowledge_after=timedelta(minutes=20))

        assert [f.alert.route for f in report.of_kind("escalation")] == ["operations"]
        acks = report.of_kind("incident.acknowledged")
        assert len(acks) == 1
        assert acks[0].alert.route == "support"
        assert acks[0].alert.data["acknowledged_by"] == "backtest"
        assert report.incidents[0].acknowledged_at is not None

    async def test_throttled_chat_gets_at_most_the_bucket_rest_in_digest(self, router):
        """
        With two messages per four hours on the support route, the chat sink gets two
        incident messages; every other one is listed in the next digest.
        """
        posts, surge_start = incident_stream()
        watcher = monitor(
            router,
            throttle=Throttle(route=Bucket(2, timedelta(hours=4))),
            digests=[Digest(route="support", every=timedelta(hours=1))],
        )

        report = await backtest(posts, watcher, onset=surge_start)

        chat = report.to_sink("support-chat")
        messages = [a for a in chat if a.kind != "digest"]
        assert len(messages) == 2
        assert messages[0].kind == "incident.opened"
        raised = {f.alert.key for f in report.alerts}
        held = [h for d in chat if d.kind == "digest" for h in d.data["held_back"]]
        assert held, "something was held back"
        assert all(h["key"] not in raised for h in held)
        held_kinds = {h["kind"] for h in held}
        assert {"incident.updated", "incident.resolved"} <= held_kinds
        # Escalations are exempt: the other teams still hear.
        assert len(report.of_kind("escalation")) == 2
        # Nothing is lost: every incident alert either reached chat or a digest.
        incident_alerts = 1 + report.incidents[0].updates + 1
        assert len(messages) + len(held) >= incident_alerts

    async def test_restart_mid_surge_keeps_the_incident_and_escalation(self, router):
        """
        Killed 20 minutes into the surge (after the first escalation) and restarted on the
        same store: no second incident, the first tier is not told twice, the second tier
        is told on time, and the incident resolves once.
        """
        posts, surge_start = incident_stream()
        cut = surge_start + timedelta(minutes=20)
        before = [p for p in posts if p.created_at < cut]
        after = [p for p in posts if p.created_at >= cut]
        store = DictStore()
        whole = await backtest(posts, monitor(router))

        first = await backtest(before, monitor(rail_router()), store=store, until=cut)
        second = await backtest(after, monitor(rail_router()), store=store)

        both = [*first.alerts, *second.alerts]
        assert sum(f.alert.kind == "incident.opened" for f in both) == 1
        assert [f.alert.route for f in first.of_kind("escalation")] == ["operations"]
        assert [f.alert.route for f in second.of_kind("escalation")] == ["management"]
        assert [f.at for f in whole.of_kind("escalation")] == [
            f.at for f in both if f.alert.kind == "escalation"
        ]
        resolved = second.of_kind("incident.resolved")
        assert len(resolved) == 1
        assert resolved[0].alert.incident == first.incidents[0].key
        assert whole.of_kind("incident.resolved")[0].at == resolved[0].at

    async def test_state_is_json_in_the_store(self, router, store):
        """Windows, baselines, incidents and escalation tiers are records in the store."""
        posts, surge_start = incident_stream()
        cut = surge_start + timedelta(minutes=20)

        await backtest([p for p in posts if p.created_at < cut], monitor(router), store=store)

        spike = await store.records("monitor.spike.spike")
        assert {"support"} == set(spike)
        assert spike["support"]["ring"]
        assert spike["support"]["hours"]
        incidents = await store.records("monitor.incidents")
        (record,) = incidents.values()
        assert record["tier"] == 1
        assert [["operations", pytest.approx(record["escalated"][0][1])]] == record["escalated"]


class TestConfiguration:
    def test_problems_are_listed_together(self, router):
        """Throttle without digest, quiet shorter than a cooldown, unknown routes."""
        with pytest.raises(ConfigurationError) as info:
            Monitor(
                router=router,
                spikes=[Spike(cooldown=timedelta(hours=1), route="nowhere")],
                incidents=Incidents(quiet=timedelta(minutes=30)),
                throttle=Throttle(route=Bucket(1, timedelta(hours=1))),
            )

        assert len(info.value.problems) == 3
