"""PagerDuty Events API v2 against the validating imitation."""

from __future__ import annotations

import logging

import pytest

from socialplug.exceptions import DeliveryError
from socialplug.sinks.pagerduty import PagerDutySink
from socialplug.testing.outbound import PagerDutyImitation

from .conftest import HOSTILE, deliveries, make_alert, make_post


pytestmark = pytest.mark.anyio

KEY = "R0123456789abcdef0123456789ABCDE"  # 32 characters, like an integration key


async def test_incident_lifecycle_moves_one_pagerduty_alert() -> None:
    batch = deliveries(
        make_alert("incident.opened"),
        make_alert("incident.updated", summary="Worse"),
        make_alert("incident.acknowledged"),
        make_alert("incident.resolved"),
        make_post(title=HOSTILE * 20),
    )
    async with PagerDutyImitation() as pd:
        sink = PagerDutySink(KEY, url=pd.events_url)
        await sink.deliver(batch)
        await sink.aclose()
    assert pd.problems == []
    assert pd.alerts["inc-1"]["status"] == "resolved"
    assert [e["event_action"] for e in pd.alerts["inc-1"]["events"]] == [
        "trigger",
        "trigger",
        "acknowledge",
        "resolve",
    ]
    trigger = pd.alerts["inc-1"]["events"][0]
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["links"] == [{"href": "https://status.example.com/incidents/1", "text": "Open"}]
    post_event = pd.accepted[-1].json()
    assert post_event["dedup_key"] == batch[-1].key
    assert len(post_event["payload"]["summary"]) == 1024
    assert sink.idempotent


async def test_replayed_delivery_is_deduplicated_by_pagerduty() -> None:
    batch = deliveries(make_alert("incident.opened"))
    async with PagerDutyImitation() as pd:
        for _ in range(2):
            sink = PagerDutySink(KEY, url=pd.events_url)  # a restarted process
            await sink.deliver(batch)
            await sink.aclose()
    assert len(pd.alerts) == 1


async def test_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with PagerDutyImitation() as pd:
        sink = PagerDutySink(KEY, url=pd.events_url)
        pd.fail_next(429, retry_after=1.5)
        with pytest.raises(DeliveryError) as limited:
            await sink.deliver(deliveries(make_alert()))
        pd.fail_next(502)
        with pytest.raises(DeliveryError) as down:
            await sink.deliver(deliveries(make_alert()))
        short = PagerDutySink("short-key", url=pd.events_url)
        with pytest.raises(DeliveryError) as invalid:
            await short.deliver(deliveries(make_alert()))
        await sink.aclose()
        await short.aclose()
    assert limited.value.retryable
    assert limited.value.retry_after == 1.5
    assert down.value.retryable
    assert not invalid.value.retryable
    assert invalid.value.status_code == 400
    assert "routing_key" in str(invalid.value)
    for shown in (repr(sink), str(limited.value), caplog.text):
        assert KEY not in shown
