"""
Incidents: alerts grouped by key into one incident that opens, is updated and resolves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from ..exceptions import ConfigurationError
from ..model import Alert
from ._keys import epoch, from_epoch


__all__ = ["Incidents", "IncidentBook"]


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: timedelta) -> None:
    if value <= timedelta(0):
        msg = f"Incidents.{attribute.name} must be positive, got {value}"
        raise ConfigurationError(msg)


@attrs.frozen(kw_only=True)
class Incidents:
    """
    Group spike alerts by detector and key into incidents.

    The first spike of a key opens an incident (``incident.opened``); later spikes of the
    same key update it (``incident.updated``); once the key has been back to normal for
    *quiet*, the incident resolves (``incident.resolved``) and the next spike opens a new
    one. Every alert of an incident carries its key in ``Alert.incident``, so a chat sink
    can keep one thread per incident and a paging sink can dedupe on it.

    Attributes:
        quiet: How long a key must stay normal before its incident resolves; longer than
            any spike detector's cooldown.

    .. versionadded:: 0.1.0
    """

    quiet: timedelta = attrs.field(default=timedelta(minutes=30), validator=_positive)


def group_of(alert: Alert, /) -> str | None:
    """The incident group of a spike alert: ``detector:key``."""
    detector, key = alert.data.get("detector"), alert.data.get("key")
    if alert.kind != "spike" or detector is None or key is None:
        return None
    return f"{detector}:{key}"


class IncidentBook:
    """
    The open incidents, by group; each is a JSON record.

    Record fields: ``key``, ``group``, ``detector``, ``subject``, ``title``, ``route``,
    ``team``, ``severity``, ``opened_at``, ``updated_at`` (epoch seconds), ``updates``,
    ``alerts``, ``posts``, ``peak``, ``tier`` (escalation tiers told so far), ``escalated``
    (list of ``[route, epoch]``), ``acked_by``, ``acked_at``, ``ack_told``.

    .. versionadded:: 0.1.0
    """

    def __init__(self, spec: Incidents, /) -> None:
        self.spec = spec
        self.open: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.dirty: set[str] = set()
        self.gone: set[str] = set()

    def load(self, records: Mapping[str, Any], /) -> None:
        """Replace the open incidents with *records* (group -> record)."""
        self.open = {g: dict(r) for g, r in records.items()}
        self.by_key = {r["key"]: g for g, r in self.open.items()}
        self.dirty.clear()
        self.gone.clear()

    def on_spike(self, alert: Alert, group: str, /) -> Alert:
        """Open or update the incident of *group* with spike *alert*; return what to tell."""
        now = epoch(alert.created_at)
        count = int(alert.data.get("count", 0))
        record = self.open.get(group)
        self.dirty.add(group)
        if record is None:
            stamp = alert.created_at.strftime("%Y%m%dT%H%M%SZ")
            record = {
                "key": f"incident:{group}:{stamp}",
                "group": group,
                "detector": alert.data.get("detector"),
                "subject": alert.data.get("key"),
                "title": alert.title,
                "route": alert.route,
                "team": alert.team,
                "severity": alert.severity,
                "opened_at": now,
                "updated_at": now,
                "onset": alert.data.get("onset"),
                "updates": 0,
                "alerts": 1,
                "posts": count,
                "peak": count,
                "tier": 0,
                "escalated": [],
                "acked_by": None,
                "acked_at": None,
                "ack_told": False,
            }
            self.open[group] = record
            self.by_key[record["key"]] = group
            return self.make_alert(
                record,
                "incident.opened",
                "opened",
                alert.created_at,
                title=f"Incident opened: {alert.title}",
                summary=alert.summary,
                posts=alert.posts,
                data=dict(alert.data),
            )
        record["updates"] += 1
        record["alerts"] += 1
        record["updated_at"] = now
        record["peak"] = max(record["peak"], count)
        return self.make_alert(
            record,
            "incident.updated",
            f"updated:{record['updates']}",
            alert.created_at,
            title=f"Incident update: {alert.title}",
            summary=alert.summary,
            posts=alert.posts,
            data=dict(alert.data),
        )

    def count_post(self, group: str, /) -> None:
        """Count one more post in the open incident of *group*."""
        record = self.open.get(group)
        if record is not None:
            record["posts"] += 1
            self.dirty.add(group)

    def resolve_quiet(
        self, now: datetime, last_active: Callable[[dict[str, Any]], float | None], /
    ) -> list[Alert]:
        """Resolve every incident whose key has been normal for the quiet period."""
        t = epoch(now)
        quiet = self.spec.quiet.total_seconds()
        out = []
        for group, record in list(self.open.items()):
            active = last_active(record)
            last = max(record["updated_at"], active if active is not None else 0.0)
            if t - last < quiet:
                continue
            minutes = (last - record["opened_at"]) / 60
            out.append(
                self._close(
                    group,
                    now,
                    title=f"Incident resolved: {record['subject']}",
                    summary=(
                        f"Back to normal since {from_epoch(last).isoformat()}; "
                        f"{record['posts']} posts and {record['alerts']} alerts over "
                        f"{minutes:.0f} minutes."
                    ),
                    data={"resolved_after": round(t - last)},
                )
            )
        return out

    def resolve(self, key: str, by: str, at: datetime, /) -> Alert | None:
        """Resolve incident *key* by hand; return the alert telling so (``None`` if not open)."""
        group = self.by_key.get(key)
        if group is None:
            return None
        record = self.open[group]
        minutes = (epoch(at) - record["opened_at"]) / 60
        return self._close(
            group,
            at,
            title=f"Incident resolved by {by}: {record['subject']}",
            summary=(
                f"{by} resolved the incident; {record['posts']} posts and "
                f"{record['alerts']} alerts over {minutes:.0f} minutes."
            ),
            data={"resolved_by": by},
        )

    def _close(
        self, group: str, at: datetime, /, *, title: str, summary: str, data: dict[str, Any]
    ) -> Alert:
        record = self.open.pop(group)
        self.by_key.pop(record["key"], None)
        self.dirty.discard(group)
        self.gone.add(group)
        return self.make_alert(
            record, "incident.resolved", "resolved", at, title=title, summary=summary, data=data
        )

    def acknowledge(self, key: str, by: str, at: datetime, /) -> Alert | None:
        """Mark incident *key* acknowledged; return the alert telling so, once."""
        group = self.by_key.get(key)
        if group is None:
            return None
        record = self.open[group]
        if record["ack_told"]:
            return None
        record["acked_by"] = by
        record["acked_at"] = epoch(at)
        record["ack_told"] = True
        self.dirty.add(group)
        return self.make_alert(
            record,
            "incident.acknowledged",
            "acknowledged",
            at,
            title=f"Incident acknowledged by {by}: {record['subject']}",
            summary=f"{by} acknowledged the incident; escalation stopped.",
        )

    def make_alert(
        self,
        record: dict[str, Any],
        kind: str,
        suffix: str,
        when: datetime,
        *,
        title: str,
        summary: str = "",
        posts: tuple[Any, ...] = (),
        data: dict[str, Any] | None = None,
        route: str | None = None,
        team: str | None = None,
        severity: str | None = None,
    ) -> Alert:
        return Alert(
            kind=kind,
            key=f"{record['key']}:{suffix}",
            title=title,
            summary=summary,
            created_at=when,
            severity=severity if severity is not None else record["severity"],
            incident=record["key"],
            route=route if route is not None else record["route"],
            team=team if team is not None else record["team"],
            posts=posts,
            data={**(data or {}), **summary_of(record)},
        )


def summary_of(record: Mapping[str, Any], /) -> dict[str, Any]:
    """The public facts of an incident record, as alert data."""
    return {
        "incident": record["key"],
        "subject": record["subject"],
        "opened_at": from_epoch(record["opened_at"]).isoformat(),
        "updates": record["updates"],
        "posts": record["posts"],
        "peak": record["peak"],
        "acknowledged_by": record["acked_by"],
        "escalated_to": [route for route, _ in record["escalated"]],
    }
