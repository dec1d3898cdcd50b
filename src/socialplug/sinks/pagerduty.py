"""
PagerDuty Events API v2: trigger, acknowledge and resolve alerts as incidents move.

The ``dedup_key`` is the alert's incident key (``Alert.incident``), so every update of one
incident lands on one PagerDuty alert and a replayed delivery is deduplicated by PagerDuty
itself; a post (or an alert without an incident) uses its delivery key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from ..model import Alert, Delivery, Item
from ._base import HttpSinkBase, deliver_each, register_secrets
from ._render import card, one_line, status_of, truncate


__all__ = ["PagerDutySink", "pagerduty_event"]

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255
#: Our severities to PagerDuty's.
SEVERITIES: Mapping[str, str] = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info"}


def pagerduty_event(item: Item) -> dict[str, Any]:
    """
    The default event (without ``routing_key``, ``dedup_key`` and ``event_action``, which
    the sink sets): summary, severity, source, timestamp, custom details and a link.
    """
    c = card(item)
    details: dict[str, Any] = dict(c.fields)
    if c.text:
        details["summary"] = truncate(c.text, 4000)
    if c.samples:
        details["samples"] = [
            {"author": s.author, "text": truncate(s.text, 500), "url": s.url}
            for s in c.samples[:5]
        ]
    payload: dict[str, Any] = {
        "summary": truncate(one_line(c.title) or c.kind, SUMMARY_MAX),
        "source": "socialplug",
        "severity": SEVERITIES.get(c.severity or "", "info"),
        "custom_details": details,
    }
    if c.timestamp:
        payload["timestamp"] = c.timestamp
    if isinstance(item, Alert):
        payload["class"] = truncate(item.kind, 255)
        if item.team:
            payload["group"] = truncate(item.team, 255)
        if item.route:
            payload["component"] = truncate(item.route, 255)
    else:
        payload["class"] = "post"
        payload["component"] = item.platform
    event: dict[str, Any] = {"payload": payload, "client": "socialplug"}
    if c.url:
        event["links"] = [{"href": c.url, "text": "Open"}]
        event["client_url"] = c.url
    return event


@attrs.define(eq=False)
class PagerDutySink(HttpSinkBase):
    """
    Send alerts (and posts) to PagerDuty through the Events API v2.

    ``incident.resolved`` alerts resolve, ``*.acknowledged`` alerts acknowledge, everything
    else triggers. Idempotent: PagerDuty dedupes on ``dedup_key``.

    Args:
        routing_key: The integration key of the service; never shown.
        render: ``Post | Alert -> event``; :func:`pagerduty_event` by default.
        url: The events endpoint (EU accounts use ``https://events.eu.pagerduty.com``).
    """

    routing_key: str = attrs.field(repr=False)
    render: Callable[[Item], Mapping[str, Any]] = attrs.field(
        default=pagerduty_event, kw_only=True
    )
    url: str = attrs.field(default=EVENTS_URL, kw_only=True)
    idempotent: bool = attrs.field(default=True, init=False)

    def __attrs_post_init__(self) -> None:
        register_secrets(self, self.routing_key)

    def event(self, delivery: Delivery) -> dict[str, Any]:
        """The full event sent for *delivery*."""
        item = delivery.item
        action = status_of(item) if isinstance(item, Alert) else "trigger"
        dedup = (item.incident if isinstance(item, Alert) else None) or delivery.key
        if action != "trigger":
            return {
                "routing_key": self.routing_key,
                "event_action": action,
                "dedup_key": dedup[:DEDUP_KEY_MAX],
            }
        return {
            **self.render(item),
            "routing_key": self.routing_key,
            "event_action": action,
            "dedup_key": dedup[:DEDUP_KEY_MAX],
        }

    async def _send(self, delivery: Delivery) -> None:
        await self._request(
            "POST", self.url, what="PagerDuty Events API", json=self.event(delivery)
        )

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Send one event per delivery, in order (trigger before resolve)."""
        await deliver_each(batch, self._send, accepted=self._was_accepted, accept=self._accept)
