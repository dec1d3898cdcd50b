"""
Escalation and acknowledgement of incidents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..model import Alert
from ..routing import Router
from ..typing import StateStore
from ._incidents import IncidentBook
from ._keys import epoch


__all__ = [
    "acknowledge",
    "acks_namespace",
    "due_escalations",
    "incidents_namespace",
    "resolutions_namespace",
    "resolve_incident",
]


def acks_namespace(monitor: str, /) -> str:
    """The state-store namespace holding the acknowledgements of *monitor*."""
    return f"{monitor}.acks"


def resolutions_namespace(monitor: str, /) -> str:
    """The state-store namespace holding the by-hand resolutions of *monitor*."""
    return f"{monitor}.resolutions"


def incidents_namespace(monitor: str, /) -> str:
    """The state-store namespace holding the open incidents of *monitor*."""
    return f"{monitor}.incidents"


async def acknowledge(
    store: StateStore, incident: str, /, *, by: str, at: datetime, monitor: str = "monitor"
) -> bool:
    """
    Acknowledge *incident* (its key, as in ``Alert.incident``) in *store*.

    Works from any process sharing the store (a CLI, the HTTP callback of
    :func:`~socialplug.alerting.ack_app`): the monitor named *monitor* picks the
    acknowledgement up at its next tick, stops escalating and tells the incident's route.

    Returns:
        Whether *incident* is an open incident of *monitor*.

    .. versionadded:: 0.1.0
    """
    records = await store.records(incidents_namespace(monitor))
    if not any(isinstance(r, dict) and r.get("key") == incident for r in records.values()):
        return False
    await store.put_record(acks_namespace(monitor), incident, {"by": by, "at": at.isoformat()})
    return True


async def resolve_incident(
    store: StateStore, incident: str, /, *, by: str, at: datetime, monitor: str = "monitor"
) -> bool:
    """
    Resolve *incident* by hand in *store*, from any process sharing it (the CLI).

    The monitor named *monitor* resolves it at its next tick and tells the incident's route
    (``incident.resolved``); escalation stops.

    Returns:
        Whether *incident* is an open incident of *monitor*.

    .. versionadded:: 0.1.0
    """
    records = await store.records(incidents_namespace(monitor))
    if not any(isinstance(r, dict) and r.get("key") == incident for r in records.values()):
        return False
    await store.put_record(
        resolutions_namespace(monitor), incident, {"by": by, "at": at.isoformat()}
    )
    return True


def due_escalations(book: IncidentBook, now: datetime, router: Router, /) -> list[Alert]:
    """Tell the next tiers of every unacknowledged incident whose wait is over."""
    t = epoch(now)
    out = []
    for group, record in book.open.items():
        if record["acked_by"] is not None or record["route"] is None:
            continue
        try:
            route = router.route(record["route"])
        except KeyError:
            continue
        if route.escalation is None:
            continue
        tiers = route.escalation.tiers
        elapsed = t - record["opened_at"]
        while (
            record["tier"] < len(tiers) and elapsed >= tiers[record["tier"]].after.total_seconds()
        ):
            tier = tiers[record["tier"]]
            record["tier"] += 1
            record["escalated"].append([tier.route, t])
            book.dirty.add(group)
            target = router.route(tier.route)
            minutes = elapsed / 60
            out.append(
                book.make_alert(
                    record,
                    "escalation",
                    f"escalation:{record['tier']}",
                    now,
                    title=f"Escalated to {target.team or tier.route}: {record['title']}",
                    summary=(
                        f"Not acknowledged {minutes:.0f} minutes after it opened "
                        f"(team {route.team or route.name}); escalation tier {record['tier']}."
                    ),
                    data=_escalation_data(record, tier.route),
                    route=tier.route,
                    team=target.team,
                    severity=min(record["severity"], target.priority),
                )
            )
    return out


def _escalation_data(record: dict[str, Any], route: str) -> dict[str, Any]:
    return {"tier": record["tier"], "from_route": record["route"], "to_route": route}
